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


@pytest.mark.parametrize("maximize", [False, True])
def test_compact_keeps_one_entry_per_live_class_and_drops_dead_ones(maximize):
    from runtime_alloc.backends.numpy.shape_groups import TIERS, compact, push

    ntiers = TIERS if maximize else 1
    group = ShapeGroup((4000, 1 << 34, 16), frozenset(), (1, 1, 1), ntiers)
    live = [(100 * i, i << 20, i % 16) for i in range(1, 40)]
    dead = [(100 * i + 7, i << 21, 1) for i in range(1, 20)]
    for r in live + dead + live[::3]:  # every third live class pushed twice: duplicates
        push(group, r, ntiers, maximize=maximize)
    for r in live:
        group.members[r] = 1
    assert group.entries == len(live) + len(dead) + len(live[::3])
    compact(group)
    entries = [e for tier in group.tiers for e in tier]
    assert sorted(e[1] for e in entries) == sorted(live)  # one each, no dead class
    assert group.entries == len(live)
    for c, low in enumerate(group.cmin):  # each chunk's bound is its tiers' lowest root
        roots = [h[0][0] for h in group.tiers[c * 8 : c * 8 + 8] if h]
        assert low == min(roots, default=float("inf"))
    for tier in group.tiers:  # still heaps
        assert all(tier[(i - 1) // 2] <= tier[i] for i in range(1, len(tier)))
    # the search's tier orders still name the group's heaps, each tier once per chunk
    for t in range(ntiers):
        first = t - t % 8
        order = group.walk_from[t]
        assert order[-1] is group.tiers[t]
        assert [id(h) for h in order[:-1]] == [id(h) for h in group.tiers[t + 1 : first + 8]]
    for c, heaps in enumerate(group.chunk_tiers):
        assert [id(h) for h in heaps] == [id(h) for h in group.tiers[c * 8 : c * 8 + 8]]


def _brute_force(index, keys, q, require):
    """The winner of a full scan: least (score, member) or greatest score then least member."""
    best = None
    for row, member in keys.items():
        g, r = index.group_of[row], index.rclass_of[row]
        if g is None or r is None or not require <= g.labels:
            continue
        if any(r[d] + q[d] > g.cap[d] for d in range(3)):
            continue
        f = g.score(r, q)
        rank = (-f if index.maximize else f, member)
        if best is None or rank < best[0]:
            best = (rank, row)
    return -1 if best is None else best[1]


#: three shapes, one with a label, for the grid of near-equal classes below
GRID_SHAPES = [
    ((4000, 1 << 34, 16), frozenset()),
    ((8000, 1 << 35, 16), frozenset({"a"})),
    ((8000, 1 << 35, 32), frozenset()),
]


def grid_reserved(rng, cap):
    """Reserved amounts from a small grid: many equal and near-equal classes."""
    return (rng.randrange(0, cap[0] + 1, 500), rng.randrange(0, 5) << 30, rng.randrange(0, 4))


def grid_fleet(rng, rows=60):
    """``(keys, picked)``: each row's member key, and its (key, shape, reserved, usable)."""
    from runtime_alloc.backends.numpy.shape_groups import SHIFT

    keys, picked = {}, []
    for row in range(rows):
        shape = rng.choice(GRID_SHAPES)
        keys[row] = (row + 1) << SHIFT | row
        picked.append((keys[row], shape, grid_reserved(rng, shape[0]), rng.random() > 0.1))
    return keys, picked


def grid_request(rng):
    """A request and a label requirement drawn for the grid."""
    q = (rng.randrange(0, 3000, 250), rng.randrange(0, 3) << 30, rng.randrange(0, 3))
    return q, rng.choice([frozenset(), frozenset(), frozenset({"a"})])


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_choose_equals_a_full_scan_on_near_ties_across_shapes(maximize, seed):
    # few shapes whose least loaded runners lie close in score, so that the root
    # fast path (lowest score wins) must decline in some decisions and not others
    import random

    from runtime_alloc.backends.numpy.shape_classes import ClassIndex

    rng = random.Random(seed)
    index = ClassIndex((1, 1, 1), maximize=maximize, max_groups=8)
    keys, picked = grid_fleet(rng)
    index.add_many(*zip(*picked, strict=True), rows=60)
    walk = index._choose_walk
    for _ in range(400):
        q, require = grid_request(rng)
        got = index.choose(q, require)
        assert got == _brute_force(index, keys, q, require)
        assert got == walk(q, require)
        row = rng.randrange(60)
        index.set(keys[row], grid_reserved(rng, index.group_of[row].cap), rng.random() > 0.1)
