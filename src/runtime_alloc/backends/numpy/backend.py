"""The numpy backend: index upkeep, and which index answers a request.

Fleets of at most :data:`SCAN_ROWS` runners are answered by one vectorized
scan of the columns per decision (cheaper there than any index upkeep). Above,
two indexes answer the built-in strategies (those with a
:class:`~runtime_alloc.strategies.LinearScore`). While the fleet has at most
:data:`MAX_SHAPES` runner shapes (capacity of cpu, memory and slots, and label
set), decisions use the per-shape r-class heaps of :mod:`.shape_classes`
(pure Python heaps, O(log N) per update; the numpy columns are then written
lazily, only for vectorized reads). Otherwise the block search of
:mod:`.blocks` answers. Requests for extended resources and devices use the
chunks of :mod:`.extended_index` (label ORs without them, and small fleets, a
vectorized scan); strategies without a LinearScore the python scan.
Why each answer equals the python scan: the lemmas in
:mod:`runtime_alloc.backends.numpy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from runtime_alloc import _placement
from runtime_alloc._frozen import FrozenMap
from runtime_alloc._ledger_views import reserved_of
from runtime_alloc.backends.numpy import batch, blocks, diagnose
from runtime_alloc.backends.numpy.checks import check_classes, check_table
from runtime_alloc.backends.numpy.columns import Table, default_block_size
from runtime_alloc.backends.numpy.extended_index import ExtendedIndex
from runtime_alloc.backends.numpy.feasibility import free_at_least
from runtime_alloc.backends.numpy.scan import ScanArrays
from runtime_alloc.backends.numpy.shape_classes import ClassIndex
from runtime_alloc.errors import AllocationError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState
from runtime_alloc.strategies import LinearScore, Strategy, linear_score

__all__ = ["MAX_SHAPES", "SCAN_ROWS", "NumpyBackend"]

_INF = np.inf
#: The most runner shapes (capacity of cpu, memory and slots, and label set) that
#: the ``"auto"`` index keeps in per-shape r-class heaps. Measured (see
#: docs/performance.md): with 100 and with 400 shapes the class index still made
#: 2-4x the decisions/s of the block index for both strategies.
MAX_SHAPES = 400
#: Up to this many runners (``index="auto"``) a decision is one vectorized scan of
#: the columns (exact by construction: the same feasibility and score arrays as
#: :meth:`NumpyBackend._scan`); measured (benchmarks/decisions.py) to beat the
#: class index's fixed cost at 1,000 runners. Larger fleets move to an index for good;
#: 0 turns the scan off.
SCAN_ROWS = 2048


#: The most runner changes kept back from the columns before they are written.
_MAX_DIRTY = 4096


def _shape(state: RunnerState) -> tuple[tuple[int, int, int], frozenset[str]]:
    c = state.runner.capacity
    return (c.millicpu, c.memory_bytes, c.slots), state.runner.labels


class NumpyBackend:
    """Index of runner states in numpy columns, kept in step by the ledger's events.

    Args:
        states: the runners so far (in registration order, or a name -> state
            mapping); the backend keeps its own copy.
        strategy: the allocator's strategy.
        block_size: rows per block; None picks one from the fleet size and
            re-blocks as the fleet grows.
        index: ``"classes"`` searches the per-shape r-class heaps of
            :mod:`.shape_classes` (fleets of at most
            :data:`MAX_SHAPES` runner shapes), ``"blocks"`` the block summaries
            of :mod:`.blocks`, ``"scan"`` a vectorized scan of the columns per
            decision; ``"auto"`` scans up to :data:`SCAN_ROWS` runners, then
            takes classes while the fleet has few shapes and moves to blocks
            for good beyond.
    """

    name = "numpy"

    def __init__(
        self,
        states: Iterable[RunnerState] | Mapping[str, RunnerState],
        strategy: Strategy,
        block_size: int | None = None,
        index: str = "auto",
    ) -> None:
        if isinstance(states, Mapping):
            states = states.values()  # a name -> state mapping
        initial = list(states)
        self._strategy = strategy
        spec = linear_score(strategy)
        self.vectorized = spec is not None
        self.maximize = bool(strategy.maximize)
        if spec is None:
            spec = LinearScore(FrozenMap(), self.maximize)
        self.spec = spec
        #: the weights of cpu, memory and slots
        self.weights = spec.base_weights
        self._fixed_block = block_size
        self._index = index
        self._pending: list[RunnerState] = []
        #: row -> newest (reserved, extended, draining) not yet written to the columns
        self._dirty: dict[int, tuple[tuple[int, int, int], Mapping[str, int] | None, bool]] = {}
        #: name -> state, kept only for a strategy without a LinearScore (the python scan)
        self._scan_states: dict[str, RunnerState] | None = (
            None if self.vectorized else {s.runner.name: s for s in initial}
        )
        self.classes: ClassIndex | None = None
        #: the scan's float copies of the rows (small fleets), taken when first read
        self._arrays: ScanArrays | None = None
        #: chunks of the rows declaring extended resources (requests for them, above the scan)
        self.extended_index = ExtendedIndex(self, block_size)
        self.rebuild(initial)

    @property
    def states(self) -> dict[str, RunnerState]:
        """Runner name -> state, in registration order, built from the columns. O(N)."""
        if self._scan_states is not None:
            return self._scan_states
        self.sync()
        t = self.table
        return {name: t.state_at(i) for name, i in t.row_of.items()}

    # ------------------------------------------------------------------ index upkeep

    def add(self, state: RunnerState) -> None:
        """Queue a new runner; queued runners are indexed in bulk before the next read. O(1)."""
        if self._scan_states is not None:
            self._scan_states[state.runner.name] = state
        self._pending.append(state)

    def update(self, state: RunnerState) -> None:
        """Store a runner's new reserved amounts, draining flag or device use. O(log N)."""
        r = state.reserved
        name = state.runner.name
        self.update_reserved(
            name, (r.millicpu, r.memory_bytes, r.slots), r.extended, state.draining
        )
        if state.devices:  # the ledger sends device runners' changes as states (.devices)
            self.table.devices.set(self.table.row_of[name], state.devices)
            if self._scan_states is not None:
                self._scan_states[name] = state

    def update_reserved(
        self,
        name: str,
        reserved: tuple[int, int, int],
        extended: Mapping[str, int] | None,
        draining: bool,
    ) -> None:
        """Store a runner's reserved amounts and draining flag (the ledger's event). O(log N).

        With the class index the numpy columns are written lazily: the change
        waits in ``_dirty`` until a vectorized read (see :meth:`sync`).
        """
        scan = self._scan_states
        if scan is not None:
            scan[name] = RunnerState(scan[name].runner, reserved_of(*reserved, extended), draining)
        if self._pending:
            self.flush()
        i = self.table.row_of[name]
        self.extended_index.touch(i)
        classes = self.classes
        if classes is None and not self.scanning:
            self.table.set_row(i, reserved, extended, draining)
            return
        dirty = self._dirty
        dirty[i] = (reserved, extended, draining)
        if len(dirty) > _MAX_DIRTY:
            self._write_dirty()  # bounds the memory of the changes kept back
        if classes is not None:
            classes.set(i, reserved, not draining)
        elif self._arrays is not None:
            self._arrays.set(self.table, i, reserved, draining)

    def sync(self) -> None:
        """Write the lazily kept changes into the numpy columns. O(changed)."""
        self.flush()
        self._write_dirty()

    def _write_dirty(self) -> None:
        dirty = self._dirty
        if not dirty:
            return
        t = self.table
        if len(dirty) < 64 or t.summaries or t.extended:
            set_row = t.set_row
            for i, (reserved, extended, draining) in dirty.items():
                set_row(i, reserved, extended, draining)
        else:
            rows = []
            amounts = []
            drains = []
            for i, (reserved, extended, draining) in dirty.items():
                if extended:
                    t.set_row(i, reserved, extended, draining)
                else:
                    rows.append(i)
                    amounts.append(reserved)
                    drains.append(draining)
            t.set_rows(
                np.array(rows, dtype=np.int64),
                np.array(amounts, dtype=np.int64).reshape(len(rows), 3),
                np.array(drains, dtype=np.bool_),
            )
        dirty.clear()

    def remove(self, name: str) -> None:
        """Forget a runner; re-blocks when more than half the rows are empty. O(1) amortized."""
        self.sync()
        if self._scan_states is not None:
            del self._scan_states[name]
        self._arrays = None
        self.extended_index.clear()
        if self.classes is not None:
            self.classes.remove(self.table.row_of[name])
        self.table.remove(name)
        t = self.table
        if t.nrows - t.nlive > max(t.nlive, 4 * t.block_size):
            self.rebuild()

    def flush(self) -> None:
        """Index queued runners (re-blocking when the fleet outgrew the block size)."""
        if not self._pending:
            return
        n = self.table.nlive + len(self._pending)
        if (
            (self._fixed_block is None and default_block_size(n) > self.table.block_size)
            or (self.scanning and self._index == "auto" and n > SCAN_ROWS)
            or (self.classes is not None and not self.classes.can_add(map(_shape, self._pending)))
        ):
            self.rebuild()
            return
        self._add_states(list(self._pending))
        self._pending.clear()

    def rebuild(self, states: list[RunnerState] | None = None) -> None:
        """Lay every runner out again (from the columns and the queue, or ``states``). O(N)."""
        if states is None:
            self._write_dirty()
            t: Table = self.table
            states = [t.state_at(i) for i in t.row_of.values()] + self._pending
        self._pending = []
        self._dirty.clear()
        self.scanning = self.vectorized and (
            self._index == "scan"
            or (self._index == "auto" and SCAN_ROWS > 0 and len(states) <= SCAN_ROWS)
        )
        shapes = [_shape(s) for s in states] if self.vectorized and not self.scanning else []
        use_classes = (
            self.vectorized
            and not self.scanning
            and (
                self._index == "classes"
                or (self._index == "auto" and len(set(shapes)) <= MAX_SHAPES)
            )
        )
        bs = self._fixed_block or default_block_size(len(states))
        self.table: Table = Table(
            self.weights,
            bs,
            summaries=not (use_classes or self.scanning),
            ordered=self.scanning,
        )
        self.classes = (
            ClassIndex(
                self.weights,
                maximize=self.maximize,
                max_groups=2**62 if self._index == "classes" else MAX_SHAPES,
            )
            if use_classes
            else None
        )
        self._add_states(states, shapes if use_classes else None)

    def _add_states(
        self,
        states: list[RunnerState],
        shapes: list[tuple[tuple[int, int, int], frozenset[str]]] | None = None,
    ) -> None:
        self._arrays = None  # rows added: the scan's copies are taken again when read
        self.extended_index.clear()
        t = self.table
        t.add_many(states)
        classes = self.classes
        if classes is None:
            return
        if shapes is None:
            shapes = [_shape(s) for s in states]
        rows = [t.row_of[s.runner.name] for s in states]
        same: dict[tuple[int, int, int], tuple[int, int, int]] = {}  # one tuple per amount
        reserved = [
            same.setdefault(r, r)
            for r in (
                (s.reserved.millicpu, s.reserved.memory_bytes, s.reserved.slots) for s in states
            )
        ]
        classes.add_many(
            rows,
            t.sequence[rows].tolist(),
            shapes,
            reserved,
            [not s.draining for s in states],
        )

    def check(self, states: Mapping[str, RunnerState] | None = None) -> None:
        """Assert that the index agrees with ``states`` (default: its own rows); tests call this."""
        self.sync()
        if states is None:
            states = self.states
        check_table(self.table, states)
        self.extended_index.check()
        if self.classes is not None:
            rows = {}
            for name, state in states.items():
                r = state.reserved
                rows[self.table.row_of[name]] = (
                    (r.millicpu, r.memory_bytes, r.slots),
                    not state.draining,
                )
            check_classes(self.classes, rows)

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
            any_of = getattr(require, "any_of", None)  # a LabelRule: one of these labels too
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
        if request.extended._data or getattr(require, "any_of", None):  # noqa: SLF001
            self.sync()  # extended resources and devices: their chunks; label ORs: the scan
            found = (
                self.extended_index.choose(request, require)
                if request.extended and not self.scanning
                else None
            )
            row = (
                self._scan(self._candidates(request), request, require) if found is None else found
            )
        elif self.scanning:
            arrays = self._arrays
            if arrays is None:
                self.sync()
                arrays = self._arrays = ScanArrays(self.table, self.weights, maximize=self.maximize)
            row = arrays.choose(self.table, request, require)
        elif self.classes is not None:
            row = self.classes.choose(
                (request.millicpu, request.memory_bytes, request.slots), require
            )
        else:
            row = blocks.search(self, request, require)
        return None if row < 0 else self.table.names[row]

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
        None for a custom strategy. See :func:`.batch.plan`.
        """
        self.sync()
        if (
            not self.vectorized
            or self.table.devices.asks_devices(request.extended)
            or getattr(require, "any_of", None)
        ):
            return None  # devices (the pick changes per copy), label ORs: one at a time
        rows = batch.plan(self, request, require, count)
        if rows is None:
            return None
        names = self.table.names
        return [names[i] for i in rows.tolist()]

    def diagnose(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> AllocationError:
        """Build the same error as :func:`runtime_alloc._placement.diagnose`. O(N).

        See :func:`.diagnose.diagnose`.
        """
        self.sync()
        return diagnose.diagnose(self, task_id, request, require)
