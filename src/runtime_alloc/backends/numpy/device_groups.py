"""One runner shape of the device class heaps: scored dimensions, r-classes, tier heaps.

See :mod:`.device_classes` for the classes, the search over groups and why the
answers are exact; this module holds a group's arithmetic (the key and the
exact score of a class) and its heaps per device tier and free-cpu tier.
"""

from __future__ import annotations

from typing import Any

from runtime_alloc.backends.numpy.shape_groups import REL
from runtime_alloc.devices import DEVICE_MILLI

__all__ = ["CPU_TIERS", "NTIERS", "DeviceGroup", "device_tier", "first_tier"]

#: Tiers 0-9: no wholly free device, by largest free share // 100; 10 + k: k wholly free.
NTIERS = 27
_WHOLE = 10
#: Free-cpu tiers per device tier when the highest score wins (the fullest runners, which
#: often lack the cpu, are then skipped as whole heaps; one tier otherwise).
CPU_TIERS = 16


def device_tier(share: int, whole: int) -> int:
    """The tier of a runner whose largest free share is ``share``, with ``whole`` wholly free.

    Runtime complexity: O(1).
    """
    if whole > 0:
        return _WHOLE + min(whole, NTIERS - 1 - _WHOLE)
    return share // 100


def first_tier(milli: int) -> int:
    """The lowest tier that may hold a request of ``milli`` (a share or whole devices). O(1)."""
    if milli < DEVICE_MILLI:
        return milli // 100
    return _WHOLE + min(milli // DEVICE_MILLI, NTIERS - 1 - _WHOLE)


class DeviceGroup:
    """Runners of one shape: their scored dimensions and r-classes in tier heaps.

    See :mod:`.device_classes`.
    """

    __slots__ = (
        "caps",
        "coef",
        "count",
        "delta",
        "devices",
        "empty",
        "heaps",
        "inheap",
        "labels",
        "members",
        "nc",
        "scored",
        "shape",
        "step",
        "tails",
        "tier_at",
        "visits",
        "wsum",
        "wsumf",
    )

    def __init__(  # noqa: PLR0917 (one private call site)
        self,
        shape: tuple[Any, ...],
        nn: int,
        labels: frozenset[str],
        weights: list[int],
        tier_at: tuple[int, int, int],
        nc: int,
    ) -> None:
        #: (cap cpu, memory, slots, cap of each name, devices of each name)
        self.shape = shape
        self.labels = labels
        self.caps = caps = shape[: 3 + nn]
        self.devices = shape[3 + nn :]
        #: the device part of the feasibility limits, per requested amounts
        self.tails: dict[tuple[int, ...], tuple[int, ...]] = {}
        self.scored = tuple(
            (d, w, float(c)) for d, (w, c) in enumerate(zip(weights, caps, strict=True)) if c and w
        )
        self.wsum = sum(w for _d, w, _c in self.scored)
        self.wsumf = float(self.wsum) or 1.0  # (no scored dimension: every score is 0.0)
        self.delta = REL * (1.0 + 2.0 * self.wsum)
        #: ``w_d / c_d`` per dimension (0.0 where not scored): ``B(q) = sum_d q_d * coef_d``
        coef = [0.0] * (3 + nn)
        for d, w, cf in self.scored:
            coef[d] = w / cf
        self.coef = tuple(coef)
        #: where the tier's values sit: (share index, whole index) on devices, or
        #: (amount index, capacity) for a pooled amount
        self.tier_at = tier_at
        #: the class of an empty runner (for the whole-group feasibility test)
        self.empty = (0,) * (3 + nn) + tuple(
            x for n in self.devices for x in ((-DEVICE_MILLI, -n) if n else (0, 0))
        )
        #: cpu tiers (by free cpu) when the highest score wins, as in :mod:`.shape_classes`
        self.nc = nc
        self.step = max(1, -(-(shape[0] + 1) // nc))
        #: heap id (device tier * nc + cpu tier) -> heap of (sort key, class); made on first use
        self.heaps: dict[int, list[tuple[float, tuple[int, ...]]]] = {}
        #: (first device tier, first cpu tier) -> the heaps a request searches, in order
        self.visits: dict[tuple[int, int], list[list[tuple[float, tuple[int, ...]]]]] = {}
        self.count: dict[tuple[int, ...], int] = {}
        self.members: dict[tuple[int, ...], Any] = {}
        self.inheap: set[tuple[int, ...]] = set()

    def key(self, r: tuple[int, ...]) -> float:
        """``sum_d w_d*r_d/c_d`` in float, over the scored dimensions in order.

        Runtime complexity: O(scored dimensions).
        """
        total = 0.0
        for d, w, cf in self.scored:
            total += float(w * r[d]) / cf
        return total

    def score(self, r: tuple[int, ...], q: tuple[int, ...]) -> float:
        """The float score of class ``r`` for amounts ``q``, exactly as the python scan's.

        :func:`runtime_alloc.strategies.utilization_score`: the same float
        operations in the same order (lemma 1). O(dimensions).
        """
        total = 0.0
        for d, w, cf in self.scored:
            total += float(w * (r[d] + q[d])) / cf
        return total / self.wsumf if self.wsum else 0.0

    def heap_id(self, r: tuple[int, ...]) -> int:
        """The heap of class ``r``: device tier * cpu tiers + cpu tier.

        Runtime complexity: O(1).

        On a pooled amount the device tier is that of its free milli as devices.
        """
        at = self.tier_at
        if at[2]:  # devices: minus the largest free share, minus the wholly free
            tier = device_tier(-r[at[0]], -r[at[1]])
        else:
            free = at[1] - r[at[0]]
            tier = device_tier(min(free, DEVICE_MILLI), free // DEVICE_MILLI)
        cpu: int = min((self.shape[0] - r[0]) // self.step, self.nc - 1)
        return tier * self.nc + cpu

    def heap(self, r: tuple[int, ...]) -> list[tuple[float, tuple[int, ...]]]:
        """The heap of class ``r``, made (and the visit orders dropped) when new.

        Runtime complexity: O(1), plus clearing the cached visit orders when the heap is new.
        """
        i = self.heap_id(r)
        h = self.heaps.get(i)
        if h is None:
            h = self.heaps[i] = []
            self.visits.clear()
        return h

    def visit(self, t0: int, q0: int) -> list[list[tuple[float, tuple[int, ...]]]]:
        """The heaps that may hold a request in device tier ``t0`` or above with ``q0`` cpu.

        Runtime complexity: O(1) when the order is cached, else O(H log H) for H heaps.

        Those that hold only fitting device states and free cpu come first, the
        fullest first when the highest score wins and the emptiest first
        otherwise; the two tiers that may also hold runners that cannot take the
        request come last, so the window found in the others stops their popping.
        The order does not change the result: every candidate is scored exactly.
        """
        nc = self.nc
        c0 = min(q0 // self.step, nc - 1)
        found = self.visits.get((t0, c0))
        if found is None:
            ids = [i for i in self.heaps if i // nc >= t0 and i % nc >= c0]
            ids.sort(key=lambda i: (i // nc == t0 or i % nc == c0, i if nc > 1 else -i))
            found = self.visits[t0, c0] = [self.heaps[i] for i in ids]
        return found
