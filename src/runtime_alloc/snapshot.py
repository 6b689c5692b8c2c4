"""FleetSnapshot: an immutable picture of an allocator that can be persisted and restored."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._units import _show
from runtime_alloc.errors import InvalidSnapshotError, RuntimeAllocError
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner, RunnerState, check_name

__all__ = ["SNAPSHOT_SCHEMA_VERSION", "FleetSnapshot"]

#: Version of the dict/JSON layout written by :meth:`FleetSnapshot.to_dict`.
#: Version 2 added ``config`` and ``counters``; version 1 (without them) is still read.
SNAPSHOT_SCHEMA_VERSION = 2

#: The layouts :meth:`FleetSnapshot.from_dict` reads.
_READABLE_VERSIONS = (1, 2)

#: JSON integers longer than this are not converted (no quantity has more than 16 digits;
#: str -> int of more than 4300 digits raises ValueError in Python).
_MAX_JSON_DIGITS = 40


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
                    {**s.runner.to_dict(), "reserved": s.reserved.to_dict(), "draining": s.draining}
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
        if isinstance(text, (bytes, bytearray)):
            try:
                text = bytes(text).decode("utf-8-sig")  # a leading byte-order mark is skipped
            except UnicodeDecodeError as exc:
                bad = exc.object[exc.start]
                msg = f"snapshot is not UTF-8 text: byte {exc.start} is {bad:#04x}"
                raise InvalidSnapshotError(msg) from None
        if not isinstance(text, str):
            msg = f"snapshot JSON must be text or bytes, got {_show(text)}"
            raise InvalidSnapshotError(msg)
        try:
            data = json.loads(text, parse_int=_json_int, parse_constant=_json_constant)
        except json.JSONDecodeError as exc:
            msg = f"snapshot is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            raise InvalidSnapshotError(msg) from None
        except RecursionError:
            msg = "snapshot JSON nests too deeply to read (a snapshot nests 4 levels)"
            raise InvalidSnapshotError(msg) from None
        return cls.from_dict(data)

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
        if not isinstance(data, Mapping):
            msg = f"snapshot must be a mapping, got {_show(data)}"
            raise InvalidSnapshotError(msg)
        version = data.get("schema_version")
        if type(version) is not int or version not in _READABLE_VERSIONS:
            msg = f"snapshot schema_version must be 1 or 2, got {_show(version)}"
            raise InvalidSnapshotError(msg)
        config = _read_config(data.get("config")) if version >= 2 else None
        counters = _read_counters(data.get("counters")) if version >= 2 else None
        states = tuple(
            _read_state(item, f"runners[{i}]") for i, item in enumerate(_list(data, "runners"))
        )
        reservations: dict[str, list[Reservation]] = {}
        for i, item in enumerate(_list(data, "reservations")):
            reservation = _read(
                Reservation.from_dict,
                item,
                f"reservations[{i}]",
                ("task_id", "runner", "resources"),
            )
            reservations.setdefault(reservation.task_id, []).append(reservation)
        twice = sorted(task_id for task_id, held in reservations.items() if len(held) > 1)
        if twice:
            msg = f"snapshot names task(s) {_show(twice)} more than once"
            raise InvalidSnapshotError(msg)
        snapshot = cls(
            states,
            {task_id: held[0] for task_id, held in reservations.items()},
            config=config,
            counters=counters,
        )
        snapshot.check()
        return snapshot

    def check(self) -> None:
        """Raise :class:`InvalidSnapshotError` unless the snapshot is well typed and consistent.

        Well typed: runner states are :class:`RunnerState` of a :class:`Runner`,
        a :class:`Resources` and a bool; reservations are :class:`Reservation`
        of a valid task id (the key), a runner name and a :class:`Resources` of
        at least 1 slot. Consistent: unique runner names, every reservation on
        a known runner, each runner's reserved equal to the sum of its
        reservations and within its capacity.

        Runtime complexity: O(runners + reservations).
        """
        sums: dict[str, Resources] = {}
        for i, state in enumerate(self.runners):
            _check_state(state, f"runners[{i}]")
            if state.name in sums:
                msg = f"snapshot names runner {state.name!r} twice"
                raise InvalidSnapshotError(msg)
            sums[state.name] = Resources()
        for task_id, reservation in self.reservations.items():
            _check_reservation(task_id, reservation)
            if task_id != reservation.task_id:
                msg = f"snapshot files reservation of {reservation.task_id!r} under {task_id!r}"
                raise InvalidSnapshotError(msg)
            if reservation.runner not in sums:
                msg = (
                    f"snapshot reservation of task {task_id!r} names unknown runner "
                    f"{reservation.runner!r}"
                )
                raise InvalidSnapshotError(msg)
            sums[reservation.runner] += reservation.resources
        for state in self.runners:
            if state.reserved != sums[state.name]:
                msg = (
                    f"snapshot runner {state.name!r} reserved {state.reserved} but its "
                    f"reservations add up to {sums[state.name]}"
                )
                raise InvalidSnapshotError(msg)
            if not state.reserved.fits_within(state.runner.capacity):
                msg = (
                    f"snapshot runner {state.name!r} is over-committed: reserved {state.reserved}, "
                    f"capacity {state.runner.capacity}"
                )
                raise InvalidSnapshotError(msg)


class _LongJsonInt(int):
    """Stands for a JSON integer too long to convert; its value (+-10**40) is out of every range."""

    text: str

    def __repr__(self) -> str:
        sign = "a negative" if self < 0 else "an"
        return f"{sign} integer of {len(self.text.lstrip('-'))} digits"

    __str__ = __repr__


def _json_int(text: str) -> int:
    if len(text) <= _MAX_JSON_DIGITS:
        return int(text)
    out = _LongJsonInt(-(10**_MAX_JSON_DIGITS) if text.startswith("-") else 10**_MAX_JSON_DIGITS)
    out.text = text
    return out


def _json_constant(text: str) -> object:
    msg = f"snapshot is not valid JSON: {text} is not a JSON number"
    raise InvalidSnapshotError(msg)


def _list(data: Mapping[str, Any], key: str) -> list[Any] | tuple[Any, ...]:
    if key not in data:
        msg = f"snapshot is malformed: it has no {key!r} list"
        raise InvalidSnapshotError(msg)
    value = data[key]
    if not isinstance(value, (list, tuple)):
        msg = f"snapshot is malformed: {key} must be a list, got {_show(value)}"
        raise InvalidSnapshotError(msg)
    return value


def _read(
    reader: Any,  # noqa: ANN401 (a from_dict of any class)
    item: object,
    path: str,
    required: tuple[str, ...] = (),
) -> Any:  # noqa: ANN401
    """Call ``reader(item, field=path)``, turning its errors into snapshot errors."""
    if not isinstance(item, Mapping):
        msg = f"snapshot is malformed: {path} must be a mapping, got {_show(item)}"
        raise InvalidSnapshotError(msg)
    for key in required:
        if key not in item:
            msg = f"snapshot is malformed: {path} has no {key!r} (it needs {', '.join(required)})"
            raise InvalidSnapshotError(msg)
    try:
        return reader(item, field=path)
    except RuntimeAllocError as exc:
        msg = f"snapshot holds an invalid value: {exc}"
        raise InvalidSnapshotError(msg) from None


def _read_state(item: object, path: str) -> RunnerState:
    runner = _read(Runner.from_dict, item, path, ("name", "capacity"))
    assert isinstance(item, Mapping)  # noqa: S101 (checked by _read)
    reserved = _read(Resources.from_dict, item.get("reserved", {}), f"{path}.reserved")
    draining = item.get("draining", False)
    if type(draining) is not bool:
        msg = f"snapshot runner {path}.draining must be true or false, got {_show(draining)}"
        raise InvalidSnapshotError(msg)
    return RunnerState(runner, reserved, draining)


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


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"snapshot is malformed: {path} must be a mapping, got {_show(value)}"
        raise InvalidSnapshotError(msg)
    return value


def _count(value: object, path: str) -> int:
    if type(value) is not int or value < 0:
        msg = f"snapshot {path} must be a non-negative integer, got {_show(value)}"
        raise InvalidSnapshotError(msg)
    return value


def _counts(value: object, path: str) -> dict[str, int]:
    out = {}
    for key, count in _mapping(value, path).items():
        try:
            check_name(key, field=f"snapshot {path} key")
        except RuntimeAllocError as exc:
            raise InvalidSnapshotError(str(exc)) from None
        out[key] = _count(count, f"{path}[{key!r}]")
    return out


def _read_counters(value: object) -> dict[str, Any] | None:
    """Check version 2's ``counters``: allocations, failures, releases, evictions."""
    if value is None:
        return None
    data = _mapping(value, "counters")
    return {
        "allocations": _count(data.get("allocations", 0), "counters.allocations"),
        "failures": _counts(data.get("failures", {}), "counters.failures"),
        "releases": _counts(data.get("releases", {}), "counters.releases"),
        "evictions": _count(data.get("evictions", 0), "counters.evictions"),
    }


def _read_config(value: object) -> dict[str, Any] | None:
    """Check version 2's ``config``; the allocator checks the values again when restoring."""
    if value is None:
        return None
    data = _mapping(value, "config")
    config: dict[str, Any] = {}
    if "strategy" in data:
        strategy = _mapping(data["strategy"], "config.strategy")
        name = strategy.get("name")
        try:
            check_name(name, field="snapshot config.strategy.name")
        except RuntimeAllocError as exc:
            raise InvalidSnapshotError(str(exc)) from None
        weights = strategy.get("weights")
        if weights is not None:
            weights = {
                k: _count(w, f"config.strategy.weights[{k!r}]")
                for k, w in _mapping(weights, "config.strategy.weights").items()
            }
        config["strategy"] = {"name": name, "weights": weights}
    if "max_task_slots" in data:
        config["max_task_slots"] = _count(data["max_task_slots"], "config.max_task_slots")
    if "default_request" in data:
        request = data["default_request"]
        if not isinstance(request, str):
            msg = f"snapshot config.default_request must be text, got {_show(request)}"
            raise InvalidSnapshotError(msg)
        config["default_request"] = request
    if "release_states" in data:
        states = data["release_states"]
        if not isinstance(states, list) or not all(isinstance(s, str) for s in states):
            msg = f"snapshot config.release_states must be a list of text, got {_show(states)}"
            raise InvalidSnapshotError(msg)
        config["release_states"] = list(states)
    return config
