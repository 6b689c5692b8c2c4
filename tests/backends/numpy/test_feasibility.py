"""One feasibility kernel per representation: array columns, scalar tuples, runner objects agree."""

from __future__ import annotations

import inspect
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")

from runtime_alloc import EvenSpreadStrategy, Resources, Runner, RunnerState  # noqa: E402
from runtime_alloc._placement import is_feasible  # noqa: E402
from runtime_alloc.backends.numpy import NumpyBackend, shape_classes  # noqa: E402
from runtime_alloc.backends.numpy.feasibility import (  # noqa: E402
    UNROLLED_RESERVED_WITHIN,
    copies_that_fit,
    free_at_least,
    reserved_within,
)

small = st.integers(0, 6)
triples = st.tuples(small, small, small)


def test_every_unrolled_copy_in_the_class_index_is_the_kernel_text():
    # the class index's hot loop writes reserved_within inline (a call costs there):
    # every comparison against the limits u0, u1, u2 must be the kernel's own expression
    assert UNROLLED_RESERVED_WITHIN in inspect.getsource(reserved_within)
    source = inspect.getsource(shape_classes)
    copies = source.count(UNROLLED_RESERVED_WITHIN)
    assert copies == 3
    comparisons = re.findall(r"\S+ <=? u[012]\b", source)
    assert len(comparisons) == 3 * copies  # none outside the copies


@settings(max_examples=300, deadline=None)
@given(triples, triples, triples, st.booleans())
def test_scalar_tuple_array_and_object_forms_agree(capacity, reserved, request, draining):
    reserved = tuple(min(r, c) for r, c in zip(reserved, capacity, strict=True))
    state = RunnerState(
        Runner("r", Resources(capacity[0], capacity[1], capacity[2] + 1)),
        Resources(reserved[0], reserved[1], reserved[2]),
        draining,
    )
    cap = (capacity[0], capacity[1], capacity[2] + 1)
    expected = is_feasible(state, Resources(*request), frozenset())
    u0, u1, u2 = (c - q for c, q in zip(cap, request, strict=True))
    tuple_form = not draining and reserved_within(reserved, u0, u1, u2)
    unrolled = not draining and eval(  # noqa: S307 (the kernel's own text, nothing else)
        UNROLLED_RESERVED_WITHIN, {"r": reserved, "u0": u0, "u1": u1, "u2": u2}
    )
    free = [np.array([-1 if draining else c - r]) for c, r in zip(cap, reserved, strict=True)]
    array_form = bool(free_at_least(free, request)[0])
    room = copies_that_fit(free, request, np.full(1, 5, np.int64))
    assert tuple_form == unrolled == array_form == expected
    assert (int(room[0]) >= 1) == expected or not any(request)


LABELS = st.frozensets(st.sampled_from(["a", "b"]), max_size=2)
EXTENDED = st.dictionaries(st.sampled_from(["gpu", "fpga"]), st.integers(1, 3), max_size=2)


@st.composite
def fleets(draw):
    states = []
    for i in range(draw(st.integers(1, 10))):
        cap = Resources(draw(small) * 500, draw(small), draw(st.integers(1, 4)), draw(EXTENDED))
        reserved = Resources(
            draw(st.integers(0, cap.millicpu // 500)) * 500,
            draw(st.integers(0, cap.memory_bytes)),
            draw(st.integers(0, cap.slots)),
            {k: draw(st.integers(0, v)) for k, v in cap.extended.items()},
        )
        states.append(
            RunnerState(Runner(f"r{i}", cap, draw(LABELS)), reserved, draw(st.booleans()))
        )
    return states


@settings(max_examples=200, deadline=None)
@given(
    fleets(),
    st.builds(Resources, small.map(lambda k: k * 500), small, small, EXTENDED),
    LABELS,
)
def test_backend_feasible_equals_the_object_kernel(states, request, require):
    backend = NumpyBackend(states, EvenSpreadStrategy(), index="blocks", block_size=4)
    t = backend.table
    rows = [t.row_of[s.name] for s in states]
    got = backend.feasible(np.array(rows), request, require).tolist()
    assert got == [is_feasible(s, request, require) for s in states]
