"""The ledger: runner states, tasks, reservations and counters, the one place that mutates them.

One concept per module: the row storage, backend events and counters in
:mod:`._ledger_rows`; the reservation bookkeeping in
:mod:`._ledger_reservations`; runner membership (insert, remove, drain) and
the invariant checks here. Every change is sent to the backend as an event
right after it is made (``add`` for a new runner, ``update_reserved`` for new
reserved amounts or draining flag, ``update`` for a runner with devices,
``remove`` for a gone runner), so a backend never reads the ledger's tables.
A backend that offers a direct path (its ``direct`` attribute: the numpy
backend on its compiled index, :mod:`runtime_alloc.backends.numpy.direct`)
takes the hot ones through it instead: a placement without labels or extended
resources is chosen and reserved there in one call, and a row's new amounts
or draining flag go there by row.
The allocator holds the lock; the ledger assumes it is held.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat

from runtime_alloc import _ledger_checks, devices
from runtime_alloc._ledger_reservations import LedgerReservations
from runtime_alloc._ledger_rows import ROW
from runtime_alloc._ledger_views import NOTHING, held_tuple
from runtime_alloc.errors import DuplicateRunnerError
from runtime_alloc.reservations import Reservation
from runtime_alloc.runners import (
    RunnerState,
    check_fleet,
    check_runner,
    fleet_sequence,
    number_fleet,
)

__all__ = ["Ledger"]


class Ledger(LedgerReservations):
    """Runners (registration order), their reserved amounts, reservations, counters.

    The storage is :class:`~runtime_alloc._ledger_rows.LedgerRows`' (flat
    columns per runner); reservations are kept by
    :class:`~runtime_alloc._ledger_reservations.LedgerReservations`; this class
    adds and removes runners and checks the invariants.

    Args:
        backend: receives every change as an event.
    """

    __slots__ = ()

    # ------------------------------------------------------------------ runners

    def check_new_runner(self, runner: object) -> None:
        """Raise unless ``runner`` is a :class:`Runner` whose name is free. O(1).

        Raises:
            InvalidArgumentError: not a Runner.
            DuplicateRunnerError: the name is registered.
        """
        check_runner(runner)
        if runner.name in self.row_of:  # type: ignore[attr-defined]
            msg = f"runner {runner.name!r} is already registered"  # type: ignore[attr-defined]
            raise DuplicateRunnerError(msg)

    #: Return the initial fleet as a list after checking it (see :func:`runners.check_fleet`).
    check_fleet = staticmethod(check_fleet)

    def insert(self, runner: object) -> None:
        """Register a new, empty runner (the caller checked the name is free). O(1)."""
        self.backend.add(RunnerState(runner, NOTHING))  # type: ignore[arg-type]
        # after the backend: if it fails, the ledger is unchanged
        self._append(runner)

    def insert_fleet(self, runners: Iterable[object]) -> int:
        """Register an empty ledger's initial fleet; return its size. O(len(runners)).

        Checks ``runners`` as :func:`~runtime_alloc.runners.check_fleet` does,
        with the same errors, and leaves the ledger empty when one is raised.
        Unlike one :meth:`insert` per runner, the columns are made at their final
        size (no growth by doubling, whose freed steps stay resident) and the
        duplicate check uses the name -> row map being built (no set of names).

        Raises:
            InvalidArgumentError: not an iterable, or an item is not a Runner.
            DuplicateRunnerError: a name is listed twice.
        """
        fleet = fleet_sequence(runners)
        try:
            self._number(fleet)
        except BaseException:
            self.row_of.clear()
            raise
        self._columns(fleet)
        add = self.backend.add
        for runner in fleet:
            add(RunnerState(runner, NOTHING))  # type: ignore[arg-type]
        return len(fleet)

    def _number(self, fleet: Sequence[object]) -> None:
        """Check a new fleet's runners and give each its row in ``row_of``. O(len(fleet))."""
        number_fleet(fleet, self.row_of)

    def _columns(self, fleet: Sequence[object]) -> None:
        """Give an empty ledger's numbered ``fleet`` its rows, columns made at their size. O(n)."""
        n = len(fleet)
        self.runners.extend(fleet)  # type: ignore[arg-type]
        self.cpu, self.memory, self.slots = (array(ROW, [0]) * n for _ in range(3))
        self.drain = bytearray(n)
        self.held.extend(repeat(None, n))
        for row, runner in enumerate(fleet):
            self._account(runner, row)

    def _append(self, runner: object) -> None:
        """:meth:`insert` without the backend event. O(1)."""
        self.row_of[runner.name] = len(self.runners)  # type: ignore[attr-defined]
        self.runners.append(runner)  # type: ignore[arg-type]
        self.cpu.append(0)
        self.memory.append(0)
        self.slots.append(0)
        self.drain.append(0)
        self.held.append(None)
        self._account(runner, len(self.runners) - 1)

    def _account(self, runner: object, row: int) -> None:
        """Count a new runner (at ``row``) in the device use and fleet gauges. O(dimensions)."""
        if runner.devices:  # type: ignore[attr-defined]
            state = RunnerState(runner)  # type: ignore[arg-type]
            self.dev[row] = state.devices
            devices.count_kinds(self.device_kinds, state.runner, 1)
        declared = self.declared
        cap = runner.capacity  # type: ignore[attr-defined]
        totals = self.capacity
        totals["cpu"] += cap.millicpu
        totals["memory"] += cap.memory_bytes
        totals["slots"] += cap.slots
        for dim, count in cap.extended.items():
            declared[dim] = declared.get(dim, 0) + 1
            totals[dim] = totals.get(dim, 0) + count

    def load(
        self,
        states: Sequence[RunnerState],
        reservations: Mapping[str, Reservation],
    ) -> None:
        """Fill an empty ledger with a checked snapshot's runners, reservations and drains.

        ``reservations``: the reservations by task id, in order.

        No backend event is sent: the ledger's backend was built from the same
        ``states``. Runtime complexity: O(runners + reservations).
        """
        fleet = [state.runner for state in states]
        offered = getattr(self.backend, "restored_rows", None)
        if offered is not None and _numbers(offered, fleet):
            # the backend built its name map from these states (the numpy backend):
            # the same dict serves as the ledger's, one map instead of two
            self.row_of = offered
        else:
            self._number(fleet)
        # the backend holds these runners: it takes the name map now, and drops its own
        # before the other columns are made (a restore's peak holds one name map less)
        self._share()
        self._columns(fleet)
        del fleet
        if not self.reservations and type(reservations) is dict:
            # one copy of the whole table (an empty dict updated from a dict clones it)
            # instead of one growing by doubling: each doubling leaves its old table freed
            # but resident
            self.reservations.update(reservations)
        hold = self._hold
        for reservation in reservations.values():
            hold(reservation)
        row_of, drain = self.row_of, self.drain
        for state in states:
            if state.draining:
                drain[row_of[state.name]] = 1
                self.draining += 1

    def remove(self, name: str) -> tuple[Reservation, ...]:
        """Unregister a runner and drop (evict) its reservations; return them, oldest first.

        The backend is told first: if it fails, the ledger is unchanged (and the
        evicted reservations are not lost with the runner). O(its tasks).
        """
        row = self.row_of[name]
        held = held_tuple(self.held[row])
        self.backend.remove(name)
        for reservation in held:
            del self.reservations[reservation.task_id]
        self.evictions += len(held)
        if held:
            self.in_use -= 1
            self._count_reserved(self.state_at(row).reserved, -1)
        self.draining -= self.drain[row]
        runner = self.runners[row]
        cap = runner.capacity  # type: ignore[union-attr]
        del self.row_of[name]
        self.runners[row] = None
        self.cpu[row] = self.memory[row] = self.slots[row] = self.drain[row] = 0
        self.held[row] = None
        self.extended.pop(row, None)
        if self.dev.pop(row, None) is not None:
            devices.count_kinds(self.device_kinds, runner, -1)  # type: ignore[arg-type]
        self.holes += 1
        if self.holes > 64 and 2 * self.holes > len(self.runners):
            self.compact()
        declared, totals = self.declared, self.capacity
        totals["cpu"] -= cap.millicpu
        totals["memory"] -= cap.memory_bytes
        totals["slots"] -= cap.slots
        for dim, count in cap.extended.items():
            if declared[dim] == 1:
                del declared[dim], totals[dim]
            else:
                declared[dim] -= 1
                totals[dim] -= count
        return held

    def set_draining(self, name: str, *, draining: bool) -> None:
        """Set a runner's draining flag. O(1).

        Raises:
            UnknownRunnerError: no such runner.
        """
        self.state(name)
        row = self.row_of[name]
        if bool(self.drain[row]) != draining:
            self.drain[row] = draining
            self.draining += 1 if draining else -1
            self._send(row)

    def check(self) -> None:
        """Assert the ledger's invariants (see :func:`._ledger_checks.check`). O(N + tasks)."""
        _ledger_checks.check(self)

    def check_gauges(self) -> None:
        """Assert the kept fleet gauges equal a recount (:func:`._ledger_checks.check_gauges`)."""
        _ledger_checks.check_gauges(self)


def _numbers(rows: Mapping[str, int], fleet: Sequence[object]) -> bool:
    """True when ``rows`` maps each runner's name of ``fleet`` to its position, nothing else."""
    if len(rows) != len(fleet):
        return False
    get = rows.get
    return all(get(runner.name) == i for i, runner in enumerate(fleet))  # type: ignore[attr-defined]
