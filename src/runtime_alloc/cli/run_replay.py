"""Turn a real executor run into the ``simulate`` metrics, so both can be compared side by side.

The run's task histories (when submitted, placed on which runner, ended) are mapped back to
workload time (``workload_time = first_submit + (real - start) / scale``) and replayed through the
simulator's own accounting (:mod:`runtime_alloc.simulation.engine`'s fleet and clock), so every
metric has the same definition as in ``runtime-alloc simulate`` (docs/cli.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from runtime_alloc.executor import TaskHandle, TaskState
from runtime_alloc.runners import Runner
from runtime_alloc.simulation._fleet import FleetMirror, vector
from runtime_alloc.simulation.engine import _Clock, _p95, dimensions_of
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

    Runtime complexity: O(E log E + E * (D + pending * D)) for E placements and completions.
    """
    dims = dimensions_of(tasks, runners)
    extended = dims[3:]
    fleet = FleetMirror(runners, dims)
    max_caps = [max((c[d] for c in fleet.caps), default=0) for d in range(len(dims))]
    origin = min((t.submit for t in tasks), default=0.0)

    def workload_time(real: float) -> float:
        return origin + (real - start) / scale

    # events: (time, order, kind, task index, runner index); removals first at equal times
    events: list[tuple[float, int, str, int, int]] = []
    waits: list[float] = []
    unschedulable = 0
    for k, (task, handle) in enumerate(zip(tasks, handles, strict=True)):
        # arrival: when the task was actually submitted (the loop may be a little late)
        arrived = workload_time(handle.history[0].at) if handle.history else task.submit
        events.append((arrived, 2, "queue", k, -1))
        first_placement = None
        runner = -1
        for before, move in zip(handle.history, handle.history[1:], strict=False):
            at = workload_time(move.at)
            if move.state is TaskState.PLACED:
                runner = fleet.index[str(move.runner)]
                events.append((at, 1, "place", k, runner))
                first_placement = at if first_placement is None else first_placement
            elif before.state in _ACTIVE and move.state not in _ACTIVE:
                events.append((at, 0, "end", k, runner))
                if move.state is TaskState.PENDING:
                    events.append((at, 2, "queue", k, -1))
            elif before.state is TaskState.PENDING and move.state is TaskState.FAILED:
                unschedulable += 1
        if first_placement is not None:
            waits.append(max(first_placement - arrived, 0.0))
    events.sort()
    vectors = [vector(t.request, extended) for t in tasks]
    span_start = events[0][0] if events else 0.0
    clock = _Clock(fleet, max_caps, 0, 0.0)
    pending: dict[int, list[int]] = {}
    now = span_start
    for at, _, kind, k, i in events:
        at = max(at, now)  # noqa: PLW2901 (clock skew between threads: never go back)
        waiting = (
            [min(v[d] for v in pending.values()) for d in range(len(dims))] if pending else None
        )
        clock.advance(now, at, waiting)
        now = at
        if kind == "queue":
            pending[k] = vectors[k]
        elif kind == "place":
            pending.pop(k, None)
            fleet.change(i, vectors[k], 1)
        else:
            fleet.change(i, vectors[k], -1)
    span = now - span_start
    waits.sort()
    fleet_caps = [sum(c[d] for c in fleet.caps) for d in range(len(dims))]
    return SimulationResult(
        strategy=strategy,
        backend=backend,
        tasks=len(tasks),
        placed=len(waits),
        unschedulable=unschedulable,
        mean_wait_s=math.fsum(waits) / len(waits) if waits else 0.0,
        p95_wait_s=_p95(waits),
        max_wait_s=waits[-1] if waits else 0.0,
        peak_runners_in_use=clock.peak,
        mean_runners_in_use=clock.in_use / span if span > 0 else 0.0,
        runners_lower_bound=max(clock.bound, default=0),
        lower_bound_by_dimension={
            dim: clock.bound[d] for d, dim in enumerate(dims) if max_caps[d] > 0
        },
        peak_at_s=clock.peak_at,
        utilization={
            dim: clock.util[d] / clock.util_time[d] if clock.util_time[d] > 0 else None
            for d, dim in enumerate(dims)
        },
        imbalance_std=clock.std / clock.busy if clock.busy > 0 else 0.0,
        imbalance_max_minus_min=clock.spread / clock.busy if clock.busy > 0 else 0.0,
        stranded={
            dim: clock.stranded[d] / (fleet_caps[d] * span) if span > 0 else 0.0
            for d, dim in enumerate(dims)
            if fleet_caps[d] > 0
        },
        decisions=decisions,
        decisions_per_s=decisions / allocator_seconds if allocator_seconds > 0 else 0.0,
        allocator_seconds=allocator_seconds,
        span_s=span,
    )
