"""FleetSnapshot: an immutable picture of an allocator that can be persisted and restored."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._ledger_views import NOTHING
from runtime_alloc._snapshot_reader import read_dict, read_json
from runtime_alloc._units import _show
from runtime_alloc.devices import device_problem
from runtime_alloc.errors import InvalidSnapshotError, RuntimeAllocError
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner, RunnerState, check_name

__all__ = ["SNAPSHOT_SCHEMA_VERSION", "FleetSnapshot"]

#: Version of the dict/JSON layout written by :meth:`FleetSnapshot.to_dict`.
#: Version 2 added ``config`` and ``counters``; version 1 (without them) is still read.
SNAPSHOT_SCHEMA_VERSION = 2


def _to_states(value: Iterable[RunnerState]) -> tuple[RunnerState, ...]:
    if type(value) is tuple:
        return value
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        msg = f"snapshot runners must be a sequence of RunnerState, got {_show(value)}"
        raise InvalidSnapshotError(msg)
    return tuple(value)


def _to_reservations(value: Mapping[str, Reservation]) -> FrozenMap[str, Reservation]:
    if isinstance(value, FrozenMap):
        return value
    if not isinstance(value, Mapping):
        msg = (
            f"snapshot reservations must be a mapping of task id to Reservation, got {_show(value)}"
        )
        raise InvalidSnapshotError(msg)
    return FrozenMap(value)


@attrs.frozen
class FleetSnapshot:
    """What an allocator holds: runner states in registration order and the reservations.

    Equal by value; :meth:`to_dict` is JSON-safe and
    :meth:`runtime_alloc.Allocator.from_snapshot` restores it exactly. The
    constructor checks only that ``runners`` is a sequence and
    ``reservations`` a mapping (it runs on every ``Allocator.snapshot()``);
    :meth:`check`, which ``from_snapshot`` runs, checks every element.

    Attributes:
        runners: runner states in registration order (ties go to earlier ones).
        reservations: task id -> reservation.
        config: the allocator's configuration when it was taken, or None (a
            hand-built or version-1 snapshot): ``strategy`` (``{"name": ...,
            "weights": {...} or None}``), ``max_task_slots``, ``default_request``
            (text) and ``release_states`` (the added ones, sorted). Not part of
            equality.
        counters: the :meth:`~runtime_alloc.Allocator.metrics` counters
            (``allocations``, ``failures``, ``releases``, ``evictions``), or
            None. Not part of equality: a failed placement is counted, yet the
            snapshot before and after it is equal.
    """

    runners: tuple[RunnerState, ...] = attrs.field(converter=_to_states)
    reservations: FrozenMap[str, Reservation] = attrs.field(
        factory=FrozenMap,
        converter=_to_reservations,
    )
    config: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    counters: Mapping[str, Any] | None = attrs.field(default=None, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict with a ``schema_version``.

        Raises:
            InvalidSnapshotError: for a hand-built snapshot holding wrong types
                (found by :meth:`check`, which runs only when writing fails).

        Runtime complexity: O(runners + reservations).
        """
        try:
            data: dict[str, Any] = {
                "schema_version": SNAPSHOT_SCHEMA_VERSION,
                "runners": [
                    {
                        **s.runner.to_dict(),
                        "reserved": s.reserved.to_dict(),
                        "draining": s.draining,
                        **(
                            {"device_use": {k: list(u) for k, u in s.devices.items()}}
                            if s.devices
                            else {}
                        ),
                    }
                    for s in self.runners
                ],
                "reservations": [r.to_dict() for r in self.reservations.values()],
            }
        except (AttributeError, TypeError):
            self.check()  # raises the snapshot error naming the element of a wrong type
            raise
        if self.config is not None:
            data["config"] = _plain(self.config)
        if self.counters is not None:
            data["counters"] = _plain(self.counters)
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        """Return :meth:`to_dict` as JSON text; :meth:`from_json` reads it back.

        Raises:
            InvalidSnapshotError: as :meth:`to_dict`.

        Runtime complexity: O(runners + reservations).
        """
        data = self.to_dict()
        try:
            return json.dumps(data, indent=indent)
        except (TypeError, ValueError):
            self.check()  # raises the snapshot error naming the element of a wrong type
            raise

    @classmethod
    def from_json(cls, text: str | bytes) -> FleetSnapshot:
        """Read the output of :meth:`to_json` back and check it (see :meth:`from_dict`).

        Args:
            text: JSON text, or UTF-8 bytes of it (with or without a byte-order mark).

        Raises:
            InvalidSnapshotError: for bytes that are not UTF-8, text that is not
                JSON (or nests deeper than Python's parser can go, or holds NaN or
                Infinity), and everything :meth:`from_dict` rejects. An integer of
                more than 40 digits is reported where it stands (``runners[0].capacity.millicpu``).

        Runtime complexity: O(len(text)).
        """
        return cls.from_dict(read_json(text))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetSnapshot:
        """Read the output of :meth:`to_dict` back and check that it is consistent.

        Every field is checked where it stands: a bad value raises naming its
        path and the value (``snapshot holds an invalid value:
        reservations[0].task_id must be a non-empty string ..., got 7``).
        Other top-level keys are ignored; in a runner ``labels``, ``reserved``
        and ``draining`` may be left out (none, nothing, false). Version 2 may
        hold ``config`` and ``counters`` (each may be left out: None); a
        version-1 snapshot has neither, so restoring it takes the
        configuration from the arguments of ``from_snapshot`` and starts the
        counters at zero.

        Raises:
            InvalidSnapshotError: naming what is malformed or inconsistent.

        Runtime complexity: O(runners + reservations).
        """
        states, reservations, config, counters = read_dict(data)
        snapshot = cls(states, reservations, config=config, counters=counters)
        snapshot.check()
        return snapshot

    def check(self) -> None:
        """Raise :class:`InvalidSnapshotError` unless the snapshot is well typed and consistent.

        Well typed: runner states are :class:`RunnerState` of a :class:`Runner`,
        a :class:`Resources` and a bool; reservations are :class:`Reservation`
        of a valid task id (the key), a runner name and a :class:`Resources` of
        at least 1 slot. Consistent: unique runner names, every reservation on
        a known runner, each runner's reserved equal to the sum of its
        reservations and within its capacity, and its device use equal to the
        devices its reservations hold (:func:`runtime_alloc.devices.device_problem`).

        Runtime complexity: O(runners + reservations).
        """
        # name -> its state until a reservation names it, then the sum of its reservations
        # (the one reservation's own Resources when it holds one): no new object per runner
        sums: dict[str, RunnerState | Resources] = {}
        for i, state in enumerate(self.runners):
            _check_state(state, f"runners[{i}]")
            if state.name in sums:
                msg = f"snapshot names runner {state.name!r} twice"
                raise InvalidSnapshotError(msg)
            sums[state.name] = state
        with_devices = {s.name for s in self.runners if s.runner.devices}
        # the reservations device_problem reads: those of runners with devices, and those
        # holding devices (on a runner without devices, the others cannot break it)
        held: dict[str, list[Reservation]] = {}
        for task_id, reservation in self.reservations.items():
            _check_reservation(task_id, reservation)
            if task_id != reservation.task_id:
                msg = f"snapshot files reservation of {reservation.task_id!r} under {task_id!r}"
                raise InvalidSnapshotError(msg)
            name = reservation.runner
            total = sums.get(name)
            if total is None:
                msg = f"snapshot reservation of task {task_id!r} names unknown runner {name!r}"
                raise InvalidSnapshotError(msg)
            resources = reservation.resources
            sums[name] = resources if isinstance(total, RunnerState) else total + resources
            if reservation.devices or name in with_devices:
                held.setdefault(name, []).append(reservation)
        for state in self.runners:
            total = sums[state.name]
            reserved = NOTHING if isinstance(total, RunnerState) else total
            if state.reserved != reserved:
                msg = (
                    f"snapshot runner {state.name!r} reserved {state.reserved} but its "
                    f"reservations add up to {reserved}"
                )
                raise InvalidSnapshotError(msg)
            if not state.reserved.fits_within(state.runner.capacity):
                msg = (
                    f"snapshot runner {state.name!r} is over-committed: reserved {state.reserved}, "
                    f"capacity {state.runner.capacity}"
                )
                raise InvalidSnapshotError(msg)
            problem = device_problem(state, held.get(state.name, ()))
            if problem is not None:
                raise InvalidSnapshotError(f"snapshot {problem}")


def _check_state(state: object, path: str) -> None:
    if not isinstance(state, RunnerState):
        msg = f"snapshot {path} must be a RunnerState, got {_show(state)}"
        raise InvalidSnapshotError(msg)
    if not isinstance(state.runner, Runner):
        msg = f"snapshot {path}.runner must be a Runner, got {_show(state.runner)}"
        raise InvalidSnapshotError(msg)
    if not isinstance(state.reserved, Resources):
        msg = f"snapshot {path}.reserved must be a Resources, got {_show(state.reserved)}"
        raise InvalidSnapshotError(msg)
    if type(state.draining) is not bool:
        msg = f"snapshot {path}.draining must be True or False, got {_show(state.draining)}"
        raise InvalidSnapshotError(msg)


def _check_reservation(task_id: object, reservation: object) -> None:
    path = f"snapshot reservations[{_show(task_id)}]"
    if not isinstance(reservation, Reservation):
        msg = f"{path} must be a Reservation, got {_show(reservation)}"
        raise InvalidSnapshotError(msg)
    try:
        check_name(task_id, field="snapshot reservations key (a task id)")
        check_name(reservation.task_id, field=f"{path}.task_id")
        check_name(reservation.runner, field=f"{path}.runner")
    except RuntimeAllocError as exc:
        raise InvalidSnapshotError(str(exc)) from None
    if not isinstance(reservation.resources, Resources):
        msg = f"{path}.resources must be a Resources, got {_show(reservation.resources)}"
        raise InvalidSnapshotError(msg)
    if reservation.resources.slots < 1:
        msg = f"{path}.resources.slots must be at least 1 (a task takes a slot), got 0"
        raise InvalidSnapshotError(msg)


def _plain(value: Any) -> Any:  # noqa: ANN401
    """A JSON-safe copy of nested mappings (FrozenMap -> dict)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
