"""Exact per-capacity-class index: the numpy backend's search for fleets of few runner shapes.

Runners are grouped by *shape* (capacity of cpu, memory and slots, and label
set); within a group every runner has the same scored dimensions ``d`` with
weights ``w_d``, capacities ``c_d`` and weight sum ``W``, so the real-valued
score of a runner with reserved amounts ``r`` for a request ``q`` is
``(K(r) + B(q)) / W`` with ``K(r) = sum_d w_d*r_d/c_d`` and
``B(q) = sum_d w_d*q_d/c_d``: the ranking inside a group does not depend on the
request. Runners with equal reserved amounts form one *r-class* (same
feasibility, same float score, ties to the oldest member), and each group keeps
its r-classes in binary heaps ordered by a float key ``k ~ K(r)`` (``-k`` when
the highest score wins). Heaps are split into *tiers* by free cpu when the
highest score wins, so the fullest runners, which usually cannot take the
request, are skipped as whole tiers; tiers are summarized in chunks by a lower
bound of their keys, and whole groups are skipped by a bound of their scores
(:meth:`ClassIndex._bounds`).

A decision takes, per group, every feasible r-class whose key lies within
``delta`` of the best feasible key, computes their float scores exactly as
:func:`runtime_alloc._placement.choose` does, and keeps the best (score, then
registration order) over all groups. When the lowest score wins, the usual
decision is settled before that walk (:meth:`ClassIndex.choose`): the group of
the least score bound has a live, feasible heap root with no other entry in its
window (both children's keys lie beyond ``delta``, so by the heap order every
other entry does), and no other group's bound reaches the root's float score
(within the margin of :meth:`ClassIndex._bounds`, so no other group holds a
winner); the walk would pick that root's class too. Otherwise the walk decides.

Why the window is conservative: with ``u = 2**-53``, every float operation
rounds with relative error at most ``u``; ``k`` sums at most three non-negative
rounded quotients, so ``|k - K| <= 4u*K``, and the float score ``f`` satisfies
``|W*f - (K + B)| <= 7u*(K + B)``. Both ``K`` and ``B`` are at most ``W``
(utilization at most 1 per dimension; ``W <= 3000``). If ``k_j > k_i + delta``
with ``delta = 1e-10 * (1 + 2W)`` then ``K_j - K_i > delta - 8u*W > delta/2``,
while the float scores can move by at most ``14u*2W/W`` around the real ones;
since ``delta/2`` exceeds that by orders of magnitude, ``f_j > f_i``: ``j``
loses to ``i`` even on a tie break (mirrored when the highest score wins).
Runners outside the window therefore cannot win, and inside it the exact
comparison decides. tests/backends/numpy/test_backend.py holds a fleet of float
near-ties on which a zero window picks wrong runners.

Runtime complexity per decision: O(groups) for the shape bounds, then per shape
visited O(tiers) heap peeks plus O(p log n) for the p r-classes popped
(infeasible ones above the best and those in the window); O(groups) when the
root settles it (lowest score wins); per update O(log n).
"""

from __future__ import annotations

from collections.abc import Iterable
from heapq import heapify, heappop, heappush, heapreplace
from itertools import repeat
from operator import itemgetter
from typing import Any

from runtime_alloc.backends.numpy.checks import check_classes
from runtime_alloc.backends.numpy.shape_groups import (
    CHUNK_BITS,
    DOWN,
    INF,
    MASK,
    TIERS,
    UP,
    ShapeGroup,
    best_member,
    compact,
    join_members,
    push,
)

__all__ = ["ClassIndex"]

#: the score bound of an item of :meth:`ClassIndex._bounds` (its sort key)
_BOUND = itemgetter(0)


class ClassIndex:
    """R-classes of runner shapes, kept in step with the table's rows.

    Args:
        weights: builtin weights ``(w_cpu, w_memory, w_slots)``.
        maximize: True when the highest score wins.
        max_groups: the most shapes indexed; ``add`` refuses a new shape beyond.
    """

    def __init__(self, weights: tuple[int, int, int], *, maximize: bool, max_groups: int) -> None:
        self.w = weights
        self.maximize = maximize
        self.max_groups = max_groups
        self._ntiers = TIERS if maximize else 1
        self.groups: dict[tuple[tuple[int, int, int], frozenset[str]], ShapeGroup] = {}
        self.group_of: list[ShapeGroup | None] = []
        #: the reserved tuple (r-class) of each row's runner; None when not usable
        self.rclass_of: list[tuple[int, int, int] | None] = []
        self._by_require: dict[frozenset[str], list[tuple[Any, ...]]] = {}

    # ------------------------------------------------------------------ upkeep

    def can_add(self, shapes: Iterable[tuple[tuple[int, int, int], frozenset[str]]]) -> bool:
        """Return True when the index can hold these shapes as well. O(len(shapes))."""
        new = {s for s in shapes if s not in self.groups}
        return len(self.groups) + len(new) <= self.max_groups

    def add_many(
        self,
        keys: Iterable[int],
        shapes: Iterable[tuple[tuple[int, int, int], frozenset[str]]],
        reserved: Iterable[tuple[int, int, int]],
        usable: Iterable[bool],
        *,
        rows: int | None = None,
    ) -> None:
        """Index new runners (shapes must fit, see :meth:`can_add`). O(n log n).

        The four iterables run in step; they may be generators (a build of a
        large fleet then makes no list per argument).

        Args:
            keys: each runner's member ``seq << SHIFT | row`` (the table's ``key_of``).
            shapes: each runner's (capacity, labels).
            reserved: each runner's reserved (cpu, memory, slots).
            usable: False for a draining runner.
            rows: more than the highest row of ``keys`` (the table's row count);
                None reads it from ``keys`` (then made a list).
        """
        if rows is None:
            keys = list(keys)
            if not keys:
                return
            rows = max(k & MASK for k in keys) + 1
        grow = rows - len(self.group_of)
        if grow > 0:  # no temporary list of Nones
            self.group_of.extend(repeat(None, grow))
            self.rclass_of.extend(repeat(None, grow))
        # built in place, no list per r-class (a restored fleet has about one r-class
        # per runner); the heaps of r-classes given members here are heapified once
        heaps: dict[int, list[int]] = {}
        groups, group_of, rclass_of = self.groups, self.group_of, self.rclass_of
        for member, shape, r, ok in zip(keys, shapes, reserved, usable, strict=True):
            row = member & MASK
            g = groups.get(shape)
            if g is None:
                g = ShapeGroup(shape[0], shape[1], self.w, self._ntiers)
                groups[shape] = g
                self._by_require.clear()
            group_of[row] = g
            if not ok:
                rclass_of[row] = None
                continue
            rclass_of[row] = r
            members = g.members
            old = members.get(r)
            if old is None:
                members[r] = member
                push(g, r, self._ntiers, maximize=self.maximize)
            elif type(old) is int:
                heap = members[r] = [old, member]
                g.count[r] = 2
                heaps[id(heap)] = heap
            else:
                old.append(member)
                g.count[r] += 1
                heaps[id(old)] = old
        for heap in heaps.values():
            heapify(heap)
        for g in groups.values():
            if g.entries > 2 * len(g.members) + 64:
                compact(g)

    def remove(self, member: int) -> None:
        """Forget the runner ``member`` (its ``seq << SHIFT | row``). O(1)."""
        self.set(member, (0, 0, 0), False)  # noqa: FBT003
        self.group_of[member & MASK] = None

    def set(self, member: int, r: tuple[int, int, int], usable: bool) -> None:
        """Move runner ``member`` (``seq << SHIFT | row``) to the r-class of ``r``. O(log n).

        A runner that is not ``usable`` (draining) leaves every r-class. A new class
        reuses its own dead entry at its tier's root (a duplicate of the best class
        would lie in every search window) or replaces the one of the class that died.
        """
        row = member & MASK
        rclass_of = self.rclass_of
        old = rclass_of[row]
        g = self.group_of[row]
        assert g is not None  # noqa: S101
        members = g.members
        gone = None  # the class that dies here, if any
        if old is not None:
            if usable and old == r:
                return
            m = members[old]
            if type(m) is int:
                del members[old]  # its heap entry dies lazily
                gone = old
            else:
                count = g.count
                n = count[old] - 1
                if n:
                    count[old] = n
                else:
                    del count[old], members[old]
                    gone = old
        if not usable:
            rclass_of[row] = None
            return
        m = members.get(r)
        if m is None:  # a new r-class: _push(g, r) inlined (a call costs on this hot path)
            members[r] = member
            tier = (g.cap[0] - r[0]) // g.step
            if tier >= self._ntiers:
                tier = self._ntiers - 1
            h = g.tiers[tier]
            root = h[0][1] if h else None
            if root == r:
                rclass_of[row] = r  # back while its old entry is the root: that entry serves
                return
            kw = g.kw
            if kw is None:
                key = g.key(r)
            else:  # ShapeGroup.key unrolled: the same floats
                w0, c0, w1, c1, w2, c2 = kw
                key = float(w0 * r[0]) / c0 + float(w1 * r[1]) / c1 + float(w2 * r[2]) / c2
            if self.maximize:
                key = -key
            cmin = g.cmin
            c = tier >> CHUNK_BITS
            if key < cmin[c]:  # noqa: PLR1730 (min() costs a call on this hot path)
                cmin[c] = key
            if root is not None and root == gone:
                heapreplace(h, (key, r))  # the root died here: one sift, no later pop
            else:
                heappush(h, (key, r))
                n = g.entries = g.entries + 1
                if n > 2 * len(members) + 64:
                    compact(g)
        elif type(m) is int:
            members[r] = [m, member] if m < member else [member, m]
            g.count[r] = 2
        else:
            count = g.count
            n = count[r]
            count[r] = n + 1
            join_members(m, member, n, r, row, rclass_of)
        rclass_of[row] = r

    def check(self, rows: dict[int, Any]) -> None:
        """Assert that the index agrees with ``rows`` (row -> (reserved, usable)); tests. O(n).

        :func:`.checks.check_classes`; the compiled index has the same method.
        """
        check_classes(self, rows)

    # ------------------------------------------------------------------ search

    def _groups_for(self, require: frozenset[str]) -> list[tuple[Any, ...]]:
        # the groups whose labels hold require, each as (*cap, step, *coef, W, group)
        groups = self._by_require.get(require)
        if groups is None:
            groups = [
                (*g.cap, g.step, *g.coef, g.wsumf, g)
                for g in self.groups.values()
                if require <= g.labels
            ]
            self._by_require[require] = groups
        return groups

    def _bounds(
        self, q: tuple[int, int, int], require: frozenset[str]
    ) -> list[tuple[float, int, ShapeGroup]]:
        """Return ``(score bound, first tier, group)`` for fitting shapes, best first.

        The bound is ``k / W + sum_d q_d * w_d / (c_d * W)``, that is
        ``(k + B) / W``, with ``k`` the best key any entry of the group's tiers
        from the first feasible one may hold (from the chunk bounds) and
        ``B = sum_d w_d*q_d/c_d``: an upper bound of the real score of every
        runner in the group when the highest score wins, a lower bound
        otherwise. Float rounding moves real and float scores and this bound by
        less than 1e-14 relative, so a group whose bound misses the best float
        score by the relative margin ``1e-9`` holds no winner. Groups of equal
        bounds keep their order (the sort is keyed on the bound alone); the
        order only decides which of them is searched first, never the result.
        """
        q0, q1, q2 = q
        groups = self._by_require.get(require)
        if groups is None:
            groups = self._groups_for(require)
        out: list[tuple[float, int, ShapeGroup]] = []
        if self.maximize:
            last = self._ntiers - 1
            for c0, c1, c2, step, a0, a1, a2, wsumf, g in groups:
                if q0 > c0 or q1 > c1 or q2 > c2:
                    continue  # not even an empty runner of this shape holds q
                t0 = q0 // step
                if t0 > last:  # noqa: PLR1730 (min() costs a call on this hot path)
                    t0 = last
                # the least chunk bound from t0's chunk on (a loop: cheaper than
                # min() of a slice for the few chunks of a group)
                cmin = g.cmin
                c = t0 >> CHUNK_BITS
                k = cmin[c]
                for x in cmin[c + 1 :]:
                    if x < k:  # noqa: PLR1730
                        k = x
                if k == INF:
                    continue  # no usable runner in the tiers that could fit
                out.append((q0 * a0 + q1 * a1 + q2 * a2 - k / wsumf if wsumf else 0.0, t0, g))
            if len(out) > 1:
                out.sort(key=_BOUND, reverse=True)
            return out
        for c0, c1, c2, _, a0, a1, a2, wsumf, g in groups:
            if q0 > c0 or q1 > c1 or q2 > c2:
                continue  # not even an empty runner of this shape holds q
            k = g.cmin[0]
            if k == INF:
                continue  # no usable runner
            out.append((k / wsumf + q0 * a0 + q1 * a1 + q2 * a2 if wsumf else 0.0, 0, g))
        if len(out) > 1:
            out.sort(key=_BOUND)
        return out

    def choose(self, q: tuple[int, int, int], require: frozenset[str]) -> int:
        """Return the row the python scan would pick for request ``q``, or -1.

        When the lowest score wins (one tier per group) the usual decision is
        a group whose heap root is feasible and alone in its window: that is
        checked first (:meth:`_choose_root`), the general walk
        (:meth:`_choose_walk`) runs otherwise. Both make the same decision.

        Runtime complexity: see the module docstring.
        """
        if self.maximize:
            return self._choose_walk(q, require)
        return self._choose_root(q, require)

    def _choose_root(self, q: tuple[int, int, int], require: frozenset[str]) -> int:
        """:meth:`choose` when the lowest score wins, trying each group's heap root alone.

        Every group that fits ``q`` is bounded by its heap root's key (the least
        key of the heap, dead entries included: a lower bound of its live keys,
        so of its scores, as in :meth:`_bounds`). When the group of the least
        bound has a live, feasible root whose window (keys within ``delta``)
        holds no other entry, that root's class is the group's only candidate;
        it wins unless another group's bound reaches its score (then, or when the
        root is not alone, the general walk decides). O(groups) plus the
        score of one class in that case.
        """
        q0, q1, q2 = q
        groups = self._by_require.get(require)
        if groups is None:
            groups = self._groups_for(require)
        low = INF
        second = INF  # the least bound of the other groups
        found = None
        for c0, c1, c2, _, a0, a1, a2, wsumf, g in groups:
            if q0 > c0 or q1 > c1 or q2 > c2:
                continue  # not even an empty runner of this shape holds q
            h = g.tiers[0]
            if not h:
                continue  # no usable runner
            bound = h[0][0] / wsumf + q0 * a0 + q1 * a1 + q2 * a2 if wsumf else 0.0
            if bound < low:
                low, second, found = bound, low, g
            elif bound < second:
                second = bound
        if found is None:
            return -1
        g = found
        h = g.tiers[0]
        members = g.members
        sk, r = h[0]
        cap = g.cap
        n = len(h)
        if (
            r not in members
            or r[0] > cap[0] - q0  # reserved_within, unrolled
            or r[1] > cap[1] - q1
            or r[2] > cap[2] - q2
            or (n > 1 and h[1][0] <= sk + g.delta)
            or (n > 2 and h[2][0] <= sk + g.delta)
        ):
            return self._choose_walk(q, require)
        f = g.score(r, q)
        if second * DOWN <= f:
            return self._choose_walk(q, require)  # another group may hold a winner
        m = members[r]
        if type(m) is not int:
            _, m = best_member((r,), g.score, q, members, self.rclass_of, False, 0.0, -1)  # noqa: FBT003
        return m & MASK

    def _choose_walk(self, q: tuple[int, int, int], require: frozenset[str]) -> int:
        """:meth:`choose` by the general walk over groups and tiers.

        Groups are visited best score bound first and skipped once their
        bound cannot reach the best score found (see :meth:`_bounds`). In a
        tier heap, entries are popped in key order (infeasible ones above the
        window, dead ones for good) and pushed back; when the root is feasible,
        the rest of its window is read in place. The first tier (the one of the
        request's own cpu amount, whose best runners often have too little free
        cpu) is searched after the other tiers of its chunk, so that their limit
        stops the popping early; the order of the tiers does not change the
        result, since every candidate within the final window is scored exactly.

        Runtime complexity: see the module docstring.
        """
        q0, q1, q2 = q
        maximize = self.maximize
        best_f = 0.0
        best = -1  # seq << SHIFT | row of the winner
        rclass_of = self.rclass_of
        for bound, t0, g in self._bounds(q, require):
            if best >= 0 and (bound * UP < best_f if maximize else bound * DOWN > best_f):
                break  # no runner of this group or the next can win, even on a tie
            cmin = g.cmin
            delta = g.delta
            members = g.members
            cap = g.cap
            # feasible: reserved_within(r, u0, u1, u2) of .feasibility, unrolled below (a
            # call costs on this hot loop); the test of test_feasibility.py ties the copies
            u0, u1, u2 = cap[0] - q0, cap[1] - q1, cap[2] - q2
            limit = INF
            cands: list[tuple[int, int, int]] = []
            for c in range(t0 >> CHUNK_BITS, len(cmin)):
                if cmin[c] > limit:
                    continue  # a lower bound of every key in the chunk's tiers
                low = INF
                first = c << CHUNK_BITS
                # the tier of the request's own cpu amount holds runners with too little
                # free cpu at the top: it is searched last, with the limit of the tiers
                # above it in its chunk (the visiting order does not change the result:
                # every candidate is scored exactly); both orders are kept by the group
                walk = g.walk_from[t0] if t0 >= first else g.chunk_tiers[c]
                for h in walk:
                    if not h:
                        continue
                    while h[0][1] not in members:
                        heappop(h)
                        g.entries -= 1
                        if not h:
                            break
                    else:
                        sk, r = h[0]
                        if sk > limit:
                            pass
                        elif r[0] <= u0 and r[1] <= u1 and r[2] <= u2:  # reserved_within
                            # the usual case: the tier's best is feasible; the rest of
                            # its window is read in place (none below can lower the limit)
                            cands.append(r)
                            if sk + delta < limit:  # noqa: PLR1730 (no min() call: hot path)
                                limit = sk + delta
                            n = len(h)
                            # usually both children lie outside the window
                            stack = (
                                [1, 2]
                                if (n > 1 and h[1][0] <= limit) or (n > 2 and h[2][0] <= limit)
                                else []
                            )
                            while stack:
                                i = stack.pop()
                                if i < n and h[i][0] <= limit:
                                    r = h[i][1]
                                    # a live r-class that passes the unrolled reserved_within
                                    if r in members and r[0] <= u0 and r[1] <= u1 and r[2] <= u2:
                                        cands.append(r)
                                    stack.append(2 * i + 1)
                                    stack.append(2 * i + 2)
                        else:
                            popped = []
                            while h:
                                e = h[0]
                                r = e[1]
                                if r not in members:
                                    heappop(h)
                                    g.entries -= 1
                                    continue
                                if e[0] > limit:
                                    break
                                popped.append(heappop(h))
                                if r[0] <= u0 and r[1] <= u1 and r[2] <= u2:  # reserved_within
                                    cands.append(r)
                                    limit = min(limit, e[0] + delta)
                            for e in popped:
                                heappush(h, e)
                        if h[0][0] < low:  # noqa: PLR1730 (no min() call: hot path)
                            low = h[0][0]
                if t0 <= first:
                    cmin[c] = low  # every tier of the chunk was looked at: exact again
            if cands:
                best_f, best = best_member(
                    cands, g.score, q, members, rclass_of, maximize, best_f, best
                )
        return -1 if best < 0 else best & MASK
