"""The class index's unrolled score equals THE score specification, bit for bit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numpy")

from runtime_alloc import Resources
from runtime_alloc.backends.numpy.shape_groups import ShapeGroup
from runtime_alloc.strategies import utilization_score

quantity = st.integers(0, 2**40)
weight = st.integers(0, 1000)


@st.composite
def cases(draw):
    cap = (draw(quantity), draw(quantity), draw(st.integers(1, 64)))
    if draw(st.booleans()):
        cap = (cap[0], 0, cap[2])  # a dimension the shape does not score
    weights = (draw(weight), draw(weight), draw(weight))
    if draw(st.booleans()):
        weights = (draw(st.integers(1, 1000)), draw(st.integers(1, 1000)), 1)  # all scored
    r = tuple(draw(st.integers(0, c)) for c in cap)
    q = (draw(quantity), draw(quantity), draw(st.integers(0, 16)))
    return cap, weights, r, q


@settings(max_examples=500, deadline=None)
@given(cases())
def test_class_index_score_is_the_specification_bit_for_bit(case):
    cap, weights, r, q = case
    group = ShapeGroup(cap, frozenset(), weights, 1)
    spec = utilization_score(
        Resources(*cap),
        Resources(*r),
        Resources(*q),
        dict(zip(("cpu", "memory", "slots"), weights, strict=True)),
    )
    assert group.score(r, q).hex() == spec.hex()


def test_both_forms_of_the_class_score_are_exercised():
    # the unrolled form (all three dimensions scored) and the loop (some not scored)
    full = ShapeGroup((4000, 10000, 4), frozenset(), (1, 1, 1), 1)
    partial = ShapeGroup((4000, 10000, 4), frozenset(), (1, 1, 0), 1)
    assert full.full
    assert not partial.full
    # cpu 3000/4000 = 0.75, memory 5000/10000 = 0.5, slots 1/4 = 0.25 -> 1.5 / 3 = 0.5
    assert full.score((0, 0, 0), (3000, 5000, 1)) == 0.5
    # cpu 0.75 + memory 0.5 -> 1.25 / 2 = 0.625 (Kubernetes' worked example)
    assert partial.score((0, 0, 0), (3000, 5000, 1)) == 0.625
