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
        "afters",
        "bounds",
        "cid",
        "device",
        "entries",
        "fb",
        "fb_top",
        "free_cpu",
        "free_memory",
        "free_milli",
        "heap",
        "key",
        "listed",
        "members",
        "picks",
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
        self.free_memory = cap.memory_bytes - res.memory_bytes
        #: the entry (g_b, k, cid) of this class in the device list (None when not listed)
        self.entries: tuple[int, int, int] | None = None
        #: F before placement (device classes, this generation; None until computed)
        self.fb: Any = None
        #: 100 - R when F after is 0 (R's bound from F before; with ``fb``)
        self.fb_top = 0
        #: free device milli of the index's kind (-1 until computed)
        self.free_milli = -1
        #: device milli asked -> a lower bound of 100 - R of requests asking it (this generation)
        self.bounds: dict[int, int] = {}
        #: device milli asked -> (lower key, 100 - R bound) of this class's entry in the
        #: index's list for that milli (this generation)
        self.listed: dict[int, tuple[float, int]] = {}
        #: device milli asked -> free milli of the device a share goes on (0 for whole
        #: devices), or -1 when no request asking it fits; the class's state never changes
        self.picks: dict[int, int] = {}
        #: device milli asked -> the device use after the allocator's pick (when it fits)
        self.afters: dict[int, tuple[int, ...]] = {}

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
