"""The Allocator's read-only entry points: get_reservation, snapshot, explain, metrics, _check.

:class:`AllocatorViews` is a private base of
:class:`~runtime_alloc.allocator.Allocator`; every method takes its lock and
changes nothing. The snapshot's restore (:meth:`Allocator.from_snapshot`) is a
constructor and stays with the class.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from runtime_alloc._ledger_views import metrics_of
from runtime_alloc._requests import Request, normalize
from runtime_alloc._restore import stored_config, stored_counters
from runtime_alloc._units import _show
from runtime_alloc.errors import UnknownTaskError
from runtime_alloc.explain import Explanation, explain
from runtime_alloc.metrics import Metrics
from runtime_alloc.resources import Resources, parse_device_request
from runtime_alloc.runners import check_name, label_rule
from runtime_alloc.snapshot import FleetSnapshot

if TYPE_CHECKING:
    from runtime_alloc._ledger import Ledger
    from runtime_alloc._ledger_views import StatesView
    from runtime_alloc.reservations import Reservation
    from runtime_alloc.strategies import Strategy

__all__ = ["AllocatorViews"]


class AllocatorViews:
    """Reading the allocator (the methods of :class:`Allocator` named so)."""

    _lock: threading.RLock
    _ledger: Ledger
    _strategy: Strategy
    _default_request: Resources
    _max_task_slots: int
    _release_states: frozenset[str]
    _states: StatesView
    _reservations: dict[str, Reservation]

    def get_reservation(self, task_id: str) -> Reservation:
        """Return the reservation held for ``task_id``.

        Raises:
            UnknownTaskError: no reservation under ``task_id``.
        """
        with self._lock:
            check_name(task_id, field="task_id")
            reservation = self._reservations.get(task_id)
            if reservation is None:
                msg = f"no reservation is held for task {_show(task_id)}"
                raise UnknownTaskError(msg)
            return reservation

    def snapshot(self) -> FleetSnapshot:
        """Return an immutable, comparable picture of runners and reservations.

        Runtime complexity: O(N + tasks).
        """
        with self._lock:
            return FleetSnapshot(
                tuple(self._states.values()),
                dict(self._reservations),
                config=stored_config(
                    self._strategy, self._max_task_slots, self._default_request,
                    self._release_states,
                ),
                counters=stored_counters(self._ledger),
            )  # fmt: skip

    def explain(
        self,
        request: Request = None,
        *,
        require: Iterable[str] = (),
        require_any: Iterable[str] = (),
    ) -> Explanation:
        """Show, per runner, whether ``request`` fits, why not, its score, and the winner.

        Read-only. Runtime complexity: O(N).
        """
        with self._lock:
            kinds = self._ledger.device_kinds
            if kinds and isinstance(request, (str, Mapping)):  # device kinds read in devices
                request = parse_device_request(request, kinds)
            resources = normalize(request, self._default_request, self._max_task_slots)
            labels = label_rule(require, any_of=require_any)
            return explain(tuple(self._states.values()), self._strategy, resources, labels)

    def metrics(self) -> Metrics:
        """Return counters (allocations, failures, releases, evictions) and gauges.

        Runtime complexity: O(N) list copies plus O(dimensions): the fleet
        gauges are kept as the ledger changes; ``per_runner`` is computed when
        first read (O(N * dimensions)).
        """
        with self._lock:
            return metrics_of(self._ledger)

    def _check(self) -> None:
        """Assert the internal invariants (tests and the harness call this). O(N + tasks)."""
        with self._lock:
            self._ledger.check()
