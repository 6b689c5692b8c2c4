"""``index="compiled"``: the class index's answers from per-shape segment trees in numba kernels.

A drop-in for :class:`.shape_classes.ClassIndex` (same methods, same answers)
over flat numpy arrays, its hot loops in the ``@njit(cache=True)`` kernels of
:mod:`._kernels`; it needs the optional ``numba`` (``pip install
runtime_alloc[fast]``).

Layout. Runners are grouped by *shape* (capacity of cpu, memory and slots, and
label set), as in the class index, and, when the highest score wins, by *tier*
of free cpu within a shape (64, as the class index's tiers: a request's cpu
rules out the fuller tiers whole); a shape's tier is one *tree*. Each tree lays
its runners out at *positions* (first in registration order; a runner that
changes tier or leaves frees its position, which the tree's next newcomer
takes), in buckets of :data:`._kernels.BUCKET` positions, and keeps an implicit
segment tree over its buckets: each node holds, in one 64-byte record (one
cache line, :func:`node_records`), over the usable (not draining) runners
below it, the least and the most reserved amount per dimension, the least
member (``seq << 32 | row``) and the least *signed key*: ``k(r) / W = sum_d
r_d*w_d/(c_d*W)`` (products by per-shape coefficients), negated when the
highest score wins (so the least signed key is the most key, exactly). Each
position holds its runner's member and a copy of its reserved amounts (cpu -1
when draining), so a bucket's rows are read from 256 contiguous bytes. A tree
that outgrows its buckets moves to twice as many at the end of the arrays;
when they run out every row is laid out again. Per runner: six int64
(reserved amounts, position, state, member), the positions and the nodes:
166 bytes in all at 200,000 runners with one task each (positions 79, nodes 39)
(``benchmarks/memory_structures.py --index compiled``), where the class index
holds 240; plus about 135 MiB once per process for numba and its compiled
kernels.

Why the answer is exact. A decision visits the shapes whose labels hold the
requirement and whose capacity holds the request, best key bound first, and
each tree depth first (the child of the better key first). It skips a node
when (a) no row below it is usable, or some dimension's least reserved amount
leaves too little room: no row below is feasible; (b) its key bound (``(k_min +
B(q)) / W``, or ``k_max`` when the highest score wins) misses the best float
score found by the relative margin 1e-9: by lemmas 4 and 5 of
:mod:`runtime_alloc.backends.numpy` no row below scores as well, even on a tie;
(c) the exact float score of its least reserved amounts (when the highest wins:
its most, each capped at the room ``c_d - q_d`` a feasible row has) is worse
than the best, or equal while its least member is not lower than the best's:
by lemma 6 every feasible row below scores no better, and on an equal score
registered later (lemma 2). Trees of tiers whose free cpu is below the
request's are not visited (no runner there has room), and the trees are
visited best key bound first, stopping at the first whose bound fails (b).
Every other node is opened, and in the buckets every usable, feasible row's
exact float score is computed as :meth:`.ShapeGroup.score` does (lemma 1; the
kernels are compiled without ``fastmath``, and its int64 products ``w * (r +
q)`` stay below 2**63 for capacities of at most 2**53 and weights of at most
1000) and compared, ties to the lower member. So the winner is the python scan's.

The direct path (:mod:`.direct`) calls the kernels of :mod:`._direct_kernels`:
a decision that also reserves its request, and a row's update deferred to the
next kernel call (:attr:`CompiledIndex.wait`; every other use of the index
stores it first, :meth:`CompiledIndex.settle`); the rows those change are noted
in :attr:`CompiledIndex.dr` and written to the backend's columns when read.

Runtime complexity: per decision O(trees) plus O(BUCKET) per node visited
(O(log n) nodes per visited tree when the bounds are tight: 27 nodes, one
bucket, one tree per EvenSpread decision at 100,000 runners, 7 nodes for
MaxPacking); per update one kernel call, O(BUCKET + log n) (amortized, with
the moves of full trees); a build O(n log n) numpy and O(n) kernel work.
numba's dispatch costs about 0.6 µs per call here (the direct path's
``take`` skips most of it, :func:`.direct.compiled_code`).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy.changed_rows import write_changed
from runtime_alloc.backends.numpy.shape_groups import MASK, TIERS, shape_terms

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.columns import Table

#: the kernels modules (typed Any: numba ships no stubs), None without numba
k: Any
dk: Any
_WHY: ImportError | None
try:
    from runtime_alloc.backends.numpy import _direct_kernels, _kernels
except ImportError as error:  # numba is an optional extra
    k, dk, _WHY = None, None, error
else:
    k, dk, _WHY = _kernels, _direct_kernels, None

__all__ = ["CompiledIndex", "available", "fits", "node_records", "require_numba"]

Shape = tuple[tuple[int, int, int], frozenset[str]]

#: the room the arrays keep beyond the trees laid out, per bucket (and per 2 nodes) of them
#: and in all (trees that outgrow their buckets move there; see CompiledIndex._place); the
#: per-bucket room doubles, up to ROOM_MAX, each time it ran out (churn that moves rows
#: between tiers then lays the rows out again ever more rarely)
ROOM, SPARE, ROOM_MAX = 0.25, 64, 1.0

#: rows a layout copies into the positions at a time
_LAYOUT_CHUNK = 65_536

#: the most rows the direct path notes as changed before the columns are written
CHANGED = 4096

#: capacity times weight must stay below this for the kernels' int64 products ``w * (r + q)``
#: (``r + q`` is at most the capacity when scored); always so for valid runners and
#: strategies (quantities at most 2**53, weights at most 1000)
_LIMIT = 1 << 63


def node_records(nodes: int) -> tuple[Any, Any]:
    """Zeroed node records, ``(nodes, 8)`` int64 and the same memory as float64. O(nodes).

    The memory starts at a multiple of 64 bytes, so each 64-byte record is one
    cache line (a search reads one line per node visited).
    """
    buf = np.zeros(nodes * 8 + 8, np.int64)
    skip = (-buf.ctypes.data % 64) // 8
    ni = buf[skip : skip + nodes * 8].reshape(nodes, 8)
    return ni, ni.view(np.float64)


def available() -> bool:
    """True when numba is installed (``index="compiled"`` works). O(1)."""
    return k is not None


def require_numba() -> None:
    """Raise a clear ImportError when numba is missing (``index="compiled"``). O(1)."""
    if k is None:
        msg = (
            "NumpyBackend(index='compiled') needs numba: install the 'fast' extra "
            f"(pip install 'runtime_alloc[fast]'); importing it failed: {_WHY}"
        )
        raise ImportError(msg) from _WHY


def fits(shape: Shape, weights: tuple[int, int, int]) -> bool:
    """True when the kernels' int64 arithmetic holds this shape's scores exactly. O(1)."""
    return all(c >= 0 and c * max(w, 1) < _LIMIT for c, w in zip(shape[0], weights, strict=True))


class CompiledIndex:
    """Segment trees of the runners of each shape and tier, searched by numba kernels.

    Args:
        weights: builtin weights ``(w_cpu, w_memory, w_slots)``.
        maximize: True when the highest score wins.
        max_groups: the most shapes indexed; :meth:`can_add` refuses more.
    """

    def __init__(self, weights: tuple[int, int, int], *, maximize: bool, max_groups: int) -> None:
        require_numba()
        self.w = weights
        self.maximize = maximize
        #: 1 when the highest score wins (the kernels take ints: a bool costs more to pass)
        self.maximize_flag = 1 if maximize else 0
        self.max_groups = max_groups
        #: free-cpu tiers per shape (as the class index's): one when the lowest score wins
        self.ntiers = TIERS if maximize else 1
        #: shape -> its number, and the shapes by number
        self.shape_ids: dict[Shape, int] = {}
        self.shapes: list[Shape] = []
        self._by_require: dict[frozenset[str], Any] = {}
        self._stale = False  # shapes added since the last layout
        self.room = ROOM  # the per-bucket room of the next layout
        #: times every row was laid out again, and trees moved to more buckets
        self.layouts = self.moves = 0
        self.ri: Any = np.full((0, 6), -1, np.int64)
        # the kernels' arrays (see _kernels), made by _layout; positions and nodes in use
        self.pm: Any
        self.ni: Any
        self.nf: Any
        self.tr: Any
        self.sh: Any
        self.sf: Any
        self._pend: int
        self._nend: int
        #: scratch of the search kernels: the node stack, the trees' bounds and order
        self.stack = np.zeros(64, np.int64)
        self.bounds = self.order = np.zeros(0)
        #: the rows the direct path changed since the columns were written (see .direct),
        #: and the table whose columns they are written to (None: no columns to keep)
        self.dr = np.zeros(CHANGED + 3, np.int64)
        self.columns: Table | None = None
        #: the direct path's deferred update: its row (-1: none), then its reserved
        #: amounts and usability; stored by the next kernel call (see settle)
        self.wait = -1
        self.waiting = (0, 0, 0, 0)
        self._shape_arrays()
        self._layout()

    # ------------------------------------------------------------------ upkeep

    def can_add(self, shapes: Iterable[Shape]) -> bool:
        """True when the index can hold these shapes as well. O(len(shapes))."""
        new = {s for s in shapes if s not in self.shape_ids}
        return len(self.shape_ids) + len(new) <= self.max_groups and all(
            fits(s, self.w) for s in new
        )

    def add_many(
        self,
        keys: Iterable[int],
        shapes: Iterable[Shape],
        reserved: Iterable[tuple[int, int, int]],
        usable: Iterable[bool],
        *,
        rows: int | None = None,
    ) -> None:
        """Index new runners (as :meth:`.ClassIndex.add_many`). O(n) numpy, O(n log n) kernel.

        The four iterables run in step (each is read once, a chunk at a time).
        """
        self.settle()
        members = keys if isinstance(keys, np.ndarray) else np.fromiter(keys, np.int64)
        n = members.size
        if not n:
            return
        idx = members & MASK
        need = max(rows or 0, int(idx.max()) + 1)
        if need > len(self.ri):
            grown = np.full((max(need, len(self.ri) * 5 // 4), 6), -1, np.int64)
            grown[: len(self.ri)] = self.ri
            self.ri = grown
        shapes, reserved, usable = iter(shapes), iter(reserved), iter(usable)
        for start in range(0, n, _LAYOUT_CHUNK):  # a chunk at a time: small temporaries
            size = min(n - start, _LAYOUT_CHUNK)
            sid = np.fromiter(map(self._shape_id, islice(shapes, size)), np.int64, count=size)
            amounts = np.fromiter(
                chain.from_iterable(islice(reserved, size)), np.int64, count=3 * size
            ).reshape(size, 3)
            ok = np.fromiter(islice(usable, size), np.bool_, count=size)
            if self._stale:
                self._shape_arrays()
            tier = self.tiers(sid, amounts[:, 0])
            at = idx[start : start + size]
            ri = self.ri
            ri[at, :3] = amounts
            ri[at, 3] = -1
            ri[at, 4] = (sid * self.ntiers + tier) * 2 + ok
            ri[at, 5] = members[start : start + size]
        del members
        if self._stale:
            del idx  # (its memory serves the layout's)
            self._layout()
            return
        ri, sh = self.ri, self.sh
        repair = n * 16 < self._pend
        if self._place(idx, repair=repair) and not repair:
            k.build(ri, self.pm, self.ni, self.nf, self.tr, sh, self.sf)

    def _place(self, rows: Any, *, repair: bool = True) -> bool:  # noqa: ANN401
        """Give ``rows`` (their state set) positions, growing full trees; False if laid out anew.

        A full tree moves to twice the buckets at the end of the arrays
        (:func:`._kernels.relocate`, O(its size)); when the arrays have no room
        left, every row is laid out again (:meth:`_layout`, which makes room in
        proportion). Amortized O(log n) per row.
        """
        done = 0
        while True:
            done += k.append_rows(
                self.ri, self.pm, self.ni, self.nf, self.tr, self.sh, self.sf, rows[done:], repair
            )
            if done == len(rows):
                return True
            tree = int(self.ri[rows[done], 4]) >> 1
            nb = 2 * int(self.tr[tree, 2])
            poff, toff = self._pend, self._nend
            if poff + nb * k.BUCKET > len(self.pm) or toff + 2 * nb > len(self.ni):
                self.room = min(2 * self.room, ROOM_MAX)
                self._layout()  # it places every row
                return False
            k.relocate(
                self.ri, self.pm, self.ni, self.nf, self.tr, self.sh, self.sf, tree, poff, toff, nb
            )
            self._pend, self._nend = poff + nb * k.BUCKET, toff + 2 * nb
            self.moves += 1

    def tiers(self, shapes: Any, cpu: Any) -> Any:  # noqa: ANN401
        """The tier of each runner of shape number ``shapes[i]`` with ``cpu[i]`` reserved.

        :func:`._kernels.tier_of` over arrays: free cpu // the shape's tier
        step, within 0 .. tiers - 1. O(len(shapes)) numpy work.
        """
        sh = self.sh
        return np.clip((sh[shapes, 0] - cpu) // sh[shapes, 6], 0, self.ntiers - 1)

    def _shape_id(self, shape: Shape) -> int:
        i = self.shape_ids.get(shape)
        if i is None:
            i = self.shape_ids[shape] = len(self.shapes)
            self.shapes.append(shape)
            self._by_require.clear()
            self._stale = True
        return i

    def _shape_arrays(self) -> None:
        """Per shape: capacity, scored weights, tier step, tiers; float capacity, coefficients."""
        nshapes = len(self.shapes)
        sh = np.zeros((nshapes, 8), np.int64)
        sf = np.zeros((nshapes, 7), np.float64)
        for i, (cap, _labels) in enumerate(self.shapes):
            scored, wsum, coef, step = shape_terms(cap, self.w, self.ntiers)  # as ShapeGroup
            sh[i, :3] = cap
            for d, w, _c in scored:
                sh[i, 3 + d] = w  # 0 where not scored
            sh[i, 6] = step
            sh[i, 7] = self.ntiers
            sf[i, :3] = [float(c) for c in cap]
            sf[i, 3] = float(wsum)
            sf[i, 4:7] = [-c for c in coef] if self.maximize else coef  # signed keys (bounds)
        self.sh, self.sf = sh, sf

    def _layout(self) -> None:
        """Give every indexed row a position (tree by tree, in member order); build the trees.

        Each tree gets a power of two of buckets with half its rows' room to grow,
        and the arrays :attr:`room` more (a quarter at first) for trees that outgrow
        theirs (moved to the end by :meth:`_place`). O(n log n) numpy plus one O(positions) kernel.
        """
        self._stale = False
        self.layouts += 1
        ri = self.ri
        # the old arrays go first, and the steps below keep few row-long temporaries
        # at once (in place, by chunks): a build's peak is what a fleet's RSS keeps
        self.pm = self.ni = self.nf = np.empty((0, 4), np.int64)
        live = np.flatnonzero(ri[:, 4] >= 0)
        tree = ri[live, 4] >> 1
        order = np.lexsort((ri[live, 5], tree))
        live, tree = live[order], tree[order]
        del order
        ntrees = len(self.shapes) * self.ntiers
        counts = np.bincount(tree, minlength=ntrees).astype(np.int64)
        want = -(-(counts + counts // 2 + 1) // k.BUCKET)
        nb = np.ones(ntrees, np.int64)
        while (nb < want).any():
            nb = np.where(nb < want, nb * 2, nb)
        poff = np.concatenate(([0], np.cumsum(nb * k.BUCKET)))
        toff = np.concatenate(([0], np.cumsum(2 * nb)))
        self._pend, self._nend = int(poff[-1]), int(toff[-1])
        pm = np.full((self._pend + int(self._pend * self.room) + SPARE * k.BUCKET, 4), -1, np.int64)
        pos = np.arange(live.size, dtype=np.int64)
        pos -= np.repeat(np.cumsum(counts) - counts, counts)
        pos += poff[:-1][tree]
        del tree
        for start in range(0, live.size, _LAYOUT_CHUNK):
            at = pos[start : start + _LAYOUT_CHUNK]
            rows = ri[live[start : start + _LAYOUT_CHUNK]]
            pm[at, 0] = rows[:, 5]
            pm[at, 1] = np.where(rows[:, 4] & 1, rows[:, 0], -1)  # -1: not usable
            pm[at, 2:] = rows[:, 1:3]
        ri[live, 3] = pos
        del live, pos
        tr = np.zeros((ntrees, 6), np.int64)
        tr[:, 0] = poff[:-1]
        tr[:, 1] = toff[:-1]
        tr[:, 2] = nb
        tr[:, 3] = counts
        tr[:, 4] = -1
        tr[:, 5] = np.arange(ntrees) // self.ntiers
        self.pm, self.tr = pm, tr
        nodes = self._nend + int(self._nend * self.room) + 2 * SPARE
        self.ni, self.nf = node_records(nodes)
        self.bounds = np.zeros(max(ntrees, 1), np.float64)
        self.order = np.zeros(max(ntrees, 1), np.int64)
        if ntrees:
            k.build(ri, pm, self.ni, self.nf, tr, self.sh, self.sf)

    def remove(self, member: int) -> None:
        """Forget the runner ``member`` (its ``seq << SHIFT | row``). O(log n)."""
        self.settle()
        k.drop_row(self.ri, self.pm, self.ni, self.nf, self.tr, self.sh, self.sf, member & MASK)

    def set(self, member: int, r: tuple[int, int, int], usable: bool) -> None:
        """Store runner ``member``'s reserved amounts ``r`` and usability. O(log n), one kernel."""
        self.settle()
        row = member & MASK
        if k.set_row(
            self.ri, self.pm, self.ni, self.nf, self.tr, self.sh, self.sf,
            row, r[0], r[1], r[2], 1 if usable else 0,
        ):  # fmt: skip
            self._place(np.array([row], np.int64))  # its new tier's tree was full

    def settle(self) -> None:
        """Store the direct path's deferred update now (before the trees are read). O(log n)."""
        w = self.wait
        if w >= 0:
            r0, r1, r2, usable = self.waiting
            status = dk.put(
                self.ri, self.pm, self.ni, self.nf, self.tr, self.sh, self.sf, self.dr,
                w, r0, r1, r2, usable,
            )  # fmt: skip
            self.wait = -1
            if status:
                self.after(w, status)

    def after(self, row: int, status: int) -> None:
        """Act on a direct kernel's status for ``row`` (see :mod:`._direct_kernels`). O(log n).

        A row left unplaced is placed; a full list of changed rows is written
        to the columns (amortized O(1) per change).
        """
        if status & dk.FULL_TREE:
            self._place(np.array([row], np.int64))  # its new tier's tree was full
        if status & dk.FULL_LIST:
            write_changed(self)

    # ------------------------------------------------------------------ search

    def choose(self, q: tuple[int, int, int], require: frozenset[str]) -> int:
        """Return the row the python scan would pick for request ``q``, or -1.

        Runtime complexity: see the module docstring; one kernel call.
        """
        self.settle()
        try:
            row = k.choose(
                self.pm, self.ni, self.nf, self.tr, self.sh, self.sf,
                self.candidates(require), q[0], q[1], q[2], self.maximize_flag,
                self.stack, self.bounds, self.order,
            )  # fmt: skip
        except OverflowError:  # an amount beyond int64: no runner holds it
            return -1
        return int(row)

    def candidates(self, require: frozenset[str]) -> Any:  # noqa: ANN401
        """The numbers (int64 array) of the shapes whose labels hold ``require``. O(1) cached."""
        cand = self._by_require.get(require)
        if cand is None:
            cand = self._by_require[require] = np.array(
                [i for i, (_cap, labels) in enumerate(self.shapes) if require <= labels],
                np.int64,
            )
        return cand

    # ------------------------------------------------------------------ checks

    def check(self, rows: dict[int, Any]) -> None:
        """Assert that the index agrees with ``rows`` (row -> (reserved, usable)); tests. O(n).

        See :func:`.compiled_checks.check`.
        """
        from runtime_alloc.backends.numpy import compiled_checks  # noqa: PLC0415 (tests only)

        self.settle()
        compiled_checks.check(self, rows)
