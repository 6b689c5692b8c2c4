"""The Allocator's runner membership: add_runner, drain_runner, undrain_runner, remove_runner.

:class:`AllocatorFleet` is a private base of
:class:`~runtime_alloc.allocator.Allocator`; every method takes its lock.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from runtime_alloc.errors import RunnerBusyError
from runtime_alloc.runners import Runner, check_name

if TYPE_CHECKING:
    from runtime_alloc._ledger import Ledger
    from runtime_alloc.reservations import Reservation

__all__ = ["AllocatorFleet"]


class AllocatorFleet:
    """Runner membership (the methods of :class:`Allocator` named so)."""

    _lock: threading.RLock
    _ledger: Ledger

    def add_runner(self, runner: Runner) -> None:
        """Register a runner; it is the newest for tie-breaking.

        Raises:
            DuplicateRunnerError: a runner with this name is registered.

        Runtime complexity: O(1) on the python backend.
        """
        with self._lock:
            self._ledger.check_new_runner(runner)
            self._ledger.insert(runner)

    def drain_runner(self, name: str) -> None:
        """Stop new placements on a runner; its reservations stay. O(1)."""
        self._set_draining(name, draining=True)

    def undrain_runner(self, name: str) -> None:
        """Allow new placements on a draining runner again. O(1)."""
        self._set_draining(name, draining=False)

    def remove_runner(self, name: str, *, force: bool = False) -> tuple[Reservation, ...]:
        """Unregister a runner.

        Args:
            name: the runner.
            force: evict its reservations instead of refusing.

        Returns:
            The evicted reservations (empty unless ``force``), oldest first, so an
            executor can retry those tasks.

        Raises:
            UnknownRunnerError: no such runner.
            RunnerBusyError: it holds reservations and ``force`` is False.

        Runtime complexity: O(tasks on the runner).
        """
        check_name(name, field="name")
        with self._lock:
            self._ledger.state(name)
            held = self._ledger.held_by(name)
            if held and not force:
                raise RunnerBusyError(name, held)
            return self._ledger.remove(name)

    def _set_draining(self, name: str, *, draining: bool) -> None:
        check_name(name, field="name")
        with self._lock:
            self._ledger.set_draining(name, draining=draining)
