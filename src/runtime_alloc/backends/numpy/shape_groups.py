"""One runner shape of the class index: its scored dimensions, r-classes and tier heaps.

See :mod:`.shape_classes` for the search over groups and the exactness argument.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Any

__all__ = [
    "CHUNK",
    "CHUNK_BITS",
    "DOWN",
    "INF",
    "MASK",
    "SHIFT",
    "TIERS",
    "UP",
    "ShapeGroup",
    "best_member",
    "bucket_member",
    "compact",
    "join_members",
    "push",
    "shape_terms",
]

#: Rows are packed with the registration sequence into one int: seq << SHIFT | row.
SHIFT = 32
MASK = (1 << SHIFT) - 1
#: Relative key window (see the module docstring).
REL = 1e-10
INF = float("inf")
#: Relative margins for group score bounds (see ClassIndex._bounds).
UP = 1.0 + 1e-9
DOWN = 1.0 - 1e-9


#: Free-cpu tiers per group when the highest score wins (a multiple of the chunk size).
TIERS = 64
#: Tiers are summarized in chunks of 2**CHUNK_BITS.
CHUNK_BITS = 3
CHUNK = 1 << CHUNK_BITS


def shape_terms(
    cap: tuple[int, int, int], weights: tuple[int, int, int], ntiers: int
) -> tuple[tuple[tuple[int, int, float], ...], int, tuple[float, float, float], int]:
    """The constants of a shape's scores and tiers. O(1).

    Returns ``(scored, W, coef, step)``: the scored dimensions as ``(d, w_d,
    float(c_d))`` (capacity and weight both positive), their weight sum ``W``,
    ``w_d / (c_d * W)`` per dimension (0 where not scored: ``B(q) / W`` for the
    group bounds is ``sum_d q_d * coef_d``, see ClassIndex._bounds), and the
    free-cpu width of one of ``ntiers`` tiers. Shared by :class:`ShapeGroup` and
    :mod:`.compiled_index` so both rank and bound alike.
    """
    scored = tuple(
        (d, weights[d], float(cap[d])) for d in range(3) if cap[d] > 0 and weights[d] > 0
    )
    wsum = sum(w for _d, w, _c in scored)
    coef = [0.0, 0.0, 0.0]
    for d, w, c in scored:
        coef[d] = w / c / wsum
    return scored, wsum, (coef[0], coef[1], coef[2]), max(1, -(-(cap[0] + 1) // ntiers))


class ShapeGroup:
    """Runners of one shape (capacity and labels) and their r-classes.

    An r-class is named by its reserved tuple ``r``; it is live while it has
    an entry in ``members``: the one packed member ``seq << SHIFT | row`` of a
    single-runner class (no count kept: one), or a heap of them with stale
    entries dropped lazily, whose number of live members is ``count[r]``
    (> 0; only heap classes have a count, which saves a dict entry per class
    in fleets where most runners hold amounts of their own). Its tier
    heap entry is ``(sort key, r)``, pushed whenever the class is created;
    entries of dead classes are dropped when they reach a heap's root, and
    all at once (with the duplicates a class that came back left) when
    ``entries``, their number, exceeds twice the live classes (no set of
    classes with an entry is kept: it cost 30 bytes per class). A duplicate
    of a live class is harmless: both name the same class, scored alike.
    Only ints, floats and tuples of them are stored per class, which the
    garbage collector does not track.
    """

    __slots__ = (
        "cap",
        "capf",
        "chunk_tiers",
        "cmin",
        "coef",
        "count",
        "delta",
        "entries",
        "full",
        "kw",
        "labels",
        "members",
        "scored",
        "step",
        "tiers",
        "walk_from",
        "wsum",
        "wsumf",
    )

    def __init__(
        self,
        cap: tuple[int, int, int],
        labels: frozenset[str],
        weights: tuple[int, int, int],
        ntiers: int,
    ) -> None:
        self.cap = cap
        self.labels = labels
        self.scored, self.wsum, self.coef, self.step = shape_terms(cap, weights, ntiers)
        #: all three dimensions scored: the score is computed unrolled
        self.full = len(self.scored) == 3
        #: ``(w0, c0, w1, c1, w2, c2)`` of :attr:`scored` when ``full`` (for unrolled keys)
        self.kw = tuple(x for _d, w, c in self.scored for x in (w, c)) if self.full else None
        self.capf = (float(cap[0]), float(cap[1]), float(cap[2]))
        self.wsumf = float(self.wsum)
        self.delta = REL * (1.0 + 2.0 * self.wsum)
        self.tiers: list[list[tuple[float, tuple[int, int, int]]]] = [[] for _ in range(ntiers)]
        #: per chunk of 2**CHUNK_BITS tiers, a lower bound of the keys in its heaps
        self.cmin = [INF] * -(-ntiers >> CHUNK_BITS)
        # the heaps are never replaced (compact refills them in place), so the orders
        # of the search walk are built once: a chunk's tiers in order, and from tier t
        # the rest of t's chunk, then t itself (see ClassIndex._choose_walk)
        tiers = self.tiers
        #: the tier heaps of each chunk, in tier order
        self.chunk_tiers = tuple(tuple(tiers[c : c + CHUNK]) for c in range(0, ntiers, CHUNK))
        #: per tier ``t``: the heaps of the tiers after ``t`` in its chunk, then ``t``'s
        self.walk_from = tuple(
            (*tiers[t + 1 : (t | (CHUNK - 1)) + 1], tiers[t]) for t in range(ntiers)
        )
        self.members: dict[tuple[int, int, int], Any] = {}
        #: live members of each class whose ``members`` entry is a heap
        self.count: dict[tuple[int, int, int], int] = {}
        #: tier heap entries, live or dead (see the class docstring)
        self.entries = 0

    def score(self, r: tuple[int, int, int], q: tuple[int, int, int]) -> float:
        """The float score of r-class ``r`` for request ``q``, exactly as the python scan's.

        :func:`runtime_alloc.strategies.utilization_score` over the shape's scored
        dimensions, the same float operations in the same order (lemma 1 of
        :mod:`runtime_alloc.backends.numpy`), unrolled when all three count;
        tests/backends/numpy/test_shape_classes.py holds the two equal bit for bit.
        O(1).
        """
        kw = self.kw
        if kw is not None:
            w0, c0, w1, c1, w2, c2 = kw
            return (
                float(w0 * (r[0] + q[0])) / c0
                + float(w1 * (r[1] + q[1])) / c1
                + float(w2 * (r[2] + q[2])) / c2
            ) / self.wsumf
        total = 0.0
        for d, w, cf in self.scored:
            total += float(w * (r[d] + q[d])) / cf
        return total / self.wsumf if self.wsum else 0.0

    def key(self, r: tuple[int, int, int]) -> float:
        """``sum_d w_d*r_d/c_d`` in float, summed from cpu on (unrolled when all three count).

        Runtime complexity: O(1): at most three scored dimensions.
        """
        kw = self.kw
        if kw is not None:
            w0, c0, w1, c1, w2, c2 = kw
            return float(w0 * r[0]) / c0 + float(w1 * r[1]) / c1 + float(w2 * r[2]) / c2
        total = 0.0
        for d, w, cf in self.scored:
            total += float(w * r[d]) / cf
        return total


def best_member(  # noqa: PLR0917 (the hot loop's state, passed once per group)
    cands: Any,  # noqa: ANN401
    score: Any,  # noqa: ANN401
    q: Any,  # noqa: ANN401
    members: dict[Any, Any],
    rclass_of: Any,  # noqa: ANN401 (a list or a dict by row)
    maximize: bool,
    best_f: float,
    best: int,
) -> tuple[float, int]:
    """The best of ``(best_f, best)`` and the r-classes ``cands`` of one group.

    Each class ``r`` scores ``score(r, q)`` and is represented by its live member
    registered first: ``members[r]`` is that packed member (``seq << SHIFT | row``)
    or a heap of them whose stale entries (runners that moved to another class,
    ``rclass_of[row] != r``) are popped here. Higher score wins when ``maximize``,
    lower otherwise; equal scores go to the lower member (the first registered
    runner). ``best`` < 0 means none yet. Shared by the class index of plain
    requests (:mod:`.shape_classes`) and of device requests (:mod:`.device_classes`).

    Runtime complexity: O(len(cands) + stale entries popped, amortised O(1) each).
    """
    for r in cands:
        f = score(r, q)
        m = members[r]
        if type(m) is not int:
            while rclass_of[m[0] & MASK] != r:
                heappop(m)
            m = m[0]
        if best < 0 or (f > best_f if maximize else f < best_f) or (f == best_f and m < best):
            best_f, best = f, m
    return best_f, best


def join_members(m: list[int], member: int, n: int, r: Any, row: int, rclass_of: Any) -> None:  # noqa: ANN401, PLR0917
    """Add ``member`` (in ``row``) to the member heap ``m`` of r-class ``r``, which had ``n``.

    Stale entries (runners that moved on) are dropped lazily by :func:`best_member`;
    when they outnumber the live ones the heap is rebuilt from the live members,
    so it stays within 2n + 10 entries. Shared by both class indexes.

    Runtime complexity: O(log n), amortised.
    """
    heappush(m, member)
    if len(m) > 2 * n + 10:
        rclass_of[row] = r  # the joining runner counts as a member already
        m[:] = sorted({x for x in m if rclass_of[x & MASK] == r})


def bucket_member(buckets: dict[Any, Any], g: Any, r: Any, member: int) -> None:  # noqa: ANN401
    """Add ``member`` to the bulk build's bucket of r-class ``r`` in group ``g``. O(1).

    ``buckets`` maps ``(id(g), r)`` to ``(g, members)``. Used by the device class
    index's bulk build (:mod:`.device_build`).
    """
    bucket = buckets.get((id(g), r))
    if bucket is None:
        buckets[id(g), r] = (g, [member])
    else:
        bucket[1].append(member)


def compact(g: ShapeGroup) -> None:
    """Drop the dead and duplicate tier heap entries of ``g`` (see ShapeGroup). O(entries)."""
    members = g.members
    live = [[e for e in tier if e[1] in members] for tier in g.tiers]
    n = sum(map(len, live))
    if n > len(members):
        # a class that came back while its old entry lived has two entries; both are
        # the same tuple (a class's key and tier follow from r), so one is kept
        live = [list(dict.fromkeys(entries)) for entries in live]
        n = len(members)
    for tier, entries in zip(g.tiers, live, strict=True):
        heapify(entries)
        tier[:] = entries
    g.entries = n
    for c in range(len(g.cmin)):
        roots = [h[0][0] for h in g.tiers[c << CHUNK_BITS : (c + 1) << CHUNK_BITS] if h]
        g.cmin[c] = min(roots, default=INF)


def push(g: ShapeGroup, r: tuple[int, int, int], ntiers: int, *, maximize: bool) -> None:
    """Give the new r-class ``r`` of group ``g`` its tier heap entry. O(log n).

    :meth:`.shape_classes.ClassIndex.set` does the same inline.
    """
    key = g.key(r)
    tier = (g.cap[0] - r[0]) // g.step
    if tier >= ntiers:
        tier = ntiers - 1
    sk = -key if maximize else key
    heappush(g.tiers[tier], (sk, r))
    g.entries += 1
    cmin = g.cmin
    c = tier >> CHUNK_BITS
    if sk < cmin[c]:  # noqa: PLR1730
        cmin[c] = sk
