"""The fragmentation formula, in one place: F, the typical shapes, and the ``plus`` score key.

Used by :class:`~runtime_alloc.strategies.FragmentationStrategy` (the library) and by
the fill experiment (:mod:`runtime_alloc.simulation.fill_fragmentation`,
:mod:`runtime_alloc.simulation.typical_pods`), so both measure the same thing.

**F** (FGD, Weng et al., USENIX ATC'23). A *shape* m is ``(millicpu, memory, milli per
device, device count, weight)``. For a runner with free cpu c, free memory b and free milli
f_d per device d::

    frag_m = Σ f_d over devices with f_d < milli_m   if the runner can host m
           = Σ f_d over all devices                   otherwise (and for a cpu-only m)
    F      = Σ_m w_m · frag_m                          (unnormalised; / W = Σ w_m for p_m)

"can host m": c >= cpu_m, b >= memory_m and at least count_m devices have f_d >= milli_m.

**Typical shapes** (:func:`take_typical`): shapes by decreasing count (ties: the larger
key first), ten at a time, until they cover ``popularity`` of the requests (FGD's rule);
with ``multi_gpu``, every shape asking two devices or more is added whatever its count.

**The plus key** (:func:`plus_key`, lowest wins; :func:`top_of` gives its R part), for a
request on a runner:

* R = ``floor(100 · sigmoid(gain / 1000))``, gain = (F before - F after) / W: FGD's
  rounded score (0..100, highest best);
* for a share of one device or a request without devices ("tight" requests), ties on R
  go to the runner left with the least free device milli g (capped at 2**17 - 1), then the
  least capable (k = how many of the device shapes the runner could host when empty, at
  most 127: a node that alone can hold a rare 8-GPU shape is kept for it), then the least
  stranded (s = ``round(100 · max(0, g / G - c' / C))``, G the runner's device milli, c'
  its cpu left, C its cpu capacity), then the least cpu left
  (``floor(2**15 · c' / (c' + 2**17))``);
* for whole devices, ties go to the first runner (FGD's rule).

The key is the integer ``((((100 - R)·2**17 + g)·2**7 + k)·2**7 + s)·2**15 + cpu part``
(whole devices: ``(100 - R)·2**46``), below 2**53 so exact as a float: equal keys tie
exactly and every backend compares the same numbers.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = [
    "DEVICE_MILLI",
    "Shape",
    "ShapeTable",
    "capability",
    "fragmentation",
    "plus_key",
    "plus_shapes",
    "rounded_score",
    "take_typical",
    "top_of",
]

DEVICE_MILLI = 1000
#: FGD's step: typical shapes are taken ten at a time.
STEP = 10
_G_CAP = (1 << 17) - 1
_CPU_SCALE = 1 << 17
_K_CAP = 127
_MEMO_LIMIT = 1 << 16

#: Device-use memos of :class:`ShapeTable` kept, one per group signature.
_SIGNATURES = 16
_BY_USE: dict[tuple[tuple[int, int], ...], dict[tuple[int, ...], Any]] = {}

#: ``(millicpu, memory, milli per device, device count, weight)``.
Shape = tuple[int, int, int, int, Any]
K = TypeVar("K")


def take_typical(
    ranked: Sequence[tuple[K, int]],
    popularity: float,
    multi_gpu: Callable[[K], bool] | None = None,
) -> list[tuple[K, int]]:
    """The typical shapes of ``ranked`` ((shape, count) by decreasing count).

    Ten at a time until they cover ``popularity`` of the total count; then, when
    ``multi_gpu`` is given, every further shape for which it is true.
    Runtime complexity: O(len(ranked)).

    >>> take_typical([("a", 8), ("b", 1), ("c", 1)], 0.5)
    [('a', 8), ('b', 1), ('c', 1)]
    """
    total = sum(n for _, n in ranked)
    taken = covered = 0
    while covered < popularity * total and taken < len(ranked):
        block = ranked[taken : taken + STEP]
        covered += sum(n for _, n in block)
        taken += len(block)
    chosen = list(ranked[:taken])
    if multi_gpu is not None:
        chosen += [(shape, n) for shape, n in ranked[taken:] if multi_gpu(shape)]
    return chosen


def plus_shapes(counts: Mapping[tuple[int, int, int, int], int], popularity: float) -> list[Any]:
    """The plus method's learned shapes from request counts by (cpu, memory, milli, count).

    Groups by (cpu, milli, count), each with the lower median of its memory, ranked by
    count (ties: the larger key first); :func:`take_typical` with every group asking two
    devices or more. Runtime complexity: O(K log K) for K remembered requests.

    >>> plus_shapes({(1000, 5, 500, 1): 3, (1000, 9, 500, 1): 2, (8000, 0, 1000, 8): 1}, 0.5)
    [(1000, 5, 500, 1, 5), (8000, 0, 1000, 8, 1)]
    """
    groups: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for (cpu, memory, milli, count), n in counts.items():
        groups.setdefault((cpu, milli, count), []).append((memory, n))
    sized = [(key, sum(n for _, n in group)) for key, group in groups.items()]
    ranked = sorted(sized, key=lambda item: (item[1], item[0]), reverse=True)
    out = []
    for (cpu, milli, count), n in take_typical(ranked, popularity, lambda k: k[2] >= 2):
        memories = sorted(groups[cpu, milli, count])
        seen = median = 0
        for memory, m in memories:  # the lower median: the ((n - 1) // 2)-th memory
            seen += m
            if seen > (n - 1) // 2:
                median = memory
                break
        out.append((cpu, median, milli, count, n))
    return out


def fragmentation(
    cpu_free: int, memory_free: int, used: Sequence[int], shapes: Sequence[Shape]
) -> Any:  # noqa: ANN401 (an int with int weights, else a float)
    """Σ_m w_m · frag_m of a runner (see the module docstring), unnormalised.

    Args:
        cpu_free: free millicpu.
        memory_free: free memory.
        used: milli used per device.
        shapes: ``(millicpu, memory, milli, count, weight)`` per shape.

    Runtime complexity: O(|shapes| · devices).

    >>> fragmentation(0, 0, (300, 0), ((0, 0, 500, 1, 1), (0, 0, 1000, 1, 1)))
    700
    """
    free = [DEVICE_MILLI - u for u in used]
    total = sum(free)
    out: Any = 0
    for cpu, memory, milli, count, weight in shapes:
        amount = total
        if milli and cpu_free >= cpu and memory_free >= memory:
            big = 0
            small = 0
            for f in free:
                if f >= milli:
                    big += 1
                else:
                    small += f
            if big >= count:
                amount = small
        out += weight * amount
    return out


class ShapeTable:
    """F by thresholds, for integer weights: equal to :func:`fragmentation`, exactly.

    With T the runner's free milli, F = W·T - Σ_g [big_g >= count_g] · S_g(c, b) ·
    (T - small_g) over the groups g of device shapes with one (milli, count), where
    S_g(c, b) = Σ w_m over the shapes of g with cpu_m <= c and memory_m <= b (a cpu-only
    shape always counts T). S_g depends on c and b only through i, the number of the
    group's cpu thresholds <= c, and j, the number of its memory thresholds <= b: it is
    a prefix sum over i of the row of j, built on first use. Integer arithmetic
    throughout, hence the very value of :func:`fragmentation`.

    The device part (T, and T - small_g for the groups whose count fits) is memoised per
    device use, shared by the tables with the same groups. Runtime complexity: O(groups ·
    log |shapes|) per call, plus O(distinct milli · devices) the first time a device use
    is met and O(|group|) the first time a memory rank is.

    >>> shapes = ((0, 0, 500, 1, 1), (0, 0, 1000, 1, 1))
    >>> ShapeTable(shapes)(0, 0, (300, 0)) == fragmentation(0, 0, (300, 0), shapes) == 700
    True
    """

    def __init__(self, shapes: Sequence[Shape]) -> None:
        self.weight = sum(s[4] for s in shapes)
        groups: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for cpu, memory, milli, count, weight in shapes:
            if milli:
                groups.setdefault((milli, count), []).append((cpu, memory, weight))
        self.millis = sorted({milli for milli, _ in groups})
        self.groups: list[tuple[int, int, list[int], list[int], list[tuple[int, int, int]]]] = []
        for (milli, count), rows in sorted(groups.items()):
            cpus = sorted({c for c, _, _ in rows})
            mems = sorted({b for _, b, _ in rows})
            ranked = [(bisect_right(cpus, c), bisect_right(mems, b), w) for c, b, w in rows]
            self.groups.append((milli, count, cpus, mems, ranked))
        #: (group, memory rank) -> prefix sums of the weights over cpu ranks
        self.rows: dict[tuple[int, int], list[int]] = {}
        #: device use -> (free milli T, (group, T - small_g) for the groups it can host);
        #: a function of the groups' (milli, count) alone, so shared by the tables that
        #: have the same (a learned workload's tables, whose weights change, mostly do)
        signature = tuple((milli, count) for milli, count, _, _, _ in self.groups)
        if signature not in _BY_USE and len(_BY_USE) >= _SIGNATURES:
            _BY_USE.clear()
        self.by_use: dict[tuple[int, ...], tuple[int, list[tuple[int, int]]]] = _BY_USE.setdefault(
            signature, {}
        )

    def _row(self, gid: int, j: int) -> list[int]:
        _, _, cpus, _, ranked = self.groups[gid]
        acc = [0] * (len(cpus) + 1)
        for ci, mj, w in ranked:  # ci, mj: 1-based ranks of the shape's cpu and memory
            if mj <= j:
                acc[ci] += w
        for i in range(1, len(acc)):
            acc[i] += acc[i - 1]
        self.rows[gid, j] = acc
        return acc

    def _devices(self, used: tuple[int, ...]) -> tuple[int, list[tuple[int, int]]]:
        """T and (group, T - small_g) of the groups whose count fits ``used``. O(groups · D)."""
        free = [DEVICE_MILLI - u for u in used]
        total = sum(free)
        stats = {}
        for milli in self.millis:
            big = small = 0
            for f in free:
                if f >= milli:
                    big += 1
                else:
                    small += f
            stats[milli] = (big, small)
        active = []
        for gid, (milli, count, _, _, _) in enumerate(self.groups):
            big, small = stats[milli]
            if big >= count and total > small:
                active.append((gid, total - small))
        if len(self.by_use) >= _MEMO_LIMIT:
            self.by_use.clear()
        entry = self.by_use[used] = (total, active)
        return entry

    def __call__(self, cpu_free: int, memory_free: int, used: tuple[int, ...]) -> int:
        """F of a runner (see the class docstring)."""
        entry = self.by_use.get(used)
        total, active = entry if entry is not None else self._devices(used)
        out: int = self.weight * total
        rows, groups = self.rows, self.groups
        for gid, rest in active:
            _, _, cpus, mems, _ = groups[gid]
            j = bisect_right(mems, memory_free)
            row = rows.get((gid, j))
            if row is None:
                row = self._row(gid, j)
            out -= row[bisect_right(cpus, cpu_free)] * rest
        return out


def capability(cpu: int, memory: int, devices: int, shapes: Sequence[Shape]) -> int:
    """How many device shapes an empty runner of this capacity could host (at most 127).

    Runtime complexity: O(|shapes|).

    >>> capability(8000, 0, 1, ((4000, 0, 500, 1, 3), (4000, 0, 1000, 2, 1), (1000, 0, 0, 0, 5)))
    1
    """
    hosted = sum(
        1
        for c, b, milli, count, _ in shapes
        if milli and cpu >= c and memory >= b and devices >= count
    )
    return min(hosted, _K_CAP)


def rounded_score(delta: float) -> float:
    """FGD's ``floor(100 · sigmoid(-delta / 1000))`` for delta = ΔF / W (0.0 to 100.0). O(1).

    >>> rounded_score(0.0), rounded_score(350.0), rounded_score(-300.0)
    (50.0, 41.0, 57.0)
    """
    x = delta / 1000.0
    return 0.0 if x > 700.0 else float(math.floor(100.0 / (1.0 + math.exp(x))))


def top_of(delta: float) -> int:
    """The plus key's R part, 100 - R, for delta = (F after - F before) / W. O(1).

    >>> top_of(0.0), top_of(-300.0)
    (50, 43)
    """
    return 100 - int(rounded_score(delta))


def plus_key(  # noqa: PLR0917 (the quantities of one decision)
    top: int,
    tight: bool,
    free_after: int,
    device_milli: int,
    cpu_left: int,
    cpu_capacity: int,
    capable: int,
) -> float:
    """The plus key (lowest wins) of a placement, see the module docstring. O(1).

    Every part but ``top`` is known without F, so a bound on R gives a bound on the key
    (the class index's pruning).

    Args:
        top: 100 - R (:func:`top_of`).
        tight: the request asks a share of one device or no device.
        free_after: the runner's free device milli after placement (0 without devices).
        device_milli: the runner's device milli (0 without devices).
        cpu_left: the runner's free millicpu after placement.
        cpu_capacity: the runner's millicpu.
        capable: the capability k, 0 to 127.

    >>> plus_key(50, False, 0, 0, 0, 0, 0) == 50 * 2**46
    True
    """
    if not tight:
        return float(top << 46)
    g = min(_G_CAP, free_after)
    stranded = 0
    if device_milli:
        share = free_after / device_milli - (cpu_left / cpu_capacity if cpu_capacity else 0.0)
        stranded = round(100.0 * share) if share > 0.0 else 0
    left = max(0, cpu_left)
    cpu_part = (left << 15) // (left + _CPU_SCALE)
    key = (top << 17) + g
    key = (key << 7) + capable
    key = (key << 7) + stranded
    return float((key << 15) + cpu_part)
