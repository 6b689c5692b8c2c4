"""The simulator's mirror of the fleet: what each runner holds, with incremental aggregates.

Kept beside the allocator by :func:`runtime_alloc.simulation.simulate` so that the time
integrals (runners in use, utilization, dominant shares) cost O(D + log N) per change.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner

__all__ = ["FleetMirror", "vector"]

#: Re-sum the dominant shares exactly every this many changes (bounds float drift).
_RESUM_EVERY = 1024


def vector(resources: Resources, extended: Sequence[str]) -> list[int]:
    """``resources`` as integers: cpu, memory, slots, then ``extended`` in order. O(D)."""
    ext = resources.extended
    return [
        resources.millicpu,
        resources.memory_bytes,
        resources.slots,
        *(ext.get(name, 0) or 0 for name in extended),
    ]


class FleetMirror:
    """The simulator's mirror of what each runner holds, with incremental aggregates."""

    def __init__(self, runners: Sequence[Runner], dims: Sequence[str]) -> None:
        extended = dims[3:]
        self.dims = tuple(dims)
        self.caps = [vector(r.capacity, extended) for r in runners]
        self.index = {r.name: i for i, r in enumerate(runners)}
        self.reserved = [[0] * len(dims) for _ in runners]
        self.tasks = [0] * len(runners)
        self.share = [0.0] * len(runners)
        self.in_use: set[int] = set()
        self.ordered: list[tuple[float, int]] = []  # (share, runner) of in-use runners
        self.total = [0] * len(dims)
        self.cap_in_use = [0] * len(dims)
        self.sum_share = 0.0
        self.sum_share2 = 0.0
        self._updates = 0

    def change(self, i: int, vector: Sequence[int], sign: int) -> None:
        """Add (sign=1) or remove (sign=-1) one task's request on runner ``i``. O(D + log N)."""
        was_in = self.tasks[i] > 0
        if was_in:
            old = self.share[i]
            del self.ordered[bisect.bisect_left(self.ordered, (old, i))]
            self.sum_share -= old
            self.sum_share2 -= old * old
        self.tasks[i] += sign
        row = self.reserved[i]
        cap = self.caps[i]
        total = self.total
        share = 0.0
        for d, amount in enumerate(vector):
            row[d] += sign * amount
            total[d] += sign * amount
            if cap[d] > 0:
                share = max(share, row[d] / cap[d])
        self.share[i] = share
        now_in = self.tasks[i] > 0
        if now_in != was_in:
            step = 1 if now_in else -1
            for d, amount in enumerate(cap):
                self.cap_in_use[d] += step * amount
            if now_in:
                self.in_use.add(i)
            else:
                self.in_use.discard(i)
        if now_in:
            bisect.insort(self.ordered, (share, i))
            self.sum_share += share
            self.sum_share2 += share * share
        self._updates += 1
        if not self.ordered or self._updates % _RESUM_EVERY == 0:
            self.sum_share = math.fsum(s for s, _ in self.ordered)
            self.sum_share2 = math.fsum(s * s for s, _ in self.ordered)

    def std_share(self) -> float:
        """Population standard deviation of the in-use runners' dominant shares. O(1)."""
        n = len(self.ordered)
        if n < 2:
            return 0.0
        mean = self.sum_share / n
        return math.sqrt(max(self.sum_share2 / n - mean * mean, 0.0))
