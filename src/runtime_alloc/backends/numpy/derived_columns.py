"""The numpy table's derived columns, made at their first read.

:class:`DerivedColumns` is a mixin of :class:`.columns.Table`. A table that
another index answers for (the class index: ``Table.lazy``) keeps only the
columns it must (reserved amounts, draining and alive flags, label sets);
``capacity``, ``free_usable``, ``sequence`` and ``weight_sum`` (64 bytes per
row) are made from the runners, the other columns and ``key_of`` when a
vectorized read first asks for them, and kept in step from then on. The float
columns of the scoring (``capacity_float``, ``weight_sum_float``) are made at
their first read in every table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy.shape_groups import MASK, SHIFT

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.table_views import SharedKeys
    from runtime_alloc.runners import Runner

__all__ = ["DerivedColumns"]

_INF = math.inf
_I64 = np.int64
_F64 = np.float64


class DerivedColumns:
    """Derived columns of :class:`.columns.Table`, made when first read (a mixin)."""

    if TYPE_CHECKING:
        weights: tuple[int, int, int]
        block_size: int
        row_capacity: int
        _groups: dict[Any, list[int]]
        runners: list[Runner | None]
        key_of: dict[str, int] | SharedKeys
        reserved: list[Any]
        draining: Any
        alive: Any
        _floats: tuple[list[Any], Any] | None
        _capacity: list[Any] | None
        _free: list[Any] | None
        _sequence: Any
        _weight_sum: Any

    @property
    def capacity_float(self) -> list[Any]:
        """Per dimension, float64 capacities, ``inf`` where not scored or 0. O(rows) at first read.

        With :attr:`weight_sum_float`, made from ``capacity`` and
        ``weight_sum`` at the first read and kept in step from then on: the
        class index never reads them, so a fleet it serves holds no float
        columns (32 bytes per runner).
        """
        return self._float_columns()[0]

    @property
    def weight_sum_float(self) -> Any:  # noqa: ANN401
        """Float64 weight sums, 1.0 where 0 (see :attr:`capacity_float`). O(rows) at first read."""
        return self._float_columns()[1]

    def _float_columns(self) -> tuple[list[Any], Any]:
        floats = self._floats
        if floats is None:
            cf = []
            for d in range(3):
                cap = self.capacity[d]
                scored = cap > 0 if self.weights[d] > 0 else np.zeros(cap.shape, np.bool_)
                cf.append(np.where(scored, cap.astype(_F64), _INF))
            wsum = self.weight_sum
            floats = self._floats = (cf, np.where(wsum > 0, wsum.astype(_F64), 1.0))
        return floats

    @property
    def capacity(self) -> list[Any]:
        """Per dimension, each row's capacity (0 on an empty row). O(rows) at first read.

        Made in a lazy table from its blocks: every block of an exact capacity
        group holds that capacity (numpy writes); the rows of the power-of-two
        bucket groups, if any, are read from their runners.
        """
        caps = self._capacity
        if caps is None:
            n, bs = self.row_capacity, self.block_size
            caps = [np.zeros(n, _I64) for _ in range(3)]
            mixed: list[int] = []
            within = np.arange(bs, dtype=_I64)
            for key, blocks in self._groups.items():
                if len(key) != 3:  # a ("bucket", ...) group: capacities differ
                    mixed += blocks
                    continue
                rows = (np.asarray(blocks, dtype=_I64)[:, None] * bs + within).ravel()
                for d in range(3):
                    caps[d][rows] = key[d]
            runners = self.runners
            for k in mixed:
                for i in range(k * bs, min((k + 1) * bs, len(runners))):
                    runner = runners[i]
                    if runner is not None:
                        c = runner.capacity
                        caps[0][i], caps[1][i], caps[2][i] = c.millicpu, c.memory_bytes, c.slots
            dead = ~self.alive
            for d in range(3):
                caps[d][dead] = 0
            self._capacity = caps
        return caps

    @property
    def free_usable(self) -> list[Any]:
        """Per dimension, free amounts, -1 on an empty or draining row. O(rows) at first read."""
        free = self._free
        if free is None:
            blocked = self.draining | ~self.alive
            free = self._free = [
                np.where(blocked, -1, self.capacity[d] - self.reserved[d]) for d in range(3)
            ]
        return free

    @property
    def sequence(self) -> Any:  # noqa: ANN401
        """Registration order of each row (int64 max where never used). O(rows) at first read."""
        seq = self._sequence
        if seq is None:
            seq = self._sequence = np.full(self.row_capacity, np.iinfo(_I64).max, _I64)
            key_of = self.key_of
            if isinstance(key_of, dict):
                keys = np.fromiter(key_of.values(), _I64, len(key_of))
            else:  # the flat column of SharedKeys (-1: no runner)
                keys = np.frombuffer(key_of.keys, _I64)
                keys = keys[keys >= 0]
            seq[keys & MASK] = keys >> SHIFT
        return seq

    @property
    def weight_sum(self) -> Any:  # noqa: ANN401
        """Sum of the weights of the scored dimensions (capacity > 0). O(rows) at first read."""
        wsum = self._weight_sum
        if wsum is None:
            wsum = self._weight_sum = np.zeros(self.row_capacity, _I64)
            for d in range(3):
                if self.weights[d] > 0:
                    wsum += np.where(self.capacity[d] > 0, self.weights[d], 0)
        return wsum
