"""THE failure diagnosis: one rule, fed by the python scan's states and the numpy table alike."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import EvenSpreadStrategy, Resources, Runner, RunnerState
from runtime_alloc._placement import diagnose, shortfalls
from runtime_alloc.errors import InsufficientCapacityError, Shortfall, UnschedulableError

HAVE_NUMPY = importlib.util.find_spec("numpy") is not None


def per_runner_reference(states, task_id, request, require):
    """The rule written as the per-runner loop the python scan used before the kernel."""
    ever = any(
        (not require or require <= s.runner.labels) and request.fits_within(s.runner.capacity)
        for s in states
    )
    reasons: dict[str, int] = {}
    best: dict[str, int] = {}
    for state in states:
        if ever and state.draining:
            reasons["draining"] = reasons.get("draining", 0) + 1
            continue
        missing = require - state.runner.labels
        if missing:
            key = "missing label " + ",".join(sorted(missing))
            reasons[key] = reasons.get(key, 0) + 1
            continue
        available = state.free if ever else state.runner.capacity
        for dim, _req, _avail in shortfalls(request, available):
            key = f"insufficient {dim}"
            reasons[key] = reasons.get(key, 0) + 1
        for dim in request.dimensions():
            amount = available.get(dim)
            if amount > best.get(dim, -1):
                best[dim] = amount
    short = tuple(
        Shortfall(dim, request.get(dim), best[dim])
        for dim in request.dimensions()
        if f"insufficient {dim}" in reasons
    )
    cls = InsufficientCapacityError if ever else UnschedulableError
    return cls(task_id, request, len(states), reasons, short)


LABELS = st.frozensets(st.sampled_from(["a", "b", "c"]), max_size=3)
EXTENDED = st.dictionaries(st.sampled_from(["gpu", "fpga"]), st.integers(1, 4), max_size=2)


@st.composite
def fleets(draw):
    states = []
    for i in range(draw(st.integers(0, 12))):
        capacity = Resources(
            draw(st.integers(0, 8)) * 500,
            draw(st.integers(0, 4)) << 30,
            draw(st.integers(1, 4)),
            draw(EXTENDED),
        )
        reserved = Resources(
            draw(st.integers(0, capacity.millicpu // 500)) * 500,
            draw(st.integers(0, capacity.memory_bytes >> 30)) << 30,
            draw(st.integers(0, capacity.slots)),
            {k: draw(st.integers(0, v)) for k, v in capacity.extended.items()},
        )
        runner = Runner(f"r{i}", capacity, draw(LABELS))
        states.append(RunnerState(runner, reserved, draw(st.booleans())))
    return states


requests = st.builds(
    Resources,
    st.integers(0, 9).map(lambda k: k * 500),
    st.integers(0, 5).map(lambda k: k << 30),
    st.integers(0, 5),
    EXTENDED,
)


def same_error(left, right):
    assert type(left) is type(right)
    assert str(left) == str(right)
    assert list(left.reasons.items()) == list(right.reasons.items())  # order too
    assert left.shortfalls == right.shortfalls
    assert left.runners_total == right.runners_total


@settings(max_examples=300, deadline=None)
@given(fleets(), requests, LABELS)
def test_python_columns_follow_the_per_runner_rule(states, request, require):
    same_error(
        diagnose(states, "t", request, require),
        per_runner_reference(states, "t", request, require),
    )


@pytest.mark.skipif(not HAVE_NUMPY, reason="numpy is not installed")
@settings(max_examples=300, deadline=None)
@given(fleets(), requests, LABELS, st.sampled_from(["blocks", "classes"]))
def test_numpy_columns_give_the_python_error(states, request, require, index):
    from runtime_alloc.backends.numpy import NumpyBackend

    backend = NumpyBackend(states, EvenSpreadStrategy(), block_size=4, index=index)
    same_error(
        backend.diagnose("t", request, require),
        diagnose(states, "t", request, require),
    )


def test_the_rule_on_a_worked_fleet():
    gi = 1 << 30
    states = [
        RunnerState(Runner("a", Resources(1000, gi, 2), ["x"])),
        RunnerState(Runner("b", Resources(2000, gi, 2))),
        RunnerState(Runner("c", Resources(4000, 4 * gi, 4), ["x"]), Resources(3000, 0, 1)),
        RunnerState(Runner("d", Resources(4000, 4 * gi, 4), ["x"]), draining=True),
    ]
    error = diagnose(states, "t", Resources(3000, 2 * gi, 1), frozenset({"x"}))
    # d could hold it empty: capacity is short now; b lacks x; a and c are short
    assert type(error) is InsufficientCapacityError
    assert error.reasons == {
        "insufficient cpu": 2,  # a: 1000 free, c: 1000 free
        "insufficient memory": 1,  # a: 1Gi free
        "missing label x": 1,
        "draining": 1,
    }
    assert list(error.reasons) == [
        "insufficient cpu",
        "insufficient memory",
        "missing label x",
        "draining",
    ]
    assert error.shortfalls == (Shortfall("cpu", 3000, 1000), Shortfall("memory", 2 * gi, 4 * gi))
    error = diagnose(states, "t", Resources(5000), frozenset())
    assert type(error) is UnschedulableError  # no capacity reaches 5000m, draining or not
    assert error.reasons == {"insufficient cpu": 4}
    assert error.shortfalls == (Shortfall("cpu", 5000, 4000),)
