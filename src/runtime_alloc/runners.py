"""Runners (worker machines) and their reservation state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from runtime_alloc._units import _show
from runtime_alloc.errors import InvalidArgumentError, InvalidResourcesError
from runtime_alloc.resources import Resources

__all__ = ["DEFAULT_RUNNER_SLOTS", "Runner", "RunnerState", "check_name", "to_labels"]

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


def _check_capacity(_inst: object, _attr: object, value: Any) -> None:  # noqa: ANN401
    if not isinstance(value, Resources):
        msg = f"runner capacity must be a Resources, got {_show(value)}"
        raise InvalidResourcesError(msg)
    if value.slots < 1:
        msg = f"runner capacity slots must be at least 1, got {value.slots}"
        raise InvalidResourcesError(msg)


@attrs.frozen
class Runner:
    """A worker machine: a name, a capacity and labels.

    Attributes:
        name: unique within an allocator.
        capacity: what the runner can hold at once; at least 1 slot.
        labels: tags a task can require (``require={"gpu"}``).

    >>> r = Runner.parse("r1", "cpu=4,memory=16GiB", labels=["gpu"])
    >>> str(r.capacity), sorted(r.labels)
    ('cpu=4,memory=16Gi,slots=16', ['gpu'])
    """

    name: str = attrs.field(validator=_check_runner_name)
    capacity: Resources = attrs.field(validator=_check_capacity)
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
            InvalidResourcesError: for a bad spec or fewer than 1 slot.
            InvalidArgumentError: for a bad name or label.
        """
        capacity = Resources.parse(spec, default_slots=DEFAULT_RUNNER_SLOTS)
        return cls(name, capacity, labels)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "name": self.name,
            "capacity": self.capacity.to_dict(),
            "labels": sorted(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Runner:
        """Read the output of :meth:`to_dict` back."""
        return cls(
            data["name"],
            Resources.from_dict(data["capacity"]),
            data.get("labels", ()),
        )


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
