"""numba kernels of :mod:`.compiled_index`: the per-shape segment trees, their upkeep and search.

Import only where numba is installed (:mod:`.compiled_index` imports this module
lazily). Every kernel is ``@njit(cache=True)`` without ``fastmath``: each float
operation is the IEEE float64 operation Python performs, so scores equal the
python scan's bit for bit (lemma 1 of :mod:`runtime_alloc.backends.numpy`).

Arrays (see :mod:`.compiled_index` for the layout):

* ``ri`` int64 ``(rows, 6)``: per row ``r0, r1, r2`` (reserved cpu, memory,
  slots), ``pos`` (its position), ``state`` (``shape * 2 + usable``; -1 when the
  row is not indexed), ``member`` (``seq << 32 | row``);
* ``pm`` int64: per position the member placed there (-1 when unused); the
  positions of a shape hold its members in increasing order;
* ``ni`` int64 ``(nodes, 6)`` and ``nf`` float64 ``(nodes, 2)``: per tree node,
  over the usable rows below it, the least and the most reserved amount per
  dimension and the least and the most key ``k(r) = sum_d w_d*r_d/c_d``;
* ``si`` int64 ``(shapes, 10)``: capacity per dimension, scored weight per
  dimension (0 when not scored), first position, first node, buckets (a power of
  two), positions used; ``sf`` float64 ``(shapes, 7)``: float capacity per
  dimension, the weight sum ``W``, ``w_d / (c_d * W)`` per dimension.

A shape's tree has nodes ``1 .. 2*buckets - 1`` (at ``first node + node``);
node ``buckets + b`` summarizes the :data:`BUCKET` positions of bucket ``b``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: positions per leaf bucket of a tree
BUCKET = 8
_MASK = (1 << 32) - 1
_BIG = np.iinfo(np.int64).max
_INF = np.inf
_UP = 1.0 + 1e-9
_DOWN = 1.0 - 1e-9


@njit(cache=True, inline="always")
def _score(si, sf, s, r0, r1, r2, q0, q1, q2):
    # ShapeGroup.score: the scored dimensions from cpu on, each float(w*(r+q)) / c,
    # summed left to right from 0.0, divided by float(W) (0.0 when nothing is scored)
    total = 0.0
    w = si[s, 3]
    if w:
        total += float(w * (r0 + q0)) / sf[s, 0]
    w = si[s, 4]
    if w:
        total += float(w * (r1 + q1)) / sf[s, 1]
    w = si[s, 5]
    if w:
        total += float(w * (r2 + q2)) / sf[s, 2]
    wsum = sf[s, 3]
    return total / wsum if wsum > 0.0 else 0.0


@njit(cache=True, inline="always")
def _key(si, sf, s, r0, r1, r2):
    # k(r) in float (products in float: no int64 overflow); only bounds read it
    k = 0.0
    if si[s, 3]:
        k += float(si[s, 3]) * float(r0) / sf[s, 0]
    if si[s, 4]:
        k += float(si[s, 4]) * float(r1) / sf[s, 1]
    if si[s, 5]:
        k += float(si[s, 5]) * float(r2) / sf[s, 2]
    return k


@njit(cache=True)
def _summarize_bucket(ri, pm, ni, nf, si, sf, s, g, p0):
    # node g := the summary of the usable rows at positions p0 .. p0 + BUCKET; True if it changed
    lo0 = lo1 = lo2 = _BIG
    hi0 = hi1 = hi2 = -1
    kmin = _INF
    kmax = -_INF
    live = 2 * s + 1
    for p in range(p0, p0 + BUCKET):
        m = pm[p]
        if m < 0:
            continue
        row = m & _MASK
        if ri[row, 4] != live:
            continue
        r0, r1, r2 = ri[row, 0], ri[row, 1], ri[row, 2]
        lo0, lo1, lo2 = min(lo0, r0), min(lo1, r1), min(lo2, r2)
        hi0, hi1, hi2 = max(hi0, r0), max(hi1, r1), max(hi2, r2)
        k = _key(si, sf, s, r0, r1, r2)
        kmin = min(kmin, k)
        kmax = max(kmax, k)
    return _write(ni, nf, g, lo0, lo1, lo2, hi0, hi1, hi2, kmin, kmax)


@njit(cache=True, inline="always")
def _write(ni, nf, g, lo0, lo1, lo2, hi0, hi1, hi2, kmin, kmax):
    if (
        ni[g, 0] == lo0 and ni[g, 1] == lo1 and ni[g, 2] == lo2
        and ni[g, 3] == hi0 and ni[g, 4] == hi1 and ni[g, 5] == hi2
        and nf[g, 0] == kmin and nf[g, 1] == kmax
    ):  # fmt: skip
        return False
    ni[g, 0], ni[g, 1], ni[g, 2] = lo0, lo1, lo2
    ni[g, 3], ni[g, 4], ni[g, 5] = hi0, hi1, hi2
    nf[g, 0], nf[g, 1] = kmin, kmax
    return True


@njit(cache=True, inline="always")
def _join(ni, nf, g, a, b):
    # node g := the union of nodes a and b; True if it changed
    return _write(
        ni, nf, g,
        min(ni[a, 0], ni[b, 0]), min(ni[a, 1], ni[b, 1]), min(ni[a, 2], ni[b, 2]),
        max(ni[a, 3], ni[b, 3]), max(ni[a, 4], ni[b, 4]), max(ni[a, 5], ni[b, 5]),
        min(nf[a, 0], nf[b, 0]), max(nf[a, 1], nf[b, 1]),
    )  # fmt: skip


@njit(cache=True)
def _repair(ri, pm, ni, nf, si, sf, s, pos):
    # the summaries of position pos's bucket and its path to the root, stopping early
    # once a node comes out unchanged (its ancestors then are too)
    poff, toff, nb = si[s, 6], si[s, 7], si[s, 8]
    b = (pos - poff) // BUCKET
    node = nb + b
    if not _summarize_bucket(ri, pm, ni, nf, si, sf, s, toff + node, poff + b * BUCKET):
        return
    node >>= 1
    while node >= 1:
        if not _join(ni, nf, toff + node, toff + 2 * node, toff + 2 * node + 1):
            return
        node >>= 1


@njit(cache=True)
def set_row(ri, pm, ni, nf, si, sf, row, r0, r1, r2, usable):
    """Store row ``row``'s reserved amounts and usability; repair its tree path. O(log n)."""
    state = ri[row, 4]
    if state < 0:
        return
    new = (state & ~1) | (1 if usable else 0)
    if state == new and ri[row, 0] == r0 and ri[row, 1] == r1 and ri[row, 2] == r2:
        return
    ri[row, 0], ri[row, 1], ri[row, 2], ri[row, 4] = r0, r1, r2, new
    _repair(ri, pm, ni, nf, si, sf, state >> 1, ri[row, 3])


@njit(cache=True)
def drop_row(ri, pm, ni, nf, si, sf, row):
    """Take row ``row`` out of the index (its position stays, dead). O(log n)."""
    state = ri[row, 4]
    if state < 0:
        return
    ri[row, 4] = -1
    _repair(ri, pm, ni, nf, si, sf, state >> 1, ri[row, 3])


@njit(cache=True)
def append_rows(ri, pm, ni, nf, si, sf, rows, repair):
    """Give the new rows ``rows`` the next positions of their shapes; return how many got one.

    Stops at the first row whose shape has no free position or whose member is
    not above the shape's last (the caller then lays every row out again). With
    ``repair`` the tree paths are repaired row by row (O(log n) each); without,
    the caller rebuilds the trees.
    """
    for j in range(rows.size):
        row = rows[j]
        s = ri[row, 4] >> 1
        poff, used = si[s, 6], si[s, 9]
        if used >= si[s, 8] * BUCKET or (used > 0 and pm[poff + used - 1] >= ri[row, 5]):
            return j
        pm[poff + used] = ri[row, 5]
        ri[row, 3] = poff + used
        si[s, 9] = used + 1
        if repair:
            _repair(ri, pm, ni, nf, si, sf, s, poff + used)
    return rows.size


@njit(cache=True)
def build(ri, pm, ni, nf, si, sf):
    """Compute every node of every shape's tree from the rows. O(positions)."""
    for s in range(si.shape[0]):
        poff, toff, nb = si[s, 6], si[s, 7], si[s, 8]
        for b in range(nb):
            g = toff + nb + b
            ni[g, 0] = ni[g, 1] = ni[g, 2] = _BIG  # fresh: _write compares first
            _summarize_bucket(ri, pm, ni, nf, si, sf, s, g, poff + b * BUCKET)
        for node in range(nb - 1, 0, -1):
            _join(ni, nf, toff + node, toff + 2 * node, toff + 2 * node + 1)


@njit(cache=True, inline="always")
def _bound(nf, sf, s, g, q0, q1, q2, maximize):
    # the score bound of node g from its key extremum (see ClassIndex._bounds): below
    # every real score of its rows (lowest wins), or above (highest wins)
    wsum = sf[s, 3]
    if wsum <= 0.0:
        return 0.0
    b = q0 * sf[s, 4] + q1 * sf[s, 5] + q2 * sf[s, 6]
    if maximize:
        return b + nf[g, 1] / wsum
    return nf[g, 0] / wsum + b


@njit(cache=True, inline="always")
def _first_member(pm, si, s, node):
    # the member at the first position below node: at most every member below it
    nb = si[s, 8]
    while node < nb:
        node *= 2
    return pm[si[s, 6] + (node - nb) * BUCKET]


@njit(cache=True)
def _may_win(ni, nf, pm, si, sf, s, node, q, u, maximize, best_f, best):
    # False when no usable row below node is feasible or can beat (best_f, best)
    g = si[s, 7] + node
    if nf[g, 0] == _INF or ni[g, 0] > u[0] or ni[g, 1] > u[1] or ni[g, 2] > u[2]:
        return False  # no usable row, or none with room on some dimension
    if best < 0:
        return True
    kb = _bound(nf, sf, s, g, q[0], q[1], q[2], maximize)
    if (kb * _UP < best_f) if maximize else (kb * _DOWN > best_f):
        return False  # lemma 4: misses the best by the margin, even on a tie
    # lemma 6: the float score of the least reserved amounts (most, capped at the room
    # a feasible row has, when the highest wins) bounds every feasible row's exactly
    if maximize:
        fb = _score(
            si, sf, s, min(ni[g, 3], u[0]), min(ni[g, 4], u[1]), min(ni[g, 5], u[2]),
            q[0], q[1], q[2],
        )  # fmt: skip
        if fb < best_f:
            return False
    else:
        fb = _score(si, sf, s, ni[g, 0], ni[g, 1], ni[g, 2], q[0], q[1], q[2])
        if fb > best_f:
            return False
    # a tie goes to the member registered first: positions hold members in order
    return not (fb == best_f and _first_member(pm, si, s, node) >= best)


@njit(cache=True)
def choose(ri, pm, ni, nf, si, sf, cand, q0, q1, q2, maximize, stack, bounds, order):
    """Return the row the python scan picks for request ``(q0, q1, q2)`` among shapes ``cand``.

    -1 when no usable row of those shapes is feasible. Shapes are visited best
    root bound first; each tree depth first, the child of the better key first;
    a node is skipped when :func:`_may_win` shows it holds no winner. Buckets
    compare every feasible row's exact float score, ties to the lower member.
    ``stack`` (64 ints), ``bounds`` and ``order`` (one per shape) are scratch.
    O(shapes + nodes visited * BUCKET).
    """
    k = 0
    for j in range(cand.size):
        s = cand[j]
        if q0 > si[s, 0] or q1 > si[s, 1] or q2 > si[s, 2] or si[s, 9] == 0:
            continue  # not even an empty runner of this shape holds q
        g = si[s, 7] + 1
        if nf[g, 0] == _INF:
            continue  # no usable runner
        bound = _bound(nf, sf, s, g, q0, q1, q2, maximize)
        bound = -bound if maximize else bound
        i = k  # insertion sort, best bound first (the order never changes the result)
        while i > 0 and bounds[i - 1] > bound:
            bounds[i] = bounds[i - 1]
            order[i] = order[i - 1]
            i -= 1
        bounds[i] = bound
        order[i] = s
        k += 1
    q = (q0, q1, q2)
    best_f = 0.0
    best = -1  # the member of the best row so far
    for j in range(k):
        s = order[j]
        u = (si[s, 0] - q0, si[s, 1] - q1, si[s, 2] - q2)
        poff, toff, nb = si[s, 6], si[s, 7], si[s, 8]
        live = 2 * s + 1
        stack[0] = 1
        sp = 1
        while sp:
            sp -= 1
            node = stack[sp]
            if not _may_win(ni, nf, pm, si, sf, s, node, q, u, maximize, best_f, best):
                continue
            if node < nb:
                a = toff + 2 * node
                if (nf[a + 1, 1] > nf[a, 1]) if maximize else (nf[a + 1, 0] < nf[a, 0]):
                    stack[sp] = 2 * node
                    stack[sp + 1] = 2 * node + 1
                else:
                    stack[sp] = 2 * node + 1
                    stack[sp + 1] = 2 * node
                sp += 2
                continue
            p0 = poff + (node - nb) * BUCKET
            for p in range(p0, p0 + BUCKET):
                m = pm[p]
                if m < 0:
                    continue
                row = m & _MASK
                if ri[row, 4] != live:
                    continue
                r0, r1, r2 = ri[row, 0], ri[row, 1], ri[row, 2]
                if r0 > u[0] or r1 > u[1] or r2 > u[2]:
                    continue
                f = _score(si, sf, s, r0, r1, r2, q0, q1, q2)
                if (
                    best < 0
                    or ((f > best_f) if maximize else (f < best_f))
                    or (f == best_f and m < best)
                ):
                    best_f = f
                    best = m
    return -1 if best < 0 else best & _MASK
