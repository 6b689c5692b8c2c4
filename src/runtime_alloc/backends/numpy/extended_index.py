"""The extended-resource index of the numpy backend: chunks of the rows that declare a kind.

A request that asks extended resources (pooled ones such as ``fpga=2``, or
device kinds such as ``gpu="500m"``) can only land on a runner whose capacity
of each requested resource is > 0 (requests hold no zeros). For each tuple of
requested names, :class:`ExtendedIndex` keeps those rows (the rows declaring
the first name) sorted by capacity, then registration order, and cut into
chunks of at most ``size`` rows that never straddle two capacities (unless the
fleet has more capacities than chunks). It keeps each row's values as
:meth:`.NumpyBackend.feasible` and :meth:`.NumpyBackend.scores` compute them,
and per chunk, over its usable rows (not draining, not removed):

* the most free amount of cpu, memory, slots and each requested resource, and
  for a device kind the largest free share and the most wholly free devices
  (a row without devices of the kind counts as unbounded there: its pooled
  column decides alone, as in :class:`.devices.DeviceColumns`);
* the least and most base score ``a`` and slope ``g`` per scored dimension
  (the score is ``a + q . g``), for the real-valued bound;
* the least and most reserved amount, float capacity and float weight sum,
  for the exact float bound (lemma 6 of :mod:`runtime_alloc.backends.numpy`);
* the least registration sequence of its rows.

A decision drops the chunks whose most free amounts cannot hold the request,
then evaluates chunks best real-valued bound first (lemma 4) until one has a
feasible row; of the rest it keeps the chunks whose bound comes within the
tolerance of the best score, drops those whose exact float bound is worse, or
equal with a least sequence after the best row's (lemmas 2, 3 and 6), and
evaluates the others. Evaluating a chunk is the vectorized scan restricted to
its rows, on the same values with the same operations (lemma 1).

Upkeep: the backend reports every changed row (:meth:`ExtendedIndex.touch`);
before the next decision their values are read again and their chunks
summarized again (O(chunk) numpy work each), so the bounds are always exact
summaries. Adding or removing runners drops the index; it is rebuilt,
O(N log N), at the next extended request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy.device_classes import DeviceClasses
from runtime_alloc.backends.numpy.extended_chunks import Chunks
from runtime_alloc.devices import DEVICE_MILLI

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.backend import NumpyBackend
    from runtime_alloc.resources import Resources

__all__ = ["ExtendedIndex"]

_INF = np.inf
_I64 = np.int64
#: The most name sets indexed at once (a fleet asked for more falls back to the scan).
MAX_KEYS = 16
#: Relative slack for pruning on real-valued bounds (lemma 4).
_TOL = 1e-9
#: The most touched rows remembered for the chunks; beyond, they are dropped and rebuilt.
MAX_TOUCHED = 4096


class ExtendedIndex:
    """Per tuple of requested extended names, the :class:`Chunks` of the rows that declare them.

    Requests that ask a device kind (a share of one device or whole devices)
    are answered by the per-shape class heaps of :mod:`.device_classes` instead
    (pure Python, O(log n) upkeep per change), unless ``classes`` is False or the
    rows have more than :data:`.device_classes.MAX_GROUPS` shapes.

    Args:
        backend: the numpy backend whose table the chunks summarize.
        size: rows per chunk; None picks about the square root of the rows indexed.
        classes: answer device requests from :class:`.DeviceClasses` (tests turn
            it off to exercise the chunks on the same requests).
    """

    def __init__(
        self, backend: NumpyBackend, size: int | None = None, *, classes: bool = True
    ) -> None:
        self._backend = backend
        self._size = size
        self._chunks: dict[tuple[str, ...], Chunks] = {}
        self._classes: dict[tuple[str, ...], DeviceClasses | None] = {}
        self._use_classes = classes
        self._touched: set[int] = set()

    def clear(self) -> None:
        """Drop every index (runners were added or removed, or the table was rebuilt). O(1)."""
        self._chunks.clear()
        self._classes.clear()
        self._touched.clear()

    def touch(self, row: int) -> None:
        """Note that row ``row`` changed; it is read again before the next decision. O(1).

        Beyond :data:`MAX_TOUCHED` rows the chunks are dropped (rebuilt, O(N log N)
        numpy, when next asked); the class heaps keep the rows (at most one entry per
        row), since reading them again costs less than a rebuild in Python.
        """
        touched = self._touched
        if self._chunks or self._classes:
            touched.add(row)
            if len(touched) > MAX_TOUCHED and self._chunks:
                self._chunks.clear()
                if not self._classes:
                    touched.clear()

    def _apply_touched(self) -> None:
        touched = self._touched
        if touched:
            for classes in self._classes.values():
                if classes is not None:
                    classes.touch(touched)
            if self._chunks:
                self._backend.sync()  # the chunks read the columns
                rows = np.fromiter(touched, _I64, len(touched))
                for chunks in self._chunks.values():
                    chunks.update(rows)
            touched.clear()

    def _fresh(self, names: tuple[str, ...]) -> Chunks | None:
        self._apply_touched()
        chunks = self._chunks.get(names)
        if chunks is None:
            if len(self._chunks) >= MAX_KEYS:
                return None
            chunks = self._chunks[names] = Chunks(self._backend, names, self._size)
        return chunks

    def indexed(self) -> list[tuple[str, ...]]:
        """The tuples of names indexed now (for tests and diagnostics). O(1)."""
        return [*self._chunks, *(k for k, v in self._classes.items() if v is not None)]

    def _device_classes(self, request: Resources) -> DeviceClasses | None:
        """The class heaps that answer ``request``, built on first use; None: the chunks answer."""
        if not self._use_classes:
            return None
        names = tuple(request.extended)
        share = self._backend.table.devices.share
        if not any(x in share for x in names):
            return None  # no device kind asked: the chunks answer
        for x, milli in request.extended.items():
            if x in share and milli > DEVICE_MILLI and milli % DEVICE_MILLI:
                return None  # not a device request (the ledger refuses it first)
        if names in self._classes:
            return self._classes[names]
        if len(self._classes) >= MAX_KEYS:
            return None
        classes = DeviceClasses(self._backend, names)
        self._classes[names] = None if classes.too_many else classes
        return self._classes[names]

    def choose(self, request: Resources, require: frozenset[str]) -> int | None:
        """Return the row the python scan picks for ``request`` (-1 for none); None: not indexed.

        The backend's lazy column writes are made here when chunks answer (the
        class heaps of :mod:`.device_classes` read the pending changes). Chunks are
        evaluated best real-valued bound first (lemma 4) until the next bound
        cannot reach the best score found; a near tie is settled by the chunk's
        exact float bound (lemmas 3 and 6) and the registration sequence (lemma 2).

        Runtime complexity: O(chunks + touched rows) numpy work, plus O(chunk)
        per chunk evaluated (best bound first; usually one or two).
        """
        names = tuple(request.extended)
        classes = self._classes.get(names)
        if classes is not None:  # the usual case: a device request on class heaps built
            self._apply_touched()
            found = classes.choose(request, require)
            if found is not None:
                return found
        t = self._backend.table
        if any(x not in t.extended for x in names):
            return -1  # no runner declares it
        self._apply_touched()
        classes = self._device_classes(request)
        if classes is not None:
            found = classes.choose(request, require)
            if found is not None:
                return found
        self._backend.sync()  # the chunks read the columns
        chunks = self._fresh(names)
        if chunks is None:
            return None
        if not chunks.nchunks:
            return -1
        backend = self._backend
        key = chunks.key(request)
        cand = np.flatnonzero(chunks.candidates(request))
        order = cand[np.argsort(key[cand], kind="stable")].tolist()
        best: tuple[float, int] = (_INF, -1)
        pos = 0
        while best[1] < 0 and pos < len(order):  # best bound first, to the first feasible row
            best = self._evaluate(chunks, order[pos], request, require, best)
            pos += 1
        if best[1] < 0 or pos == len(order):
            return best[1]
        # the chunks whose bound comes within the tolerance of the best score (lemma 4)
        # may still hold a better row or an equal one registered earlier: their exact
        # float bounds (lemmas 3 and 6), at once, keep the ones that can
        rest = np.array(order[pos:], dtype=_I64)
        limit = best[0] + _TOL * (1.0 + abs(best[0]))
        rest = rest[: int(np.searchsorted(key[rest], limit, side="right"))]
        if not rest.size:
            return best[1]
        exact = chunks.bound(request, rest)
        exact_key = -exact if backend.maximize else exact
        best_sequence = self._backend.table.sequence.item(best[1])
        keep = (exact_key < best[0]) | (
            (exact_key == best[0]) & (chunks.first_sequence[rest] <= best_sequence)
        )
        rest = rest[keep]
        if not rest.size:
            return best[1]
        # one vectorized scan of the kept chunks' rows (the answer of scanning them one by one)
        span, _ = chunks.positions_of(rest)
        return self._evaluate(chunks, span, request, require, best)[1]

    def _evaluate(
        self,
        chunks: Chunks,
        k: int | Any,  # noqa: ANN401
        request: Resources,
        require: frozenset[str],
        best: tuple[float, int],
    ) -> tuple[float, int]:
        """The better of chunk ``k``'s best row and ``best`` ((score key, row); lemma 2 on ties).

        ``k`` is a chunk or an int64 array of positions (several chunks' rows).
        """
        s, r = chunks.evaluate(chunks.members(k) if isinstance(k, int) else k, request, require)
        if r < 0:
            return best
        sk = -s if self._backend.maximize else s
        sequence = self._backend.table.sequence
        if (
            best[1] < 0
            or sk < best[0]
            or (sk == best[0] and sequence.item(r) < sequence.item(best[1]))
        ):
            return (sk, r)
        return best

    def check(self) -> None:
        """Assert that every index equals one built afresh from the columns (for tests). O(N)."""
        self._apply_touched()
        for classes in self._classes.values():
            if classes is not None:
                classes.check()
        for chunks in self._chunks.values():
            fresh = Chunks(self._backend, chunks.names, self._size)
            for field in ("rows", "starts", "first_sequence", "usable", "iv", "fv"):
                assert np.array_equal(getattr(fresh, field), getattr(chunks, field)), field  # noqa: S101
            for field in ("imax", "imin", "fmax", "fmin"):
                assert np.array_equal(getattr(fresh, field), getattr(chunks, field)), field  # noqa: S101
