"""FleetSnapshot: an immutable picture of an allocator that can be persisted and restored."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from runtime_alloc._frozen import FrozenMap
from runtime_alloc.errors import InvalidSnapshotError, RuntimeAllocError
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner, RunnerState

__all__ = ["SNAPSHOT_SCHEMA_VERSION", "FleetSnapshot"]

#: Version of the dict/JSON layout written by :meth:`FleetSnapshot.to_dict`.
SNAPSHOT_SCHEMA_VERSION = 1


def _to_states(value: Iterable[RunnerState]) -> tuple[RunnerState, ...]:
    return tuple(value)


def _to_reservations(value: Mapping[str, Reservation]) -> FrozenMap[str, Reservation]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


@attrs.frozen
class FleetSnapshot:
    """What an allocator holds: runner states in registration order and the reservations.

    Equal by value; :meth:`to_dict` is JSON-safe and
    :meth:`runtime_alloc.Allocator.from_snapshot` restores it exactly.

    Attributes:
        runners: runner states in registration order (ties go to earlier ones).
        reservations: task id -> reservation.
    """

    runners: tuple[RunnerState, ...] = attrs.field(converter=_to_states)
    reservations: FrozenMap[str, Reservation] = attrs.field(
        factory=FrozenMap,
        converter=_to_reservations,
    )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict with a ``schema_version``.

        Runtime complexity: O(runners + reservations).
        """
        return {
            "schema_version": SNAPSHOT_SCHEMA_VERSION,
            "runners": [
                {**s.runner.to_dict(), "reserved": s.reserved.to_dict(), "draining": s.draining}
                for s in self.runners
            ],
            "reservations": [r.to_dict() for r in self.reservations.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetSnapshot:
        """Read the output of :meth:`to_dict` back and check that it is consistent.

        Raises:
            InvalidSnapshotError: naming what is malformed or inconsistent.
        """
        if not isinstance(data, Mapping):
            msg = f"snapshot must be a mapping, got {type(data).__name__}"
            raise InvalidSnapshotError(msg)
        version = data.get("schema_version")
        if version != SNAPSHOT_SCHEMA_VERSION:
            msg = f"snapshot schema_version must be {SNAPSHOT_SCHEMA_VERSION}, got {version!r}"
            raise InvalidSnapshotError(msg)
        try:
            states = tuple(
                RunnerState(
                    Runner.from_dict(item),
                    Resources.from_dict(item.get("reserved", {})),
                    _bool(item.get("draining", False)),
                )
                for item in data["runners"]
            )
            reservations: dict[str, list[Reservation]] = {}
            for item in data["reservations"]:
                reservation = Reservation.from_dict(item)
                reservations.setdefault(reservation.task_id, []).append(reservation)
        except (KeyError, TypeError, AttributeError) as exc:
            msg = f"snapshot is malformed: {type(exc).__name__}: {exc}"
            raise InvalidSnapshotError(msg) from None
        except InvalidSnapshotError:
            raise
        except RuntimeAllocError as exc:
            msg = f"snapshot holds an invalid value: {exc}"
            raise InvalidSnapshotError(msg) from None
        twice = sorted(task_id for task_id, held in reservations.items() if len(held) > 1)
        if twice:
            msg = f"snapshot names task(s) {twice!r} more than once"
            raise InvalidSnapshotError(msg)
        snapshot = cls(states, {task_id: held[0] for task_id, held in reservations.items()})
        snapshot.check()
        return snapshot

    def check(self) -> None:
        """Raise :class:`InvalidSnapshotError` unless the snapshot is consistent.

        Consistent means: unique runner names, every reservation on a known
        runner, each runner's reserved equal to the sum of its reservations and
        within its capacity.

        Runtime complexity: O(runners + reservations).
        """
        sums: dict[str, Resources] = {}
        for state in self.runners:
            if state.name in sums:
                msg = f"snapshot names runner {state.name!r} twice"
                raise InvalidSnapshotError(msg)
            sums[state.name] = Resources()
        for task_id, reservation in self.reservations.items():
            if task_id != reservation.task_id:
                msg = f"snapshot files reservation of {reservation.task_id!r} under {task_id!r}"
                raise InvalidSnapshotError(msg)
            if reservation.runner not in sums:
                msg = f"reservation of task {task_id!r} names unknown runner {reservation.runner!r}"
                raise InvalidSnapshotError(msg)
            sums[reservation.runner] += reservation.resources
        for state in self.runners:
            if state.reserved != sums[state.name]:
                msg = (
                    f"runner {state.name!r} reserved {state.reserved} but its reservations "
                    f"add up to {sums[state.name]}"
                )
                raise InvalidSnapshotError(msg)
            if not state.reserved.fits_within(state.runner.capacity):
                msg = (
                    f"runner {state.name!r} is over-committed: reserved {state.reserved}, "
                    f"capacity {state.runner.capacity}"
                )
                raise InvalidSnapshotError(msg)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        msg = f"snapshot runner draining must be true or false, got {value!r}"
        raise InvalidSnapshotError(msg)
    return value
