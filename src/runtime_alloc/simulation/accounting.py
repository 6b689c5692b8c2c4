"""The simulator's accounting: one definition of every metric, over a timed sequence of events.

:class:`Clock` integrates the fleet's piecewise-constant state between events (runners in
use, utilization, imbalance, stranded capacity, the lower bound) and turns it into a
:class:`~runtime_alloc.simulation.result.SimulationResult`; :func:`p95` is the wait
percentile. The simulator (:mod:`runtime_alloc.simulation.engine`) and the replay of a real
executor run (:mod:`runtime_alloc.simulation.replay`) share them, so a metric means the same
in ``runtime-alloc simulate`` and ``runtime-alloc run`` (docs/cli.md).
"""

from __future__ import annotations

import math

from runtime_alloc.simulation._fleet import FleetMirror
from runtime_alloc.simulation.result import SimulationResult, Timeline

__all__ = ["Clock", "p95"]


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile of a sorted list (0.0 when empty). O(1)."""
    if not values:
        return 0.0
    return values[math.ceil(0.95 * len(values)) - 1]


class Clock:
    """Integrates the piecewise-constant fleet state over simulated time.

    The one definition of every time-averaged metric: :func:`~runtime_alloc.simulation.simulate`
    and the replay of a real run (:func:`~runtime_alloc.simulation.replay.replay`) both
    advance a clock over their events and read the metrics with :meth:`result`.

    Args:
        fleet: the fleet mirror the events change (read at each :meth:`advance`).
        max_caps: per dimension, the largest capacity of one runner (the lower bound's divisor).
        samples: when > 0, record a timeline with about this many per-runner samples.
        span_hint: the expected span (spaces the samples).
    """

    def __init__(
        self, fleet: FleetMirror, max_caps: list[int], samples: int, span_hint: float
    ) -> None:
        dims = len(fleet.dims)
        self.fleet = fleet
        self.max_caps = max_caps
        self.in_use = 0.0
        self.busy = 0.0
        self.util = [0.0] * dims
        self.util_time = [0.0] * dims
        self.std = 0.0
        self.spread = 0.0
        self.stranded = [0.0] * dims
        self.peak = 0
        self.peak_at = 0.0
        self.bound = [0] * dims
        self.record = samples > 0
        self.times: list[float] = []
        self.counts: list[int] = []
        self.utils: list[list[float]] = [[] for _ in range(dims)]
        self.sample_every = span_hint / samples if self.record and span_hint > 0 else math.inf
        self.next_sample = -math.inf
        self.sample_times: list[float] = []
        self.shares: list[tuple[float, ...]] = []

    def advance(self, t0: float, t1: float, waiting_min: list[int] | None) -> None:
        """Account for the state held over [t0, t1).

        Runtime complexity: O(D), or O(in-use runners * D) while tasks wait.
        """
        fleet = self.fleet
        dt = t1 - t0
        n = len(fleet.in_use)
        if self.record:
            self._sample(t0, t1)
            self.times.append(t0)
            self.counts.append(n)
            for d, cap in enumerate(fleet.cap_in_use):
                self.utils[d].append(fleet.total[d] / cap if n and cap > 0 else math.nan)
        if dt <= 0:
            return
        self.peak = max(self.peak, n)
        bound = [
            -(-total // cap) if cap > 0 else 0
            for total, cap in zip(fleet.total, self.max_caps, strict=True)
        ]
        if max(bound, default=0) > max(self.bound, default=0):
            self.bound = bound
            self.peak_at = t0
        if not n:
            return
        self.in_use += n * dt
        self.busy += dt
        for d, cap in enumerate(fleet.cap_in_use):
            if cap > 0:
                self.util[d] += fleet.total[d] / cap * dt
                self.util_time[d] += dt
        self.std += fleet.std_share() * dt
        self.spread += (fleet.ordered[-1][0] - fleet.ordered[0][0]) * dt
        if waiting_min is not None:
            dims = range(len(waiting_min))
            for i in fleet.in_use:
                caps = fleet.caps[i]
                held = fleet.reserved[i]
                if any(waiting_min[d] > caps[d] - held[d] for d in dims):
                    for d in dims:
                        self.stranded[d] += (caps[d] - held[d]) * dt

    def _sample(self, t0: float, t1: float) -> None:
        if self.next_sample == -math.inf:
            self.next_sample = t0
        while self.next_sample < t1 or (t1 == t0 == self.next_sample):
            self.sample_times.append(self.next_sample)
            self.shares.append(tuple(self.fleet.share))
            if not math.isfinite(self.sample_every) or self.sample_every <= 0:
                self.next_sample = math.inf
                break
            self.next_sample += self.sample_every

    def result(
        self,
        span_start: float,
        now: float,
        waits: list[float],
        *,
        strategy: str,
        backend: str,
        tasks: int,
        unschedulable: int,
        decisions: int,
        allocator_seconds: float,
        unschedulable_tasks: tuple[tuple[str, str], ...] = (),
        timeline: Timeline | None = None,
    ) -> SimulationResult:
        """The metrics of the span from ``span_start`` to ``now`` (the last event).

        Args:
            span_start: the first event's time.
            now: the last event's time.
            waits: the wait of every placed task (in any order).
            strategy: the strategy's name.
            backend: the allocator backend.
            tasks: tasks in the workload.
            unschedulable: tasks no runner could ever hold.
            decisions: allocation attempts made.
            allocator_seconds: wall time spent inside the allocator.
            unschedulable_tasks: (task id, reason) of those tasks, in arrival order.
            timeline: the recorded timeline, if any.

        Runtime complexity: O(W log W + N * D) for W waits, N runners, D dimensions.
        """
        fleet = self.fleet
        dims = fleet.dims
        span = now - span_start
        waits = sorted(waits)
        fleet_caps = [sum(c[d] for c in fleet.caps) for d in range(len(dims))]
        return SimulationResult(
            strategy=strategy,
            backend=backend,
            tasks=tasks,
            placed=len(waits),
            unschedulable=unschedulable,
            unschedulable_tasks=unschedulable_tasks,
            mean_wait_s=math.fsum(waits) / len(waits) if waits else 0.0,
            p95_wait_s=p95(waits),
            max_wait_s=waits[-1] if waits else 0.0,
            peak_runners_in_use=self.peak,
            mean_runners_in_use=self.in_use / span if span > 0 else 0.0,
            runners_lower_bound=max(self.bound, default=0),
            lower_bound_by_dimension={
                dim: self.bound[d] for d, dim in enumerate(dims) if self.max_caps[d] > 0
            },
            peak_at_s=self.peak_at,
            utilization={
                dim: self.util[d] / self.util_time[d] if self.util_time[d] > 0 else None
                for d, dim in enumerate(dims)
            },
            imbalance_std=self.std / self.busy if self.busy > 0 else 0.0,
            imbalance_max_minus_min=self.spread / self.busy if self.busy > 0 else 0.0,
            stranded={
                dim: self.stranded[d] / (fleet_caps[d] * span) if span > 0 else 0.0
                for d, dim in enumerate(dims)
                if fleet_caps[d] > 0
            },
            decisions=decisions,
            decisions_per_s=decisions / allocator_seconds if allocator_seconds > 0 else 0.0,
            allocator_seconds=allocator_seconds,
            span_s=span,
            timeline=timeline,
        )
