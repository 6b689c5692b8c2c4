"""The compiled index's direct path: the ledger's hot events in one kernel call each.

While a :class:`.NumpyBackend` answers from a :class:`.compiled_index.CompiledIndex`
and nothing else needs the events (no queued runners, no extended resources or
devices, no python scan, no subclass that overrides an event, the table's name
map going through the ledger's), the backend offers a :class:`DirectPath` as its
``direct`` attribute (None otherwise; :func:`direct_path` decides). The ledger
then

* places a request without labels or extended resources with :meth:`DirectPath.take`:
  one kernel (:func:`._direct_kernels.take`) chooses the runner and adds the
  request to its row in the index, instead of ``choose`` and ``update_reserved``;
* sends a row's new reserved amounts or draining flag with :meth:`DirectPath.put`
  (by ledger row, its own columns' values), instead of ``update_reserved``.

The numpy columns are not written on these events: the kernels note the changed
rows, and :func:`write_changed` copies their amounts and usability from the
index's own arrays before any vectorized read (:meth:`.NumpyBackend.sync`), or
when the list of changed rows fills up. So both paths leave the backend in the
same state, and every decision is the class index's (the python scan's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy.shape_groups import MASK
from runtime_alloc.backends.numpy.table_views import SharedKeys

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.backend import NumpyBackend
    from runtime_alloc.backends.numpy.columns import Table
    from runtime_alloc.backends.numpy.compiled_index import CompiledIndex
    from runtime_alloc.runners import Runner

__all__ = ["DirectPath", "direct_path", "write_changed"]

_NO_LABELS: frozenset[str] = frozenset()


class DirectPath:
    """The ledger's hot events straight to a compiled index (see the module docstring).

    Args:
        backend: the backend that offers it (it writes the columns when the
            list of changed rows fills up).
        index: the backend's compiled index.
        keys: ledger row -> the table's member (``seq << SHIFT | row``).
        runners: the table's runners by row.
    """

    __slots__ = ("_backend", "_index", "_keys", "_put", "_runners", "_take")

    def __init__(
        self,
        backend: NumpyBackend,
        index: CompiledIndex,
        keys: Any,  # noqa: ANN401 (array('q'))
        runners: list[Runner | None],
    ) -> None:
        self._backend = backend
        self._index = index
        self._keys = keys
        self._runners = runners
        from runtime_alloc.backends.numpy import _direct_kernels  # noqa: PLC0415 (numba)

        self._take, self._put = _direct_kernels.take, _direct_kernels.put

    def take(self, q0: int, q1: int, q2: int) -> str | None:
        """Choose the runner for request ``(q0, q1, q2)`` (no labels) and add it there.

        Returns the runner's name, or None (nothing changed) when no runner
        can take it. The caller does the ledger's bookkeeping and sends no
        event for it. Runtime complexity: one kernel call,
        :meth:`.CompiledIndex.choose`'s plus an update's.
        """
        ix = self._index
        cand = ix.candidates(_NO_LABELS)
        try:
            v = self._take(
                ix.ri, ix.pm, ix.ni, ix.nf, ix.tr, ix.sh, ix.sf, ix.dr, cand,
                q0, q1, q2, ix.maximize_flag, ix.stack, ix.bounds, ix.order,
            )  # fmt: skip
        except OverflowError:  # an amount beyond int64: no runner holds it
            return None
        if v < 0:
            return None
        if v & 3:
            self._status(v)
        return self._runners[v >> 2].name  # type: ignore[union-attr]

    def put(self, row: int, r0: int, r1: int, r2: int, draining: int) -> None:
        """Store ledger row ``row``'s reserved amounts and draining flag (0 or 1). One kernel call."""
        ix = self._index
        i = self._keys[row] & MASK
        status = self._put(
            ix.ri, ix.pm, ix.ni, ix.nf, ix.tr, ix.sh, ix.sf, ix.dr, i, r0, r1, r2, 1 - draining
        )
        if status:
            self._status(i << 2 | status)

    def _status(self, v: int) -> None:
        """Act on a kernel's status bits for row ``v >> 2`` (see :mod:`._direct_kernels`)."""
        from runtime_alloc.backends.numpy._direct_kernels import FULL_LIST, FULL_TREE  # noqa: PLC0415

        if v & FULL_TREE:
            self._index._place(np.array([v >> 2], np.int64))  # noqa: SLF001 (its tree was full)
        if v & FULL_LIST:
            write_changed(self._index, self._backend.table)


def direct_path(backend: NumpyBackend) -> DirectPath | None:
    """The backend's direct path, or None when an event must take the general path. O(1).

    See the module docstring for the conditions.
    """
    from runtime_alloc.backends.numpy.compiled_index import CompiledIndex  # noqa: PLC0415

    index, t = backend.classes, backend.table
    ext = backend.extended_index
    keys = t.key_of
    if (
        type(index) is not CompiledIndex
        or backend._pending  # noqa: SLF001
        or backend._scan_states is not None  # noqa: SLF001
        or not backend.plain_events
        or t.extended
        or ext._chunks  # noqa: SLF001
        or ext._classes  # noqa: SLF001
        or not isinstance(keys, SharedKeys)
        or keys.slots is not backend._rows  # noqa: SLF001
    ):
        return None
    return DirectPath(backend, index, keys.keys, t.runners)


def write_changed(index: CompiledIndex, table: Table) -> None:
    """Write the rows the direct path changed into ``table``'s columns, from ``index``. O(changed)."""
    dr = index.dr
    n = int(dr[0])
    if not n:
        return
    rows = np.unique(dr[1 : n + 1])
    state = index.ri[rows]
    table.set_rows(rows, state[:, :3], (state[:, 4] & 1) == 0)
    dr[0] = 0
