"""Placing a run of identical requests at once, equal to sequential ``allocate`` calls.

For identical requests ``q`` the score of runner ``i`` after its ``k``-th new
task, ``s_i(k) = f(r_i + k*q)``, never decreases with ``k`` (every float
operation of the score rounds monotonically: lemma 3 of
:mod:`runtime_alloc.backends.numpy`), and runner ``i`` can take
``m_i = min_d floor(free_d / q_d)`` more tasks. Hence:

* **EvenSpread** (lowest score wins) is a merge of sorted lists: sequential
  decisions take the items ``(s_i(k), seq_i, k)`` in ascending order, so the
  first ``count`` items of one lexicographic sort are the placements
  (water-filling: the emptiest runners rise to a common level);
* **MaxPacking** (highest score wins) keeps choosing a runner once chosen (its
  score only rises, the others stay put) until it is full, so runners are filled
  in descending ``(s_i(1), -seq_i)`` order.

Runtime complexity: O(N + M log M) for EvenSpread, with M about 1.25 * count +
2 N (each runner's share of ``count`` in proportion to its room, checked
exact, else all M = sum of min(m_i, count) items), O(N log N) for MaxPacking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy.feasibility import copies_that_fit

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.backend import NumpyBackend
    from runtime_alloc.resources import Resources

__all__ = ["MAX_ITEMS", "plan"]

#: Above this many candidate (runner, k) items an EvenSpread run is placed one
#: decision at a time instead (bounded memory).
MAX_ITEMS = 4_000_000


def plan(backend: NumpyBackend, request: Resources, require: frozenset[str], count: int) -> Any:  # noqa: ANN401
    """Return the rows (int64 array, in placement order, at most ``count``) or None.

    Runtime complexity: O(N log N + count) vectorized over the N feasible rows.
    """
    t = backend.table
    idx = slice(0, t.nrows)
    rows = np.flatnonzero(backend.feasible(idx, request, require))
    if rows.size == 0 or count <= 0:
        return rows[:0]
    usable = t.free_usable
    free = []
    amounts = []
    for d, qd in enumerate((request.millicpu, request.memory_bytes, request.slots)):
        if qd > 0:  # a dimension not requested bounds nothing: no need to gather it
            free.append(usable[d][rows])
            amounts.append(qd)
    for name, qe in request.extended.items():
        cap, res = t.extended[name]
        free.append(cap[rows] - res[rows])
        amounts.append(qe)
    room = copies_that_fit(free, amounts, np.full(rows.size, count, dtype=np.int64))
    if backend.maximize:
        first = backend.scores(rows, request)
        order = np.lexsort((t.sequence[rows], -first))
        filled = np.cumsum(room[order])
        last = int(np.searchsorted(filled, count))
        take = order[: last + 1]
        counts = room[take].copy()
        if last < take.size and filled[last] > count:
            counts[-1] -= int(filled[last]) - count
        return np.repeat(rows[take], counts)
    total = int(room.sum())
    by_seq = np.argsort(t.sequence[rows], kind="stable")  # sequences are distinct
    rows, room = rows[by_seq], room[by_seq]
    if count < total:
        # score only each runner's first copies, about its share of the count (the
        # water level): exact when the next copy of every runner cut short scores
        # above the last one placed (scores never fall with k), else score them all
        share = np.minimum(room, room * count // total * 5 // 4 + 2)
        if count <= int(share.sum()) <= MAX_ITEMS:
            placed, level = _lowest(backend, request, rows, share, count)
            cut = share < room
            if not cut.any() or backend.scores(rows[cut], request, share[cut] + 1).min() > level:
                return placed
    if total > MAX_ITEMS:
        return None
    return _lowest(backend, request, rows, room, count)[0]


def _lowest(
    backend: NumpyBackend,
    request: Resources,
    rows: Any,  # noqa: ANN401
    room: Any,  # noqa: ANN401
    count: int,
) -> tuple[Any, float]:
    """The rows of the ``count`` lowest items ``(s_i(k), sequence_i, k)``, k <= room_i, in order.

    ``rows`` are in sequence order. Also returns the last item's score.
    Runtime complexity: O(M log M) for M = room.sum().
    """
    rep = np.repeat(rows, room)  # the items in (sequence, k) order
    starts = np.repeat(np.cumsum(room) - room, room)
    times = np.arange(rep.size, dtype=np.int64) - starts + 1
    score = backend.scores(rep, request, times)
    if count < rep.size:  # only the items scoring at most the count-th lowest can be placed
        kth = np.partition(score, count - 1)[count - 1]
        keep = np.flatnonzero(score <= kth)  # still in (sequence, k) order
        rep, score = rep[keep], score[keep]
    # a stable sort by score keeps (sequence, k) order among equal scores: the
    # lexicographic (score, sequence, k) order of sequential decisions
    order = np.argsort(score, kind="stable")[:count]
    return rep[order], float(score[order[-1]]) if order.size else -np.inf
