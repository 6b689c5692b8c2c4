"""Columnar runner storage for the numpy backend: rows, blocks and block summaries.

Runners live in *rows* of int64/float64 columns (one column per quantity, so
every numpy operation is a flat, contiguous loop): ``capacity[d]``,
``reserved[d]``, ``free_usable[d]`` (free amount, -1 when draining or empty),
``capacity_float[d]`` (``inf`` where dimension ``d`` is not scored),
``weight_sum``/``weight_sum_float``, ``sequence`` (registration order),
``labelset`` (id of the label set) and ``extended[name]`` ([capacity,
reserved]). Rows are grouped in blocks of ``block_size``; every block belongs
to one *group* of runners with the same capacity (or, once a fleet has very
many distinct capacities, the same power-of-two capacity bucket), and inside a
block rows follow registration order. Per block the table keeps conservative
summaries (see :mod:`.blocks` for their use):

* ``block_free_max[d]``: the most free amount of dimension ``d`` among usable
  runners (-1 when the block has none), an upper bound;
* ``block_base_score_min``/``_max``: bounds of the request-independent part
  ``a = sum_d w_d*r_d/c_d / W`` of the score (per row: ``base_score_low``/``_high``);
* ``block_reserved_min[d]``/``_max[d]``: bounds of reserved amounts, for exact
  float bounds (lemma 3 of :mod:`runtime_alloc.backends.numpy`);
* ``block_slope_min``/``_max`` (``g_d = w_d / (c_d * W)``),
  ``block_capacity_float_min[d]``/``_max[d]``, ``block_weight_sum_float`` and
  ``block_first_sequence``: static capacity terms.

A reservation change updates its row and widens the block summaries in O(1)
(a widened bound stays a valid bound); a block is tightened again whenever a
search evaluates it. Runtime complexity: O(1) amortized per update.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from runtime_alloc._ledger_views import reserved_of
from runtime_alloc.backends.numpy.devices import DeviceColumns
from runtime_alloc.runners import Runner, RunnerState

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


#: The extended amounts of a row without any (never changed).
_NO_EXTENDED: Mapping[str, int] = {}


class Table:
    """Column storage of runner states for one strategy's weights.

    Args:
        weights: the builtin weights ``(w_cpu, w_memory, w_slots)``.
        block_size: rows per block.
    """

    def __init__(
        self,
        weights: tuple[int, int, int],
        block_size: int,
        *,
        summaries: bool = True,
        ordered: bool = False,
    ) -> None:
        self.weights = weights
        self.block_size = block_size
        #: False when the backend searches another index: updates then only
        #: write the columns, and block summaries are not kept.
        self.summaries = summaries
        #: True: rows follow registration order (one group for every capacity), so
        #: the lowest row among equal scores is the runner registered first.
        self.ordered = ordered
        self.row_of: dict[str, int] = {}
        self.names: list[str | None] = []
        #: row -> the Runner (None for an empty row)
        self.runners: list[Runner | None] = []
        self.nlive = 0
        self.nextseq = 0
        self.labelsets: dict[frozenset[str], int] = {}
        self.labelset_list: list[frozenset[str]] = []
        self._groups: dict[Any, list[int]] = {}
        self.nblocks = 0
        self.fill: list[int] = []
        self.devices = DeviceColumns()
        self._allocate_rows(0, 0)

    # ------------------------------------------------------------------ storage

    def _allocate_rows(self, nrows: int, nblocks: int) -> None:
        def grow(old: Any, size: int, fill: float, dtype: Any) -> Any:  # noqa: ANN401
            new = np.full(size, fill, dtype=dtype)
            if old is not None:
                new[: len(old)] = old
            return new

        g = getattr
        self.capacity = [grow(g(self, "capacity", [None] * 3)[d], nrows, 0, _I64) for d in range(3)]
        self.reserved = [grow(g(self, "reserved", [None] * 3)[d], nrows, 0, _I64) for d in range(3)]
        self.free_usable = [
            grow(g(self, "free_usable", [None] * 3)[d], nrows, -1, _I64) for d in range(3)
        ]
        self.capacity_float = [
            grow(g(self, "capacity_float", [None] * 3)[d], nrows, _INF, _F64) for d in range(3)
        ]
        self.weight_sum = grow(g(self, "weight_sum", None), nrows, 0, _I64)
        self.weight_sum_float = grow(g(self, "weight_sum_float", None), nrows, 1.0, _F64)
        self.base_score_low = grow(g(self, "base_score_low", None), nrows, _INF, _F64)
        self.base_score_high = grow(g(self, "base_score_high", None), nrows, -_INF, _F64)
        self.sequence = grow(g(self, "sequence", None), nrows, np.iinfo(_I64).max, _I64)
        self.labelset = grow(g(self, "labelset", None), nrows, 0, np.int32)
        self.alive = grow(g(self, "alive", None), nrows, 0, np.bool_)
        self.draining = grow(g(self, "draining", None), nrows, 0, np.bool_)
        self.devices.grow(nrows)
        ext: dict[str, list[Any]] = g(self, "extended", {})
        self.extended = {
            k: [grow(v[0], nrows, 0, _I64), grow(v[1], nrows, 0, _I64)] for k, v in ext.items()
        }
        self.block_free_max = [
            grow(g(self, "block_free_max", [None] * 3)[d], nblocks, -1, _I64) for d in range(3)
        ]
        self.block_reserved_min = [
            grow(g(self, "block_reserved_min", [None] * 3)[d], nblocks, 0, _I64) for d in range(3)
        ]
        self.block_reserved_max = [
            grow(g(self, "block_reserved_max", [None] * 3)[d], nblocks, 0, _I64) for d in range(3)
        ]
        self.block_capacity_float_min = [
            grow(g(self, "block_capacity_float_min", [None] * 3)[d], nblocks, _INF, _F64)
            for d in range(3)
        ]
        self.block_capacity_float_max = [
            grow(g(self, "block_capacity_float_max", [None] * 3)[d], nblocks, 0.0, _F64)
            for d in range(3)
        ]
        self.block_base_score_min = grow(g(self, "block_base_score_min", None), nblocks, _INF, _F64)
        self.block_base_score_max = grow(
            g(self, "block_base_score_max", None), nblocks, -_INF, _F64
        )
        self.block_slope_min = grow(
            g(self, "block_slope_min", None), nblocks * 3, _INF, _F64
        ).reshape(nblocks, 3)
        self.block_slope_max = grow(
            g(self, "block_slope_max", None), nblocks * 3, -_INF, _F64
        ).reshape(nblocks, 3)
        self.block_weight_sum_float = grow(
            g(self, "block_weight_sum_float", None), nblocks, 1.0, _F64
        )
        self.block_first_sequence = grow(
            g(self, "block_first_sequence", None), nblocks, np.iinfo(_I64).max, _I64
        )
        self.row_capacity = nrows
        self.block_capacity = nblocks

    def _new_block(self) -> int:
        if self.nblocks == self.block_capacity:
            nb = max(4, self.block_capacity * 2)
            # gmin/gmax are 2-D: grow flat copies
            self.block_slope_min = self.block_slope_min.ravel()
            self.block_slope_max = self.block_slope_max.ravel()
            self._allocate_rows(nb * self.block_size, nb)
        k = self.nblocks
        self.nblocks += 1
        self.fill.append(0)
        return k

    def extended_columns(self, name: str) -> list[Any]:
        """Return ``[capacity, reserved]`` columns of an extended dimension (created on demand)."""
        cols = self.extended.get(name)
        if cols is None:
            cols = [np.zeros(self.row_capacity, _I64), np.zeros(self.row_capacity, _I64)]
            self.extended[name] = cols
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

    def any_label_table(self, any_of: frozenset[str]) -> Any:  # noqa: ANN401
        """Return a bool array over label-set ids: which sets hold one label of ``any_of``."""
        return np.fromiter(
            (not any_of.isdisjoint(s) for s in self.labelset_list),
            np.bool_,
            len(self.labelset_list),
        )

    # ------------------------------------------------------------------ runners

    def _group_key(self, cap: tuple[int, int, int]) -> Any:  # noqa: ANN401
        if cap in self._groups or len(self._groups) < MAX_EXACT_GROUPS:
            return cap
        return ("bucket", *(_bucket(c) for c in cap))

    def add_many(self, states: Iterable[RunnerState]) -> None:
        """Append runners (newest last). Runtime complexity: O(len(states)) amortized.

        One Python pass assigns rows; the columns and the touched blocks'
        summaries are then written with whole-array numpy operations.
        """
        bs = self.block_size
        self.devices.runners_changed()
        rows: list[int] = []
        caps: list[tuple[int, int, int]] = []
        reserved: list[tuple[int, int, int]] = []
        lsets: list[int] = []
        draining: list[bool] = []
        with_ext: list[tuple[int, RunnerState]] = []
        touched: set[int] = set()
        groups, fill, names, slot_of = self._groups, self.fill, self.names, self.row_of
        labelsets = self.labelsets
        for state in states:
            runner = state.runner
            c = runner.capacity
            cap = (c.millicpu, c.memory_bytes, c.slots)
            blocks = groups.get(None if self.ordered else cap)
            if blocks is None:
                blocks = groups.setdefault(None if self.ordered else self._group_key(cap), [])
            if not blocks or fill[blocks[-1]] == bs:
                blocks.append(self._new_block())
            k = blocks[-1]
            i = k * bs + fill[k]
            if fill[k] == 0:
                self.block_first_sequence[k] = self.nextseq + len(rows)
            fill[k] += 1
            touched.add(k)
            if len(names) <= i:
                names.extend([None] * (i + 1 - len(names)))
                self.runners.extend([None] * (i + 1 - len(self.runners)))
            names[i] = runner.name
            self.runners[i] = runner
            slot_of[runner.name] = i
            rows.append(i)
            caps.append(cap)
            r = state.reserved
            reserved.append((r.millicpu, r.memory_bytes, r.slots))
            labels = runner.labels
            ident = labelsets.get(labels)
            lsets.append(self.labelset_id(labels) if ident is None else ident)
            draining.append(state.draining)
            if c.extended or r.extended:
                with_ext.append((i, state))
        if not rows:
            return
        n = len(rows)
        idx = np.array(rows, dtype=_I64)
        cap_a = np.array(caps, dtype=_I64).reshape(n, 3)
        res_a = np.array(reserved, dtype=_I64).reshape(n, 3)
        drain_a = np.array(draining, dtype=np.bool_)
        self.sequence[idx] = np.arange(self.nextseq, self.nextseq + n, dtype=_I64)
        self.nextseq += n
        self.nlive += n
        self.alive[idx] = True
        self.draining[idx] = drain_a
        self.labelset[idx] = np.array(lsets, dtype=np.int32)
        wsum = np.zeros(n, dtype=_I64)
        for d in range(3):
            self.capacity[d][idx] = cap_a[:, d]
            self.reserved[d][idx] = res_a[:, d]
            self.free_usable[d][idx] = np.where(drain_a, -1, cap_a[:, d] - res_a[:, d])
            if self.weights[d] > 0:
                scored = cap_a[:, d] > 0
                self.capacity_float[d][idx] = np.where(scored, cap_a[:, d].astype(_F64), _INF)
                wsum += np.where(scored, self.weights[d], 0)
        self.weight_sum[idx] = wsum
        wsumf = np.where(wsum > 0, wsum.astype(_F64), 1.0)
        self.weight_sum_float[idx] = wsumf
        for i, state in with_ext:
            for name, count in state.runner.capacity.extended.items():
                self.extended_columns(name)[0][i] = count
            self._update_ext(state.reserved.extended, i)
            if state.devices:
                self.devices.set(i, state.devices)
        # static per-block capacity terms (blocks hold one capacity group)
        for d in range(3):
            cf = self.capacity_float[d][idx]
            g = np.where(cf != _INF, self.weights[d] / cf / wsumf, 0.0)
            blk = idx // bs
            np.minimum.at(self.block_slope_min[:, d], blk, g)
            np.maximum.at(self.block_slope_max[:, d], blk, g)
            np.minimum.at(self.block_capacity_float_min[d], blk, cf)
            np.maximum.at(self.block_capacity_float_max[d], blk, cf)
        self.block_weight_sum_float[idx // bs] = wsumf
        if not self.summaries:
            return
        a = np.zeros(n, dtype=_F64)
        for d in range(3):
            if self.weights[d] > 0:
                a += np.where(
                    cap_a[:, d] > 0, self.weights[d] * res_a[:, d] / np.maximum(cap_a[:, d], 1), 0.0
                )
        a /= wsumf
        self.base_score_low[idx] = np.where(drain_a, _INF, a)
        self.base_score_high[idx] = np.where(drain_a, -_INF, a)
        for k in touched:
            self.refresh(k)
            self.refresh_reserved(k)

    def remove(self, name: str) -> None:
        """Forget a runner; its row stays empty until the next rebuild. O(1)."""
        i = self.row_of.pop(name)
        self.devices.runners_changed()
        self.names[i] = None
        self.runners[i] = None
        self.nlive -= 1
        self.alive[i] = False
        self.draining[i] = False
        for d in range(3):
            self.free_usable[d][i] = -1
            self.capacity[d][i] = 0
            self.reserved[d][i] = 0
        self.base_score_low[i] = _INF
        self.base_score_high[i] = -_INF
        for cols in self.extended.values():
            cols[0][i] = 0
            cols[1][i] = 0
        self.devices.clear(i)

    def update(self, state: RunnerState, i: int | None = None) -> None:
        """Store a runner's reserved amounts and draining flag; widen its block's bounds. O(1)."""
        if i is None:
            i = self.row_of[state.runner.name]
        r = state.reserved
        self.set_row(i, (r.millicpu, r.memory_bytes, r.slots), r.extended, state.draining)

    def set_row(
        self,
        i: int,
        res: tuple[int, int, int],
        extended: Mapping[str, int] | None,
        draining: bool,
    ) -> None:
        """Store row ``i``'s reserved amounts and draining flag; widen its block's bounds. O(1)."""
        ext = extended or _NO_EXTENDED
        c = (self.capacity[0].item(i), self.capacity[1].item(i), self.capacity[2].item(i))
        usable = not draining
        self.draining[i] = draining
        free = (c[0] - res[0], c[1] - res[1], c[2] - res[2])
        if not self.summaries:
            for d in range(3):
                self.reserved[d][i] = res[d]
                self.free_usable[d][i] = free[d] if usable else -1
            if self.extended or ext:
                self._update_ext(ext, i)
            return
        k = i // self.block_size
        a = 0.0
        w = self.weights
        bs = self.block_size
        lo = k * bs
        for d in range(3):
            self.reserved[d][i] = res[d]
            free_column = self.free_usable[d]
            old_free = free_column.item(i)
            free_column[i] = free[d] if usable else -1
            if w[d] and (cd := c[d]) > 0:
                a += w[d] * res[d] / cd
            most_free = self.block_free_max[d]
            if usable and free[d] > most_free.item(k):
                most_free[k] = free[d]
            elif old_free >= most_free.item(k) > free_column.item(i):
                most_free[k] = free_column[
                    lo : lo + bs
                ].max()  # the block's most free runner shrank
            if usable:
                if res[d] < self.block_reserved_min[d].item(k):
                    self.block_reserved_min[d][k] = res[d]
                if res[d] > self.block_reserved_max[d].item(k):
                    self.block_reserved_max[d][k] = res[d]
        a /= self.weight_sum_float.item(i)
        old_lo, old_hi = self.base_score_low.item(i), self.base_score_high.item(i)
        self.base_score_low[i] = a if usable else _INF
        self.base_score_high[i] = a if usable else -_INF
        amin, amax = self.block_base_score_min.item(k), self.block_base_score_max.item(k)
        if usable and a < amin:
            self.block_base_score_min[k] = a
        elif old_lo <= amin < self.base_score_low.item(i):
            self.block_base_score_min[k] = self.base_score_low[
                lo : lo + bs
            ].min()  # the block's minimum rose
        if usable and a > amax:
            self.block_base_score_max[k] = a
        elif old_hi >= amax > self.base_score_high.item(i):
            self.block_base_score_max[k] = self.base_score_high[
                lo : lo + bs
            ].max()  # the block's maximum fell
        if self.extended or ext:
            self._update_ext(ext, i)

    def set_rows(self, rows: Any, reserved: Any, draining: Any) -> None:  # noqa: ANN401
        """:meth:`set_row` for many rows at once, without extended amounts or summaries.

        Args:
            rows: int64 array of distinct rows.
            reserved: int64 array of shape ``(len(rows), 3)``.
            draining: bool array.

        Runtime complexity: O(len(rows)) numpy work.
        """
        self.draining[rows] = draining
        for d in range(3):
            res = reserved[:, d]
            self.reserved[d][rows] = res
            self.free_usable[d][rows] = np.where(draining, -1, self.capacity[d][rows] - res)

    def state_at(self, i: int) -> RunnerState:
        """Build the :class:`RunnerState` of row ``i`` from the columns. O(dimensions)."""
        ext = {name: cols[1].item(i) for name, cols in self.extended.items() if cols[1].item(i)}
        return RunnerState(
            self.runners[i],  # type: ignore[arg-type]
            reserved_of(
                self.reserved[0].item(i), self.reserved[1].item(i), self.reserved[2].item(i), ext
            ),
            bool(self.draining.item(i)),
            *((self.devices.use[i],) if i in self.devices.use else ()),
        )

    def _update_ext(self, ext: Mapping[str, int], i: int) -> None:
        for name, cols in self.extended.items():
            cols[1][i] = ext.get(name, 0)
        for name, count in ext.items():
            if name not in self.extended:
                self.extended_columns(name)[1][i] = count

    def refresh(self, k: int) -> None:
        """Make block ``k``'s free and score bounds exact again. O(block_size)."""
        lo, hi = k * self.block_size, (k + 1) * self.block_size
        for d in range(3):
            self.block_free_max[d][k] = self.free_usable[d][lo:hi].max()
        self.block_base_score_min[k] = self.base_score_low[lo:hi].min()
        self.block_base_score_max[k] = self.base_score_high[lo:hi].max()

    def refresh_reserved(self, k: int) -> None:
        """Make block ``k``'s reserved bounds exact again. O(block_size)."""
        lo, hi = k * self.block_size, (k + 1) * self.block_size
        usable = self.free_usable[2][lo:hi] >= 0
        if not usable.any():
            return
        for d in range(3):
            col = self.reserved[d][lo:hi][usable]
            self.block_reserved_min[d][k] = col.min()
            self.block_reserved_max[d][k] = col.max()

    # ------------------------------------------------------------------ checks

    @property
    def nrows(self) -> int:
        """Slots in use (live or emptied), i.e. ``nblocks * block_size``."""
        return self.nblocks * self.block_size
