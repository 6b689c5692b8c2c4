"""Executor metrics: the allocator's, plus queue, wait times, task states, retries, lost runners."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import attrs

from runtime_alloc._frozen import FrozenMap
from runtime_alloc.metrics import Metrics

__all__ = ["ExecutorMetrics", "WaitStats", "WaitTimes"]

WINDOW = 10_000
"""How many of the latest wait times the percentiles are computed over."""


@attrs.frozen
class WaitStats:
    """Time from entering the queue to being placed, in seconds.

    ``count``, ``total`` and ``max`` cover every placement; the percentiles
    (nearest rank) cover the latest :data:`WINDOW` placements. All are 0.0
    before the first placement.
    """

    count: int = 0
    total: float = 0.0
    max: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0

    @property
    def mean(self) -> float:
        """The average wait (0.0 before the first placement). O(1)."""
        return self.total / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict. O(1)."""
        return attrs.asdict(self) | {"mean": self.mean}


class WaitTimes:
    """Records waits; not thread-safe (the executor's lock guards it)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.window: deque[float] = deque(maxlen=WINDOW)

    def add(self, wait: float) -> None:
        """Record one wait. O(1)."""
        wait = max(wait, 0.0)
        self.count += 1
        self.total += wait
        self.max = max(self.max, wait)
        self.window.append(wait)

    def stats(self) -> WaitStats:
        """Summarize. O(W log W) for the window of W <= WINDOW waits."""
        ordered = sorted(self.window)

        def rank(p: float) -> float:
            if not ordered:
                return 0.0
            return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]

        return WaitStats(self.count, self.total, self.max, rank(0.5), rank(0.9), rank(0.99))


@attrs.frozen
class ExecutorMetrics:
    """A frozen view of an executor's figures.

    Attributes:
        allocator: the allocator's :class:`~runtime_alloc.metrics.Metrics`.
        queue_length: tasks pending now.
        wait: queue wait times (:class:`WaitStats`).
        tasks: tasks by state, every state listed (terminal ones count since start).
        submitted: tasks submitted.
        retries: evicted tasks sent back to the queue.
        runners_joined: runners that joined through the engine.
        runners_left: runners that left cleanly.
        runners_lost: runners that died (killed, heartbeats missed).
    """

    allocator: Metrics
    queue_length: int
    wait: WaitStats
    tasks: FrozenMap[str, int]
    submitted: int
    retries: int
    runners_joined: int
    runners_left: int
    runners_lost: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (the allocator's under ``"allocator"``).

        Runtime complexity: O(N * dimensions + task states): mostly the allocator's
        :meth:`Metrics.to_dict`.
        """
        return {
            "allocator": self.allocator.to_dict(),
            "counters": {
                "submitted": self.submitted,
                "retries": self.retries,
                "runners_joined": self.runners_joined,
                "runners_left": self.runners_left,
                "runners_lost": self.runners_lost,
            },
            "gauges": {"queue_length": self.queue_length, "tasks": dict(self.tasks)},
            "wait_seconds": self.wait.to_dict(),
        }
