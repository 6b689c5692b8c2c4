"""Runners (worker machines) and their reservation state (names and labels: :mod:`.labels`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._units import _check_quantity, _show
from runtime_alloc.devices import DEVICE_MILLI, MAX_DEVICES
from runtime_alloc.dimensions import _named_counts
from runtime_alloc.errors import DuplicateRunnerError, InvalidArgumentError, InvalidResourcesError
from runtime_alloc.labels import LabelRule, check_name, label_rule, labels_allow, to_labels
from runtime_alloc.resources import Resources, _with_slots

__all__ = [
    "DEFAULT_RUNNER_SLOTS",
    "LabelRule",
    "Runner",
    "RunnerState",
    "check_fleet",
    "check_name",
    "check_runner",
    "check_runner_slots",
    "fleet_sequence",
    "label_rule",
    "labels_allow",
    "number_fleet",
    "to_labels",
]

#: Slots a runner has when its spec does not say.
DEFAULT_RUNNER_SLOTS = 16


def _check_runner_name(_inst: object, _attr: object, value: Any) -> None:  # noqa: ANN401
    check_name(value, field="runner name")


def check_runner_slots(slots: int, *, field: str = "runner capacity slots") -> int:
    """Reject a runner slot count *given* as 0 (leave slots out for the default 16).

    Runtime complexity: O(1).

    For readers of text and files, where a 0 was written by the user; a
    :class:`Resources` given to :class:`Runner` reads 0 as "not given".

    Raises:
        InvalidResourcesError: naming ``field`` when ``slots`` is 0.
    """
    if slots < 1:
        msg = (
            f"{field} must be at least 1, got {_show(slots)} "
            f"(leave slots out for the default {DEFAULT_RUNNER_SLOTS})"
        )
        raise InvalidResourcesError(msg)
    return slots


def _to_capacity(value: Any) -> Any:  # noqa: ANN401 (attrs converter signature)
    """Give a capacity without slots (``slots=0``, as ``Resources.parse`` leaves them) 16 slots."""
    if not isinstance(value, Resources):
        msg = f"runner capacity must be a Resources, got {_show(value)}"
        raise InvalidResourcesError(msg)
    return value if value.slots else _with_slots(value, DEFAULT_RUNNER_SLOTS)


def _to_devices(value: Any) -> FrozenMap[str, int]:  # noqa: ANN401 (attrs converter signature)
    """Check ``devices``: a mapping of kind -> number of devices (1 to MAX_DEVICES)."""
    return _named_counts(
        value,
        mapping_rule="runner devices must be a mapping of kind to device count",
        name_field="runner device kind",
        builtin_hint="devices are extended resources",
        count=_device_count,
    )


def _device_count(kind: str, value: object) -> int:
    """Check the number of devices of ``kind``: an integer from 0 to MAX_DEVICES. O(1)."""
    count = _check_quantity(f"runner devices[{kind!r}]", value)
    if count > MAX_DEVICES:
        msg = f"runner devices[{kind!r}] must be at most {MAX_DEVICES}, got {count}"
        raise InvalidResourcesError(msg)
    return count


@attrs.frozen
class Runner:
    """A worker machine: a name, a capacity, labels and devices.

    A capacity without slots (``slots=0``, which is what
    :meth:`Resources.parse` leaves when the text gives none) has
    :data:`DEFAULT_RUNNER_SLOTS` (16), as with :meth:`Runner.parse`.

    Attributes:
        name: unique within an allocator.
        capacity: what the runner can hold at once; at least 1 slot. For each
            device kind, ``capacity.extended[kind]`` is the pooled sum, 1000 milli
            per device (filled in when the capacity does not give it).
        labels: tags a task can require (``require={"gpu"}``).
        devices: device kind -> number of devices of 1000 milli each
            (:mod:`runtime_alloc.devices`); empty for a runner without devices.

    >>> r = Runner.parse("r1", "cpu=4,memory=16GiB", labels=["gpu"])
    >>> str(r.capacity), sorted(r.labels)
    ('cpu=4,memory=16Gi,slots=16', ['gpu'])
    >>> Runner("r2", Resources.parse("cpu=4")).capacity.slots
    16
    >>> g = Runner.parse("g1", "cpu=96,memory=384Gi", devices={"gpu": 8})
    >>> dict(g.devices), g.capacity.extended["gpu"]
    ({'gpu': 8}, 8000)
    """

    name: str = attrs.field(validator=_check_runner_name)
    capacity: Resources = attrs.field(converter=_to_capacity)
    labels: frozenset[str] = attrs.field(default=frozenset(), converter=to_labels)
    devices: FrozenMap[str, int] = attrs.field(factory=FrozenMap, converter=_to_devices)

    def __attrs_post_init__(self) -> None:
        if not self.devices._data:  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            return
        extended = dict(self.capacity.extended)
        for kind, count in self.devices.items():
            pooled = count * DEVICE_MILLI
            given = extended.setdefault(kind, pooled)
            if given != pooled:
                msg = (
                    f"runner {self.name!r} capacity {kind}={given} disagrees with its "
                    f"{count} {kind} devices ({pooled} milli); leave {kind} out of the capacity"
                )
                raise InvalidResourcesError(msg)
        if extended != self.capacity.extended:
            c = self.capacity
            object.__setattr__(
                self, "capacity", Resources(c.millicpu, c.memory_bytes, c.slots, extended)
            )

    @classmethod
    def parse(
        cls,
        name: str,
        spec: Mapping[str, object] | str | Resources,
        labels: Iterable[str] = (),
        *,
        devices: Mapping[str, int] | None = None,
    ) -> Runner:
        """Build a runner from a resources spec; a missing ``slots`` means 16.

        Args:
            name: the runner's name.
            spec: the capacity (see :meth:`Resources.parse`); a device kind given
                there is in devices (``gpu=8``), like the request grammar.
            labels: the runner's labels.
            devices: device kind -> number of devices (``{"gpu": 8}``).

        Raises:
            InvalidResourcesError: for a bad spec, slots given as 0 or bad devices.
            InvalidArgumentError: for a bad name or label.

        Runtime complexity: O(len(spec) + number of devices).
        """
        devices = FrozenMap() if devices is None else _to_devices(devices)
        if isinstance(spec, Resources):
            return cls(name, spec, labels, devices)
        capacity = Resources.parse(
            spec, default_slots=DEFAULT_RUNNER_SLOTS, device_kinds=devices.keys()
        )
        check_runner_slots(capacity.slots)
        return cls(name, capacity, labels, devices)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (``devices`` only when the runner has some).

        Runtime complexity: O(L log L + D) for L labels, D dimensions and device kinds.
        """
        out: dict[str, Any] = {
            "name": self.name,
            "capacity": self.capacity.to_dict(),
            "labels": sorted(self.labels),
        }
        if self.devices._data:  # noqa: SLF001
            out["devices"] = dict(self.devices)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, field: str = "runner") -> Runner:
        """Read the output of :meth:`to_dict` back (``labels`` may be left out).

        Args:
            data: ``{"name": str, "capacity": {...}, "labels": [str, ...],
                "devices": {kind: count}}``; other keys are not read.
            field: the name used in error messages (``"runners[0]"``).

        Raises:
            InvalidArgumentError: naming the key path and value that are wrong
                (:class:`InvalidResourcesError` for the capacity); the capacity's
                slots must be given, at least 1.

        Runtime complexity: O(number of labels and extended resources).
        """
        if not isinstance(data, Mapping):
            msg = f"{field} must be a mapping with name and capacity, got {_show(data)}"
            raise InvalidArgumentError(msg)
        for key in ("name", "capacity"):
            if key not in data:
                msg = f"{field} has no {key!r} (a runner needs name and capacity)"
                raise InvalidArgumentError(msg)
        name = check_name(data["name"], field=f"{field}.name")
        capacity = Resources.from_dict(data["capacity"], field=f"{field}.capacity")
        check_runner_slots(capacity.slots, field=f"{field}.capacity.slots")
        labels = data.get("labels", ())
        if isinstance(labels, (str, bytes)) or not isinstance(labels, (list, tuple)):
            msg = f"{field}.labels must be a list of strings, got {_show(labels)}"
            raise InvalidArgumentError(msg)
        devices = data.get("devices", {})
        if not isinstance(devices, Mapping):
            msg = f"{field}.devices must be a mapping of kind to device count, got {_show(devices)}"
            raise InvalidArgumentError(msg)
        return cls(name, capacity, to_labels(labels, field=f"{field}.label"), devices)


def _no_device_use(state: RunnerState) -> FrozenMap[str, tuple[int, ...]]:
    devices = getattr(state.runner, "devices", None)  # FleetSnapshot.check names a non-Runner
    if not devices:
        return _NO_DEVICES
    return FrozenMap((kind, (0,) * count) for kind, count in devices.items())


_NO_DEVICES: FrozenMap[str, tuple[int, ...]] = FrozenMap()


@attrs.frozen
class RunnerState:
    """A runner together with what is reserved on it and whether it is draining.

    Attributes:
        runner: the runner.
        reserved: the sum of the reservations it holds.
        draining: True when it takes no new placements.
        devices: device kind -> milli used on each device, in index order
            (all 0 on a new runner); empty for a runner without devices.
    """

    runner: Runner
    reserved: Resources = attrs.field(factory=Resources)
    draining: bool = False
    devices: FrozenMap[str, tuple[int, ...]] = attrs.field(
        default=attrs.Factory(_no_device_use, takes_self=True)
    )

    @property
    def name(self) -> str:
        """The runner's name. O(1)."""
        return self.runner.name

    @property
    def free(self) -> Resources:
        """Capacity minus reserved. O(number of extended resources)."""
        return self.runner.capacity - self.reserved

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict. O(dimensions + devices)."""
        return {
            "runner": self.runner.to_dict(),
            "reserved": self.reserved.to_dict(),
            "draining": self.draining,
            **({"devices": {k: list(v) for k, v in self.devices.items()}} if self.devices else {}),
        }


def check_runner(runner: object) -> None:
    """Raise unless ``runner`` is a :class:`Runner`. O(1).

    Raises:
        InvalidArgumentError: not a Runner.
    """
    if not isinstance(runner, Runner):
        msg = f"runner must be a Runner (see Runner.parse), got {_show(runner)}"
        raise InvalidArgumentError(msg)


def fleet_sequence(runners: Iterable[object]) -> Sequence[object]:
    """``runners`` as a sequence: a list or tuple as given (no copy), else a new list. O(n).

    Raises:
        InvalidArgumentError: ``runners`` is not an iterable (or is a str, bytes or mapping).
    """
    if isinstance(runners, (str, bytes, Mapping)) or not isinstance(runners, Iterable):
        msg = f"runners must be an iterable of Runner (see Runner.parse), got {_show(runners)}"
        raise InvalidArgumentError(msg)
    return runners if type(runners) in (list, tuple) else list(runners)  # type: ignore[return-value]


def check_fleet(runners: Iterable[object]) -> list[Runner]:
    """Return an allocator's initial fleet as a list after checking it. O(len(runners)).

    Raises:
        InvalidArgumentError: not an iterable, or an item is not a Runner.
        DuplicateRunnerError: a name is listed twice.
    """
    given = fleet_sequence(runners)
    fleet = list(given) if given is runners else given  # one copy: the caller's list is not kept
    number_fleet(fleet, {})
    return fleet  # type: ignore[return-value]


def number_fleet(fleet: Sequence[object], rows: dict[str, int]) -> None:
    """Check a fleet's runners and give each its position in ``rows`` (name -> position).

    ``rows`` should be empty; it holds the names checked so far when an error is raised.

    Raises:
        InvalidArgumentError: an item is not a Runner.
        DuplicateRunnerError: a name is listed twice.

    Runtime complexity: O(len(fleet)).
    """
    for row, runner in enumerate(fleet):
        check_runner(runner)
        name = runner.name  # type: ignore[attr-defined]
        if name in rows:
            msg = f"runner {name!r} is listed twice"
            raise DuplicateRunnerError(msg)
        rows[name] = row
