"""The block search of the numpy backend: blocks of rows, best score bound first.

Rows of the table (see :mod:`.columns`) sit in blocks whose runners share a
capacity. For a request ``q`` the real-valued score of a runner is
``a + sum_d q_d * g_d`` with ``a = sum_d w_d*r_d/c_d / W`` and
``g_d = w_d / (c_d * W)``, so ``amin + q . gmin`` bounds every score in a block
from below (``amax + q . gmax`` from above). A decision:

1. drops blocks whose most free amount in some dimension is below the request
   (the array-column kernel of :mod:`.feasibility` on the block bounds);
2. evaluates blocks best bound first, exactly, until one has a feasible runner;
3. keeps only blocks whose bound comes within a tolerance of that score
   (lemma 4 of :mod:`runtime_alloc.backends.numpy`), then drops those whose
   *exact* float bound (lemma 3) cannot beat or tie-and-precede it, and
   evaluates the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy.feasibility import free_at_least
from runtime_alloc.strategies import LinearScore

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.backend import NumpyBackend
    from runtime_alloc.resources import Resources

__all__ = ["search"]

_INF = np.inf
#: Relative slack for pruning on real-valued bounds computed in float64 (their
#: rounding error is below 1e-14 relative; scores of feasible runners are <= 1).
_TOL = 1e-9


def _eval_block(
    backend: NumpyBackend,
    k: int,
    request: Resources,
    lut: Any,  # noqa: ANN401
) -> tuple[float, int] | None:
    t = backend.table
    lo = k * t.block_size
    s = slice(lo, lo + t.block_size)
    usable = t.free_usable
    ok = free_at_least(
        (usable[0][s], usable[1][s], usable[2][s]),
        (request.millicpu, request.memory_bytes, request.slots),
    )
    if lut is not None:
        ok &= lut[t.labelset[s]]
    t.refresh(k)
    if not ok.any():
        return None
    score = backend.scores(s, request)
    if backend.maximize:
        j = int(np.where(ok, score, -_INF).argmax())
    else:
        j = int(np.where(ok, score, _INF).argmin())
    return float(score[j]), lo + j


def search(backend: NumpyBackend, request: Resources, require: frozenset[str]) -> int:
    """Return the row the python scan would pick for ``request`` (-1 for none).

    Blocks are evaluated best bound first (lemma 4) until the bound of the next
    block cannot reach the best score found; near ties are settled by the exact
    float bound (lemma 3) and the registration sequence (lemma 2).

    Runtime complexity: O(N / block_size + block_size) numpy work in the common case.
    """
    t = backend.table
    nb = t.nblocks
    if nb == 0:
        return -1
    q = (request.millicpu, request.memory_bytes, request.slots)
    most_free = t.block_free_max
    cand = free_at_least((most_free[0][:nb], most_free[1][:nb], most_free[2][:nb]), q)
    request_float = np.array(q, dtype=np.float64)
    maximize = backend.maximize
    if maximize:
        key = np.where(
            cand, -(t.block_base_score_max[:nb] + t.block_slope_max[:nb] @ request_float), _INF
        )
    else:
        key = np.where(
            cand, t.block_base_score_min[:nb] + t.block_slope_min[:nb] @ request_float, _INF
        )
    lut = t.label_table(require) if require else None
    score = 0.0
    row = -1
    while True:
        k = int(key.argmin())
        kv = key.item(k)
        if kv == _INF:
            return row
        key[k] = _INF
        if row >= 0:
            bkey = -score if maximize else score
            if kv > bkey + _TOL * (1.0 + abs(bkey)):
                return row  # every remaining block is worse: best bound first
            # a near tie: the exact float bound decides whether the block can win
            t.refresh_reserved(k)
            exact = float(_block_bound(backend, k, q))
            if (exact < score if maximize else exact > score) or (
                exact == score and t.block_first_sequence.item(k) > t.sequence.item(row)
            ):
                continue
        found = _eval_block(backend, k, request, lut)
        if found is None:
            continue
        s2, slot2 = found
        if row < 0 or (s2 > score if maximize else s2 < score):
            score, row = s2, slot2
        elif s2 == score and t.sequence.item(slot2) < t.sequence.item(row):
            row = slot2


def _block_bound(backend: NumpyBackend, ks: Any, q: tuple[int, int, int]) -> Any:  # noqa: ANN401
    """Exact float bound of the scores in blocks ``ks`` (lower/upper to minimize/maximize)."""
    t = backend.table
    r, cf = (
        (t.block_reserved_max, t.block_capacity_float_min)
        if backend.maximize
        else (t.block_reserved_min, t.block_capacity_float_max)
    )
    used = [r[d][ks] + q[d] for d in range(3)]
    total = LinearScore.vector(used, [cf[d][ks] for d in range(3)], backend.weights)
    return total / t.block_weight_sum_float[ks]
