"""SimulationResult: the metrics of one simulated run, and the timeline used for plots."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["SimulationResult", "Timeline"]


@attrs.frozen
class Timeline:
    """What changed over simulated time, for plots (not part of the JSON results).

    Attributes:
        times: instants (seconds) at which the state below starts to hold.
        runners_in_use: runners holding at least one task, from each instant on.
        utilization: per dimension, reserved / capacity over in-use runners from
            each instant on (NaN when no runner is in use).
        sample_times: evenly spaced instants at which every runner was sampled.
        runner_names: runners in registration order (the heatmap's rows).
        runner_share: per sample instant, each runner's dominant share.
    """

    times: tuple[float, ...]
    runners_in_use: tuple[int, ...]
    utilization: dict[str, tuple[float, ...]]
    sample_times: tuple[float, ...]
    runner_names: tuple[str, ...]
    runner_share: tuple[tuple[float, ...], ...]


@attrs.frozen
class SimulationResult:
    """The metrics of one strategy on one workload and fleet.

    Time averages run over the simulated span, from the first arrival to the
    last completion. See ``docs/cli.md`` for the exact definition of each metric.

    Attributes:
        strategy: the strategy's name.
        backend: the allocator backend used.
        tasks: tasks in the workload.
        placed: tasks that ran.
        unschedulable: tasks no runner could ever hold (never queued).
        unschedulable_tasks: those tasks in arrival order, each as (task id, the
            allocator's reason, e.g. ``"0/16 runners: 16 insufficient cpu"``).
        mean_wait_s: mean of (start - submit) over placed tasks.
        p95_wait_s: 95th percentile (nearest rank) of the wait.
        max_wait_s: longest wait.
        peak_runners_in_use: most runners holding a task at once.
        mean_runners_in_use: time-averaged runners holding a task.
        runners_lower_bound: max over dimensions of ceil(reserved demand / largest
            runner capacity) at the peak-demand instant (the first instant where
            this bound is largest): no strategy could have held that instant's
            running tasks on fewer runners, so ``peak_runners_in_use`` >= it.
        lower_bound_by_dimension: that bound per dimension at that instant.
        peak_at_s: the peak-demand instant.
        utilization: per dimension, time-averaged reserved / capacity over the
            in-use runners (None when no in-use runner had that dimension).
        imbalance_std: time-averaged population standard deviation of the
            in-use runners' dominant shares.
        imbalance_max_minus_min: time-averaged max - min of those shares.
        stranded: per dimension, time-averaged free capacity on in-use runners that
            the smallest waiting request could not use, as a fraction of the fleet's capacity.
        decisions: allocation attempts (placements and failed attempts).
        decisions_per_s: decisions divided by the time spent inside the allocator.
        allocator_seconds: wall time spent inside the allocator.
        span_s: the simulated span in seconds.
        timeline: the plot data, when it was recorded.
    """

    strategy: str
    backend: str
    tasks: int
    placed: int
    unschedulable: int
    mean_wait_s: float
    p95_wait_s: float
    max_wait_s: float
    peak_runners_in_use: int
    mean_runners_in_use: float
    runners_lower_bound: int
    lower_bound_by_dimension: dict[str, int]
    peak_at_s: float
    utilization: dict[str, float | None]
    imbalance_std: float
    imbalance_max_minus_min: float
    stranded: dict[str, float]
    decisions: int
    decisions_per_s: float
    allocator_seconds: float
    span_s: float
    timeline: Timeline | None = attrs.field(default=None, eq=False, repr=False)
    unschedulable_tasks: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-safe form (the ``results[]`` items of ``simulate --json``).

        Runtime complexity: O(U + dimensions) for U unschedulable tasks.
        """
        return {
            "strategy": self.strategy,
            "backend": self.backend,
            "tasks": self.tasks,
            "placed": self.placed,
            "unschedulable": self.unschedulable,
            "unschedulable_tasks": [
                {"task_id": task_id, "reason": reason}
                for task_id, reason in self.unschedulable_tasks
            ],
            "mean_wait_s": self.mean_wait_s,
            "p95_wait_s": self.p95_wait_s,
            "max_wait_s": self.max_wait_s,
            "peak_runners_in_use": self.peak_runners_in_use,
            "mean_runners_in_use": self.mean_runners_in_use,
            "runners_lower_bound": {
                "runners": self.runners_lower_bound,
                "by_dimension": dict(self.lower_bound_by_dimension),
                "at_s": self.peak_at_s,
            },
            "utilization": dict(self.utilization),
            "imbalance": {
                "std": self.imbalance_std,
                "max_minus_min": self.imbalance_max_minus_min,
            },
            "stranded": dict(self.stranded),
            "decisions": self.decisions,
            "decisions_per_s": self.decisions_per_s,
            "allocator_seconds": self.allocator_seconds,
            "span_s": self.span_s,
        }
