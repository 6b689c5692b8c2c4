"""SimTask: one task of a simulated workload (arrival, duration, request, labels)."""

from __future__ import annotations

import math

import attrs

from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import to_labels

__all__ = ["SimTask"]


def _check_time(inst: object, attribute: attrs.Attribute[float], value: object) -> None:
    del inst
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        msg = f"{attribute.name} must be a finite number of seconds >= 0, got {value!r}"
        raise InvalidArgumentError(msg)


@attrs.frozen
class SimTask:
    """A task of a simulated workload.

    Attributes:
        task_id: unique within the workload.
        submit: arrival time in seconds.
        duration: how long it runs once placed, in seconds.
        request: what it reserves while it runs (at least 1 slot).
        require: labels the runner must all have.

    >>> SimTask("t1", 0.0, 60.0, Resources(slots=1)).duration
    60.0
    """

    task_id: str
    submit: float = attrs.field(validator=_check_time)
    duration: float = attrs.field(validator=_check_time)
    request: Resources
    require: frozenset[str] = attrs.field(default=frozenset(), converter=to_labels)
