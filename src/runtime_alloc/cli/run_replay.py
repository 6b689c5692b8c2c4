"""Turn a real executor run into the ``simulate`` metrics, so both can be compared side by side.

The run's task histories (when submitted, placed on which runner, ended) are mapped back to
workload time (``workload_time = first_submit + (real - start) / scale``) and replayed through the
simulator's own accounting (:func:`runtime_alloc.simulation.replay.replay`), so every metric has
the same definition as in ``runtime-alloc simulate`` (docs/cli.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime_alloc.executor import TaskHandle, TaskState
from runtime_alloc.runners import Runner
from runtime_alloc.simulation.replay import ReplayEvent, replay
from runtime_alloc.simulation.result import SimulationResult
from runtime_alloc.simulation.tasks import SimTask

__all__ = ["result_from_run"]

_ACTIVE = frozenset({TaskState.PLACED, TaskState.RUNNING})


def result_from_run(
    tasks: Sequence[SimTask],
    handles: Sequence[TaskHandle],
    runners: Sequence[Runner],
    *,
    strategy: str,
    backend: str,
    start: float,
    scale: float,
    decisions: int,
    allocator_seconds: float,
) -> SimulationResult:
    """Build a :class:`SimulationResult` from the handles of a real run.

    Args:
        tasks: the workload (in the order the handles were submitted).
        handles: one handle per task, same order.
        runners: every runner the run used, in registration order.
        strategy: the strategy's name.
        backend: the allocator backend.
        start: the real time (executor clock) of the first submission.
        scale: real seconds per workload second.
        decisions: allocation attempts made.
        allocator_seconds: wall time spent inside the allocator.

    Runtime complexity: O(H) for H history entries, plus :func:`replay`'s
    O(E log E + E * (D + pending * D)) for E placements and completions.
    """
    origin = min((t.submit for t in tasks), default=0.0)

    def workload_time(real: float) -> float:
        return origin + (real - start) / scale

    events: list[ReplayEvent] = []
    waits: list[float] = []
    unschedulable = 0
    for k, (task, handle) in enumerate(zip(tasks, handles, strict=True)):
        # arrival: when the task was actually submitted (the loop may be a little late)
        arrived = workload_time(handle.history[0].at) if handle.history else task.submit
        events.append((arrived, "queue", k, None))
        first_placement = None
        runner = None
        for before, move in zip(handle.history, handle.history[1:], strict=False):
            at = workload_time(move.at)
            if move.state is TaskState.PLACED:
                runner = str(move.runner)
                events.append((at, "place", k, runner))
                first_placement = at if first_placement is None else first_placement
            elif before.state in _ACTIVE and move.state not in _ACTIVE:
                events.append((at, "end", k, runner))
                if move.state is TaskState.PENDING:
                    events.append((at, "queue", k, None))
            elif before.state is TaskState.PENDING and move.state is TaskState.FAILED:
                unschedulable += 1
        if first_placement is not None:
            waits.append(max(first_placement - arrived, 0.0))
    return replay(
        tasks,
        runners,
        events,
        waits=waits,
        unschedulable=unschedulable,
        strategy=strategy,
        backend=backend,
        decisions=decisions,
        allocator_seconds=allocator_seconds,
    )
