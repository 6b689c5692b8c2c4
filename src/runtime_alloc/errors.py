"""The exception hierarchy of runtime_alloc.

Every exception derives from :class:`RuntimeAllocError`; where a caller would
naturally catch a builtin (``ValueError`` for bad input, ``KeyError`` for an
unknown name) the exception inherits that builtin too.

Allocation failures carry structured data (``reasons``, ``shortfalls``) so an
executor can act on them without parsing text; the message is built only when
the exception is turned into a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from runtime_alloc.reservations import Reservation
    from runtime_alloc.resources import Resources

__all__ = [
    "AllocationError",
    "DuplicateRunnerError",
    "DuplicateTaskError",
    "InsufficientCapacityError",
    "InvalidArgumentError",
    "InvalidResourcesError",
    "InvalidSnapshotError",
    "RunnerBusyError",
    "RuntimeAllocError",
    "Shortfall",
    "UndeclaredWeightWarning",
    "UnknownRunnerError",
    "UnknownStrategyError",
    "UnknownTaskError",
    "UnschedulableError",
]


class RuntimeAllocError(Exception):
    """Base class of every error raised by runtime_alloc."""


class InvalidArgumentError(RuntimeAllocError, ValueError):
    """An argument has the wrong type or an out-of-range value (a task id, a label, a weight)."""


class InvalidResourcesError(InvalidArgumentError):
    """A resource quantity or request could not be parsed or is out of range.

    The message names the field, the rule and the value, for example
    ``cpu must be a non-negative number of cores or millicores like "500m", got '1.5.5'``.
    """


class InvalidSnapshotError(InvalidArgumentError):
    """A snapshot (or its dict form) is malformed or inconsistent, so it cannot be restored."""


class UnknownStrategyError(RuntimeAllocError, ValueError):
    """A strategy name is not registered; the message lists the valid names."""


class DuplicateTaskError(RuntimeAllocError, ValueError):
    """A task id is already holding a reservation (or appears twice in one batch)."""


class UnknownTaskError(RuntimeAllocError, KeyError):
    """No reservation is held under this task id."""

    def __str__(self) -> str:
        # KeyError.__str__ would show the repr of the message; show the text.
        return str(self.args[0]) if self.args else ""


class DuplicateRunnerError(RuntimeAllocError, ValueError):
    """A runner with this name is already registered."""


class UnknownRunnerError(RuntimeAllocError, KeyError):
    """No runner is registered under this name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RunnerBusyError(RuntimeAllocError):
    """The runner still holds reservations; pass ``force=True`` to evict them."""

    def __init__(self, runner: str, reservations: tuple[Reservation, ...]) -> None:
        self.runner = runner
        self.reservations = reservations
        super().__init__(
            f"runner {runner!r} holds {len(reservations)} reservation(s); "
            "release them first or remove it with force=True to evict them"
        )


@attrs.frozen
class Shortfall:
    """One dimension in which a request did not fit.

    Attributes:
        dimension: ``"cpu"``, ``"memory"``, ``"slots"`` or an extended resource name.
        requested: the amount requested, in the dimension's integer unit.
        available: the most any considered runner had available in this dimension
            (free amount for :class:`InsufficientCapacityError`, capacity for
            :class:`UnschedulableError`).
    """

    dimension: str
    requested: int
    available: int


class AllocationError(RuntimeAllocError):
    """No runner could take a task; base of the two allocation failures.

    Attributes:
        task_id: the task that could not be placed.
        request: the normalized request.
        runners_total: how many runners the fleet had.
        reasons: reason text -> number of runners that gave it, in the spirit of
            kube-scheduler (``{"insufficient cpu": 2, "draining": 1}``); a runner
            short in several dimensions counts once per dimension.
        shortfalls: per dimension in which at least one runner fell short, the
            requested amount and the most any considered runner (labelled, and
            not draining for :class:`InsufficientCapacityError`) offered. An
            ``available >= requested`` means some runner had enough of that
            dimension but fell short in another.
    """

    kind = "allocation_error"

    def __init__(
        self,
        task_id: str,
        request: Resources,
        runners_total: int,
        reasons: Mapping[str, int],
        shortfalls: tuple[Shortfall, ...] = (),
    ) -> None:
        self.task_id = task_id
        self.request = request
        self.runners_total = runners_total
        self.reasons = dict(reasons)
        self.shortfalls = shortfalls
        super().__init__(task_id, request, runners_total, self.reasons, shortfalls)

    def __str__(self) -> str:
        detail = ", ".join(f"{n} {reason}" for reason, n in self.reasons.items())
        if not detail:
            detail = "no runners"
        return f"0/{self.runners_total} runners can take task {self.task_id!r}: {detail}"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, AllocationError)  # noqa: S101 (narrowing for mypy)
        return self.args == other.args

    def __hash__(self) -> int:
        return hash((type(self), self.task_id, self.runners_total))


class InsufficientCapacityError(AllocationError):
    """Some runner could hold the task when empty, but none can now.

    An executor typically queues the task and retries after a release.
    """

    kind = "insufficient_capacity"


class UnschedulableError(AllocationError):
    """No runner in the fleet could ever hold the task, even when empty and undrained.

    The task is too big, asks for an extended resource no runner has, or no
    runner has the required labels. An executor typically fails the task.
    """

    kind = "unschedulable"

    def __str__(self) -> str:
        return super().__str__() + " (unschedulable: no runner could hold it even when empty)"


class UndeclaredWeightWarning(UserWarning):
    """A strategy weighs an extended resource that no runner of the allocator's fleet declares.

    The weight has no effect until a runner that declares the resource joins.
    Filter it (``warnings.simplefilter("ignore", UndeclaredWeightWarning)``)
    where fleets are generated, as the testing harness does.
    """
