"""Replay the events of a real run through the simulator's accounting.

A real executor run (``runtime-alloc run``) knows when each task was queued, placed on which
runner and ended. :func:`replay` moves the simulator's fleet mirror through those events and
measures them with the same :class:`~runtime_alloc.simulation.accounting.Clock` as
:func:`~runtime_alloc.simulation.simulate`, so every metric has the same definition in both.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime_alloc.runners import Runner
from runtime_alloc.simulation._fleet import FleetMirror, vector
from runtime_alloc.simulation.accounting import Clock
from runtime_alloc.simulation.engine import dimensions_of
from runtime_alloc.simulation.result import SimulationResult
from runtime_alloc.simulation.tasks import SimTask

__all__ = ["EVENT_KINDS", "ReplayEvent", "replay"]

#: The kinds of a :data:`ReplayEvent`, in the order they are handled at one instant:
#: an attempt ends (its runner frees what it held), a task is placed, a task joins the queue.
EVENT_KINDS = ("end", "place", "queue")

#: One event in workload seconds: (time, kind, index of the task, runner name or None for
#: ``queue``).
ReplayEvent = tuple[float, str, int, "str | None"]

_ORDER = {kind: order for order, kind in enumerate(EVENT_KINDS)}


def replay(
    tasks: Sequence[SimTask],
    runners: Sequence[Runner],
    events: Sequence[ReplayEvent],
    *,
    waits: Sequence[float],
    unschedulable: int,
    strategy: str,
    backend: str,
    decisions: int,
    allocator_seconds: float,
) -> SimulationResult:
    """Measure a run given as events, with the simulator's definitions of the metrics.

    Events are handled in time order (at one instant in the order of :data:`EVENT_KINDS`);
    an event earlier than the one before it (clock skew between threads) is taken at the
    time reached, never back.

    Args:
        tasks: the workload (the events name tasks by their index here).
        runners: every runner of the run, in registration order.
        events: what happened, in any order.
        waits: the wait of every placed task, in workload seconds.
        unschedulable: tasks that failed while pending (no runner could hold them).
        strategy: the strategy's name.
        backend: the allocator backend.
        decisions: allocation attempts made.
        allocator_seconds: wall time spent inside the allocator.

    Returns:
        The :class:`SimulationResult` (no timeline).

    Runtime complexity: O(E log E + E * (D + pending * D)) for E events.
    """
    dims = dimensions_of(tasks, runners)
    extended = dims[3:]
    fleet = FleetMirror(runners, dims)
    max_caps = [max((c[d] for c in fleet.caps), default=0) for d in range(len(dims))]
    ordered = sorted(
        (at, _ORDER[kind], kind, k, -1 if runner is None else fleet.index[runner])
        for at, kind, k, runner in events
    )
    vectors = [vector(t.request, extended) for t in tasks]
    span_start = ordered[0][0] if ordered else 0.0
    clock = Clock(fleet, max_caps, 0, 0.0)
    pending: dict[int, list[int]] = {}
    now = span_start
    for at, _, kind, k, i in ordered:
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
    return clock.result(
        span_start,
        now,
        list(waits),
        strategy=strategy,
        backend=backend,
        tasks=len(tasks),
        unschedulable=unschedulable,
        decisions=decisions,
        allocator_seconds=allocator_seconds,
    )
