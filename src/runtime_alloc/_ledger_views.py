"""Read-only views of the ledger's flat rows, built into value objects only when read.

The ledger keeps each runner as a row of plain columns (the reserved cpu,
memory and slots in ``array('q')`` columns, extended amounts sparsely, the
draining flag in a ``bytearray``, the held reservations as ``None``, one
:class:`Reservation` or a dict of them). The public value objects are made
from a row on demand: :func:`reserved_of` and :func:`state_of` (O(dimensions)),
the mappings :class:`StatesView` and :class:`TasksView`, and :class:`StateRows`,
a frozen copy of every row taken in O(N) memory copies (what
``Allocator.metrics()`` keeps for its lazily computed per-runner figures).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from runtime_alloc.metrics import Metrics
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState

if TYPE_CHECKING:
    from array import array

    from runtime_alloc._ledger import Ledger
    from runtime_alloc._ledger_rows import LedgerRows
    from runtime_alloc.reservations import Reservation
    from runtime_alloc.runners import Runner

__all__ = [
    "NOTHING",
    "StateRows",
    "StatesView",
    "TasksView",
    "held_tuple",
    "metrics_of",
    "reserved_of",
]

#: The reserved amounts of an empty runner (immutable, so one object serves all).
NOTHING = Resources()

_new = object.__new__
_setattr = object.__setattr__


def reserved_of(cpu: int, memory: int, slots: int, extended: Mapping[str, int] | None) -> Resources:
    """The :class:`Resources` of a row's reserved amounts (known valid: not re-checked). O(1)."""
    if extended:
        return Resources(cpu, memory, slots, extended)
    if not (cpu or memory or slots):
        return NOTHING
    out = _new(Resources)
    _setattr(out, "millicpu", cpu)
    _setattr(out, "memory_bytes", memory)
    _setattr(out, "slots", slots)
    _setattr(out, "extended", NOTHING.extended)  # the empty map
    return out


def held_tuple(held: object) -> tuple[Reservation, ...]:
    """A row's held reservations (None, one, or a dict of them), oldest first. O(tasks)."""
    if held is None:
        return ()
    if type(held) is dict:
        return tuple(held.values())
    return (held,)  # type: ignore[return-value]


def held_count(held: object) -> int:
    """How many reservations a row holds. O(1)."""
    if held is None:
        return 0
    return len(held) if type(held) is dict else 1


class _RowsView:
    """The keys of a view by runner name: the ledger's rows, in registration order."""

    __slots__ = ("_ledger",)

    def __init__(self, ledger: LedgerRows) -> None:
        self._ledger = ledger

    def __contains__(self, name: object) -> bool:
        return name in self._ledger.row_of

    def __iter__(self) -> Iterator[str]:
        self._ledger.compact()
        return iter(self._ledger.row_of)

    def __len__(self) -> int:
        return len(self._ledger.row_of)


class StatesView(_RowsView, Mapping[str, RunnerState]):
    """Runner name -> :class:`RunnerState`, in registration order, built when read.

    Reading one state is O(dimensions); iterating is O(N) (after the ledger
    closes the holes left by removed runners).
    """

    __slots__ = ()

    def __getitem__(self, name: str) -> RunnerState:
        return self._ledger.state_at(self._ledger.row_of[name])


class TasksView(_RowsView, Mapping[str, Mapping[str, "Reservation"]]):
    """Runner name -> its reservations by task id (oldest first), built when read. O(tasks)."""

    __slots__ = ()

    def __getitem__(self, name: str) -> dict[str, Reservation]:
        held = held_tuple(self._ledger.held[self._ledger.row_of[name]])
        return {r.task_id: r for r in held}


class StateRows(Sequence[RunnerState]):
    """A frozen copy of the ledger's rows (no holes), read as :class:`RunnerState` items.

    Taking it costs O(N) memory copies; each item is built when read,
    O(dimensions).
    """

    __slots__ = ("_cpu", "_devices", "_draining", "_extended", "_memory", "_runners", "_slots")

    def __init__(  # noqa: PLR0917
        self,
        runners: list[Runner],
        cpu: array[int],
        memory: array[int],
        slots: array[int],
        extended: dict[int, Any],
        draining: bytes,
        devices: dict[int, Any] | None = None,
    ) -> None:
        self._runners = runners
        self._cpu, self._memory, self._slots = cpu, memory, slots
        self._extended = extended
        self._draining = draining
        self._devices = devices or {}  # row -> device use (runtime_alloc.devices)

    def __len__(self) -> int:
        return len(self._runners)

    @overload
    def __getitem__(self, index: int) -> RunnerState: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[RunnerState, ...]: ...
    def __getitem__(self, index: int | slice) -> RunnerState | tuple[RunnerState, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        i = range(len(self._runners))[index]
        return RunnerState(
            self._runners[i],
            reserved_of(self._cpu[i], self._memory[i], self._slots[i], self._extended.get(i)),
            bool(self._draining[i]),
            *((self._devices[i],) if i in self._devices else ()),
        )


def metrics_of(ledger: Ledger) -> Metrics:
    """``Allocator.metrics()``: the counters and the incrementally kept gauges.

    Runtime complexity: O(N) memory copies (the frozen rows read lazily by
    ``per_runner``) plus O(dimensions).
    """
    return Metrics.from_totals(
        states=ledger.rows(),
        task_counts=ledger.task_counts(),
        tasks_running=len(ledger.reservations),
        reserved=ledger.fleet_reserved(),
        capacity=ledger.capacity,
        runners_in_use=ledger.in_use,
        runners_draining=ledger.draining,
        allocations=ledger.allocations,
        failures=ledger.failures,
        releases=ledger.releases,
        evictions=ledger.evictions,
    )
