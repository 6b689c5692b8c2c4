"""THE score specification: its scalar and vector forms and every inlined copy agree bit for bit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner, RunnerState
from runtime_alloc._placement import choose
from runtime_alloc.strategies import (
    STRATEGIES,
    LinearScore,
    UnknownStrategyError,
    linear_score,
    register_strategy,
    strategy_from_name,
    unregister_strategy,
    utilization_score,
)

np = pytest.importorskip("numpy")

quantity = st.integers(0, 2**40)
weight = st.integers(0, 1000)


@st.composite
def cases(draw):
    capacity = Resources(draw(quantity), draw(quantity), draw(st.integers(0, 64)))
    reserved = Resources(
        draw(st.integers(0, capacity.millicpu)),
        draw(st.integers(0, capacity.memory_bytes)),
        draw(st.integers(0, capacity.slots)),
    )
    request = Resources(draw(quantity), draw(quantity), draw(st.integers(1, 16)))
    weights = {d: draw(weight) for d in draw(st.sets(st.sampled_from(["cpu", "memory", "slots"])))}
    return capacity, reserved, request, weights


@settings(max_examples=300, deadline=None)
@given(cases())
def test_scalar_and_vector_forms_are_equal(case):
    capacity, reserved, request, weights = case
    spec = LinearScore(weights, maximize=False)
    scalar = spec.scalar(capacity, reserved, request)
    caps = (capacity.millicpu, capacity.memory_bytes, capacity.slots)
    used = (
        reserved.millicpu + request.millicpu,
        reserved.memory_bytes + request.memory_bytes,
        reserved.slots + request.slots,
    )
    w = spec.base_weights
    scored = [c > 0 and wd > 0 for c, wd in zip(caps, w, strict=True)]
    total = spec.vector(
        [np.array([u], dtype=np.int64) for u in used],
        [np.array([float(c) if s else np.inf]) for c, s in zip(caps, scored, strict=True)],
        w,
    )
    weight_sum = sum(wd for wd, s in zip(w, scored, strict=True) if s)
    vector = total / float(weight_sum or 1)
    assert vector.item(0) == scalar  # bit for bit (lemma 1 of backends/numpy)
    # the same value as utilization_score itself
    assert scalar == utilization_score(capacity, reserved, request, weights)


@settings(max_examples=200, deadline=None)
@given(st.lists(cases(), min_size=1, max_size=6), st.booleans())
def test_the_inlined_python_scan_equals_the_specification(many, maximize):
    # the scan's unrolled loop (builtin strategies) against the plain score() calls
    weights = many[0][3]
    strategy = (MaxPackingStrategy if maximize else EvenSpreadStrategy)(weights)

    class Plain(type(strategy)):
        def score(self, state, request):
            return utilization_score(state.runner.capacity, state.reserved, request, self.weights)

    request = many[0][2]
    states = [
        RunnerState(Runner(f"r{i}", Resources(*_max(c, r, request))), r)
        for i, (c, r, _q, _w) in enumerate(many)
    ]
    fast = choose(states, strategy, request, frozenset())
    slow = choose(states, Plain(weights), request, frozenset())
    assert fast == slow


def _max(capacity, reserved, request):
    # a capacity that holds the request on top of the reserved amounts
    return (
        max(capacity.millicpu, reserved.millicpu + request.millicpu),
        max(capacity.memory_bytes, reserved.memory_bytes + request.memory_bytes),
        max(capacity.slots, reserved.slots + request.slots),
    )


def test_the_capability():
    assert linear_score(EvenSpreadStrategy({"cpu": 2})) == LinearScore({"cpu": 2}, maximize=False)
    assert linear_score(MaxPackingStrategy()).maximize is True

    class Custom(MaxPackingStrategy):
        def score(self, state, request):
            return 0.0

    class Renamed(MaxPackingStrategy):
        name = "Renamed"

    assert linear_score(Custom()) is None  # overriding score drops the capability
    assert linear_score(Renamed()) is not None  # other overrides keep it


def test_register_strategy_makes_a_name_selectable():
    class LeastTasks:
        name = "LeastTasks"
        maximize = False

        def score(self, state, request):
            return float(state.reserved.slots)

    register_strategy("least-tasks", lambda weights: LeastTasks())
    try:
        assert "least-tasks" in STRATEGIES
        assert strategy_from_name("least-tasks").name == "LeastTasks"
        with pytest.raises(ValueError, match="already registered"):
            register_strategy("least-tasks", LeastTasks)
    finally:
        unregister_strategy("least-tasks")
    assert "least-tasks" not in STRATEGIES
    with pytest.raises(UnknownStrategyError, match="no strategy is registered as 'least-tasks'"):
        unregister_strategy("least-tasks")
