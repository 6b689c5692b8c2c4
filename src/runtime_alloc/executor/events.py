"""The events an engine delivers to an executor.

Engines report what happened on the workers; the executor turns each event into
at most one change of a task or of the fleet. Events may arrive late, twice, or
out of order: an event about an attempt that is no longer current, or about a
task that is already terminal, changes nothing (see docs/executor.md).
"""

from __future__ import annotations

from typing import Any

import attrs

from runtime_alloc.runners import Runner

__all__ = [
    "COMPLETION_STATES",
    "Event",
    "RunnerJoined",
    "RunnerLeft",
    "TaskFinished",
    "TaskStarted",
]

COMPLETION_STATES = frozenset({"success", "failed"})
"""The states an engine may report in :class:`TaskFinished`."""


@attrs.frozen
class TaskStarted:
    """The engine began running attempt ``attempt`` of ``task_id``."""

    task_id: str
    attempt: int


@attrs.frozen
class TaskFinished:
    """Attempt ``attempt`` of ``task_id`` ended.

    Attributes:
        task_id: the task.
        attempt: the attempt the executor gave to ``Engine.start``.
        state: ``"success"`` or ``"failed"``.
        result: what the task returned (engine-specific), on success.
        error: why it failed, on failure.
    """

    task_id: str
    attempt: int
    state: str = attrs.field(validator=attrs.validators.in_(COMPLETION_STATES))
    result: Any = None
    error: str | None = None


@attrs.frozen
class RunnerJoined:
    """A worker came online; ``runner`` gives its name and capacity."""

    runner: Runner


@attrs.frozen
class RunnerLeft:
    """A worker went away.

    Attributes:
        name: the runner's name.
        lost: True when it died (killed, missed heartbeats), False when it left cleanly.
        reason: free text for the tasks it held (``"worker-offline"``, ``"heartbeat expired"``).
    """

    name: str
    lost: bool = False
    reason: str = ""


Event = TaskStarted | TaskFinished | RunnerJoined | RunnerLeft
"""Any event an engine delivers."""
