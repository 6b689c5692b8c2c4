"""The naive baseline of ``bench``: the plain Python loop a user would write by hand.

It keeps each runner's capacity and use in a small mutable object and scans
every runner, computing the same weight-1 mean-utilization score as the
built-in strategies, so it makes the same decisions on cpu/memory/slots
requests; it has no locking, validation, labels or extended resources.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner

__all__ = ["NaiveAllocator"]


class _Box:
    __slots__ = ("cpu", "cpu_used", "memory", "memory_used", "name", "slots", "slots_used")

    def __init__(self, runner: Runner) -> None:
        self.name = runner.name
        self.cpu = runner.capacity.millicpu
        self.memory = runner.capacity.memory_bytes
        self.slots = runner.capacity.slots
        self.cpu_used = self.memory_used = self.slots_used = 0


class NaiveAllocator:
    """A scan over runners: ``allocate`` returns the chosen runner's name or None.

    >>> fleet = [Runner.parse("a", "cpu=2"), Runner.parse("b", "cpu=4")]
    >>> naive = NaiveAllocator(fleet, maximize=True)
    >>> naive.allocate("t1", Resources(millicpu=1000, slots=1))
    'a'
    """

    def __init__(self, runners: Sequence[Runner], *, maximize: bool) -> None:
        self.maximize = maximize
        self.runners = [_Box(r) for r in runners]
        self.placed: dict[str, tuple[_Box, Resources]] = {}

    def allocate(self, task_id: str, request: Resources) -> str | None:
        """Place ``request`` on the best runner. Runtime complexity: O(N)."""
        best = None
        best_score = 0.0
        for r in self.runners:
            cpu = r.cpu_used + request.millicpu
            memory = r.memory_used + request.memory_bytes
            slots = r.slots_used + request.slots
            if cpu > r.cpu or memory > r.memory or slots > r.slots:
                continue
            total = 0.0
            count = 0
            for used, cap in ((cpu, r.cpu), (memory, r.memory), (slots, r.slots)):
                if cap > 0:
                    total += used / cap
                    count += 1
            score = total / count if count else 0.0
            if best is None or (score > best_score if self.maximize else score < best_score):
                best, best_score = r, score
        if best is None:
            return None
        best.cpu_used += request.millicpu
        best.memory_used += request.memory_bytes
        best.slots_used += request.slots
        self.placed[task_id] = (best, request)
        return best.name

    def release(self, task_id: str) -> None:
        """Return a task's request to its runner. Runtime complexity: O(1)."""
        runner, request = self.placed.pop(task_id)
        runner.cpu_used -= request.millicpu
        runner.memory_used -= request.memory_bytes
        runner.slots_used -= request.slots
