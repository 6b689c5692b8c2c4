"""The classes of :mod:`.fragmentation_index`: runners of one state, and the learned "visited" set.

See :mod:`runtime_alloc.backends.fragmentation_index` for how they are used and why the
answers are exact.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from runtime_alloc import _placement

if TYPE_CHECKING:
    from runtime_alloc.backends.fragmentation_index import FragmentationIndex
    from runtime_alloc.resources import Resources
    from runtime_alloc.runners import RunnerState

__all__ = ["FeasibleAt", "StateClass", "class_key", "least_key"]

_G_CAP = (1 << 17) - 1


class StateClass:
    """Runners with one state (but the name): their sequence heap and sort keys."""

    __slots__ = (
        "bounds",
        "cid",
        "device",
        "entries",
        "fb",
        "free_cpu",
        "heap",
        "key",
        "members",
        "rep",
    )

    def __init__(self, cid: int, key: tuple[Any, ...], rep: RunnerState, device: bool) -> None:
        self.cid = cid
        self.key = key
        self.rep = rep
        self.device = device
        self.heap: list[int] = []
        self.members: dict[int, str] = {}
        cap, res = rep.runner.capacity, rep.reserved
        self.free_cpu = cap.millicpu - res.millicpu
        #: the entries of this class in the device lists (None when not listed)
        self.entries: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        #: F before placement (device classes, this generation)
        self.fb: Any = 0
        #: device milli asked -> a lower bound of 100 - R of requests asking it (this generation)
        self.bounds: dict[int, int] = {}

    def first(self) -> int:
        """The least member sequence. O(log N) amortised."""
        heap, members = self.heap, self.members
        while heap[0] not in members:
            heapq.heappop(heap)
        return heap[0]


class FeasibleAt:
    """The runners that were feasible at one decision (the strategy's ``visited``)."""

    def __init__(
        self, index: FragmentationIndex, request: Resources, require: frozenset[str]
    ) -> None:
        self.index = index
        self.stamp = index.stamp
        self.request = request
        self.require = require
        self.added: set[str] = set()

    def add(self, name: str) -> None:
        """Record ``name`` as scored in the decision (the python scan's ``visited.add``). O(1)."""
        self.added.add(name)

    def __contains__(self, name: object) -> bool:
        if name in self.added:
            return True
        index = self.index
        if index.stamp != self.stamp:  # a later decision of the index replaced this one
            return False
        state = index.old[name] if name in index.old else index.states.get(name)  # type: ignore[call-overload]
        return state is not None and _placement.is_feasible(state, self.request, self.require)


def class_key(state: RunnerState) -> tuple[Any, ...]:
    """The class of ``state``: everything feasibility and the key read, but the name. O(1)."""
    runner = state.runner
    return (
        runner.capacity,
        runner.labels,
        runner.devices,
        state.reserved,
        state.draining,
        state.devices,
    )


def least_key(top: int, g: int, k: int, tight: bool) -> float:
    """The least plus key with these R, free milli after and capability. O(1)."""
    if not tight:
        return float(top << 46)
    g = max(0, min(_G_CAP, g))
    return float((((top << 17) + g) << 7) + k << 22)
