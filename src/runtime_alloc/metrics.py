"""Metrics: counters of what happened and gauges of what is reserved now."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import attrs

from runtime_alloc._frozen import FrozenMap
from runtime_alloc.resources import BUILTIN_DIMENSIONS
from runtime_alloc.runners import RunnerState

__all__ = ["DimensionUsage", "Metrics", "RunnerMetrics", "RunnerMetricsView", "usage_by_dimension"]


@attrs.frozen
class DimensionUsage:
    """Reserved and capacity of one dimension, and their ratio (0.0 when capacity is 0)."""

    reserved: int
    capacity: int

    @property
    def utilization(self) -> float:
        """``reserved / capacity``, or 0.0 when the capacity is 0. O(1)."""
        return self.reserved / self.capacity if self.capacity else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict. O(1)."""
        return {
            "reserved": self.reserved,
            "capacity": self.capacity,
            "utilization": self.utilization,
        }


@attrs.frozen
class RunnerMetrics:
    """Gauges of one runner.

    Attributes:
        name: the runner.
        tasks: reservations it holds.
        draining: its draining flag.
        usage: reserved and capacity per dimension (device kinds pooled).
        devices: device kind -> milli used on each device, in index order
            (empty for a runner without devices; see :mod:`runtime_alloc.devices`).
    """

    name: str
    tasks: int
    draining: bool
    usage: FrozenMap[str, DimensionUsage]
    devices: FrozenMap[str, tuple[int, ...]] = attrs.field(factory=FrozenMap)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (``devices`` as ``{kind: [milli, ...]}`` when it has some).

        Runtime complexity: O(dimensions + devices).
        """
        out: dict[str, Any] = {
            "name": self.name,
            "tasks": self.tasks,
            "draining": self.draining,
            "usage": {dim: u.to_dict() for dim, u in self.usage.items()},
        }
        if self.devices:
            out["devices"] = {kind: list(used) for kind, used in self.devices.items()}
        return out


class RunnerMetricsView(Sequence[RunnerMetrics]):
    """The per-runner gauges of a :class:`Metrics`, computed when first read.

    A sequence of :class:`RunnerMetrics` in registration order, equal to the
    tuple of the same items; it holds the runner states and task counts of the
    moment :meth:`Allocator.metrics` was called, so reading it later gives that
    moment's figures. Building it is O(N) list copies; the first read of an
    item builds all of them (O(N * dimensions)), so ``Allocator.metrics()``
    stays cheap on a large fleet that only reads the fleet gauges.
    """

    __slots__ = ("_counts", "_items", "_states")

    def __init__(self, states: Sequence[RunnerState], counts: Sequence[int]) -> None:
        self._states = states
        self._counts = counts
        self._items: tuple[RunnerMetrics, ...] | None = None

    def _all(self) -> tuple[RunnerMetrics, ...]:
        items = self._items
        if items is None:
            items = self._items = tuple(
                RunnerMetrics(s.name, count, s.draining, usage_by_dimension((s,)), s.devices)
                for s, count in zip(self._states, self._counts, strict=True)
            )
        return items

    def __len__(self) -> int:
        return len(self._states)

    @overload
    def __getitem__(self, index: int) -> RunnerMetrics: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[RunnerMetrics, ...]: ...
    def __getitem__(self, index: int | slice) -> RunnerMetrics | tuple[RunnerMetrics, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[RunnerMetrics]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RunnerMetricsView):
            if self._states == other._states and self._counts == other._counts:
                return True
            return self._all() == other._all()
        if isinstance(other, tuple):
            return self._all() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


def usage_by_dimension(states: Iterable[RunnerState]) -> FrozenMap[str, DimensionUsage]:
    """Sum reserved and capacity per dimension over ``states``.

    Dimensions are cpu, memory, slots and every extended name any capacity has, in name order.
    Runtime complexity: O(N * dimensions).
    """
    reserved: dict[str, int] = dict.fromkeys(BUILTIN_DIMENSIONS, 0)
    capacity: dict[str, int] = dict.fromkeys(BUILTIN_DIMENSIONS, 0)
    extended: set[str] = set()
    for state in states:
        cap = state.runner.capacity
        res = state.reserved
        capacity["cpu"] += cap.millicpu
        capacity["memory"] += cap.memory_bytes
        capacity["slots"] += cap.slots
        reserved["cpu"] += res.millicpu
        reserved["memory"] += res.memory_bytes
        reserved["slots"] += res.slots
        for name, count in cap.extended.items():
            extended.add(name)
            capacity[name] = capacity.get(name, 0) + count
        for name, count in res.extended.items():
            extended.add(name)
            reserved[name] = reserved.get(name, 0) + count
    dims = (*BUILTIN_DIMENSIONS, *sorted(extended))
    return FrozenMap(
        (dim, DimensionUsage(reserved.get(dim, 0), capacity.get(dim, 0))) for dim in dims
    )


@attrs.frozen
class Metrics:
    """A frozen view of an allocator's counters and gauges.

    Attributes:
        allocations: successful placements since the allocator was made.
        failures: failed placements by reason (``insufficient_capacity``, ``unschedulable``).
        releases: releases by completion state (``success``, ``failed``, ...).
        evictions: reservations evicted by ``remove_runner(force=True)``.
        tasks_running: reservations held now.
        runners: runners registered.
        runners_in_use: runners holding at least one reservation.
        runners_draining: runners taking no new placements.
        fleet: per dimension, fleet-wide reserved, capacity and utilization.
        per_runner: per runner gauges, in registration order (a
            :class:`RunnerMetricsView`, computed when first read).
    """

    allocations: int
    failures: FrozenMap[str, int]
    releases: FrozenMap[str, int]
    evictions: int
    tasks_running: int
    runners: int
    runners_in_use: int
    runners_draining: int
    fleet: FrozenMap[str, DimensionUsage]
    per_runner: Sequence[RunnerMetrics]

    @classmethod
    def build(
        cls,
        *,
        states: Iterable[RunnerState],
        tasks_per_runner: Mapping[str, int],
        allocations: int,
        failures: Mapping[str, int],
        releases: Mapping[str, int],
        evictions: int,
    ) -> Metrics:
        """Compute the gauges from runner states. O(N * dimensions)."""
        states = tuple(states)
        per_runner = tuple(
            RunnerMetrics(
                s.name,
                tasks_per_runner.get(s.name, 0),
                s.draining,
                usage_by_dimension((s,)),
                s.devices,
            )
            for s in states
        )
        return cls(
            allocations=allocations,
            failures=FrozenMap(sorted(failures.items())),
            releases=FrozenMap(sorted(releases.items())),
            evictions=evictions,
            tasks_running=sum(tasks_per_runner.values()),
            runners=len(states),
            runners_in_use=sum(1 for r in per_runner if r.tasks),
            runners_draining=sum(1 for s in states if s.draining),
            fleet=usage_by_dimension(states),
            per_runner=per_runner,
        )

    @classmethod
    def from_totals(
        cls,
        *,
        states: Sequence[RunnerState],
        task_counts: Sequence[int],
        tasks_running: int,
        reserved: Mapping[str, int],
        capacity: Mapping[str, int],
        runners_in_use: int,
        runners_draining: int,
        allocations: int,
        failures: Mapping[str, int],
        releases: Mapping[str, int],
        evictions: int,
    ) -> Metrics:
        """Build the metrics from fleet totals kept incrementally (see the ledger).

        ``reserved`` and ``capacity`` are the fleet sums per dimension;
        ``per_runner`` is computed from ``states`` and ``task_counts`` when
        first read. Runtime complexity: O(dimensions + counter labels).
        """
        extended = sorted((set(capacity) | set(reserved)) - set(BUILTIN_DIMENSIONS))
        dims = (*BUILTIN_DIMENSIONS, *extended)
        return cls(
            allocations=allocations,
            failures=FrozenMap(sorted(failures.items())),
            releases=FrozenMap(sorted(releases.items())),
            evictions=evictions,
            tasks_running=tasks_running,
            runners=len(states),
            runners_in_use=runners_in_use,
            runners_draining=runners_draining,
            fleet=FrozenMap(
                (d, DimensionUsage(reserved.get(d, 0), capacity.get(d, 0))) for d in dims
            ),
            per_runner=RunnerMetricsView(states, task_counts),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict.

        Runtime complexity: O(N * dimensions) over the N runners (builds ``per_runner`` on first
        read) plus the counter labels.
        """
        return {
            "counters": {
                "allocations": self.allocations,
                "failures": dict(self.failures),
                "releases": dict(self.releases),
                "evictions": self.evictions,
            },
            "gauges": {
                "tasks_running": self.tasks_running,
                "runners": self.runners,
                "runners_in_use": self.runners_in_use,
                "runners_draining": self.runners_draining,
                "fleet": {dim: u.to_dict() for dim, u in self.fleet.items()},
                "per_runner": [r.to_dict() for r in self.per_runner],
            },
        }
