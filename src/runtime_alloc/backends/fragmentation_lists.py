"""The per-milli lists of :mod:`.fragmentation_index`: device classes' bounds and exact score.

:class:`DeviceLists` is the part of
:class:`~runtime_alloc.backends.fragmentation_index.FragmentationIndex` that keeps its
*device* classes (runners with devices of the strategy's kind) in the order a decision
scans them: by (g_b, k, cid) and, per device milli asked, by list bound; it computes the
bounds and scores a listed class with the strategy's very operations. The decision
itself (:meth:`FragmentationIndex.choose`) is in :mod:`.fragmentation_index`.

**The list bound.** With F_b the class's F before placement (unnormalised) and W the
weight sum, F after >= 0 gives gain <= F_b / W, so R <= Rub = ``rounded_score(-F_b / W)``
(float rounding is monotone, so this holds for the floats as computed); a request
without the kind cannot lower F (taking cpu or memory only makes shapes unhostable),
so there R <= 50; and no shape's frag_m falls by more than the milli placed (a device
that is small for m before stays small or grows out of use; a shape that cannot be
hosted keeps counting every free milli), so gain <= asked as well. Cheaper still: a
placement lowers frag_m by at most ``asked`` and only for a shape the runner cannot
host (whose weight W_nh is at most F_b / T, T its free device milli, since each counts
T in F_b) or whose milli exceeds the free milli of the device the share goes on (W_>f;
none for whole devices), so gain <= asked · (F_b / T + W_>f) / W (with a relative slack
of 1e-9 for float weights). The free device milli after placement is exactly
g_b - asked, and the capability k is the class's. Hence every key of a request asking
``asked`` on the class is at least the *list bound*: the ``plus_key``-shaped integer
with the largest of these R parts, g = g_b - asked, k, stranded 0 and cpu part 0 (whole
devices: ``(100 - R bound) << 46``). For each device milli asked the index keeps the
*list* of the classes such a request fits (the allocator's pick is kept per class and
milli: a class's state never changes), sorted by (list bound, cid): built on the first
request asking that milli in a generation (O(C log C), F before once per class and
generation), then kept while the shapes stay, a new class inserted and a gone one
removed (O(C) memmove each, at most 32 lists).

The lists and the bounds depend on the shapes: when the strategy relearns (its
``generation`` changes) the (g_b, k) list is rebuilt, O(C log C), and the per-milli lists
and bounds dropped, every K/10 decisions at most.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import TYPE_CHECKING, Any

from runtime_alloc.backends.fragmentation_classes import StateClass, least_key
from runtime_alloc.devices import pick
from runtime_alloc.resources import Resources
from runtime_alloc.strategies.fragmentation_formula import (
    DEVICE_MILLI,
    plus_key,
    top_of,
)

if TYPE_CHECKING:
    from runtime_alloc.strategies.fragmentation import FragmentationStrategy

__all__ = ["DeviceLists"]

#: the most per-milli lists kept at once
_LISTS = 32


class DeviceLists:
    """The device classes' lists, bounds and exact score of a :class:`FragmentationIndex`.

    A mixin: the attributes below are set by ``FragmentationIndex.__init__`` (see there).
    """

    strategy: FragmentationStrategy
    kind: str
    classes: dict[tuple[Any, ...], StateClass]
    _by_cid: dict[int, StateClass]
    by_free: list[tuple[int, int, int]]
    lists: dict[int, list[tuple[float, int]]]
    _generation: int
    _above: tuple[list[int], list[Any], Any]
    _alone: dict[int, Resources]
    _floors: dict[int, int]

    def _entries(self, cls: StateClass) -> tuple[int, int, int]:
        g_b = cls.free_milli
        if g_b < 0:
            used = cls.rep.devices[self.kind]
            g_b = cls.free_milli = len(used) * DEVICE_MILLI - sum(used)
        return (g_b, self.strategy.capable(cls.rep), cls.cid)

    def _list(self, cls: StateClass) -> None:
        cls.entries = self._entries(cls)
        insort(self.by_free, cls.entries)
        for asked, entries in self.lists.items():
            lower = self._lower(cls, asked)
            if lower is not None:
                insort(entries, (lower, cls.cid))

    def _relist(self) -> None:
        """Recompute every device class's entry (the shapes changed). O(C log C).

        The per-milli lists are dropped and rebuilt on first use (:meth:`_build`).
        """
        self._generation = self.strategy.generation
        shapes = sorted((s[2], s[4]) for s in self.strategy.shapes if s[2])
        suffix: list[Any] = [0] * (len(shapes) + 1)
        for i in range(len(shapes) - 1, -1, -1):
            suffix[i] = suffix[i + 1] + shapes[i][1]
        #: device shapes' milli ascending; W of the shapes from each index on; W
        self._above = ([m for m, _ in shapes], suffix, self.strategy._total or 1)  # noqa: SLF001
        free = []
        for cls in self.classes.values():
            if cls.device:
                cls.bounds.clear()
                cls.listed.clear()
                cls.fb = None
                cls.entries = self._entries(cls)
                free.append(cls.entries)
        self.by_free = sorted(free)
        self.lists = {}

    def _lower(self, cls: StateClass, asked: int) -> float | None:
        """A lower bound of the key of every request asking ``asked`` milli on ``cls``.

        None when no such request fits the class. Also kept in ``cls.listed``. R <= what F
        before allows (F after >= 0), R <= what ``asked`` allows (no frag_m falls by more
        than the milli placed), and the cheap bound of the module docstring (gain * W <=
        asked * (F_b / T + W of the shapes whose milli exceeds the chosen device's free
        milli)); the free milli after placement and k are exact. O(devices) the first
        time a milli is met for the class, O(|shapes| · devices) for F once a generation,
        else O(log |shapes|).
        """
        rep = cls.rep
        picks = cls.picks
        free = picks.get(asked)
        if free is None:
            used = rep.devices[self.kind]
            chosen = pick(used, asked)
            if chosen is None:
                free = -1
            else:
                free = DEVICE_MILLI - used[chosen[0][0]] if asked < DEVICE_MILLI else 0
                after = list(used)
                for index, milli in chosen:
                    after[index] += milli
                cls.afters[asked] = tuple(after)
            picks[asked] = free
        if free < 0:
            return None
        f_b = cls.fb
        if f_b is None:
            strategy = self.strategy
            f_b = cls.fb = strategy.f_of(rep)
            weight_sum = strategy._total  # noqa: SLF001 (the strategy's weight sum)
            cls.fb_top = top_of(-f_b / weight_sum) if weight_sum else 50
        # no shape's frag falls by more than the milli placed: gain <= asked too
        top = self._floors.get(asked)
        if top is None:
            top = self._floors[asked] = top_of(-asked - 0.001)  # (slack for float weights)
        top = max(top, cls.fb_top)
        above, weights, total = self._above
        g_b, k, _ = cls.entries  # type: ignore[misc]
        tight = asked < DEVICE_MILLI
        # gain * W <= asked * (W of shapes it cannot host + W of shapes whose milli
        # exceeds the device's free milli); the first is at most F_b / T
        hurt = weights[bisect_right(above, free)] if tight else 0
        gain = asked * (f_b / g_b + hurt) / total
        top = max(top, top_of(-(gain * (1 + 1e-9) + 1e-6)))
        lower = least_key(top, g_b - asked, k, tight)
        cls.listed[asked] = (lower, top)
        return lower

    def _build(self, asked: int) -> list[tuple[float, int]]:
        """The list of the device classes a request asking ``asked`` fits. O(C log C)."""
        lists = self.lists
        if len(lists) >= _LISTS:  # many distinct milli: start over, O(C)
            for cls in self._by_cid.values():
                cls.listed.clear()
            lists.clear()
        entries = []
        for g_b, _, cid in self.by_free:
            cls = self._by_cid[cid]
            if g_b >= asked:
                lower = self._lower(cls, asked)
                if lower is not None:
                    entries.append((lower, cid))
        entries.sort()
        lists[asked] = entries
        return entries

    def _score(self, cls: StateClass, request: Resources, asked: int) -> float:
        """The strategy's key of ``request`` (asking ``asked`` > 0) on a listed class.

        The very operations of :meth:`FragmentationStrategy.key` with what the class keeps
        (F before, the device use after the pick, g_b and k of this generation), so the
        same float. O(groups · log |shapes|) for F after (memoised by the strategy).
        """
        strategy = self.strategy
        rep = cls.rep
        weight_sum = strategy._total  # noqa: SLF001 (the strategy's weight sum)
        if not weight_sum:
            return strategy.key(rep, request)
        millicpu = request.millicpu
        after = strategy._f(  # noqa: SLF001 (its memoised F)
            cls.free_cpu - millicpu, cls.free_memory - request.memory_bytes, cls.afters[asked]
        )
        g_b, k, _ = cls.entries  # type: ignore[misc]
        return plus_key(
            top_of((after - cls.fb) / weight_sum),
            asked < DEVICE_MILLI,
            g_b - asked,
            len(cls.afters[asked]) * DEVICE_MILLI,
            cls.free_cpu - millicpu,
            rep.runner.capacity.millicpu,
            k,
        )

    def _top_of(self, cls: StateClass, asked: int) -> int:
        """A lower bound of 100 - R for every request asking ``asked`` milli of the kind.

        F after placing the devices alone is at most F after the request (cpu and memory
        taken too), so the R part of the strategy's key for ``asked`` milli and no cpu or
        memory bounds every such request's. Only for a listed class (a request asking
        ``asked`` fits it). O(groups · log |shapes|), F memoised.
        """
        alone = self._alone.get(asked)
        if alone is None:
            alone = self._alone[asked] = Resources(extended={self.kind: asked})
        return int(self._score(cls, alone, asked)) >> 46
