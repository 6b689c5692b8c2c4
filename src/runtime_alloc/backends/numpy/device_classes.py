"""Per-shape r-class heaps for device requests: the extended index's pure-Python fast path.

A request that asks a device kind (``gpu="500m"``, ``gpu=2``) can only land on
a runner declaring every requested extended name. :class:`DeviceClasses` holds
those runners grouped by *shape* (capacity of cpu, memory, slots and each
requested name, device count of each name, label set), as
:mod:`.shape_classes` does for cpu/memory requests, with the device state in
the class: a runner's *r-class* is the tuple

``(r_cpu, r_memory, r_slots, r_1 .. r_n, -share_1, -whole_1 .. -share_n, -whole_n)``

of its reserved amounts (each requested name's pooled reserved amount) and,
per requested device kind, minus its largest free device share and minus its
wholly free devices (0 for a runner without devices of the kind, whose pooled
amount decides). A request is then feasible on a class iff every entry is at
most a bound computed once per group and request
(:meth:`DeviceClasses._limits`): ``capacity - request`` for amounts, ``-q`` for
a share ``q`` and ``-k`` for ``k`` whole devices, exactly
:meth:`.NumpyBackend.feasible` (:class:`.devices.DeviceColumns`).

Inside a group every runner has the same scored dimensions (cpu, memory,
slots where weighted, then each requested name in the request's order), so the
real-valued score is ``(K(r) + B(q)) / W`` with ``K(r) = sum_d w_d*r_d/c_d``:
the ranking inside a group does not depend on the request (lemma 5 of
:mod:`runtime_alloc.backends.numpy`, and its window argument, which holds for
any number of scored dimensions up to a few hundred). Each group keeps its
classes in heaps by key ``k ~ K(r)`` (``-k`` when the highest score wins), one
heap per *device tier* of the first requested device kind: ``share // 100``
for runners without a wholly free device (tiers 0-9), ``10 + wholly free``
(at most 26) for the others; a runner without devices of the kind counts its
free pooled milli as devices. A share ``q`` skips the tiers below ``q // 100``,
``k`` whole devices those below ``10 + k``, so the full runners that
MaxPacking prefers and that cannot take the request are never popped. When the
highest score wins, each device tier is split again by free cpu into
:data:`.device_groups.CPU_TIERS` heaps (as the class index does), and a request skips those
with too little free cpu.

A decision takes, per group, every feasible class whose key lies within the
window ``delta`` of the best feasible key (the search of
:meth:`.ClassIndex.choose`: infeasible heap roots are popped and pushed back,
the rest of a feasible root's window read in place), scores them exactly as
the python scan does (lemma 1) and keeps the best (score, then registration
order: lemma 2) over all groups; a group whose score bound (its least key over
the tiers searched, with the relative margin of :mod:`.shape_classes`) cannot
reach the best score found is skipped.

Upkeep: :meth:`DeviceClasses.set` moves a runner between classes, O(log n);
the extended index re-reads the rows changed since the last device request
(:meth:`DeviceClasses.touch`), from the backend's pending column writes where
the class index keeps them back, so a device request never writes the columns.
Runtime complexity per decision: O(groups * heaps searched) heap peeks plus
O(p log n) for the p classes popped; O(N) to build (:mod:`.device_build`: numpy
gathers, then one Python pass over the rows).
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from operator import le, mul, sub
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy.device_build import build_classes
from runtime_alloc.backends.numpy.device_groups import (
    DeviceGroup,
    first_tier,
)
from runtime_alloc.backends.numpy.shape_groups import (
    DOWN,
    INF,
    MASK,
    UP,
    best_member,
    join_members,
)
from runtime_alloc.devices import DEVICE_MILLI
from runtime_alloc.labels import any_labels

if TYPE_CHECKING:
    from collections.abc import Iterable

    from runtime_alloc.backends.numpy.backend import NumpyBackend
    from runtime_alloc.resources import Resources

__all__ = ["MAX_GROUPS", "DeviceClasses"]

#: The most shapes a fast index holds (beyond, the chunks of :mod:`.extended_chunks` answer).
#: Measured (40,000 runners, a quarter with GPUs, CPU time per device allocate): with 10,
#: 100, 200 and 400 GPU shapes the heaps took 48-58, 100-119, 169 and 334-392 µs, the
#: chunks 185-201, 343-356, 307 and 347-379 µs; the heaps' per-shape pass grows with them.
MAX_GROUPS = 256
#: The most device limit tuples cached per group (distinct requested amounts).
_MAX_TAILS = 4096
#: Stands for "no bound" in a feasibility limit.
_NO_LIMIT = 1 << 62


class DeviceClasses:
    """The runners declaring ``names`` in per-shape r-class tier heaps (see the module docstring).

    Args:
        backend: the numpy backend (its table must be in sync).
        names: the requested extended names, in the request's order; one of
            them (the first such) must be a device kind of the table.
    """

    def __init__(self, backend: NumpyBackend, names: tuple[str, ...]) -> None:
        t = backend.table
        self.backend = backend
        self.names = names
        self.maximize = backend.maximize
        nn = len(names)
        self.nn = nn
        #: the positions in ``names`` of the device kinds, and the first (the heaps' tiers)
        self.device_names = [i for i, x in enumerate(names) if x in t.devices.share]
        self.kind = self.device_names[0]
        self.weights = [*backend.weights, *(backend.spec.weight(x) for x in names)]
        self.groups: dict[tuple[Any, ...], DeviceGroup] = {}
        self.group_of: dict[int, DeviceGroup] = {}
        self.rclass_of: dict[int, tuple[int, ...] | None] = {}
        self.member_of: dict[int, int] = {}
        self._by_require: dict[frozenset[str], list[DeviceGroup]] = {}
        self.too_many = False
        backend.sync()  # the columns are read whole here
        rows = np.flatnonzero(t.extended[names[0]][0][: t.nrows] > 0)
        build_classes(self, rows, MAX_GROUPS)  # MAX_GROUPS read at each build

    def read(self, row: int) -> tuple[int, ...] | None:
        """Row ``row``'s class (None when draining). O(names).

        The reserved amounts come from the backend's changes not yet written to
        the columns (the class index writes them lazily) or else the columns;
        the device columns are always current.
        """
        t = self.backend.table
        names = self.names
        pending = self.backend._dirty.get(row)  # noqa: SLF001 (the package's own lazy writes)
        if pending is None:
            if t.draining.item(row):
                return None
            reserved = t.reserved
            r = [reserved[0].item(row), reserved[1].item(row), reserved[2].item(row)]
            extended = t.extended
            r += [extended[x][1].item(row) for x in names]
        else:
            amounts, ext, draining = pending
            if draining:
                return None
            r = list(amounts)
            r += [ext.get(x, 0) for x in names] if ext else [0] * len(names)
        share, whole = t.devices.share, t.devices.whole
        for x in names:
            s = share.get(x)
            v = -1 if s is None else s.item(row)
            if v < 0:
                r += (0, 0)  # no devices of the kind: the pooled amount decides
            else:
                r += (-v, -whole[x].item(row))
        return tuple(r)

    def touch(self, rows: Iterable[int]) -> None:
        """Re-read ``rows`` (indexed here or not). O(log n) per indexed row."""
        group_of = self.group_of
        for row in rows:
            if row in group_of:
                self.set(row, self.read(row))

    def set(self, row: int, r: tuple[int, ...] | None) -> None:
        """Move the runner in ``row`` to class ``r`` (None: not usable). O(log n)."""
        rclass_of = self.rclass_of
        old = rclass_of[row]
        g = self.group_of[row]
        count = g.count
        if old is not None:
            if old == r:
                return
            n = count[old] - 1
            if n:
                count[old] = n
            else:
                del count[old]  # its heap entry dies lazily
                del g.members[old]
        if r is None:
            rclass_of[row] = None
            return
        member = self.member_of[row]
        n = count.get(r, 0)
        if n == 0:
            count[r] = 1
            g.members[r] = member
            if r not in g.inheap:
                key = g.key(r)
                heappush(g.heap(r), (-key if self.maximize else key, r))
                g.inheap.add(r)
                if len(g.inheap) > 2 * len(count) + 64:
                    self._compact(g)
        else:
            count[r] = n + 1
            m = g.members[r]
            if type(m) is int:
                g.members[r] = [m, member] if m < member else [member, m]
            else:
                join_members(m, member, n, r, row, rclass_of)
        rclass_of[row] = r

    @staticmethod
    def _compact(g: DeviceGroup) -> None:
        count = g.count
        for tier in g.heaps.values():
            tier[:] = [e for e in tier if e[1] in count]
            heapify(tier)
        g.inheap = set(count)

    # ------------------------------------------------------------------ search

    def _groups_for(self, require: frozenset[str]) -> list[DeviceGroup]:
        groups = self._by_require.get(require)
        if groups is None:
            any_of = any_labels(require)
            groups = [
                g
                for g in self.groups.values()
                if require <= g.labels and (not any_of or not any_of.isdisjoint(g.labels))
            ]
            self._by_require[require] = groups
        return groups

    def _limits(self, g: DeviceGroup, q: tuple[int, ...]) -> tuple[int, ...]:
        """The bound of each class entry under which ``q`` fits (see the module docstring)."""
        amounts = tuple(map(sub, g.caps, q))
        tail = g.tails.get(q[3:])
        if tail is None:
            limits: list[int] = []
            for milli, devices in zip(q[3:], g.devices, strict=True):
                if not devices:
                    limits += (_NO_LIMIT, _NO_LIMIT)
                elif milli <= DEVICE_MILLI:
                    limits += (-milli, _NO_LIMIT)
                else:
                    limits += (_NO_LIMIT, -(milli // DEVICE_MILLI))
            if len(g.tails) > _MAX_TAILS:
                g.tails.clear()
            tail = g.tails[q[3:]] = tuple(limits)
        return amounts + tail

    def choose(self, request: Resources, require: frozenset[str]) -> int | None:
        """Return the row the python scan picks for ``request`` (-1 for none).

        ``request`` must ask exactly :attr:`names`; None when it asks a device
        kind neither a share of one device nor whole devices (the ledger refuses
        such a request before any backend sees it). Runtime complexity: see the
        module docstring.
        """
        ext = request.extended
        q = (request.millicpu, request.memory_bytes, request.slots, *(ext[x] for x in self.names))
        for j in self.device_names:
            milli = q[3 + j]
            if milli > DEVICE_MILLI and milli % DEVICE_MILLI:
                return None
        t0 = first_tier(q[3 + self.kind])
        maximize = self.maximize
        rclass_of = self.rclass_of
        best_f = 0.0
        best = -1
        order: list[tuple[float, int, DeviceGroup, list[Any]]] = []
        q0 = q[0]
        for g in self._groups_for(require):
            nc = g.nc
            visit = g.visits.get((t0, 0 if nc == 1 else min(q0 // g.step, nc - 1)))
            if visit is None:
                visit = g.visit(t0, q0)
            low = INF  # the least key in the heaps searched (heap roots, dead or alive)
            for h in visit:
                if h and h[0][0] < low:
                    low = h[0][0]
            if low == INF:
                continue
            # (k + B(q)) / W: a bound of the real score of every runner searched
            bound = ((-low if maximize else low) + sum(map(mul, q, g.coef))) / g.wsumf
            order.append((bound, len(order), g, visit))
        if len(order) > 1:
            order.sort(reverse=maximize)  # (the unique second item keeps groups apart)
        for bound, _, g, visit in order:
            if best >= 0 and (bound * UP < best_f if maximize else bound * DOWN > best_f):
                break  # no runner of this group or the next can win, even on a tie
            u = self._limits(g, q)
            if not all(map(le, g.empty, u)):
                continue  # not even an empty runner of this shape holds q
            count = g.count
            delta = g.delta
            limit = INF
            cands: list[tuple[int, ...]] = []
            for h in visit:
                if not h:
                    continue
                while h[0][1] not in count:
                    g.inheap.discard(heappop(h)[1])
                    if not h:
                        break
                else:
                    sk, r = h[0]
                    if sk > limit:
                        continue
                    if all(map(le, r, u)):
                        cands.append(r)
                        if sk + delta < limit:  # noqa: PLR1730 (hot path)
                            limit = sk + delta
                        n = len(h)
                        stack = [1, 2]
                        while stack:
                            j = stack.pop()
                            if j < n and h[j][0] <= limit:
                                r = h[j][1]
                                if r in count and all(map(le, r, u)):
                                    cands.append(r)
                                stack.append(2 * j + 1)
                                stack.append(2 * j + 2)
                    else:
                        popped = []
                        while h:
                            e = h[0]
                            r = e[1]
                            if r not in count:
                                g.inheap.discard(heappop(h)[1])
                                continue
                            if e[0] > limit:
                                break
                            popped.append(heappop(h))
                            if all(map(le, r, u)):
                                cands.append(r)
                                if e[0] + delta < limit:  # noqa: PLR1730 (hot path)
                                    limit = e[0] + delta
                        for e in popped:
                            heappush(h, e)
            best_f, best = best_member(
                cands, g.score, q, g.members, rclass_of, maximize, best_f, best
            )
        return -1 if best < 0 else best & MASK

    def check(self) -> None:
        """Assert that the classes equal ones built afresh from the columns (tests). O(N)."""
        fresh = DeviceClasses(self.backend, self.names)
        assert fresh.rclass_of == self.rclass_of, self.names  # noqa: S101
        assert set(fresh.group_of) == set(self.group_of)  # noqa: S101
        for key, g in self.groups.items():
            assert fresh.groups[key].count == g.count, key  # noqa: S101
            for r in g.count:
                assert any(e[1] == r for e in g.heaps[g.heap_id(r)]), r  # noqa: S101
