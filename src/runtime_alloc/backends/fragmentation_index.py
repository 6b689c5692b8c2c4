"""The class index of :class:`~runtime_alloc.strategies.FragmentationStrategy` (method ``plus``).

``Allocator(strategy=FragmentationStrategy(), backend="numpy" or "auto")`` answers with
this index (the strategy's ``class_index`` capability, read by
:func:`runtime_alloc.backends.make_backend`); pure Python, no numpy needed.

**Classes.** A runner's *class* is its state without its name: capacity, labels,
declared devices, reserved amounts, draining flag and device use. Feasibility
(:func:`runtime_alloc._placement.is_feasible`) and the strategy's key
(:meth:`~runtime_alloc.strategies.FragmentationStrategy.key`) read nothing else, so every
runner of a class is feasible alike and scores the same float for any request. A class
keeps its members' registration sequence numbers in a heap (lazy deletion); its first
member is the one the python scan would prefer among them. A change moves one runner
between two classes: O(log N) plus the sorted-list upkeep below.

**The decision** is the feasible class with the least (key, first sequence): the python
scan's answer (lowest key, ties to the runner registered first). Two families of classes:

* *plain* classes (no devices of the strategy's kind): the key is
  ``plus_key(50, tight, 0, 0, cpu left, ...)`` (R = 50, no device, capability 0), a
  non-decreasing function of the free cpu (:mod:`.strategies.fragmentation_formula`).
  For a request without extended resources they are scanned in free-cpu order from the
  request's cpu (a sorted list): the first feasible one gives the least key, and the scan
  goes on while the key stays equal, for the least first sequence. Plain classes with an
  extended capacity (pooled resources) are the only plain candidates of a request for
  extended resources; they are scanned in full.
* *device* classes: every key of a request asking ``asked`` device milli on a class is
  at least the class's *list bound* for that milli, and for each milli asked the index
  keeps the *list* of the classes such a request fits, sorted by (list bound, cid)
  (:mod:`.fragmentation_lists`: the bounds, why they hold, and the lists' upkeep, which
  the shapes decide: a relearn rebuilds them). A decision walks its list a run of
  equal list bounds at a time, each run ordered by the request's own bound (the list
  bound with the stranded and cpu parts of this request) and first sequence, and stops
  at the first run whose bound exceeds the best key found: a class wins only below the
  best key, or equal to it and registered first (a tie goes to the runner registered
  first). A class still in is tested for feasibility, then held to a finer bound, kept
  per class and ``asked``: F after placing the devices alone is at most F after the whole
  request (taking cpu or memory too only makes shapes unhostable; float sums are
  monotone in each term), so the R part of the key of a request of ``asked`` milli alone
  bounds the R part of every request asking ``asked``; a class whose finer bound exceeds
  its list bound moves to it in the list (for the rest of the generation). A class that
  passes is scored with the strategy's very operations (:meth:`FragmentationIndex._score`).
  For a request without the kind, device classes are kept by (g_b, k, cid), along which
  the bound with R = 50 does not decrease: the scan stops at the first class whose
  bound exceeds the best key.

**Learning.** A learned strategy counts one request per decision. The python scan
recognises a decision as score calls with one request object that visit each runner
at most once (:mod:`runtime_alloc.strategies.fragmentation`); here a decision that finds
a feasible runner calls ``strategy.begin(request, visited)`` before scoring, where
``visited`` answers "was this runner feasible at that decision" from the states kept
for the runners changed since (so a later python-scan decision reads the same set). A
request object that is the strategy's last one goes to the python scan itself (it may
continue a decision, as the scan decides). So the strategy learns exactly the same
sequence on every backend.

Cost: a decision scans the plain classes from the request's cpu to the first feasible
one (more when memory, slots, labels or draining rule classes out), then the device
classes of its list in bound order until the bound exceeds the best key: O(scanned
classes · groups · log |shapes|) with F memoised, plus O(C log C) for the first request
of a milli in a generation and O(N) when the request object repeats (the python scan).
The failure diagnosis is the python scan's, O(N).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from runtime_alloc import _placement
from runtime_alloc._ledger_views import reserved_of
from runtime_alloc.backends.fragmentation_classes import (
    FeasibleAt,
    StateClass,
    class_key,
    least_key,
)
from runtime_alloc.backends.fragmentation_lists import DeviceLists
from runtime_alloc.backends.python import ScanAnswers
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState
from runtime_alloc.strategies.fragmentation_formula import (
    DEVICE_MILLI,
    plus_key,
)

if TYPE_CHECKING:
    from runtime_alloc.backends.protocol import ExtendedAmounts, ReservedAmounts
    from runtime_alloc.strategies.fragmentation import FragmentationStrategy

__all__ = ["FragmentationIndex"]

#: above every class id
_AFTER = float("inf")


def _first_two(item: tuple[float, int, StateClass]) -> tuple[float, int]:
    return item[0], item[1]


_FIRST_TWO = _first_two


class FragmentationIndex(ScanAnswers, DeviceLists):
    """The class index (see the module docstring); the Backend protocol.

    Args:
        states: the runners so far, in registration order (or a name -> state mapping).
        strategy: a FragmentationStrategy with ``method="plus"``.
    """

    name = "fragmentation-index"

    def __init__(
        self,
        states: Iterable[RunnerState] | Mapping[str, RunnerState],
        strategy: FragmentationStrategy,
    ) -> None:
        if isinstance(states, Mapping):
            states = states.values()
        self.strategy = strategy
        self.kind = strategy.kind
        self.learned = strategy.learned
        #: name -> state, in registration order
        self.states: dict[str, RunnerState] = {}
        self.seq: dict[str, int] = {}
        self._next = 0
        self.classes: dict[tuple[Any, ...], StateClass] = {}
        self._of: dict[str, StateClass] = {}
        self._cid = 0
        #: plain classes by (free cpu, cid); plain classes with extended capacity
        self.plain: list[tuple[int, int]] = []
        self.plain_ext: dict[int, StateClass] = {}
        self._by_cid: dict[int, StateClass] = {}
        #: device classes by (g_b, k, cid); per device milli asked, the classes a request
        #: asking it fits, by (lower key, cid) (this generation, built on first use)
        self.by_free: list[tuple[int, int, int]] = []
        self.lists: dict[int, list[tuple[float, int]]] = {}
        self._generation = -1
        self._above: tuple[list[int], list[Any], Any] = ([], [0], 1)
        #: states, at the last decision that started a learned decision, of runners changed since
        self.old: dict[str, RunnerState | None] = {}
        self.stamp = 0
        #: device milli -> a request for that alone (the class bounds)
        self._alone: dict[int, Resources] = {}
        #: device milli -> 100 - R when gain = the milli (R's bound from the milli alone)
        self._floors: dict[int, int] = {}
        for state in states:
            self.add(state)

    # ------------------------------------------------------------------ upkeep

    def _enter(self, name: str, state: RunnerState) -> None:
        key = class_key(state)
        cls = self.classes.get(key)
        if cls is None:
            self._cid += 1
            device = self.kind in state.devices
            cls = self.classes[key] = StateClass(self._cid, key, state, device)
            self._by_cid[cls.cid] = cls
            if not device:
                insort(self.plain, (cls.free_cpu, cls.cid))
                if state.runner.capacity.extended:
                    self.plain_ext[cls.cid] = cls
            elif self._generation == self.strategy.generation:
                self._list(cls)
        seq = self.seq[name]
        cls.members[seq] = name
        heap = cls.heap
        if len(heap) > 2 * len(cls.members) + 16:  # bound the stale entries
            heap[:] = sorted(cls.members)
        heapq.heappush(heap, seq)
        self._of[name] = cls

    def _leave(self, name: str) -> None:
        cls = self._of.pop(name)
        del cls.members[self.seq[name]]
        if cls.members:
            return
        del self.classes[cls.key]
        del self._by_cid[cls.cid]
        if not cls.device:
            self.plain.pop(bisect_left(self.plain, (cls.free_cpu, cls.cid)))
            self.plain_ext.pop(cls.cid, None)
        elif cls.entries is not None:
            self.by_free.pop(bisect_left(self.by_free, cls.entries))
            lists = self.lists
            for asked, (lower, _) in cls.listed.items():
                entries = lists[asked]
                entries.pop(bisect_left(entries, (lower, cls.cid)))

    def _changed(self, name: str) -> None:
        old = self.old
        if self.learned and name not in old:
            old[name] = self.states.get(name)

    def add(self, state: RunnerState) -> None:
        """A new runner (the newest for ties). O(log N) plus the list upkeep."""
        name = state.runner.name
        self._changed(name)
        self.states[name] = state
        self.seq[name] = self._next
        self._next += 1
        self._enter(name, state)

    def update(self, state: RunnerState) -> None:
        """A runner's new reserved amounts, draining flag or device use. O(log N) + upkeep."""
        name = state.runner.name
        self._changed(name)
        self._leave(name)
        self.states[name] = state
        self._enter(name, state)

    def update_reserved(
        self, name: str, reserved: ReservedAmounts, extended: ExtendedAmounts, draining: bool
    ) -> None:
        """The ledger's event for a runner without devices. As :meth:`update`.

        Runtime complexity: O(log N) plus the list upkeep.
        """
        runner = self.states[name].runner
        self.update(RunnerState(runner, reserved_of(*reserved, extended), draining))

    def remove(self, name: str) -> None:
        """A runner left. O(log N) + upkeep."""
        self._changed(name)
        self._leave(name)
        del self.states[name]
        del self.seq[name]

    # ------------------------------------------------------------------ decisions

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        """The python scan's pick (see the module docstring).

        Runtime complexity: O(scanned classes * groups * log shapes) with F memoised, plus O(C log
        C) for the first request of a milli in a generation, and O(N) when the request object
        repeats (the python scan).
        """
        strategy = self.strategy
        learned = strategy.learned
        if learned and request is strategy._last:  # noqa: SLF001 (may continue a decision)
            state = _placement.choose(self.states.values(), strategy, request, require)
            return None if state is None else state.runner.name
        best = self._best_plain(request, require)
        if learned:
            if best is None and not self._any_device(request, require):
                return None
            self.stamp += 1
            strategy.begin(request, FeasibleAt(self, request, require))
            self.old = {}
        if self._generation != strategy.generation:
            self._relist()
        best = self._best_device(request, require, best)
        if best is None:
            return None
        return self._by_cid[best[2]].members[best[1]]

    def _best_plain(
        self, request: Resources, require: frozenset[str]
    ) -> tuple[float, int, int] | None:
        """(key, first sequence, cid) of the best feasible plain class, or None."""
        key_of = self.strategy.key
        feasible = _placement.is_feasible
        best: tuple[float, int, int] | None = None
        if request.extended:
            for cls in self.plain_ext.values():
                if feasible(cls.rep, request, require):
                    found = (key_of(cls.rep, request), cls.first(), cls.cid)
                    if best is None or found < best:
                        best = found
            return best
        plain, by_cid = self.plain, self._by_cid
        for i in range(bisect_left(plain, (request.millicpu, -1)), len(plain)):
            cls = by_cid[plain[i][1]]
            if best is not None:
                value = key_of(cls.rep, request)
                if value > best[0]:
                    break
                if feasible(cls.rep, request, require):
                    best = min(best, (value, cls.first(), cls.cid))
            elif feasible(cls.rep, request, require):
                best = (key_of(cls.rep, request), cls.first(), cls.cid)
        return best

    def _any_device(self, request: Resources, require: frozenset[str]) -> bool:
        """True when a device class is feasible (before learning: any order). O(C)."""
        feasible = _placement.is_feasible
        return any(
            cls.device and feasible(cls.rep, request, require) for cls in self.classes.values()
        )

    def _best_device(
        self,
        request: Resources,
        require: frozenset[str],
        best: tuple[float, int, int] | None,
    ) -> tuple[float, int, int] | None:
        """The best of ``best`` and the feasible device classes, scanned in bound order."""
        asked = request.extended.get(self.kind, 0)
        tight = asked < DEVICE_MILLI
        key_of = self.strategy.key
        feasible = _placement.is_feasible
        by_cid = self._by_cid
        if asked:
            entries = self.lists.get(asked)
            if entries is None:
                entries = self._build(asked)
            millicpu, memory, kind = request.millicpu, request.memory_bytes, self.kind
            # by increasing lower bound, a run of equal bounds at a time, ordered by the
            # request's bound and first sequence: a class wins only below the best key, or
            # equal to it and registered first
            at, end = 0, len(entries)
            moved: list[StateClass] = []
            while at < end:
                lower = entries[at][0]
                if best is not None and lower > best[0]:
                    break  # every later class's bound is at least as large
                stop = bisect_right(entries, (lower, _AFTER), at)
                run = []
                for _, cid in entries[at:stop]:
                    cls = by_cid[cid]
                    if cls.free_cpu < millicpu or cls.free_memory < memory:
                        continue  # not feasible (the first tests of is_feasible)
                    bound = lower
                    if tight:
                        rep = cls.rep
                        g_b, k, _ = cls.entries  # type: ignore[misc]
                        size = len(rep.devices[kind]) * DEVICE_MILLI
                        cap = rep.runner.capacity.millicpu
                        top = cls.listed[asked][1]
                        left = cls.free_cpu - millicpu
                        bound = plus_key(top, tight, g_b - asked, size, left, cap, k)
                    run.append((bound, cls.first(), cls))
                at = stop
                run.sort(key=_FIRST_TWO)
                for bound, first, cls in run:
                    rep = cls.rep
                    if best is not None and (bound, first) > best[:2]:
                        break
                    if not feasible(rep, request, require):
                        continue
                    if best is not None:
                        top_bound = cls.bounds.get(asked)
                        if top_bound is None:
                            top_bound = cls.bounds[asked] = self._top_of(cls, asked)
                        if top_bound > cls.listed[asked][1]:
                            moved.append(cls)  # its finer bound, in the list from now on
                            g_b, k, _ = cls.entries  # type: ignore[misc]
                            size = len(rep.devices[kind]) * DEVICE_MILLI
                            cap = rep.runner.capacity.millicpu
                            left = cls.free_cpu - millicpu
                            finer = plus_key(top_bound, tight, g_b - asked, size, left, cap, k)
                            if (finer, first) > best[:2]:
                                continue
                    found = (self._score(cls, request, asked), first, cls.cid)
                    if best is None or found < best:
                        best = found
            for cls in moved:
                top_bound = cls.bounds[asked]
                lower = cls.listed[asked][0]
                entries.pop(bisect_left(entries, (lower, cls.cid)))
                g_b, k, _ = cls.entries  # type: ignore[misc]
                lower = least_key(top_bound, g_b - asked, k, tight)
                insort(entries, (lower, cls.cid))
                cls.listed[asked] = (lower, top_bound)
            return best
        for g_b, k, cid in self.by_free:
            cls = by_cid[cid]
            if best is not None:
                lower = least_key(50, g_b, k, tight=True)
                if lower > best[0]:
                    break
                if (lower, cls.first()) > best[:2]:
                    continue
            if feasible(cls.rep, request, require):
                found = (key_of(cls.rep, request), cls.first(), cid)
                if best is None or found < best:
                    best = found
        return best
