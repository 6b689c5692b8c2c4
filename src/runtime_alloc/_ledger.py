"""The ledger: runner states, tasks, reservations and counters, the one place that mutates them.

Every change is sent to the backend as an event right after it is made
(``add`` for a new runner, ``update`` for a new state, ``remove`` for a gone
runner), so a backend never reads the ledger's tables. The allocator holds
the lock; the ledger assumes it is held.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from runtime_alloc import _ledger_checks, devices
from runtime_alloc._frozen import FrozenMap
from runtime_alloc._ledger_backend import Completed, fast_update
from runtime_alloc._ledger_views import (
    NOTHING,
    StateRows,
    StatesView,
    TasksView,
    held_count,
    held_tuple,
    reserved_of,
)
from runtime_alloc._units import _show
from runtime_alloc.backends.protocol import Backend
from runtime_alloc.errors import (
    AllocationError,
    DuplicateRunnerError,
    UnknownRunnerError,
)
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner, RunnerState, check_fleet, check_runner

__all__ = ["Ledger"]

_NO_DEVICES: FrozenMap[str, tuple[int, ...]] = FrozenMap()
_ROW = "q"  # array typecode of the reserved columns: signed 64-bit, like the quantities


class Ledger:
    """Runners (registration order), their reserved amounts, reservations, counters.

    Storage is flat: runner ``row_of[name]`` has its :class:`Runner` in
    ``runners``, its reserved cpu, memory and slots in the ``array('q')``
    columns ``cpu``, ``memory``, ``slots`` (extended amounts in ``extended``,
    by row, only where non-zero), its draining flag in ``drain`` and its
    reservations in ``held`` (None, one :class:`Reservation`, or a dict of
    them by task id, oldest first). A change allocates nothing but the new
    :class:`Reservation`; :class:`RunnerState` values are built when read
    (:attr:`states`, :meth:`state`, :meth:`rows`). Removed runners leave a
    hole (``runners[row] is None``) until :meth:`compact`.

    Args:
        backend: receives every change as an event.
    """

    __slots__ = (
        "_update_reserved",
        "allocations",
        "backend",
        "capacity",
        "cpu",
        "declared",
        "dev",
        "device_kinds",
        "drain",
        "draining",
        "evictions",
        "extended",
        "failures",
        "held",
        "holes",
        "in_use",
        "memory",
        "releases",
        "res_cpu",
        "res_ext",
        "res_memory",
        "res_slots",
        "reservations",
        "row_of",
        "runners",
        "slots",
        "states",
        "tasks",
    )

    def __init__(self, backend: Backend) -> None:
        self.row_of: dict[str, int] = {}
        self.runners: list[Runner | None] = []
        self.cpu, self.memory, self.slots = array(_ROW), array(_ROW), array(_ROW)
        #: row -> extended reserved amounts (a dict replaced, never changed in place)
        self.extended: dict[int, dict[str, int]] = {}
        #: row -> device use of a runner with devices (runtime_alloc.devices), replaced per change
        self.dev: dict[int, FrozenMap[str, tuple[int, ...]]] = {}
        #: device kind -> number of runners declaring devices of it
        self.device_kinds: dict[str, int] = {}
        self.drain = bytearray()
        self.held: list[Any] = []
        self.holes = 0
        #: read-only views: name -> RunnerState, name -> {task id: Reservation}
        self.states = StatesView(self)
        self.tasks = TasksView(self)
        self.reservations: dict[str, Reservation] = {}
        self.allocations = 0
        self.failures: dict[str, int] = {}
        self.releases: dict[str, int] = {}
        self.evictions = 0
        #: extended resource name -> number of runners (draining ones too) declaring it
        self.declared: dict[str, int] = {}
        # fleet gauges kept incrementally (metrics() reads them in O(dimensions)):
        #: fleet capacity per dimension (cpu, memory, slots, extended names)
        self.capacity: dict[str, int] = {"cpu": 0, "memory": 0, "slots": 0}
        #: fleet reserved amounts: cpu, memory, slots, and per extended name
        self.res_cpu = self.res_memory = self.res_slots = 0
        self.res_ext: dict[str, int] = {}
        #: runners holding at least one reservation; runners draining
        self.in_use = self.draining = 0
        self.attach(backend)

    def attach(self, backend: Any) -> None:  # noqa: ANN401
        """Send events to ``backend`` from now on (it must hold the same states).

        A backend with ``update_reserved(name, (cpu, memory, slots), extended,
        draining)`` gets the reserved amounts of a change without a new
        :class:`RunnerState` (when the class that defines it also defines
        ``update``, so a subclass that overrides only ``update`` still sees
        every event); others get ``update(state)``. A backend with only
        ``add``/``update``/``remove``/``choose`` (a wrapper written before the
        protocol was complete) is completed: ``diagnose`` scans the ledger's
        states, ``plan`` declines.
        """
        self.backend = backend if isinstance(backend, Backend) else Completed(backend, self)
        self._update_reserved = fast_update(backend)

    # ------------------------------------------------------------------ rows

    def state_at(self, row: int) -> RunnerState:
        """Build the :class:`RunnerState` of a row. O(dimensions)."""
        return RunnerState(
            self.runners[row],  # type: ignore[arg-type]
            reserved_of(self.cpu[row], self.memory[row], self.slots[row], self.extended.get(row)),
            bool(self.drain[row]),
            self.dev.get(row, _NO_DEVICES),
        )

    def _send(self, row: int) -> None:
        """Tell the backend a row's reserved amounts or draining flag changed. O(dimensions)."""
        fast = self._update_reserved
        if fast is None or row in self.dev:  # device use travels in the RunnerState
            self.backend.update(self.state_at(row))
        else:
            fast(
                self.runners[row].name,  # type: ignore[union-attr]
                (self.cpu[row], self.memory[row], self.slots[row]),
                self.extended.get(row),
                bool(self.drain[row]),
            )

    def compact(self) -> None:
        """Close the holes left by removed runners (rows renumbered in order). O(N) when any."""
        if not self.holes:
            return
        keep = [i for i, r in enumerate(self.runners) if r is not None]
        self.runners = [self.runners[i] for i in keep]
        for name in ("cpu", "memory", "slots"):
            column = getattr(self, name)
            setattr(self, name, array(_ROW, [column[i] for i in keep]))
        self.drain = bytearray(self.drain[i] for i in keep)
        self.held = [self.held[i] for i in keep]
        new_row = {old: new for new, old in enumerate(keep)}
        self.extended = {new_row[i]: ext for i, ext in self.extended.items()}
        self.dev = {new_row[i]: use for i, use in self.dev.items()}
        self.row_of = {r.name: i for i, r in enumerate(self.runners)}  # type: ignore[union-attr]
        self.holes = 0

    def rows(self) -> StateRows:
        """A frozen copy of every runner's state, in order, read lazily. O(N) copies."""
        self.compact()
        return StateRows(
            list(self.runners),  # type: ignore[arg-type]
            array(_ROW, self.cpu),
            array(_ROW, self.memory),
            array(_ROW, self.slots),
            dict(self.extended),
            bytes(self.drain),
            dict(self.dev),
        )

    def task_counts(self) -> list[int]:
        """The number of reservations per runner, in order. O(N)."""
        self.compact()
        return [held_count(h) for h in self.held]

    def held_by(self, name: str) -> tuple[Reservation, ...]:
        """A runner's reservations, oldest first. O(its tasks)."""
        return held_tuple(self.held[self.row_of[name]])

    # ------------------------------------------------------------------ runners

    def state(self, name: str) -> RunnerState:
        """Return a runner's state. O(dimensions).

        Raises:
            UnknownRunnerError: no such runner.
        """
        row = self.row_of.get(name)
        if row is None:
            msg = f"no runner is registered as {_show(name)}"
            raise UnknownRunnerError(msg)
        return self.state_at(row)

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
        self.row_of[runner.name] = len(self.runners)  # type: ignore[attr-defined]
        self.runners.append(runner)  # type: ignore[arg-type]
        self.cpu.append(0)
        self.memory.append(0)
        self.slots.append(0)
        self.drain.append(0)
        self.held.append(None)
        if runner.devices:  # type: ignore[attr-defined]
            state = RunnerState(runner)  # type: ignore[arg-type]
            self.dev[len(self.runners) - 1] = state.devices
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

    # ------------------------------------------------------------------ reservations

    def reserve(self, reservation: Reservation) -> None:
        """Add a reservation to its runner. O(dimensions).

        The caller guarantees room: the placement chose a runner that fits, or
        a checked snapshot replays reservations that add up within capacity.
        """
        self._send(self._hold(reservation))

    def _hold(self, reservation: Reservation) -> int:
        """:meth:`reserve` without the backend event; return the runner's row. O(dimensions)."""
        row = self.row_of[reservation.runner]
        r = reservation.resources
        self.cpu[row] += r.millicpu
        self.memory[row] += r.memory_bytes
        self.slots[row] += r.slots
        if r.extended._data:  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            self._add_extended(row, r, 1)
            if reservation.devices._data:  # noqa: SLF001
                self.dev[row] = devices.apply(self.dev[row], reservation.devices, 1)
        task_id = reservation.task_id
        held = self.held[row]
        if held is None:
            self.held[row] = reservation
            self.in_use += 1
        elif type(held) is dict:
            held[task_id] = reservation
        else:
            self.held[row] = {held.task_id: held, task_id: reservation}
        self.reservations[task_id] = reservation
        self.res_cpu += r.millicpu
        self.res_memory += r.memory_bytes
        self.res_slots += r.slots
        return row

    def unreserve(self, reservation: Reservation) -> None:
        """Give a held reservation back to its runner. O(dimensions)."""
        row = self.row_of[reservation.runner]
        r = reservation.resources
        self.cpu[row] -= r.millicpu
        self.memory[row] -= r.memory_bytes
        self.slots[row] -= r.slots
        if r.extended._data:  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            self._add_extended(row, r, -1)
            if reservation.devices._data:  # noqa: SLF001
                self.dev[row] = devices.apply(self.dev[row], reservation.devices, -1)
        task_id = reservation.task_id
        held = self.held[row]
        if type(held) is dict:
            del held[task_id]
            if len(held) == 1:
                self.held[row] = next(iter(held.values()))
        else:
            self.held[row] = None
            self.in_use -= 1
        del self.reservations[task_id]
        self.res_cpu -= r.millicpu
        self.res_memory -= r.memory_bytes
        self.res_slots -= r.slots
        self._send(row)

    def _add_extended(self, row: int, resources: Resources, sign: int) -> None:
        """Add ``sign * resources.extended`` to a row and the fleet totals. O(dimensions)."""
        amounts = dict(self.extended.get(row, ()))
        for dim, count in resources.extended.items():
            value = amounts.get(dim, 0) + sign * count
            if value:
                amounts[dim] = value
            else:
                del amounts[dim]
        if amounts:
            self.extended[row] = amounts
        else:
            self.extended.pop(row, None)
        self._count_extended(resources, sign)

    def place(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> Reservation | AllocationError:
        """Reserve ``request`` on the backend's choice, or return (and count) the error.

        Runtime complexity: the backend's ``choose`` (and ``diagnose`` on failure).
        """
        backend = self.backend
        name = backend.choose(request, require)
        if name is None:
            error = backend.diagnose(task_id, request, require)
            self.count_failure(error)
            return error
        reservation = Reservation(task_id, name, request)
        if request.extended._data and self.row_of[name] in self.dev:  # noqa: SLF001
            reservation = devices.with_picks(reservation, self.state(name))
        self.reserve(reservation)
        self.allocations += 1
        return reservation

    def reserve_run(
        self, task_ids: Sequence[str], names: Sequence[str], request: Resources
    ) -> list[Reservation]:
        """Reserve ``request`` for ``task_ids[i]`` on ``names[i]``, one event per runner touched.

        Runtime complexity: O(len(names) + runners touched * dimensions).
        """
        results: list[Reservation] = []
        counts: dict[int, int] = {}
        row_of, held, reservations = self.row_of, self.held, self.reservations
        append = results.append
        for task_id, name in zip(task_ids, names, strict=False):  # names may be shorter
            reservation = Reservation(task_id, name, request)
            row = row_of[name]
            h = held[row]
            if h is None:
                held[row] = reservation
                self.in_use += 1
            elif type(h) is dict:
                h[task_id] = reservation
            else:
                held[row] = {h.task_id: h, task_id: reservation}
            reservations[task_id] = reservation
            counts[row] = counts.get(row, 0) + 1
            append(reservation)
        cpu, memory, slots = request.millicpu, request.memory_bytes, request.slots
        for row, count in counts.items():
            self.cpu[row] += count * cpu
            self.memory[row] += count * memory
            self.slots[row] += count * slots
            for _ in range(count if request.extended._data else 0):  # noqa: SLF001
                self._add_extended(row, request, 1)
            self._send(row)
        self.res_cpu += len(results) * cpu
        self.res_memory += len(results) * memory
        self.res_slots += len(results) * slots
        self.allocations += len(results)
        return results

    def place_run(
        self, run: Sequence[tuple[str, Resources, frozenset[str]]]
    ) -> list[Reservation | AllocationError] | None:
        """Place a run of identical requests through the backend's ``plan``, or return None.

        The result equals placing them one by one: reservations in order, then
        one error per request left over when capacity ran out.

        Runtime complexity: the backend's ``plan`` plus O(len(run)).
        """
        request, require = run[0][1], run[0][2]
        kinds = self.device_kinds
        if kinds and any(kind in kinds for kind in request.extended):
            return None  # device requests one at a time: each copy picks its devices
        names = self.backend.plan(request, require, len(run))
        if names is None:
            return None
        results: list[Reservation | AllocationError] = []
        results.extend(self.reserve_run([task_id for task_id, _, _ in run], names, request))
        if len(names) < len(run):
            first = self.backend.diagnose(run[len(names)][0], request, require)
            for task_id, _, _ in run[len(names) :]:
                error = type(first)(
                    task_id, request, first.runners_total, first.reasons, first.shortfalls
                )
                self.count_failure(error)
                results.append(error)
        return results

    # ------------------------------------------------------------------ counters

    def _count_reserved(self, resources: Resources, sign: int) -> None:
        """Add ``sign * resources`` to the fleet's reserved totals. O(dimensions)."""
        self.res_cpu += sign * resources.millicpu
        self.res_memory += sign * resources.memory_bytes
        self.res_slots += sign * resources.slots
        if resources.extended._data:  # noqa: SLF001
            self._count_extended(resources, sign)

    def _count_extended(self, resources: Resources, sign: int) -> None:
        totals = self.res_ext
        for dim, count in resources.extended.items():
            value = totals.get(dim, 0) + sign * count
            if value:
                totals[dim] = value
            else:
                del totals[dim]

    def fleet_reserved(self) -> dict[str, int]:
        """The fleet's reserved amounts per dimension (built-ins, then extended). O(dimensions)."""
        return {"cpu": self.res_cpu, "memory": self.res_memory, "slots": self.res_slots,
                **self.res_ext}  # fmt: skip

    def count_failure(self, error: AllocationError) -> None:
        """Count a failed placement under its kind. O(1)."""
        self.failures[error.kind] = self.failures.get(error.kind, 0) + 1

    def count_release(self, state: str) -> None:
        """Count a release under its completion state. O(1)."""
        self.releases[state] = self.releases.get(state, 0) + 1

    def check(self) -> None:
        """Assert the ledger's invariants (see :func:`._ledger_checks.check`). O(N + tasks)."""
        _ledger_checks.check(self)

    def check_gauges(self) -> None:
        """Assert the kept fleet gauges equal a recount (:func:`._ledger_checks.check_gauges`)."""
        _ledger_checks.check_gauges(self)
