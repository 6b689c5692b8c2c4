"""The failure diagnosis of the numpy backend: the table's columns fed to the one diagnosis.

The rule (which reasons, in which order, with which counts and shortfalls)
lives in :mod:`runtime_alloc._diagnosis`; :class:`TableColumns` only supplies
the table's live rows in registration order as numpy columns and masks, so each
step of the rule is one vectorized pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc import _diagnosis
from runtime_alloc.labels import any_labels

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.backend import NumpyBackend
    from runtime_alloc.errors import AllocationError
    from runtime_alloc.resources import Resources

__all__ = ["TableColumns", "diagnose"]

_BUILTIN = {"cpu": 0, "memory": 1, "slots": 2}


class TableColumns:
    """The live rows of a numpy backend's table, in registration order, as diagnosis columns.

    Masks are bool arrays, columns int64 arrays. Every method costs O(N) numpy
    work (``label_sets`` also O(label sets) python).
    """

    def __init__(self, backend: NumpyBackend, require: frozenset[str]) -> None:
        t = self.table = backend.table
        live = np.flatnonzero(t.alive[: t.nrows])
        self.rows = live[np.argsort(t.sequence[live], kind="stable")]
        self.size = int(self.rows.size)
        self.require = require
        self._labelsets = t.labelset[self.rows]
        self._capacity: dict[str, Any] = {}

    def everyone(self) -> Any:  # noqa: ANN401
        """A mask of every row. O(R) for the R rows diagnosed."""
        return np.ones(self.size, np.bool_)

    def labels_ok(self) -> Any:  # noqa: ANN401
        """Rows whose labels include every required label (and one ``require_any``).

        Runtime complexity: O(R + S * L) for R rows diagnosed, S label sets and L required labels.
        """
        if not self.require:
            return self.everyone()
        ok = self.table.label_table(self.require)[self._labelsets]
        any_of = any_labels(self.require)
        if any_of:
            ok &= self.table.any_label_table(any_of)[self._labelsets]
        return ok

    def device_offer(self, kind: str, amount: int) -> Any:  # noqa: ANN401
        """What each row's ``kind`` devices offer ``amount`` (-1 without); None if none has.

        Runtime complexity: O(R * devices) for the R rows diagnosed.
        """
        return self.table.devices.offer(self.rows, kind, amount)

    def draining(self) -> Any:  # noqa: ANN401
        """Rows being drained. O(R) for the R rows diagnosed."""
        return self.table.draining[self.rows]

    def _column(self, dimension: str, *, reserved: bool) -> Any:  # noqa: ANN401
        t = self.table
        j = _BUILTIN.get(dimension)
        if j is not None:
            return (t.reserved if reserved else t.capacity)[j][self.rows]
        cols = t.extended.get(dimension)
        if cols is None:
            return np.zeros(self.size, np.int64)
        return cols[1 if reserved else 0][self.rows]

    def capacity(self, dimension: str) -> Any:  # noqa: ANN401
        """Each row's capacity in ``dimension`` (0 where the table has no such column).

        Runtime complexity: O(R) for the R rows diagnosed on the first call per dimension, then
        O(1).
        """
        column = self._capacity.get(dimension)
        if column is None:
            column = self._capacity[dimension] = self._column(dimension, reserved=False)
        return column

    def free(self, dimension: str) -> Any:  # noqa: ANN401
        """Each row's capacity minus reserved amount in ``dimension``.

        Runtime complexity: O(R) for the R rows diagnosed.
        """
        return self.capacity(dimension) - self._column(dimension, reserved=True)

    @staticmethod
    def at_least(column: Any, amount: int) -> Any:  # noqa: ANN401
        """Rows whose value in ``column`` is >= ``amount``. O(R) over the column."""
        return column >= amount

    @staticmethod
    def both(a: Any, b: Any) -> Any:  # noqa: ANN401
        """Rows in ``a`` and in ``b``. O(R) over the masks."""
        return a & b

    @staticmethod
    def but_not(a: Any, b: Any) -> Any:  # noqa: ANN401
        """Rows in ``a`` and not in ``b``. O(R) over the masks."""
        return a & ~b

    @staticmethod
    def first_and_count(mask: Any) -> tuple[int, int]:  # noqa: ANN401
        """The position of the first row in ``mask`` (0 when none) and their count.

        Runtime complexity: O(R) over the mask.
        """
        count = int(np.count_nonzero(mask))
        return (int(np.argmax(mask)) if count else 0), count

    @staticmethod
    def largest(column: Any, mask: Any) -> int:  # noqa: ANN401
        """The largest value of ``column`` over the non-empty ``mask``. O(R) over the mask."""
        return int(column[mask].max())

    def label_sets(self, mask: Any) -> list[tuple[frozenset[str], int, int]]:  # noqa: ANN401
        """``(labels, first position, count)`` per distinct label set of rows in ``mask``.

        Runtime complexity: O(R log R) over the mask (``np.unique`` sorts).
        """
        positions = np.flatnonzero(mask)
        if positions.size == 0:
            return []
        ids, first, counts = np.unique(
            self._labelsets[positions], return_index=True, return_counts=True
        )
        names = self.table.labelset_list
        return [
            (names[ident], int(positions[f]), c)
            for ident, f, c in zip(ids.tolist(), first.tolist(), counts.tolist(), strict=True)
        ]


def diagnose(
    backend: NumpyBackend, task_id: str, request: Resources, require: frozenset[str]
) -> AllocationError:
    """Build the same error as :func:`runtime_alloc._placement.diagnose`, vectorized. O(N)."""
    return _diagnosis.diagnose(TableColumns(backend, require), task_id, request, require)
