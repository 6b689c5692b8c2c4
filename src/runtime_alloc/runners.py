"""Runners (worker machines) and their reservation state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from runtime_alloc._units import _show
from runtime_alloc.errors import DuplicateRunnerError, InvalidArgumentError, InvalidResourcesError
from runtime_alloc.resources import Resources, _with_slots

__all__ = [
    "DEFAULT_RUNNER_SLOTS",
    "Runner",
    "RunnerState",
    "check_fleet",
    "check_name",
    "check_runner",
    "check_runner_slots",
    "to_labels",
]

#: Slots a runner has when its spec does not say.
DEFAULT_RUNNER_SLOTS = 16


def check_name(value: object, *, field: str) -> str:
    """Validate a runner name, task id or label: a non-empty string of at most 253 characters.

    Raises:
        InvalidArgumentError: naming ``field`` and the value.
    """
    if not isinstance(value, str) or not value or len(value) > 253:
        msg = f"{field} must be a non-empty string of at most 253 characters, got {_show(value)}"
        raise InvalidArgumentError(msg)
    return value


def to_labels(value: Iterable[str], *, field: str = "label") -> frozenset[str]:
    """Turn labels (an iterable of strings, or one string) into a validated frozenset."""
    if isinstance(value, str):
        value = (value,)
    try:
        labels = frozenset(value)
    except TypeError:
        msg = f"{field}s must be an iterable of strings, got {_show(value)}"
        raise InvalidArgumentError(msg) from None
    for label in labels:
        check_name(label, field=field)
    return labels


def _check_runner_name(_inst: object, _attr: object, value: Any) -> None:  # noqa: ANN401
    check_name(value, field="runner name")


def check_runner_slots(slots: int, *, field: str = "runner capacity slots") -> int:
    """Reject a runner slot count *given* as 0 (leave slots out for the default 16).

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


@attrs.frozen
class Runner:
    """A worker machine: a name, a capacity and labels.

    A capacity without slots (``slots=0``, which is what
    :meth:`Resources.parse` leaves when the text gives none) has
    :data:`DEFAULT_RUNNER_SLOTS` (16), as with :meth:`Runner.parse`.

    Attributes:
        name: unique within an allocator.
        capacity: what the runner can hold at once; at least 1 slot.
        labels: tags a task can require (``require={"gpu"}``).

    >>> r = Runner.parse("r1", "cpu=4,memory=16GiB", labels=["gpu"])
    >>> str(r.capacity), sorted(r.labels)
    ('cpu=4,memory=16Gi,slots=16', ['gpu'])
    >>> Runner("r2", Resources.parse("cpu=4")).capacity.slots
    16
    """

    name: str = attrs.field(validator=_check_runner_name)
    capacity: Resources = attrs.field(converter=_to_capacity)
    labels: frozenset[str] = attrs.field(default=frozenset(), converter=to_labels)

    @classmethod
    def parse(
        cls,
        name: str,
        spec: Mapping[str, object] | str | Resources,
        labels: Iterable[str] = (),
    ) -> Runner:
        """Build a runner from a resources spec; a missing ``slots`` means 16.

        Raises:
            InvalidResourcesError: for a bad spec or slots given as 0.
            InvalidArgumentError: for a bad name or label.
        """
        if isinstance(spec, Resources):
            return cls(name, spec, labels)
        capacity = Resources.parse(spec, default_slots=DEFAULT_RUNNER_SLOTS)
        check_runner_slots(capacity.slots)
        return cls(name, capacity, labels)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "name": self.name,
            "capacity": self.capacity.to_dict(),
            "labels": sorted(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, field: str = "runner") -> Runner:
        """Read the output of :meth:`to_dict` back (``labels`` may be left out).

        Args:
            data: ``{"name": str, "capacity": {...}, "labels": [str, ...]}``; other
                keys are not read.
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
        return cls(name, capacity, to_labels(labels, field=f"{field}.label"))


@attrs.frozen
class RunnerState:
    """A runner together with what is reserved on it and whether it is draining.

    Attributes:
        runner: the runner.
        reserved: the sum of the reservations it holds.
        draining: True when it takes no new placements.
    """

    runner: Runner
    reserved: Resources = attrs.field(factory=Resources)
    draining: bool = False

    @property
    def name(self) -> str:
        """The runner's name."""
        return self.runner.name

    @property
    def free(self) -> Resources:
        """Capacity minus reserved. O(number of extended resources)."""
        return self.runner.capacity - self.reserved

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "runner": self.runner.to_dict(),
            "reserved": self.reserved.to_dict(),
            "draining": self.draining,
        }


def check_runner(runner: object) -> None:
    """Raise unless ``runner`` is a :class:`Runner`. O(1).

    Raises:
        InvalidArgumentError: not a Runner.
    """
    if not isinstance(runner, Runner):
        msg = f"runner must be a Runner (see Runner.parse), got {_show(runner)}"
        raise InvalidArgumentError(msg)


def check_fleet(runners: Iterable[object]) -> list[Runner]:
    """Return an allocator's initial fleet as a list after checking it. O(len(runners)).

    Raises:
        InvalidArgumentError: not an iterable, or an item is not a Runner.
        DuplicateRunnerError: a name is listed twice.
    """
    if isinstance(runners, (str, bytes, Mapping)) or not isinstance(runners, Iterable):
        msg = f"runners must be an iterable of Runner (see Runner.parse), got {_show(runners)}"
        raise InvalidArgumentError(msg)
    fleet = list(runners)
    names = set()
    for runner in fleet:
        check_runner(runner)
        if runner.name in names:  # type: ignore[attr-defined]
            msg = f"runner {runner.name!r} is listed twice"  # type: ignore[attr-defined]
            raise DuplicateRunnerError(msg)
        names.add(runner.name)  # type: ignore[attr-defined]
    return fleet  # type: ignore[return-value]
