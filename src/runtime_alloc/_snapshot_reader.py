"""Reading a snapshot's dict or JSON form field by field, each bad value named where it stands.

:meth:`FleetSnapshot.from_json <runtime_alloc.FleetSnapshot.from_json>` and
:meth:`FleetSnapshot.from_dict <runtime_alloc.FleetSnapshot.from_dict>` delegate here;
:meth:`FleetSnapshot.check <runtime_alloc.FleetSnapshot.check>` then checks the whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._units import _show
from runtime_alloc.devices import DEVICE_MILLI, use_of
from runtime_alloc.errors import InvalidSnapshotError, RuntimeAllocError
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner, RunnerState, check_name

__all__ = ["read_dict", "read_json"]


#: The layouts :meth:`FleetSnapshot.from_dict` reads.
_READABLE_VERSIONS = (1, 2)

#: JSON integers longer than this are not converted (no quantity has more than 16 digits;
#: str -> int of more than 4300 digits raises ValueError in Python).
_MAX_JSON_DIGITS = 40


def read_json(text: str | bytes) -> Any:  # noqa: ANN401
    """Decode snapshot JSON text or UTF-8 bytes (see ``FleetSnapshot.from_json``). O(len(text))."""
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
    return data


def read_dict(
    data: Mapping[str, Any],
) -> tuple[
    tuple[RunnerState, ...], dict[str, Reservation], dict[str, Any] | None, dict[str, Any] | None
]:
    """Read a snapshot's fields (see :meth:`FleetSnapshot.from_dict`). O(runners + reservations).

    Returns:
        The runner states, the reservations by task id, the config and the counters.
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
    states = _with_device_use(states, data["runners"], reservations)
    return (
        states,
        {task_id: held[0] for task_id, held in reservations.items()},
        config,
        counters,
    )


def _with_device_use(
    states: tuple[RunnerState, ...],
    items: Any,  # noqa: ANN401 (the runner items of a snapshot dict)
    reservations: dict[str, list[Reservation]],
) -> tuple[RunnerState, ...]:
    """States of runners with devices but no stored ``device_use`` take it from the reservations.

    (A snapshot written before devices existed has no device runners.)
    """
    missing = {
        s.name for s, item in zip(states, items, strict=True)
        if s.runner.devices and "device_use" not in item
    }  # fmt: skip
    if not missing:
        return states
    held: dict[str, list[Reservation]] = {}
    for reservation, *_ in reservations.values():
        held.setdefault(reservation.runner, []).append(reservation)
    return tuple(
        RunnerState(s.runner, s.reserved, s.draining, use_of(s.runner, held.get(s.name, ())))
        if s.name in missing
        else s
        for s in states
    )


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
    use = item.get("device_use")
    if use is None:
        return RunnerState(runner, reserved, draining)
    return RunnerState(runner, reserved, draining, _device_use(use, runner, f"{path}.device_use"))


def _device_use(value: object, runner: Runner, path: str) -> FrozenMap[str, tuple[int, ...]]:
    """Read ``{kind: [milli per device]}``: one list per device kind of ``runner``."""
    use = _mapping(value, path)
    if set(use) != set(runner.devices):
        msg = f"snapshot {path} must name the runner's device kinds {sorted(runner.devices)}"
        raise InvalidSnapshotError(msg)
    out = {}
    for kind, count in runner.devices.items():
        used = use[kind]
        ok = isinstance(used, (list, tuple)) and len(used) == count
        if not ok or not all(type(u) is int and 0 <= u <= DEVICE_MILLI for u in used):
            msg = (
                f"snapshot {path}[{kind!r}] must be {count} integers from 0 to {DEVICE_MILLI}, "
                f"got {_show(used)}"
            )
            raise InvalidSnapshotError(msg)
        out[kind] = tuple(used)
    return FrozenMap(out)


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"snapshot is malformed: {path} must be a mapping, got {_show(value)}"
        raise InvalidSnapshotError(msg)
    return value


#: The largest counter a snapshot holds: a signed 64-bit integer, as metrics exporters keep them
#: (and far below the length at which Python refuses to write an int as text).
MAX_COUNT = 2**63 - 1


def _count(value: object, path: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        msg = f"snapshot {path} must be an integer from 0 to {MAX_COUNT}, got {_show(value)}"
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
