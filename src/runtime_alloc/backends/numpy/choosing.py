"""Scoring and choosing for the numpy backend: which index answers a request.

:class:`Choosing` is a mixin of :class:`.backend.NumpyBackend` (whose
:mod:`.backend` keeps the indexes in step with the ledger's events): the
vectorized scores and feasibility of rows (the python scan's arithmetic, lemma
1 of :mod:`runtime_alloc.backends.numpy`), and the dispatch of ``choose``,
``plan`` and ``diagnose`` to the index that answers: the vectorized scan of
small fleets, the per-shape r-class heaps of :mod:`.shape_classes`, the block
search of :mod:`.blocks`, the chunks of :mod:`.extended_index`, the batch plan
of :mod:`.batch`, or the python scan for strategies without a LinearScore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc import _placement
from runtime_alloc.backends.numpy import batch, blocks, diagnose
from runtime_alloc.backends.numpy.feasibility import free_at_least
from runtime_alloc.backends.numpy.scan import ScanArrays
from runtime_alloc.labels import any_labels

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.columns import Table
    from runtime_alloc.backends.numpy.compiled_index import CompiledIndex
    from runtime_alloc.backends.numpy.extended_index import ExtendedIndex
    from runtime_alloc.backends.numpy.shape_classes import ClassIndex
    from runtime_alloc.errors import AllocationError
    from runtime_alloc.resources import Resources
    from runtime_alloc.runners import RunnerState
    from runtime_alloc.strategies import LinearScore, Strategy

__all__ = ["Choosing"]

_INF = np.inf


class Choosing:
    """The scoring and choosing half of :class:`.backend.NumpyBackend` (a mixin).

    The functions of :mod:`.blocks`, :mod:`.batch` and :mod:`.diagnose` take the
    backend itself: ``self`` is always a :class:`.backend.NumpyBackend`.
    """

    if TYPE_CHECKING:  # the backend's state, set by NumpyBackend
        table: Table
        weights: tuple[int, int, int]
        spec: LinearScore
        maximize: bool
        vectorized: bool
        scanning: bool
        classes: ClassIndex | CompiledIndex | None
        extended_index: ExtendedIndex
        _arrays: ScanArrays | None
        _pending: list[Any]  # RunnerState, or the Runner of a new empty one
        _scan_states: dict[str, RunnerState] | None
        _strategy: Strategy

        def flush(self) -> None:
            """Index queued runners (:meth:`.NumpyBackend.flush`)."""

        def sync(self) -> None:
            """Write the lazily kept changes (:meth:`.NumpyBackend.sync`)."""

    # ------------------------------------------------------------------ scoring

    def scores(self, idx: Any, request: Resources, times: Any = None) -> Any:  # noqa: ANN401
        """Return the float64 scores of rows ``idx`` for ``request``, exactly as the python path.

        Args:
            idx: a slice or an index array of rows.
            request: the request.
            times: optional int64 array: score the placement of the ``times``-th
                copy of ``request`` (reserved + times * request) instead.

        Runtime complexity: O(len(idx) * dimensions).
        """
        t = self.table
        q = (request.millicpu, request.memory_bytes, request.slots)
        used = [t.reserved[d][idx] + (q[d] if times is None else q[d] * times) for d in range(3)]
        capacity = [t.capacity_float[d][idx] for d in range(3)]
        weights = list(self.weights)
        if not request.extended:
            return self.spec.vector(used, capacity, weights) / t.weight_sum_float[idx]  # lemma 1
        wsum = t.weight_sum[idx].copy()
        for name, count in request.extended.items():
            w = self.spec.weight(name)
            cols = t.extended.get(name)
            if not w or cols is None:
                continue
            cap = cols[0][idx]
            scored = cap > 0
            used.append(cols[1][idx] + (count if times is None else count * times))
            capacity.append(np.where(scored, cap.astype(np.float64), _INF))
            weights.append(w)
            wsum += np.where(scored, w, 0)
        total = self.spec.vector(used, capacity, weights)
        return total / np.where(wsum > 0, wsum, 1).astype(np.float64)

    def feasible(self, idx: Any, request: Resources, require: frozenset[str]) -> Any:  # noqa: ANN401
        """Return a bool array: which rows ``idx`` can take ``request`` now. O(len(idx)).

        The array-column kernel :func:`.feasibility.free_at_least`, plus labels.
        """
        t = self.table
        usable = t.free_usable
        free = [usable[0][idx], usable[1][idx], usable[2][idx]]
        amounts = [request.millicpu, request.memory_bytes, request.slots]
        for name, count in request.extended.items():
            cols = t.extended.get(name)
            if cols is None:
                return np.zeros(free[0].shape, np.bool_)
            free.append(cols[0][idx] - cols[1][idx])
            amounts.append(count)
        ok = free_at_least(free, amounts)
        if require:
            ok &= t.label_table(require)[t.labelset[idx]]
            any_of = any_labels(require)  # a LabelRule: one of these labels too
            if any_of:
                ok &= t.any_label_table(any_of)[t.labelset[idx]]
        for name, count in request.extended.items():
            fit = t.devices.mask(idx, name, count)  # device kinds: see .devices
            if fit is not None:
                ok &= fit
        return ok

    # ------------------------------------------------------------------ choosing

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        """Return the name of the runner the python backend would pick, or None.

        Runtime complexity: with the class index, O(shapes * tiers) heap peeks
        plus O(log N) per r-class popped (see :mod:`.shape_classes`);
        with the block index O(N / block_size + block_size) numpy work in the
        common case; for extended-resource requests O(chunks + chunk) numpy
        work in the common case (see :mod:`.extended_index`); the python
        scan's O(N) for custom strategies.
        """
        if self._pending:
            self.flush()
        if self._scan_states is not None:
            state = _placement.choose(self._scan_states.values(), self._strategy, request, require)
            return None if state is None else state.name
        if request.extended._data or (require and any_labels(require)):  # noqa: SLF001
            found = (  # extended resources and devices: their index (it syncs what it reads)
                self.extended_index.choose(request, require)
                if request.extended and not self.scanning
                else None
            )
            if found is None:
                self.sync()  # label ORs, small fleets: the scan
                row = self._scan(self._candidates(request), request, require)
            else:
                row = found
        elif self.classes is not None:  # the common case first (classes never scan)
            row = self.classes.choose(
                (request.millicpu, request.memory_bytes, request.slots), require
            )
        elif self.scanning:
            arrays = self._arrays
            if arrays is None:
                self.sync()
                arrays = self._arrays = ScanArrays(self.table, self.weights, maximize=self.maximize)
            row = arrays.choose(self.table, request, require)
        else:
            row = blocks.search(self, request, require)  # type: ignore[arg-type]
        return None if row < 0 else self.table.runners[row].name  # type: ignore[union-attr]

    def _candidates(self, request: Resources) -> Any:  # noqa: ANN401
        """Rows that may take ``request``: those declaring its first extended resource, or all.

        A row without capacity of a requested extended resource is infeasible for it
        (requests hold no zeros), so the scan of the others has the full scan's answer.
        O(1) when cached, O(N) after runners changed.
        """
        t = self.table
        for name in request.extended:
            cols = t.extended.get(name)
            if cols is None:
                return slice(0, 0)
            return t.devices.rows_with(name, cols[0][: t.nrows])
        return slice(0, t.nrows)

    def _scan(self, idx: Any, request: Resources, require: frozenset[str]) -> int:  # noqa: ANN401
        """Best row among ``idx`` (a slice or index array), ties to the lowest sequence."""
        ok = self.feasible(idx, request, require)
        if isinstance(idx, slice):
            rows = np.flatnonzero(ok) + (idx.start or 0)
        else:
            rows = idx[ok]
        if not rows.size:
            return -1
        score = self.scores(rows, request)  # row by row the same floats as over idx
        best = score.max() if self.maximize else score.min()
        hits = rows[score == best]
        return int(hits[self.table.sequence[hits].argmin()])

    def plan(self, request: Resources, require: frozenset[str], count: int) -> list[str] | None:
        """Return the runners ``count`` sequential identical ``allocate`` calls pick, in order.

        Shorter than ``count`` when capacity runs out (the rest would fail);
        None for a custom strategy. See :func:`.batch.plan`. Runtime complexity:
        O(N log N) numpy work plus O(count) (see there), and O(N) Python steps
        for the names by row.
        """
        self.sync()
        if (
            not self.vectorized
            or self.table.devices.asks_devices(request.extended)
            or any_labels(require)
        ):
            return None  # devices (the pick changes per copy), label ORs: one at a time
        rows = batch.plan(self, request, require, count)  # type: ignore[arg-type]
        if rows is None:
            return None
        # each row's name once, then one gather (C-level) for the placements
        names = np.array([None if r is None else r.name for r in self.table.runners], object)
        return names.take(rows).tolist()  # type: ignore[no-any-return]

    def diagnose(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> AllocationError:
        """Build the same error as :func:`runtime_alloc._placement.diagnose`. O(N).

        See :func:`.diagnose.diagnose`.
        """
        self.sync()
        return diagnose.diagnose(self, task_id, request, require)  # type: ignore[arg-type]
