"""The small-fleet path of the numpy backend: one vectorized scan per decision.

Up to :data:`~runtime_alloc.backends.numpy.backend.SCAN_ROWS` runners, index
upkeep costs more than scanning every row. :class:`ScanArrays` keeps
``(3, rows)`` int64 arrays beside an *ordered* table (rows in registration
order): the reserved amounts and the capacities (-1 for a removed or
draining row, which then fits nothing), plus the scoring capacities as float64
(``inf`` where a dimension is not scored); an update writes three scalars.

Exact by construction: feasibility compares ``r + q <= c`` in int64 (no
overflow: each is at most 2**53, ``MAX_QUANTITY``); the score converts
``r + q`` to float64 once, as :meth:`LinearScore.vector
<runtime_alloc.strategies.LinearScore.vector>` does. For a weight ``w > 1``
the vector form converts the int ``w * (r + q)``; here ``w * float(r + q)``
is taken, equal for every feasible row: ``r + q <= c <= 2**53`` is exact in
float64 and IEEE multiplication rounds the exact product once, as the
conversion does. The score ``sum_d float(w_d * used_d) / cap_d`` (summed from
cpu on) divided by the float weight sum is then the python scan's, bit for
bit; infeasible rows are masked before the choice. On an ordered table the
first row with the best score is the runner registered first, which is the
python scan's tie-break.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.columns import Table
    from runtime_alloc.resources import Resources

__all__ = ["ScanArrays"]

_INF = np.inf


class ScanArrays:
    """Float copies of an ordered table's rows for :meth:`choose` (see the module docstring).

    Args:
        table: the ordered table (its columns are read once, here).
        weights: the weights of cpu, memory and slots.
        maximize: True when the highest score wins.
    """

    __slots__ = (
        "blocked",
        "buffers",
        "capacity",
        "labelset",
        "maximize",
        "request",
        "reserved",
        "scored",
        "w",
        "wsum",
    )

    def __init__(self, table: Table, weights: tuple[int, int, int], *, maximize: bool) -> None:
        n = table.nrows
        self.reserved = np.array([table.reserved[d][:n] for d in range(3)], dtype=np.int64)
        self.capacity = np.array([table.capacity[d][:n] for d in range(3)], dtype=np.int64)
        self.scored = np.array([table.capacity_float[d][:n] for d in range(3)])
        self.blocked = table.free_usable[2][:n] < 0  # removed or draining
        self.capacity[:, self.blocked] = -1  # a blocked row fits nothing
        #: the request's amounts, one row per dimension filled per decision: adding a
        #: full (3, rows) array is 2-3x faster than broadcasting a (3, 1) one
        q = np.zeros((3, n), dtype=np.int64)
        self.request = (q, q[0], q[1], q[2])
        #: per-decision work arrays, reused: amounts, their floats, the over mask, scores
        self.buffers = (
            np.empty((3, n), dtype=np.int64),
            np.empty((3, n)),
            np.empty((3, n), dtype=np.bool_),
            np.empty(n),
        )
        self.wsum = table.weight_sum_float[:n].copy()
        self.labelset = table.labelset[:n].copy()
        self.w = np.array(weights, dtype=np.float64).reshape(3, 1) if max(weights) > 1 else None
        self.maximize = maximize

    def set(self, table: Table, i: int, reserved: tuple[int, int, int], draining: bool) -> None:
        """Store row ``i``'s reserved amounts and draining flag (``table``: its capacity). O(1)."""
        res = self.reserved
        res[0, i], res[1, i], res[2, i] = reserved
        if draining != self.blocked.item(i):
            self.blocked[i] = draining
            cap = self.capacity
            for d in range(3):
                cap[d, i] = -1 if draining else table.capacity[d].item(i)

    def choose(self, table: Table, request: Resources, require: frozenset[str]) -> int:
        """The row the python scan picks for ``request`` (no extended resources), or -1. O(N)."""
        if not len(self.wsum):
            return -1
        q, q0, q1, q2 = self.request
        q0.fill(request.millicpu)
        q1.fill(request.memory_bytes)
        q2.fill(request.slots)
        amounts, used, over, score = self.buffers
        np.add(self.reserved, q, out=amounts)
        np.greater(amounts, self.capacity, out=over)
        bad = over[0] | over[1]
        bad |= over[2]
        if require:
            bad |= ~table.label_table(require)[self.labelset]
        np.copyto(used, amounts)  # int64 -> float64, as astype (faster than dividing ints)
        if self.w is not None:
            used *= self.w
        np.divide(used, self.scored, out=used)
        np.add(used[0], used[1], out=score)
        score += used[2]
        score /= self.wsum
        if self.maximize:
            np.copyto(score, -_INF, where=bad)
            i = int(score.argmax())
        else:
            np.copyto(score, _INF, where=bad)
            i = int(score.argmin())
        return -1 if bad.item(i) else i
