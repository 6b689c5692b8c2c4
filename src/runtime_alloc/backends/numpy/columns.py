"""Columnar runner storage for the numpy backend: slots, blocks and block summaries.

Runners live in *slots* of int64/float64 columns (one column per quantity, so
every numpy operation is a flat, contiguous loop). Slots are grouped in blocks
of ``block_size``; every block belongs to one *group* of runners with the same
capacity (or, once a fleet has very many distinct capacities, the same
power-of-two capacity bucket), and inside a block slots follow registration
order. Per block the table keeps conservative summaries:

* ``mf[d]``: the most free amount of dimension ``d`` among usable runners
  (-1 when the block has none), an upper bound;
* ``amin``/``amax``: bounds of the request-independent part ``a`` of the
  utilization score (see :mod:`runtime_alloc._numpy`);
* ``rmin[d]``/``rmax[d]``: bounds of reserved amounts, for exact float bounds;
* ``gmin[d]``/``gmax[d]``, ``cfmin[d]``/``cfmax[d]``: static capacity terms.

A reservation change updates its slot and widens the block summaries in O(1)
(a widened bound stays a valid bound); a block is tightened again whenever a
search evaluates it. Runtime complexity: O(1) amortized per update.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from runtime_alloc.runners import RunnerState

__all__ = ["MAX_EXACT_GROUPS", "Table", "default_block_size"]

#: Distinct capacities that get their own exact group; beyond, runners share
#: power-of-two capacity buckets (bounds stay valid, only looser).
MAX_EXACT_GROUPS = 64

_INF = math.inf
_I64 = np.int64
_F64 = np.float64


def default_block_size(n: int) -> int:
    """Return the block size used for a fleet of ``n`` runners (grows about like sqrt(n))."""
    if n < 4096:
        return 64
    if n < 300_000:
        return 256
    return 1024


def _bucket(value: int) -> int:
    return int(value).bit_length()


class Table:
    """Column storage of runner states for one strategy's weights.

    Args:
        weights: the builtin weights ``(w_cpu, w_memory, w_slots)``.
        block_size: slots per block.
    """

    def __init__(
        self, weights: tuple[int, int, int], block_size: int, *, summaries: bool = True
    ) -> None:
        self.w = weights
        self.block_size = block_size
        #: False when the backend searches another index: updates then only
        #: write the columns, and block summaries are not kept.
        self.summaries = summaries
        self.slot_of: dict[str, int] = {}
        self.names: list[str | None] = []
        self.nlive = 0
        self.nextseq = 0
        self.labelsets: dict[frozenset[str], int] = {}
        self.labelset_list: list[frozenset[str]] = []
        self._groups: dict[Any, list[int]] = {}
        self.nblocks = 0
        self.fill: list[int] = []
        self._alloc_slots(0, 0)

    # ------------------------------------------------------------------ storage

    def _alloc_slots(self, nslots: int, nblocks: int) -> None:
        def grow(old: Any, size: int, fill: float, dtype: Any) -> Any:  # noqa: ANN401
            new = np.full(size, fill, dtype=dtype)
            if old is not None:
                new[: len(old)] = old
            return new

        g = getattr
        self.cap = [grow(g(self, "cap", [None] * 3)[d], nslots, 0, _I64) for d in range(3)]
        self.res = [grow(g(self, "res", [None] * 3)[d], nslots, 0, _I64) for d in range(3)]
        self.fu = [grow(g(self, "fu", [None] * 3)[d], nslots, -1, _I64) for d in range(3)]
        self.capf = [grow(g(self, "capf", [None] * 3)[d], nslots, _INF, _F64) for d in range(3)]
        self.wsum = grow(g(self, "wsum", None), nslots, 0, _I64)
        self.wsumf = grow(g(self, "wsumf", None), nslots, 1.0, _F64)
        self.a_lo = grow(g(self, "a_lo", None), nslots, _INF, _F64)
        self.a_hi = grow(g(self, "a_hi", None), nslots, -_INF, _F64)
        self.seq = grow(g(self, "seq", None), nslots, np.iinfo(_I64).max, _I64)
        self.lset = grow(g(self, "lset", None), nslots, 0, np.int32)
        self.alive = grow(g(self, "alive", None), nslots, 0, np.bool_)
        self.draining = grow(g(self, "draining", None), nslots, 0, np.bool_)
        ext: dict[str, list[Any]] = g(self, "ext", {})
        self.ext = {
            k: [grow(v[0], nslots, 0, _I64), grow(v[1], nslots, 0, _I64)] for k, v in ext.items()
        }
        self.mf = [grow(g(self, "mf", [None] * 3)[d], nblocks, -1, _I64) for d in range(3)]
        self.rmin = [grow(g(self, "rmin", [None] * 3)[d], nblocks, 0, _I64) for d in range(3)]
        self.rmax = [grow(g(self, "rmax", [None] * 3)[d], nblocks, 0, _I64) for d in range(3)]
        self.cfmin = [grow(g(self, "cfmin", [None] * 3)[d], nblocks, _INF, _F64) for d in range(3)]
        self.cfmax = [grow(g(self, "cfmax", [None] * 3)[d], nblocks, 0.0, _F64) for d in range(3)]
        self.amin = grow(g(self, "amin", None), nblocks, _INF, _F64)
        self.amax = grow(g(self, "amax", None), nblocks, -_INF, _F64)
        self.gmin = grow(g(self, "gmin", None), nblocks * 3, _INF, _F64).reshape(nblocks, 3)
        self.gmax = grow(g(self, "gmax", None), nblocks * 3, -_INF, _F64).reshape(nblocks, 3)
        self.bwsumf = grow(g(self, "bwsumf", None), nblocks, 1.0, _F64)
        self.minseq = grow(g(self, "minseq", None), nblocks, np.iinfo(_I64).max, _I64)
        self.slot_capacity = nslots
        self.block_capacity = nblocks

    def _new_block(self) -> int:
        if self.nblocks == self.block_capacity:
            nb = max(4, self.block_capacity * 2)
            # gmin/gmax are 2-D: grow flat copies
            self.gmin = self.gmin.ravel()
            self.gmax = self.gmax.ravel()
            self._alloc_slots(nb * self.block_size, nb)
        k = self.nblocks
        self.nblocks += 1
        self.fill.append(0)
        return k

    def ext_columns(self, name: str) -> list[Any]:
        """Return ``[capacity, reserved]`` columns of an extended dimension (created on demand)."""
        cols = self.ext.get(name)
        if cols is None:
            cols = [np.zeros(self.slot_capacity, _I64), np.zeros(self.slot_capacity, _I64)]
            self.ext[name] = cols
        return cols

    def labelset_id(self, labels: frozenset[str]) -> int:
        """Return the id of a label set, registering it on first sight."""
        ident = self.labelsets.get(labels)
        if ident is None:
            ident = len(self.labelset_list)
            self.labelsets[labels] = ident
            self.labelset_list.append(labels)
        return ident

    def label_table(self, require: frozenset[str]) -> Any:  # noqa: ANN401
        """Return a bool array over label-set ids: which sets hold every label of ``require``."""
        return np.fromiter(
            (require <= s for s in self.labelset_list), np.bool_, len(self.labelset_list)
        )

    # ------------------------------------------------------------------ runners

    def _group_key(self, cap: tuple[int, int, int]) -> Any:  # noqa: ANN401
        if cap in self._groups or len(self._groups) < MAX_EXACT_GROUPS:
            return cap
        return ("bucket", *(_bucket(c) for c in cap))

    def add_many(self, states: Iterable[RunnerState]) -> None:
        """Append runners (newest last). Runtime complexity: O(len(states)) amortized.

        One Python pass assigns slots; the columns and the touched blocks'
        summaries are then written with whole-array numpy operations.
        """
        bs = self.block_size
        slots: list[int] = []
        caps: list[tuple[int, int, int]] = []
        reserved: list[tuple[int, int, int]] = []
        lsets: list[int] = []
        draining: list[bool] = []
        with_ext: list[tuple[int, RunnerState]] = []
        touched: set[int] = set()
        groups, fill, names, slot_of = self._groups, self.fill, self.names, self.slot_of
        labelsets = self.labelsets
        for state in states:
            runner = state.runner
            c = runner.capacity
            cap = (c.millicpu, c.memory_bytes, c.slots)
            blocks = groups.get(cap)
            if blocks is None:
                blocks = groups.setdefault(self._group_key(cap), [])
            if not blocks or fill[blocks[-1]] == bs:
                blocks.append(self._new_block())
            k = blocks[-1]
            i = k * bs + fill[k]
            if fill[k] == 0:
                self.minseq[k] = self.nextseq + len(slots)
            fill[k] += 1
            touched.add(k)
            if len(names) <= i:
                names.extend([None] * (i + 1 - len(names)))
            names[i] = runner.name
            slot_of[runner.name] = i
            slots.append(i)
            caps.append(cap)
            r = state.reserved
            reserved.append((r.millicpu, r.memory_bytes, r.slots))
            labels = runner.labels
            ident = labelsets.get(labels)
            lsets.append(self.labelset_id(labels) if ident is None else ident)
            draining.append(state.draining)
            if c.extended or r.extended:
                with_ext.append((i, state))
        if not slots:
            return
        n = len(slots)
        idx = np.array(slots, dtype=_I64)
        cap_a = np.array(caps, dtype=_I64).reshape(n, 3)
        res_a = np.array(reserved, dtype=_I64).reshape(n, 3)
        drain_a = np.array(draining, dtype=np.bool_)
        self.seq[idx] = np.arange(self.nextseq, self.nextseq + n, dtype=_I64)
        self.nextseq += n
        self.nlive += n
        self.alive[idx] = True
        self.draining[idx] = drain_a
        self.lset[idx] = np.array(lsets, dtype=np.int32)
        wsum = np.zeros(n, dtype=_I64)
        for d in range(3):
            self.cap[d][idx] = cap_a[:, d]
            self.res[d][idx] = res_a[:, d]
            self.fu[d][idx] = np.where(drain_a, -1, cap_a[:, d] - res_a[:, d])
            if self.w[d] > 0:
                scored = cap_a[:, d] > 0
                self.capf[d][idx] = np.where(scored, cap_a[:, d].astype(_F64), _INF)
                wsum += np.where(scored, self.w[d], 0)
        self.wsum[idx] = wsum
        wsumf = np.where(wsum > 0, wsum.astype(_F64), 1.0)
        self.wsumf[idx] = wsumf
        for i, state in with_ext:
            for name, count in state.runner.capacity.extended.items():
                self.ext_columns(name)[0][i] = count
            self._update_ext(state.reserved.extended, i)
        # static per-block capacity terms (blocks hold one capacity group)
        for d in range(3):
            cf = self.capf[d][idx]
            g = np.where(cf != _INF, self.w[d] / cf / wsumf, 0.0)
            blk = idx // bs
            np.minimum.at(self.gmin[:, d], blk, g)
            np.maximum.at(self.gmax[:, d], blk, g)
            np.minimum.at(self.cfmin[d], blk, cf)
            np.maximum.at(self.cfmax[d], blk, cf)
        self.bwsumf[idx // bs] = wsumf
        if not self.summaries:
            return
        a = np.zeros(n, dtype=_F64)
        for d in range(3):
            if self.w[d] > 0:
                a += np.where(
                    cap_a[:, d] > 0, self.w[d] * res_a[:, d] / np.maximum(cap_a[:, d], 1), 0.0
                )
        a /= wsumf
        self.a_lo[idx] = np.where(drain_a, _INF, a)
        self.a_hi[idx] = np.where(drain_a, -_INF, a)
        for k in touched:
            self.refresh(k)
            self.refresh_reserved(k)

    def remove(self, name: str) -> None:
        """Forget a runner; its slot stays empty until the next rebuild. O(1)."""
        i = self.slot_of.pop(name)
        self.names[i] = None
        self.nlive -= 1
        self.alive[i] = False
        self.draining[i] = False
        for d in range(3):
            self.fu[d][i] = -1
            self.cap[d][i] = 0
            self.res[d][i] = 0
        self.a_lo[i] = _INF
        self.a_hi[i] = -_INF
        for cols in self.ext.values():
            cols[0][i] = 0
            cols[1][i] = 0

    def update(self, state: RunnerState, i: int | None = None) -> None:
        """Store a runner's reserved amounts and draining flag; widen its block's bounds. O(1)."""
        if i is None:
            i = self.slot_of[state.runner.name]
        r = state.reserved
        c = state.runner.capacity
        usable = not state.draining
        self.draining[i] = state.draining
        res = (r.millicpu, r.memory_bytes, r.slots)
        free = (c.millicpu - res[0], c.memory_bytes - res[1], c.slots - res[2])
        if not self.summaries:
            for d in range(3):
                self.res[d][i] = res[d]
                self.fu[d][i] = free[d] if usable else -1
            if self.ext or r.extended:
                self._update_ext(r.extended, i)
            return
        k = i // self.block_size
        a = 0.0
        w = self.w
        bs = self.block_size
        lo = k * bs
        for d in range(3):
            self.res[d][i] = res[d]
            fu = self.fu[d]
            old_free = fu.item(i)
            fu[i] = free[d] if usable else -1
            if w[d] and (cd := (c.millicpu, c.memory_bytes, c.slots)[d]) > 0:
                a += w[d] * res[d] / cd
            mf = self.mf[d]
            if usable and free[d] > mf.item(k):
                mf[k] = free[d]
            elif old_free >= mf.item(k) > fu.item(i):
                mf[k] = fu[lo : lo + bs].max()  # the block's most free runner shrank
            if usable:
                if res[d] < self.rmin[d].item(k):
                    self.rmin[d][k] = res[d]
                if res[d] > self.rmax[d].item(k):
                    self.rmax[d][k] = res[d]
        a /= self.wsumf.item(i)
        old_lo, old_hi = self.a_lo.item(i), self.a_hi.item(i)
        self.a_lo[i] = a if usable else _INF
        self.a_hi[i] = a if usable else -_INF
        amin, amax = self.amin.item(k), self.amax.item(k)
        if usable and a < amin:
            self.amin[k] = a
        elif old_lo <= amin < self.a_lo.item(i):
            self.amin[k] = self.a_lo[lo : lo + bs].min()  # the block's minimum rose
        if usable and a > amax:
            self.amax[k] = a
        elif old_hi >= amax > self.a_hi.item(i):
            self.amax[k] = self.a_hi[lo : lo + bs].max()  # the block's maximum fell
        if self.ext or r.extended:
            self._update_ext(r.extended, i)

    def _update_ext(self, ext: Mapping[str, int], i: int) -> None:
        for name, cols in self.ext.items():
            cols[1][i] = ext.get(name, 0)
        for name, count in ext.items():
            if name not in self.ext:
                self.ext_columns(name)[1][i] = count

    def refresh(self, k: int) -> None:
        """Make block ``k``'s free and score bounds exact again. O(block_size)."""
        lo, hi = k * self.block_size, (k + 1) * self.block_size
        for d in range(3):
            self.mf[d][k] = self.fu[d][lo:hi].max()
        self.amin[k] = self.a_lo[lo:hi].min()
        self.amax[k] = self.a_hi[lo:hi].max()

    def refresh_reserved(self, k: int) -> None:
        """Make block ``k``'s reserved bounds exact again. O(block_size)."""
        lo, hi = k * self.block_size, (k + 1) * self.block_size
        usable = self.fu[2][lo:hi] >= 0
        if not usable.any():
            return
        for d in range(3):
            col = self.res[d][lo:hi][usable]
            self.rmin[d][k] = col.min()
            self.rmax[d][k] = col.max()

    # ------------------------------------------------------------------ checks

    @property
    def nslots(self) -> int:
        """Slots in use (live or emptied), i.e. ``nblocks * block_size``."""
        return self.nblocks * self.block_size

    def check(self, states: Mapping[str, RunnerState]) -> None:
        """Assert that every column and block bound agrees with ``states`` (tests call this)."""
        assert set(self.slot_of) == set(states), "runner sets differ"  # noqa: S101
        seqs = [self.seq.item(self.slot_of[name]) for name in states]
        assert seqs == sorted(seqs), "registration order lost"  # noqa: S101
        bs = self.block_size
        for name, state in states.items():
            i = self.slot_of[name]
            r, c = state.reserved, state.runner.capacity
            assert (self.res[0][i], self.res[1][i], self.res[2][i]) == (  # noqa: S101
                r.millicpu,
                r.memory_bytes,
                r.slots,
            ), name
            assert (self.cap[0][i], self.cap[1][i], self.cap[2][i]) == (  # noqa: S101
                c.millicpu,
                c.memory_bytes,
                c.slots,
            ), name
            assert bool(self.draining[i]) == state.draining, name  # noqa: S101
            for dim, cols in self.ext.items():
                assert cols[0][i] == c.extended.get(dim, 0), (name, dim)  # noqa: S101
                assert cols[1][i] == r.extended.get(dim, 0), (name, dim)  # noqa: S101
        for k in range(self.nblocks if self.summaries else 0):
            lo, hi = k * bs, (k + 1) * bs
            for d in range(3):
                assert self.mf[d][k] >= self.fu[d][lo:hi].max(), (k, d)  # noqa: S101
                usable = self.fu[d][lo:hi] >= 0
                if usable.any():
                    col = self.res[d][lo:hi][usable]
                    assert self.rmin[d][k] <= col.min(), (k, d)  # noqa: S101
                    assert self.rmax[d][k] >= col.max(), (k, d)  # noqa: S101
            assert self.amin[k] <= self.a_lo[lo:hi].min(), k  # noqa: S101
            assert self.amax[k] >= self.a_hi[lo:hi].max(), k  # noqa: S101
