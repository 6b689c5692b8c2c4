"""numba kernels of :mod:`.compiled_index`: segment trees of runners, their upkeep and search.

Imported by :mod:`.compiled_index` only (numba is the optional ``fast`` extra).
Every kernel is ``@njit(cache=True)`` without ``fastmath``: each float operation
is the IEEE float64 operation Python performs, so scores equal the python scan's
bit for bit (lemma 1 of :mod:`runtime_alloc.backends.numpy`).

Arrays (the layout is described in :mod:`.compiled_index`):

* ``ri`` int64 ``(rows, 6)``: per row ``r0, r1, r2`` (reserved cpu, memory,
  slots), its position, its state (``tree * 2 + usable``; -1 when not indexed)
  and its member (``seq << 32 | row``);
* ``pm`` int64 ``(positions, 4)``: per position the member placed there (a
  negative value marks a free position: ``-2 - next`` links a tree's free
  positions, -1 ends the list or marks a position never used), then a copy of
  its row's reserved amounts ``r0, r1, r2``, with ``r0`` -1 when the position
  is free or its row not usable: the searches and the bucket summaries read a
  bucket's rows from these 256 contiguous bytes, not from ``ri`` rows spread
  over the arrays (:func:`_put_at` and :func:`_free_at` keep the copy);
* ``ni`` int64 ``(nodes, 8)`` and ``nf``, the same memory read as float64: per
  tree node, one 64-byte record (one cache line; the arrays are 64-byte
  aligned), over the usable rows below it: the least and the most reserved
  amount per dimension and the least member (``ni[g, 0:7]``), then the least
  *signed key* ``nf[g, 7]`` (infinity when no row is usable): ``k(r) / W =
  sum_d r_d * w_d / (c_d * W)`` when the lowest score wins, ``-k(r) / W`` when
  the highest does (``sf``'s coefficients carry the sign: negation is exact,
  so ``-nf[g, 7]`` is the most key bit for bit);
* ``tr`` int64 ``(trees, 6)``: per tree its first position, first node, buckets
  (a power of two), positions used, free list head and shape;
* ``sh`` int64 ``(shapes, 8)``: capacity and scored weight (0 when not scored)
  per dimension, the tier step and the number of tiers; ``sf`` float64
  ``(shapes, 7)``: float capacity per dimension, the weight sum ``W`` and
  ``w_d / (c_d * W)`` per dimension (negated when the highest score wins).

A tree has nodes ``1 .. 2*buckets - 1`` (at ``first node + node``); node
``buckets + b`` summarizes the :data:`BUCKET` positions of bucket ``b``. Tree
``shape * tiers + t`` holds the shape's runners of tier ``t`` (free cpu
``// step``, clamped to the tiers).
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
def _score(sh, sf, s, r0, r1, r2, q0, q1, q2):
    # ShapeGroup.score: the scored dimensions from cpu on, each float(w*(r+q)) / c,
    # summed left to right from 0.0, divided by float(W) (0.0 when nothing is scored)
    total = 0.0
    w = sh[s, 3]
    if w:
        total += float(w * (r0 + q0)) / sf[s, 0]
    w = sh[s, 4]
    if w:
        total += float(w * (r1 + q1)) / sf[s, 1]
    w = sh[s, 5]
    if w:
        total += float(w * (r2 + q2)) / sf[s, 2]
    wsum = sf[s, 3]
    return total / wsum if wsum > 0.0 else 0.0


@njit(cache=True, inline="always")
def _key(sf, s, r0, r1, r2):
    # the signed key: k(r) / W as sum_d r_d * w_d / (c_d * W) (the coefficients of sf; 0
    # where not scored; negated when the highest wins): products, no division; only
    # bounds read it (lemma 4's slack covers its rounding)
    return float(r0) * sf[s, 4] + float(r1) * sf[s, 5] + float(r2) * sf[s, 6]


@njit(cache=True, inline="always")
def tier_of(sh, s, r0):
    """The tier of a runner of shape ``s`` with ``r0`` cpu reserved: free cpu // step."""
    t = (sh[s, 0] - r0) // sh[s, 6]
    if t < 0:
        return 0
    return min(t, sh[s, 7] - 1)


@njit(cache=True, inline="always")
def _write(ni, nf, g, lo0, lo1, lo2, hi0, hi1, hi2, m, key):
    # node g := these values; True if it changed
    if (
        ni[g, 0] == lo0 and ni[g, 1] == lo1 and ni[g, 2] == lo2
        and ni[g, 3] == hi0 and ni[g, 4] == hi1 and ni[g, 5] == hi2
        and ni[g, 6] == m and nf[g, 7] == key
    ):  # fmt: skip
        return False
    ni[g, 0], ni[g, 1], ni[g, 2] = lo0, lo1, lo2
    ni[g, 3], ni[g, 4], ni[g, 5] = hi0, hi1, hi2
    ni[g, 6] = m
    nf[g, 7] = key
    return True


@njit(cache=True)
def _summarize(pm, ni, nf, sf, s, g, p0):
    # node g := the summary of the usable rows at positions p0 .. p0 + BUCKET (their
    # copies in pm: contiguous memory)
    lo0 = lo1 = lo2 = m = _BIG
    hi0 = hi1 = hi2 = -1
    key = _INF
    for p in range(p0, p0 + BUCKET):
        r0 = pm[p, 1]
        if r0 < 0:
            continue  # free, or its row not usable
        r1, r2 = pm[p, 2], pm[p, 3]
        lo0, lo1, lo2 = min(lo0, r0), min(lo1, r1), min(lo2, r2)
        hi0, hi1, hi2 = max(hi0, r0), max(hi1, r1), max(hi2, r2)
        m = min(m, pm[p, 0])
        key = min(key, _key(sf, s, r0, r1, r2))
    return _write(ni, nf, g, lo0, lo1, lo2, hi0, hi1, hi2, m, key)


@njit(cache=True, inline="always")
def _put_at(ri, pm, p, row):
    # position p := row (its member and, when usable, its reserved amounts)
    pm[p, 0] = ri[row, 5]
    pm[p, 1] = ri[row, 0] if ri[row, 4] & 1 else -1
    pm[p, 2] = ri[row, 1]
    pm[p, 3] = ri[row, 2]


@njit(cache=True, inline="always")
def _free_at(pm, tr, tree, p):
    # position p joins tree's free list
    pm[p, 0] = -2 - tr[tree, 4]
    pm[p, 1] = -1
    tr[tree, 4] = p


@njit(cache=True, inline="always")
def _join(ni, nf, g, a, b):
    # node g := the union of nodes a and b; True if it changed
    return _write(
        ni, nf, g,
        min(ni[a, 0], ni[b, 0]), min(ni[a, 1], ni[b, 1]), min(ni[a, 2], ni[b, 2]),
        max(ni[a, 3], ni[b, 3]), max(ni[a, 4], ni[b, 4]), max(ni[a, 5], ni[b, 5]),
        min(ni[a, 6], ni[b, 6]), min(nf[a, 7], nf[b, 7]),
    )  # fmt: skip


@njit(cache=True)
def _repair(pm, ni, nf, tr, sf, tree, pos):
    # position pos's bucket and its path to the root; stops at a node that comes out
    # unchanged (its ancestors then are unchanged too)
    poff, toff, nb = tr[tree, 0], tr[tree, 1], tr[tree, 2]
    b = (pos - poff) // BUCKET
    node = nb + b
    if not _summarize(pm, ni, nf, sf, tr[tree, 5], toff + node, poff + b * BUCKET):
        return
    node >>= 1
    while node >= 1:
        if not _join(ni, nf, toff + node, toff + 2 * node, toff + 2 * node + 1):
            return
        node >>= 1


@njit(cache=True)
def _take(pm, tr, tree):
    # a free position of tree (its free list first, then one never used); -1 when full
    head = tr[tree, 4]
    if head >= 0:
        tr[tree, 4] = -2 - pm[head, 0]
        return head
    used = tr[tree, 3]
    if used < tr[tree, 2] * BUCKET:
        tr[tree, 3] = used + 1
        return tr[tree, 0] + used
    return -1


@njit(cache=True)
def set_row(ri, pm, ni, nf, tr, sh, sf, row, r0, r1, r2, usable):
    """Store row ``row``'s reserved amounts and usability, moving it to its tier's tree.

    Returns 1 when that tree has no free position (the row is left unplaced: the
    caller lays every row out again), else 0. O(BUCKET + log n).
    """
    state = ri[row, 4]
    if state < 0:
        return 0
    old = state >> 1
    s = tr[old, 5]
    tree = s * sh[s, 7] + tier_of(sh, s, r0)
    new = 2 * tree + (1 if usable else 0)
    if state == new and ri[row, 0] == r0 and ri[row, 1] == r1 and ri[row, 2] == r2:
        return 0
    ri[row, 0], ri[row, 1], ri[row, 2], ri[row, 4] = r0, r1, r2, new
    pos = ri[row, 3]
    if tree == old:
        _put_at(ri, pm, pos, row)
        _repair(pm, ni, nf, tr, sf, tree, pos)
        return 0
    _free_at(pm, tr, old, pos)  # the old position joins the old tree's free list
    _repair(pm, ni, nf, tr, sf, old, pos)
    p = _take(pm, tr, tree)
    ri[row, 3] = p
    if p < 0:
        return 1
    _put_at(ri, pm, p, row)
    _repair(pm, ni, nf, tr, sf, tree, p)
    return 0


@njit(cache=True)
def drop_row(ri, pm, ni, nf, tr, sh, sf, row):  # noqa: ARG001 (the index's arrays, as every kernel)
    """Take row ``row`` out of the index; its position becomes free. O(BUCKET + log n)."""
    state = ri[row, 4]
    if state < 0:
        return
    tree = state >> 1
    pos = ri[row, 3]
    ri[row, 4] = -1
    _free_at(pm, tr, tree, pos)
    _repair(pm, ni, nf, tr, sf, tree, pos)


@njit(cache=True)
def append_rows(ri, pm, ni, nf, tr, sh, sf, rows, repair):  # noqa: ARG001 (the index's arrays, as every kernel)
    """Give the new rows ``rows`` (state set) free positions in their trees; return how many.

    Stops at the first row whose tree is full (the caller then lays every row out
    again). With ``repair`` the tree paths are repaired row by row (O(log n) each);
    without, the caller rebuilds the trees.
    """
    for j in range(rows.size):
        row = rows[j]
        tree = ri[row, 4] >> 1
        p = _take(pm, tr, tree)
        if p < 0:
            return j
        _put_at(ri, pm, p, row)
        ri[row, 3] = p
        if repair:
            _repair(pm, ni, nf, tr, sf, tree, p)
    return rows.size


@njit(cache=True)
def _build_tree(pm, ni, nf, tr, sf, tree):
    poff, toff, nb, s = tr[tree, 0], tr[tree, 1], tr[tree, 2], tr[tree, 5]
    for b in range(nb):
        g = toff + nb + b
        ni[g, 0] = -1  # differs from every summary: written afresh
        _summarize(pm, ni, nf, sf, s, g, poff + b * BUCKET)
    for node in range(nb - 1, 0, -1):
        ni[toff + node, 0] = -1
        _join(ni, nf, toff + node, toff + 2 * node, toff + 2 * node + 1)


@njit(cache=True)
def build(ri, pm, ni, nf, tr, sh, sf):  # noqa: ARG001 (the index's arrays, as every kernel)
    """Compute every node of every tree from the rows. O(positions)."""
    for tree in range(tr.shape[0]):
        _build_tree(pm, ni, nf, tr, sf, tree)


@njit(cache=True)
def relocate(ri, pm, ni, nf, tr, sh, sf, tree, poff, toff, nb):  # noqa: ARG001 (the index's arrays, as every kernel)
    """Move tree ``tree`` to ``nb`` buckets at position ``poff`` and node ``toff``; rebuild it.

    Its rows take the first positions there (the old ones are left unused). O(new size).
    """
    j = 0
    for p in range(tr[tree, 0], tr[tree, 0] + tr[tree, 3]):
        m = pm[p, 0]
        if m >= 0:
            pm[poff + j] = pm[p]
            ri[m & _MASK, 3] = poff + j
            j += 1
    pm[poff + j : poff + nb * BUCKET] = -1
    tr[tree, 0], tr[tree, 1], tr[tree, 2], tr[tree, 3], tr[tree, 4] = poff, toff, nb, j, -1
    _build_tree(pm, ni, nf, tr, sf, tree)


@njit(cache=True, inline="always")
def _bound(nf, sf, s, g, q0, q1, q2, maximize):
    # the score bound of node g from its key extremum (see ClassIndex._bounds): below
    # every real score of its rows (lowest wins), or above (highest wins); when the
    # highest wins, b and the key are negated (exactly: the same bound bit for bit)
    wsum = sf[s, 3]
    if wsum <= 0.0:
        return 0.0
    b = q0 * sf[s, 4] + q1 * sf[s, 5] + q2 * sf[s, 6]
    if maximize:
        return -(b + nf[g, 7])
    return nf[g, 7] + b


@njit(cache=True, inline="always")
def _may_win(ni, nf, sh, sf, s, g, q, u, maximize, best_f, best):
    # False when no usable row below node g is feasible or can beat (best_f, best)
    if nf[g, 7] == _INF or ni[g, 0] > u[0] or ni[g, 1] > u[1] or ni[g, 2] > u[2]:
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
            sh, sf, s, min(ni[g, 3], u[0]), min(ni[g, 4], u[1]), min(ni[g, 5], u[2]),
            q[0], q[1], q[2],
        )  # fmt: skip
        if fb < best_f:
            return False
    else:
        fb = _score(sh, sf, s, ni[g, 0], ni[g, 1], ni[g, 2], q[0], q[1], q[2])
        if fb > best_f:
            return False
    # a tie goes to the runner registered first (lemma 2): ni[g, 6] is the least member
    return not (fb == best_f and ni[g, 6] >= best)


@njit(cache=True)
def choose(pm, ni, nf, tr, sh, sf, cand, q0, q1, q2, maximize, stack, bounds, order):
    """Return the row the python scan picks for request ``(q0, q1, q2)`` among shapes ``cand``.

    -1 when no usable row of those shapes is feasible. The trees of the tiers
    that may hold room for ``q0`` are visited best key bound first (stopping at
    the first that cannot win), each depth first, the child of the better key
    first; a node is skipped when :func:`_may_win` shows it holds no winner.
    Buckets compare every feasible row's exact float score, ties to the lower
    member. ``stack`` (64 ints), ``bounds`` and ``order`` (one per tree) are
    scratch. O(trees + nodes visited * BUCKET).
    """
    k = 0
    for j in range(cand.size):
        s = cand[j]
        if q0 > sh[s, 0] or q1 > sh[s, 1] or q2 > sh[s, 2]:
            continue  # not even an empty runner of this shape holds q
        ntiers = sh[s, 7]
        # tiers below q0's hold less free cpu than q0 (a tier starts at tier * step)
        for tree in range(s * ntiers + min(q0 // sh[s, 6], ntiers - 1), (s + 1) * ntiers):
            g = tr[tree, 1] + 1
            if tr[tree, 3] == 0 or nf[g, 7] == _INF:
                continue  # no usable runner
            bound = _bound(nf, sf, s, g, q0, q1, q2, maximize)
            bound = -bound if maximize else bound
            i = k  # insertion sort, best bound first (the order never changes the result)
            while i > 0 and bounds[i - 1] > bound:
                bounds[i] = bounds[i - 1]
                order[i] = order[i - 1]
                i -= 1
            bounds[i] = bound
            order[i] = tree
            k += 1
    q = (q0, q1, q2)
    best_f = 0.0
    best = -1  # the member of the best row so far
    for j in range(k):
        if best >= 0 and (
            (-bounds[j] * _UP < best_f) if maximize else (bounds[j] * _DOWN > best_f)
        ):
            break  # lemma 4: neither this tree nor a later one holds a winner
        tree = order[j]
        poff, toff, nb, s = tr[tree, 0], tr[tree, 1], tr[tree, 2], tr[tree, 5]
        u = (sh[s, 0] - q0, sh[s, 1] - q1, sh[s, 2] - q2)
        stack[0] = 1
        sp = 1
        while sp:
            sp -= 1
            node = stack[sp]
            if not _may_win(ni, nf, sh, sf, s, toff + node, q, u, maximize, best_f, best):
                continue
            if node < nb:
                a = toff + 2 * node
                if nf[a + 1, 7] < nf[a, 7]:  # the better signed key first
                    stack[sp] = 2 * node
                    stack[sp + 1] = 2 * node + 1
                else:
                    stack[sp] = 2 * node + 1
                    stack[sp + 1] = 2 * node
                sp += 2
                continue
            p0 = poff + (node - nb) * BUCKET
            for p in range(p0, p0 + BUCKET):
                r0 = pm[p, 1]
                if r0 < 0:
                    continue  # free, or its row not usable
                r1, r2 = pm[p, 2], pm[p, 3]
                if r0 > u[0] or r1 > u[1] or r2 > u[2]:
                    continue
                f = _score(sh, sf, s, r0, r1, r2, q0, q1, q2)
                m = pm[p, 0]
                if (
                    best < 0
                    or ((f > best_f) if maximize else (f < best_f))
                    or (f == best_f and m < best)
                ):
                    best_f = f
                    best = m
    return -1 if best < 0 else best & _MASK
