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

When every capacity is below ``2**52`` (:data:`FLOAT_EXACT`), the reserved
amounts and capacities are kept as float64 instead: every reserved amount is
then an integer below ``2**52``, so for a request below ``2**52`` too the
float sum ``r + q`` is the exact integer (below ``2**53``), the comparison with
the capacity is the integer one, and that sum is the ``float(r + q)`` the score
converts, with no conversion pass per decision. A larger request takes the
int64 arrays' path, built on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.columns import Table
    from runtime_alloc.resources import Resources

__all__ = ["ScanArrays"]

_INF = np.inf
#: Capacities and request amounts below this add exactly in float64 (see the module docstring).
FLOAT_EXACT = 2**52


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
        "floats",
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
        capacity = np.array([table.capacity[d][:n] for d in range(3)], dtype=np.int64)
        #: reserved amounts and capacities in float64 (exact, see the module docstring)
        self.floats = not n or int(capacity.max()) < FLOAT_EXACT
        dtype = np.float64 if self.floats else np.int64
        self.reserved = np.array([table.reserved[d][:n] for d in range(3)], dtype=dtype)
        self.capacity = capacity.astype(dtype)
        self.scored = np.array([table.capacity_float[d][:n] for d in range(3)])
        self.blocked = table.free_usable[2][:n] < 0  # removed or draining
        self.capacity[:, self.blocked] = -1  # a blocked row fits nothing
        #: the request's amounts, one row per dimension filled per decision: adding a
        #: full (3, rows) array is 2-3x faster than broadcasting a (3, 1) one
        q: Any = np.zeros((3, n), dtype=dtype)
        self.request = (q, q[0], q[1], q[2])
        #: per-decision work arrays, reused: amounts, their floats, the over mask, scores
        self.buffers: tuple[Any, Any, Any, Any] = (
            np.empty((3, n), dtype=dtype),
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

    def _use_ints(self) -> None:
        """Keep the amounts as int64 from now on (a request of ``2**52`` or more). O(N)."""
        self.floats = False
        self.reserved = self.reserved.astype(np.int64)
        self.capacity = self.capacity.astype(np.int64)
        q: Any = np.zeros(self.reserved.shape, dtype=np.int64)
        self.request = (q, q[0], q[1], q[2])
        self.buffers = (np.empty(q.shape, dtype=np.int64), *self.buffers[1:])

    def choose(self, table: Table, request: Resources, require: frozenset[str]) -> int:
        """The row the python scan picks for ``request`` (no extended resources), or -1. O(N)."""
        if not len(self.wsum):
            return -1
        a0, a1, a2 = request.millicpu, request.memory_bytes, request.slots
        if self.floats and max(a0, a1, a2) >= FLOAT_EXACT:
            self._use_ints()
        q, q0, q1, q2 = self.request
        q0.fill(a0)
        q1.fill(a1)
        q2.fill(a2)
        amounts, used, over, score = self.buffers
        np.add(self.reserved, q, out=amounts)
        np.greater(amounts, self.capacity, out=over)
        bad = over[0] | over[1]
        bad |= over[2]
        if require:
            bad |= ~table.label_table(require)[self.labelset]
        if self.floats:
            used = amounts  # already float(r + q), exactly
        else:
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
