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
rows, and :func:`.changed_rows.write_changed` copies their amounts and usability from the
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
    from runtime_alloc.backends.numpy.compiled_index import CompiledIndex
    from runtime_alloc.runners import Runner

__all__ = ["DirectPath", "compiled_code", "direct_path"]

_NO_LABELS: frozenset[str] = frozenset()

#: the backend's methods the direct path stands in for: a subclass overriding one gets events
_EVENTS = ("choose", "update", "update_reserved", "remove", "diagnose")


class DirectPath:
    """The ledger's hot events straight to a compiled index (see the module docstring).

    Args:
        index: the backend's compiled index (its ``columns`` are the backend's table).
        keys: ledger row -> the table's member (``seq << SHIFT | row``).
        runners: the table's runners by row.
    """

    __slots__ = ("_cand", "_index", "_keys", "_runners", "_take")

    def __init__(
        self,
        index: CompiledIndex,
        keys: Any,  # noqa: ANN401 (array('q'))
        runners: list[Runner | None],
    ) -> None:
        self._index = index
        self._keys = keys
        self._runners = runners
        #: the shapes a request without labels may go to (they change only with a new path)
        self._cand = index.candidates(_NO_LABELS)
        from runtime_alloc.backends.numpy import _direct_kernels  # noqa: PLC0415 (numba)

        ix = index
        self._take = compiled_code(
            _direct_kernels.take,
            (
                ix.ri, ix.pm, ix.ni, ix.nf, ix.tr, ix.sh, ix.sf, ix.dr, -1, 0, 0, 0, 0,
                self._cand, 0, 0, 0, ix.maximize_flag, ix.stack, ix.bounds, ix.order,
            ),
        )  # fmt: skip

    def take(self, q0: int, q1: int, q2: int) -> str | None:
        """Choose the runner for request ``(q0, q1, q2)`` (no labels) and add it there.

        Returns the runner's name, or None (nothing reserved) when no runner
        can take it. The caller does the ledger's bookkeeping and sends no
        event for it. The deferred update of :meth:`put` is stored first, in
        the same kernel call. Runtime complexity: one kernel call,
        :meth:`.CompiledIndex.choose`'s plus two updates'.
        """
        ix = self._index
        w = ix.wait
        w0, w1, w2, wu = ix.waiting
        try:
            v: int = self._take(
                ix.ri, ix.pm, ix.ni, ix.nf, ix.tr, ix.sh, ix.sf, ix.dr, w, w0, w1, w2, wu,
                self._cand, q0, q1, q2, ix.maximize_flag, ix.stack, ix.bounds, ix.order,
            )  # fmt: skip
        except OverflowError:  # an amount beyond int64: no runner holds it
            ix.settle()
            return None
        ix.wait = -1
        if v < 0:
            if v == -1:
                return None
            ix.after(w, -4 - v)  # the deferred update's status: act, then decide
            return self.take(q0, q1, q2)
        if v & 3:
            ix.after(v >> 2, v & 3)
        return self._runners[v >> 2].name  # type: ignore[union-attr]

    def put(self, row: int, r0: int, r1: int, r2: int, draining: int) -> None:
        """Store ledger row ``row``'s reserved amounts and draining flag (0 or 1). O(1).

        The update is deferred to the index's next kernel call (the next
        :meth:`take` stores it in the same call; any other use of the index
        first stores it, :meth:`.CompiledIndex.settle`); a second one in a row
        stores the first now.
        """
        ix = self._index
        if ix.wait >= 0:
            ix.settle()
        ix.waiting = (r0, r1, r2, 1 - draining)
        ix.wait = self._keys[row] & MASK

    def put_many(
        self,
        rows: list[int],
        cpu: Any,  # noqa: ANN401 (array('q') by ledger row, as the next two)
        memory: Any,  # noqa: ANN401
        slots: Any,  # noqa: ANN401
        draining: Any,  # noqa: ANN401 (bytearray by ledger row)
    ) -> None:
        """:meth:`put` for distinct ledger ``rows``, their amounts read from the ledger's columns.

        Few rows (under an eighth of the index's) go one :meth:`put` each. For
        more (``allocate_many`` touching much of the fleet), their amounts,
        tiers and usability are written into the index's rows at once, the
        trees laid out again from them (:meth:`.CompiledIndex._layout`, as a
        build does: the same answers, see :mod:`.compiled_index`) and the
        rows' numpy columns written. Runtime complexity: O(len(rows)) puts, or
        O(n log n) numpy and one O(n) kernel for n indexed rows.
        """
        ix = self._index
        if len(rows) * 8 < len(ix.ri):
            put = self.put
            for row in rows:
                put(row, cpu[row], memory[row], slots[row], draining[row])
            return
        ix.settle()
        at = np.array(rows, np.int64)
        trow = np.frombuffer(self._keys, np.int64)[at] & MASK
        amounts = np.stack([np.frombuffer(c, np.int64)[at] for c in (cpu, memory, slots)], axis=1)
        usable = np.frombuffer(draining, np.uint8)[at] == 0
        ri, ntiers = ix.ri, ix.ntiers
        shape = (ri[trow, 4] >> 1) // ntiers
        tier = ix.tiers(shape, amounts[:, 0])
        ri[trow, :3] = amounts
        ri[trow, 4] = (shape * ntiers + tier) * 2 + usable
        ix._layout()  # noqa: SLF001
        if ix.columns is not None:
            ix.columns.set_rows(trow, amounts, ~usable)


def compiled_code(kernel: Any, args: tuple[Any, ...]) -> Any:  # noqa: ANN401 (numba)
    """``kernel``'s compiled code for the types of ``args``, called without numba's dispatch.

    numba's dispatcher finds the types of a call's 21 arguments and their
    compiled code on every call (about 0.2 µs of its 0.65 here); the direct
    path's arguments always have the same types (the index's arrays are made
    C-contiguous, of fixed dtypes and ranks; the rest are ints), so it looks
    the code up once. Its wrapper still checks each argument's kind and range
    (an int beyond int64 raises OverflowError, as the dispatcher does).
    O(1) (a compile the first time these types are seen).
    """
    sig = tuple(kernel.typeof_pyval(a) for a in args)
    code = kernel.overloads.get(sig)
    if code is None:
        kernel.compile(sig)
        code = kernel.overloads[sig]
    return code.entry_point


def direct_path(backend: NumpyBackend, base: type[NumpyBackend]) -> DirectPath | None:
    """The backend's direct path, or None when an event must take the general path. O(1).

    See the module docstring for the conditions; ``base`` is the backend class
    whose events the direct path stands in for (a subclass overriding one gets events).
    """
    if backend.name != "compiled":  # no compiled index: numba stays unimported
        return None
    from runtime_alloc.backends.numpy.compiled_index import CompiledIndex  # noqa: PLC0415

    index, t = backend.classes, backend.table
    kind = type(backend)
    ext = backend.extended_index
    keys = t.key_of
    if (
        type(index) is not CompiledIndex
        or backend._pending  # noqa: SLF001
        or backend._scan_states is not None  # noqa: SLF001
        or any(getattr(kind, event) is not getattr(base, event) for event in _EVENTS)
        or t.extended
        or ext._chunks  # noqa: SLF001
        or ext._classes  # noqa: SLF001
        or not isinstance(keys, SharedKeys)
        or keys.slots is not backend._rows  # noqa: SLF001
    ):
        return None
    index.columns = t
    return DirectPath(index, keys.keys, t.runners)
