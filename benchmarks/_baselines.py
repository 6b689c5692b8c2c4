"""The two reference allocators of issue 11, driven by the same churn loop as runtime_alloc.

* :class:`Floor`: what any pure-Python allocator pays per decision: one attrs
  object and one dict insert (allocate), one dict delete (release), each under
  a lock. It makes no decision (every task goes to the first runner).
* :class:`NaiveScan`: a naive numpy full scan over int64 columns, making the
  same decisions as runtime_alloc's python backend for the issue-3 workload
  (built-in strategies with default weights, every dimension of every runner
  scored, no labels, no draining): feasible rows by three comparisons, the
  score ``(used_cpu/cap_cpu + used_mem/cap_mem + used_slots/cap_slots) / 3`` in
  that float order, ties to the runner registered first (``argmax``/``argmin``
  return the first).
"""

from __future__ import annotations

import threading
from typing import Any

import attrs
import numpy as np

from runtime_alloc import Resources, Runner


@attrs.frozen
class FloorReservation:
    task_id: str
    runner: str
    resources: Resources


class Floor:
    """One attrs object + a dict insert/delete under a lock per decision."""

    def __init__(self, runners: list[Runner]) -> None:
        self._lock = threading.RLock()
        self._first = runners[0].name
        self._reservations: dict[str, FloorReservation] = {}

    def try_allocate(self, task_id: str, request: Resources) -> FloorReservation:
        with self._lock:
            reservation = FloorReservation(task_id, self._first, request)
            self._reservations[task_id] = reservation
            return reservation

    def release(self, task_id: str) -> FloorReservation:
        with self._lock:
            return self._reservations.pop(task_id)


class NaiveScan:
    """A full numpy scan per decision (same decisions as the python backend, see above)."""

    def __init__(self, runners: list[Runner], *, maximize: bool) -> None:
        self._lock = threading.RLock()
        self.maximize = maximize
        self.names = [r.name for r in runners]
        self.row_of = {name: i for i, name in enumerate(self.names)}
        caps = np.array(
            [(r.capacity.millicpu, r.capacity.memory_bytes, r.capacity.slots) for r in runners],
            dtype=np.int64,
        ).reshape(len(runners), 3)
        self.cap = [caps[:, d].copy() for d in range(3)]
        self.capf = [c.astype(np.float64) for c in self.cap]
        self.res = [np.zeros(len(runners), np.int64) for _ in range(3)]
        self._reservations: dict[str, tuple[int, Resources]] = {}

    def load(self, reservations: dict[str, Any]) -> None:
        """Hold these reservations (task id -> object with ``runner`` and ``resources``)."""
        for task_id, r in reservations.items():
            i = self.row_of[r.runner]
            self._add(i, r.resources, 1)
            self._reservations[task_id] = (i, r.resources)

    def _add(self, i: int, q: Resources, sign: int) -> None:
        self.res[0][i] += sign * q.millicpu
        self.res[1][i] += sign * q.memory_bytes
        self.res[2][i] += sign * q.slots

    def try_allocate(self, task_id: str, request: Resources) -> tuple[int, Resources] | None:
        with self._lock:
            q = (request.millicpu, request.memory_bytes, request.slots)
            res, cap, capf = self.res, self.cap, self.capf
            used = [res[d] + q[d] for d in range(3)]
            ok = (used[0] <= cap[0]) & (used[1] <= cap[1]) & (used[2] <= cap[2])
            score = (
                used[0].astype(np.float64) / capf[0]
                + used[1].astype(np.float64) / capf[1]
                + used[2].astype(np.float64) / capf[2]
            ) / 3.0
            if self.maximize:
                score[~ok] = -np.inf
                i = int(score.argmax())
            else:
                score[~ok] = np.inf
                i = int(score.argmin())
            if not ok[i]:
                return None
            self._add(i, request, 1)
            placed = self._reservations[task_id] = (i, request)
            return placed

    def release(self, task_id: str) -> tuple[int, Resources]:
        with self._lock:
            i, request = placed = self._reservations.pop(task_id)
            self._add(i, request, -1)
            return placed

    def runner_of(self, task_id: str) -> str:
        return self.names[self._reservations[task_id][0]]
