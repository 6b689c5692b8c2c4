"""The ledger's row storage: flat columns per runner, the backend it reports to, the counters.

:class:`LedgerRows` is the base of :class:`~runtime_alloc._ledger.Ledger`: it
holds every table (see its docstring), reads a row back as a
:class:`RunnerState`, sends a changed row to the backend, closes the holes
removed runners leave, and keeps the counters and fleet gauges.
:mod:`._ledger_reservations` adds and returns reservations on these rows;
:mod:`._ledger` adds and removes runners.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._ledger_views import (
    StateRows,
    StatesView,
    TasksView,
    held_count,
    held_tuple,
    reserved_of,
)
from runtime_alloc._units import _show
from runtime_alloc.backends.protocol import Backend, ReservedAmounts, update_reserved_many
from runtime_alloc.errors import AllocationError, UnknownRunnerError
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner, RunnerState

__all__ = ["ROW", "LedgerRows", "add_counts"]

NO_DEVICES: FrozenMap[str, tuple[int, ...]] = FrozenMap()
ROW = "q"  # array typecode of the reserved columns: signed 64-bit, like the quantities


def add_counts(amounts: dict[str, int], counts: Mapping[str, int], sign: int) -> None:
    """Add ``sign * counts`` to ``amounts`` in place, dropping names at 0. O(len(counts))."""
    for dim, count in counts.items():
        value = amounts.get(dim, 0) + sign * count
        if value:
            amounts[dim] = value
        else:
            del amounts[dim]


class _NoDirect:
    """The ``direct_of`` of a backend without a direct path (see :meth:`LedgerRows.attach`)."""

    direct = None


_NO_DIRECT = _NoDirect()


class LedgerRows:
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
        "allocations",
        "backend",
        "capacity",
        "cpu",
        "declared",
        "dev",
        "device_kinds",
        "direct_of",
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
        self.cpu, self.memory, self.slots = array(ROW), array(ROW), array(ROW)
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

    def attach(self, backend: Backend) -> None:
        """Send events to ``backend`` from now on (it must hold the same states). O(1).

        A change of a runner without devices is sent as
        ``update_reserved(name, (cpu, memory, slots), extended, draining)`` (no
        :class:`RunnerState` is built); one of a runner with devices as
        ``update(state)``, whose state carries the device use.

        A backend with a ``direct`` attribute (the numpy backend) gets the
        changes of rows without devices through it while it is not None
        (see :mod:`runtime_alloc.backends.numpy.direct`).

        A backend with a ``share_rows(row_of)`` method (the numpy backend) is
        given the ledger's name -> row dict, here and whenever :meth:`compact`
        renumbers the rows, so that it needs no name map of its own.
        """
        self.backend = backend
        #: its ``direct`` attribute is the backend's direct path, or None (see .direct)
        self.direct_of = backend if hasattr(backend, "direct") else _NO_DIRECT
        self._share()

    def _share(self) -> None:
        share = getattr(self.backend, "share_rows", None)
        if share is not None:
            share(self.row_of)

    # ------------------------------------------------------------------ rows

    def state_at(self, row: int) -> RunnerState:
        """Build the :class:`RunnerState` of a row. O(dimensions)."""
        return RunnerState(
            self.runners[row],  # type: ignore[arg-type]
            reserved_of(self.cpu[row], self.memory[row], self.slots[row], self.extended.get(row)),
            bool(self.drain[row]),
            self.dev.get(row, NO_DEVICES),
        )

    def _send(self, row: int) -> None:
        """Tell the backend a row's reserved amounts or draining flag changed. O(dimensions)."""
        direct = self.direct_of.direct
        if direct is not None:  # the numpy backend's compiled index (no devices then), by row
            direct.put(row, self.cpu[row], self.memory[row], self.slots[row], self.drain[row])
            return
        if row in self.dev:  # device use travels in the RunnerState
            self.backend.update(self.state_at(row))
            return
        held = self.held[row]
        if type(held) is Reservation:
            # one reservation: the row holds its amounts; sending the request's own
            # ints (not new ones read from the columns) lets a backend that keeps
            # them (the numpy class index) share them: 60 bytes less per runner
            r = held.resources
            reserved = (r.millicpu, r.memory_bytes, r.slots)
        else:
            reserved = (self.cpu[row], self.memory[row], self.slots[row])
        self.backend.update_reserved(
            self.runners[row].name,  # type: ignore[union-attr]
            reserved,
            self.extended.get(row) if self.extended else None,
            self.drain[row] != 0,
        )

    def _send_rows(
        self, rows: list[int], names: list[str], reserved: list[ReservedAmounts]
    ) -> None:
        """Tell the backend several rows changed: :meth:`_send` for each, in one bulk event.

        ``names[i]`` and ``reserved[i]`` are row ``rows[i]``'s runner and its
        reserved cpu, memory and slots (the rows are distinct). The compiled
        index's direct path gets them in one ``put_many``; otherwise rows with
        devices get an ``update`` each, the others go in one
        :func:`~runtime_alloc.backends.protocol.update_reserved_many`.

        Runtime complexity: O(len(rows)) plus the backend's bulk event.
        """
        direct = self.direct_of.direct
        if direct is not None:  # the compiled index (no devices, no extended amounts then)
            direct.put_many(rows, self.cpu, self.memory, self.slots, self.drain)
            return
        if self.dev:  # device use travels in the RunnerState: those rows one by one
            dev = self.dev
            for row in rows:
                if row in dev:
                    self.backend.update(self.state_at(row))
            keep = [i for i, row in enumerate(rows) if row not in dev]
            rows = [rows[i] for i in keep]
            names = [names[i] for i in keep]
            reserved = [reserved[i] for i in keep]
        if not rows:
            return
        extended = list(map(self.extended.get, rows)) if self.extended else [None] * len(rows)
        draining = list(map(bool, map(self.drain.__getitem__, rows)))
        update_reserved_many(self.backend, names, reserved, extended, draining)

    def compact(self) -> None:
        """Close the holes left by removed runners (rows renumbered in order). O(N) when any."""
        if not self.holes:
            return
        keep = [i for i, r in enumerate(self.runners) if r is not None]
        self.runners = [self.runners[i] for i in keep]
        for name in ("cpu", "memory", "slots"):
            column = getattr(self, name)
            setattr(self, name, array(ROW, [column[i] for i in keep]))
        self.drain = bytearray(self.drain[i] for i in keep)
        self.held = [self.held[i] for i in keep]
        new_row = {old: new for new, old in enumerate(keep)}
        self.extended = {new_row[i]: ext for i, ext in self.extended.items()}
        self.dev = {new_row[i]: use for i, use in self.dev.items()}
        self.row_of = {r.name: i for i, r in enumerate(self.runners)}  # type: ignore[union-attr]
        self.holes = 0
        self._share()

    def rows(self) -> StateRows:
        """A frozen copy of every runner's state, in order, read lazily. O(N) copies."""
        self.compact()
        return StateRows(
            list(self.runners),  # type: ignore[arg-type]
            array(ROW, self.cpu),
            array(ROW, self.memory),
            array(ROW, self.slots),
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

    # ------------------------------------------------------------------ counters

    def _count_reserved(self, resources: Resources, sign: int) -> None:
        """Add ``sign * resources`` to the fleet's reserved totals. O(dimensions)."""
        self.res_cpu += sign * resources.millicpu
        self.res_memory += sign * resources.memory_bytes
        self.res_slots += sign * resources.slots
        if resources.extended._data:  # noqa: SLF001
            self._count_extended(resources, sign)

    def _count_extended(self, resources: Resources, sign: int) -> None:
        add_counts(self.res_ext, resources.extended, sign)

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
