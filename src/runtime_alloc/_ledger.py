"""The ledger: runner states, tasks, reservations and counters, the one place that mutates them.

Every change is sent to the backend as an event right after it is made
(``add`` for a new runner, ``update`` for a new state, ``remove`` for a gone
runner), so a backend never reads the ledger's tables. The allocator holds
the lock; the ledger assumes it is held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from runtime_alloc import _placement, devices
from runtime_alloc._units import _show
from runtime_alloc.backends.protocol import Backend
from runtime_alloc.errors import (
    AllocationError,
    DuplicateRunnerError,
    InvalidArgumentError,
    UnknownRunnerError,
)
from runtime_alloc.metrics import usage_by_dimension
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import BUILTIN_DIMENSIONS, Resources, _combine_unchecked
from runtime_alloc.runners import Runner, RunnerState

__all__ = ["Ledger"]

#: The reserved amounts of a new runner (immutable, so one object serves all).
_NOTHING = Resources()


class Ledger:
    """Runner states (registration order), reservations per runner and by task, counters.

    Args:
        backend: receives every change as an event.
    """

    __slots__ = (
        "allocations",
        "backend",
        "capacity",
        "declared",
        "device_kinds",
        "draining",
        "evictions",
        "failures",
        "in_use",
        "releases",
        "res_cpu",
        "res_ext",
        "res_memory",
        "res_slots",
        "reservations",
        "states",
        "tasks",
    )

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.states: dict[str, RunnerState] = {}
        self.tasks: dict[str, dict[str, Reservation]] = {}
        self.reservations: dict[str, Reservation] = {}
        self.allocations = 0
        self.failures: dict[str, int] = {}
        self.releases: dict[str, int] = {}
        self.evictions = 0
        #: extended resource name -> number of runners (draining ones too) declaring it
        self.declared: dict[str, int] = {}
        #: device kind -> number of runners declaring devices of it (runtime_alloc.devices)
        self.device_kinds: dict[str, int] = {}
        # fleet gauges kept incrementally (metrics() reads them in O(dimensions)):
        #: fleet capacity per dimension (cpu, memory, slots, extended names)
        self.capacity: dict[str, int] = {"cpu": 0, "memory": 0, "slots": 0}
        #: fleet reserved amounts: cpu, memory, slots, and per extended name
        self.res_cpu = self.res_memory = self.res_slots = 0
        self.res_ext: dict[str, int] = {}
        #: runners holding at least one reservation; runners draining
        self.in_use = self.draining = 0

    def attach(self, backend: Any) -> None:  # noqa: ANN401
        """Send events to ``backend`` from now on (it must hold the same states).

        A backend with only ``add``/``update``/``remove``/``choose`` (a wrapper
        written before the protocol was complete) is completed: ``diagnose``
        scans the ledger's states, ``plan`` declines.
        """
        self.backend = backend if isinstance(backend, Backend) else _Completed(backend, self)

    # ------------------------------------------------------------------ runners

    def state(self, name: str) -> RunnerState:
        """Return a runner's state. O(1).

        Raises:
            UnknownRunnerError: no such runner.
        """
        state = self.states.get(name)
        if state is None:
            msg = f"no runner is registered as {_show(name)}"
            raise UnknownRunnerError(msg)
        return state

    def check_new_runner(self, runner: object) -> None:
        """Raise unless ``runner`` is a :class:`Runner` whose name is free. O(1).

        Raises:
            InvalidArgumentError: not a Runner.
            DuplicateRunnerError: the name is registered.
        """
        _check_runner(runner)
        if runner.name in self.states:  # type: ignore[attr-defined]
            msg = f"runner {runner.name!r} is already registered"  # type: ignore[attr-defined]
            raise DuplicateRunnerError(msg)

    @staticmethod
    def check_fleet(runners: Iterable[object]) -> list[Runner]:
        """Return the initial fleet as a list after checking it. O(len(runners)).

        Raises:
            InvalidArgumentError: an item is not a Runner.
            DuplicateRunnerError: a name is listed twice.
        """
        if isinstance(runners, (str, bytes, Mapping)) or not isinstance(runners, Iterable):
            msg = f"runners must be an iterable of Runner (see Runner.parse), got {_show(runners)}"
            raise InvalidArgumentError(msg)
        fleet = list(runners)
        names = set()
        for runner in fleet:
            _check_runner(runner)
            if runner.name in names:  # type: ignore[attr-defined]
                msg = f"runner {runner.name!r} is listed twice"  # type: ignore[attr-defined]
                raise DuplicateRunnerError(msg)
            names.add(runner.name)  # type: ignore[attr-defined]
        return fleet  # type: ignore[return-value]

    def insert(self, runner: object) -> None:
        """Register a new, empty runner (the caller checked the name is free). O(1)."""
        state = RunnerState(runner, _NOTHING)  # type: ignore[arg-type]
        self.backend.add(state)  # first: if the backend fails, the ledger is unchanged
        self.states[state.name] = state
        self.tasks[state.name] = {}
        declared = self.declared
        cap = state.runner.capacity
        totals = self.capacity
        totals["cpu"] += cap.millicpu
        totals["memory"] += cap.memory_bytes
        totals["slots"] += cap.slots
        for dim, count in cap.extended.items():
            declared[dim] = declared.get(dim, 0) + 1
            totals[dim] = totals.get(dim, 0) + count
        devices.count_kinds(self.device_kinds, state.runner, 1)

    def remove(self, name: str) -> tuple[Reservation, ...]:
        """Unregister a runner and drop (evict) its reservations; return them, oldest first.

        The backend is told first: if it fails, the ledger is unchanged (and the
        evicted reservations are not lost with the runner).
        """
        held = tuple(self.tasks[name].values())
        self.backend.remove(name)
        for reservation in held:
            del self.reservations[reservation.task_id]
        self.evictions += len(held)
        state = self.states.pop(name)
        del self.tasks[name]
        declared, totals = self.declared, self.capacity
        cap = state.runner.capacity
        totals["cpu"] -= cap.millicpu
        totals["memory"] -= cap.memory_bytes
        totals["slots"] -= cap.slots
        for dim, count in cap.extended.items():
            if declared[dim] == 1:
                del declared[dim], totals[dim]
            else:
                declared[dim] -= 1
                totals[dim] -= count
        devices.count_kinds(self.device_kinds, state.runner, -1)
        if held:
            self.in_use -= 1
            self._count_reserved(state.reserved, -1)
        self.draining -= state.draining
        return held

    def set_draining(self, name: str, *, draining: bool) -> None:
        """Set a runner's draining flag. O(1).

        Raises:
            UnknownRunnerError: no such runner.
        """
        state = self.state(name)
        if state.draining != draining:
            state = attrs.evolve(state, draining=draining)
            self.states[name] = state
            self.draining += 1 if draining else -1
            self.backend.update(state)

    # ------------------------------------------------------------------ reservations

    def reserve(self, reservation: Reservation) -> None:
        """Add a reservation to its runner. O(dimensions).

        The caller guarantees room: the placement chose a runner that fits, or
        a checked snapshot replays reservations that add up within capacity.
        """
        name = reservation.runner
        state = self.states[name]
        state = RunnerState(
            state.runner,
            _combine_unchecked(state.reserved, reservation.resources, 1),
            state.draining,
            devices.apply(state.devices, reservation.devices, 1)
            if reservation.devices._data  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            else state.devices,
        )
        self.states[name] = state
        held = self.tasks[name]
        if not held:
            self.in_use += 1
        held[reservation.task_id] = reservation
        self.reservations[reservation.task_id] = reservation
        r = reservation.resources
        self.res_cpu += r.millicpu
        self.res_memory += r.memory_bytes
        self.res_slots += r.slots
        if r.extended._data:  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            self._count_extended(r, 1)
        self.backend.update(state)

    def unreserve(self, reservation: Reservation) -> None:
        """Give a held reservation back to its runner. O(dimensions)."""
        name = reservation.runner
        state = self.states[name]
        state = RunnerState(
            state.runner,
            _combine_unchecked(state.reserved, reservation.resources, -1),
            state.draining,
            devices.apply(state.devices, reservation.devices, -1)
            if reservation.devices._data  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            else state.devices,
        )
        self.states[name] = state
        held = self.tasks[name]
        del held[reservation.task_id]
        if not held:
            self.in_use -= 1
        del self.reservations[reservation.task_id]
        r = reservation.resources
        self.res_cpu -= r.millicpu
        self.res_memory -= r.memory_bytes
        self.res_slots -= r.slots
        if r.extended._data:  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            self._count_extended(r, -1)
        self.backend.update(state)

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
        if request.extended._data and self.states[name].devices:  # noqa: SLF001
            reservation = devices.with_picks(reservation, self.states[name])
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
        per_runner: dict[str, int] = {}
        tasks, reservations = self.tasks, self.reservations
        for task_id, name in zip(task_ids, names, strict=False):  # names may be shorter
            reservation = Reservation(task_id, name, request)
            held = tasks[name]
            if not held:
                self.in_use += 1
            held[task_id] = reservation
            reservations[task_id] = reservation
            per_runner[name] = per_runner.get(name, 0) + 1
            results.append(reservation)
        for name, count in per_runner.items():
            state = self.states[name]
            added = Resources(
                request.millicpu * count,
                request.memory_bytes * count,
                request.slots * count,
                {dim: amount * count for dim, amount in request.extended.items()},
            )
            state = RunnerState(
                state.runner,
                _combine_unchecked(state.reserved, added, 1),
                state.draining,
                state.devices,  # plan() never takes device requests
            )
            self.states[name] = state
            self._count_reserved(added, 1)
            self.backend.update(state)
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
        """Assert the ledger's invariants. O(N + tasks)."""
        assert list(self.states) == list(self.tasks), "runner tables disagree"  # noqa: S101
        total = 0
        for name, state in self.states.items():
            held = self.tasks[name]
            total += len(held)
            summed = sum((r.resources for r in held.values()), Resources())
            assert state.reserved == summed, (  # noqa: S101
                f"runner {name!r} reserved {state.reserved} != sum of reservations {summed}"
            )
            assert state.reserved.fits_within(state.runner.capacity), (  # noqa: S101
                f"runner {name!r} over-committed: {state.reserved} > {state.runner.capacity}"
            )
            for task_id, reservation in held.items():
                assert self.reservations.get(task_id) is reservation, task_id  # noqa: S101
            devices.check_state(state, held.values())
        assert total == len(self.reservations), "reservation tables disagree"  # noqa: S101

    def check_gauges(self) -> None:
        """Assert that the incrementally kept fleet gauges equal a recount. O(N * dimensions).

        Separate from :meth:`check` (which the testing harness runs): an
        allocator subclass that bypasses the ledger breaks these first.
        """
        fleet = usage_by_dimension(self.states.values())
        declared = {d for s in self.states.values() for d in s.runner.capacity.extended}
        kept = self.fleet_reserved(), self.capacity
        recounted = (
            {d: u.reserved for d, u in fleet.items() if u.reserved or d in BUILTIN_DIMENSIONS},
            {d: u.capacity for d, u in fleet.items() if d in BUILTIN_DIMENSIONS or d in declared},
        )
        assert kept == recounted, f"fleet totals {kept} != sums {recounted}"  # noqa: S101
        assert set(self.capacity) - set(BUILTIN_DIMENSIONS) == set(self.declared)  # noqa: S101
        assert self.in_use == sum(1 for t in self.tasks.values() if t)  # noqa: S101
        assert self.draining == sum(s.draining for s in self.states.values())  # noqa: S101


def _check_runner(runner: object) -> None:
    if not isinstance(runner, Runner):
        msg = f"runner must be a Runner (see Runner.parse), got {_show(runner)}"
        raise InvalidArgumentError(msg)


class _Completed:
    """A backend with only ``add``/``update``/``remove``/``choose`` (older wrappers), completed.

    ``diagnose`` scans the ledger's states and ``plan`` declines, as the
    allocator did for such backends before the protocol was complete.
    """

    def __init__(self, inner: Any, ledger: Ledger) -> None:  # noqa: ANN401
        self._ledger = ledger
        self.name = inner.name
        self.add = inner.add
        self.update = inner.update
        self.remove = inner.remove
        self.choose = inner.choose

    def diagnose(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> AllocationError:
        """Scan the ledger's states (:func:`runtime_alloc._placement.diagnose`). O(N)."""
        return _placement.diagnose(tuple(self._ledger.states.values()), task_id, request, require)

    def plan(self, request: Resources, require: frozenset[str], count: int) -> list[str] | None:  # noqa: ARG002
        """None: one request at a time. O(1)."""
        return None
