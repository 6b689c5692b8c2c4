"""The block summaries of the numpy backend's runner table, and their upkeep.

Rows of :class:`.columns.Table` are grouped in blocks of ``block_size``; per
block the table keeps conservative summaries (see :mod:`.blocks` for their use):

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
(a widened bound stays a valid bound, :meth:`BlockBounds.set_row`); a block is
tightened again whenever a search evaluates it (:meth:`BlockBounds.refresh`,
:meth:`BlockBounds.refresh_reserved`). Runtime complexity: O(1) amortized per update.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.protocol import ExtendedAmounts, ReservedAmounts

__all__ = ["BlockBounds", "grow"]

_INF = math.inf
_I64 = np.int64
_F64 = np.float64

#: The extended amounts of a row without any (never changed).
_NO_EXTENDED: Mapping[str, int] = {}


def grow(old: Any, size: int, fill: float, dtype: Any) -> Any:  # noqa: ANN401
    """A column of ``size`` entries: ``old`` (None: none) followed by ``fill``. O(size)."""
    new = np.full(size, fill, dtype=dtype)
    if old is not None:
        new[: len(old)] = old
    return new


class BlockBounds:
    """The block summaries of :class:`.columns.Table` (a mixin; the row columns are the table's)."""

    if TYPE_CHECKING:
        weights: tuple[int, int, int]
        block_size: int
        summaries: bool
        reserved: list[Any]
        _free: list[Any] | None

        @property
        def capacity(self) -> list[Any]:
            """The table's capacities (made at the first read)."""

        @property
        def free_usable(self) -> list[Any]:
            """The table's free amounts, -1 where not usable (made at the first read)."""

        @property
        def capacity_float(self) -> list[Any]:
            """The table's float capacities (made at the first read)."""

        @property
        def weight_sum_float(self) -> Any:  # noqa: ANN401
            """The table's float weight sums (made at the first read)."""

        base_score_low: Any
        base_score_high: Any
        draining: Any
        extended: dict[str, list[Any]]

        def _update_ext(self, ext: Mapping[str, int], i: int) -> None: ...

    def _allocate_blocks(self, nblocks: int) -> None:
        """Grow every block summary column to ``nblocks`` entries. O(nblocks)."""
        g = getattr
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

    def _summarize_added(  # noqa: PLR0917 (the columns add_many has just written)
        self,
        idx: Any,  # noqa: ANN401
        cap_a: Any,  # noqa: ANN401
        res_a: Any,  # noqa: ANN401
        drain_a: Any,  # noqa: ANN401
        wsumf: Any,  # noqa: ANN401
        touched: set[int],
    ) -> None:
        """Summarize the rows ``idx`` just added, in blocks ``touched``. O(len(idx) + blocks)."""
        n = len(idx)
        bs = self.block_size
        # static per-block capacity terms (blocks hold one capacity group)
        for d in range(3):
            # the rows' capacity_float, from the added capacities (the table's float
            # columns are made only when a search reads them)
            cap = cap_a[:, d]
            scored = cap > 0 if self.weights[d] > 0 else np.zeros(n, np.bool_)
            cf = np.where(scored, cap.astype(_F64), _INF)
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

    def set_row(
        self, i: int, res: ReservedAmounts, extended: ExtendedAmounts, draining: bool
    ) -> None:
        """Store row ``i``'s reserved amounts and draining flag; widen its block's bounds. O(1)."""
        ext = extended or _NO_EXTENDED
        usable = not draining
        self.draining[i] = draining
        if not self.summaries:
            free_columns = self._free  # None until a vectorized read made them
            for d in range(3):
                self.reserved[d][i] = res[d]
                if free_columns is not None:
                    free_columns[d][i] = self.capacity[d].item(i) - res[d] if usable else -1
            if self.extended or ext:
                self._update_ext(ext, i)
            return
        c = (self.capacity[0].item(i), self.capacity[1].item(i), self.capacity[2].item(i))
        free = (c[0] - res[0], c[1] - res[1], c[2] - res[2])
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
