"""The numpy backend: the python backend's decisions, found without scanning every runner.

Equal to :func:`runtime_alloc._placement.choose` by construction:

* the score of a runner is computed with the same float64 operations in the
  same order as :func:`~runtime_alloc.strategies.utilization_score`
  (``float(w * (reserved + request)) / float(capacity)`` per scored dimension,
  summed left to right from cpu, then divided by ``float(weight_sum)``), and
  numpy's int64 -> float64 conversion and IEEE division round exactly as
  Python's ``float`` and ``/`` do;
* ties go to the runner registered first (the smallest sequence number).

Sublinear search, two indexes. While the fleet has at most :data:`MAX_SHAPES`
runner shapes (capacity of cpu, memory and slots, and label set), decisions
use the per-shape r-class heaps of :mod:`runtime_alloc._numpy_classes` (pure
Python heaps, O(log N) per update; the numpy columns are then written lazily,
only for vectorized reads). Otherwise runners sit in blocks (see
:mod:`runtime_alloc._numpy_table`) whose runners share a capacity. For a
request ``q`` the real-valued score of a runner is ``a + sum_d q_d * g_d``
with ``a = sum_d w_d*r_d/c_d / W`` and ``g_d = w_d / (c_d * W)``, so
``amin + q . gmin`` bounds every score in a block
from below (``amax + q . gmax`` from above). A decision:

1. drops blocks whose most free amount in some dimension is below the request;
2. evaluates blocks best bound first, exactly, until one has a feasible runner;
3. keeps only blocks whose bound comes within a tolerance of that score, then
   drops those whose *exact* float bound (the float score of the block's least
   reserved amounts, monotone in every input) cannot beat or tie-and-precede
   it, and evaluates the rest.

Requests for extended resources and custom strategies are not indexed: the
former use a vectorized full scan (O(N) numpy work), the latter the python scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from runtime_alloc import _placement
from runtime_alloc._auto import is_vectorized
from runtime_alloc._frozen import FrozenMap
from runtime_alloc._numpy_classes import ClassIndex
from runtime_alloc._numpy_table import Table, default_block_size
from runtime_alloc.errors import (
    AllocationError,
    InsufficientCapacityError,
    Shortfall,
    UnschedulableError,
)
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState
from runtime_alloc.strategies import Strategy, UtilizationStrategy

__all__ = ["MAX_SHAPES", "NumpyBackend"]

_INF = np.inf
#: Relative slack for pruning on real-valued bounds computed in float64 (their
#: rounding error is below 1e-14 relative; scores of feasible runners are <= 1).
_TOL = 1e-9
#: The most runner shapes (capacity of cpu, memory and slots, and label set) that
#: the ``"auto"`` index keeps in per-shape r-class heaps. Measured (see
#: docs/performance.md): with 100 and with 400 shapes the class index still made
#: 2-4x the decisions/s of the block index for both strategies.
MAX_SHAPES = 400


def _shape(state: RunnerState) -> tuple[tuple[int, int, int], frozenset[str]]:
    c = state.runner.capacity
    return (c.millicpu, c.memory_bytes, c.slots), state.runner.labels


class NumpyBackend:
    """Index of runner states in numpy columns, kept in step by the allocator.

    Args:
        states: the allocator's runner states (name -> state, registration order).
        strategy: the allocator's strategy.
        block_size: slots per block; None picks one from the fleet size and
            re-blocks as the fleet grows.
        index: ``"classes"`` searches the per-shape r-class heaps of
            :mod:`runtime_alloc._numpy_classes` (fleets of at most
            :data:`MAX_SHAPES` runner shapes), ``"blocks"`` the block summaries
            of :mod:`runtime_alloc._numpy_table`; ``"auto"`` takes classes while
            the fleet has few shapes and moves to blocks for good beyond.
    """

    name = "numpy"

    def __init__(
        self,
        states: Mapping[str, RunnerState],
        strategy: Strategy,
        block_size: int | None = None,
        index: str = "auto",
    ) -> None:
        self._states = states
        self._strategy = strategy
        self.vectorized = is_vectorized(strategy)
        self._maximize = bool(strategy.maximize)
        if isinstance(strategy, UtilizationStrategy):
            self._w = tuple(strategy.weight(d) for d in ("cpu", "memory", "slots"))
            self._weights = strategy.weights
        else:
            self._w = (1, 1, 1)
            self._weights = FrozenMap()
        self._fixed_block = block_size
        self._index = index
        self._pending: list[RunnerState] = []
        self.classes: ClassIndex | None = None
        self.rebuild()

    # ------------------------------------------------------------------ index upkeep

    def add(self, state: RunnerState) -> None:
        """Queue a new runner; queued runners are indexed in bulk before the next read. O(1)."""
        self._pending.append(state)

    def update(self, state: RunnerState) -> None:
        """Store a runner's new reserved amounts or draining flag. O(log N).

        With the class index the numpy columns are written lazily: the state
        waits in ``_dirty`` until a vectorized read (see :meth:`sync`).
        """
        if self._pending:
            self.flush()
        i = self.table.slot_of[state.runner.name]
        classes = self.classes
        if classes is None:
            self.table.update(state, i)
            return
        self._dirty[i] = state
        r = state.reserved
        classes.set(i, (r.millicpu, r.memory_bytes, r.slots), not state.draining)

    def sync(self) -> None:
        """Write the lazily kept states into the numpy columns. O(changed runners)."""
        self.flush()
        if self._dirty:
            update = self.table.update
            for i, state in self._dirty.items():
                update(state, i)
            self._dirty.clear()

    def remove(self, name: str) -> None:
        """Forget a runner; re-blocks when more than half the slots are empty. O(1) amortized."""
        self.sync()
        if self.classes is not None:
            self.classes.remove(self.table.slot_of[name])
        self.table.remove(name)
        t = self.table
        if t.nslots - t.nlive > max(t.nlive, 4 * t.block_size):
            self.rebuild()

    def flush(self) -> None:
        """Index queued runners (re-blocking when the fleet outgrew the block size)."""
        if not self._pending:
            return
        n = self.table.nlive + len(self._pending)
        if (self._fixed_block is None and default_block_size(n) > self.table.block_size) or (
            self.classes is not None and not self.classes.can_add(map(_shape, self._pending))
        ):
            self.rebuild()
            return
        self._add_states(list(self._pending))
        self._pending.clear()

    def rebuild(self) -> None:
        """Lay every runner out again from the allocator's states. O(N)."""
        self._pending.clear()
        self._dirty: dict[int, RunnerState] = {}
        states = list(self._states.values())
        shapes = [_shape(s) for s in states] if self.vectorized else []
        use_classes = self.vectorized and (
            self._index == "classes" or (self._index == "auto" and len(set(shapes)) <= MAX_SHAPES)
        )
        bs = self._fixed_block or default_block_size(len(self._states))
        self.table = Table(self._w, bs, summaries=not use_classes)  # type: ignore[arg-type]
        self.classes = (
            ClassIndex(
                self._w,  # type: ignore[arg-type]
                maximize=self._maximize,
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
        t = self.table
        t.add_many(states)
        classes = self.classes
        if classes is None:
            return
        if shapes is None:
            shapes = [_shape(s) for s in states]
        slots = [t.slot_of[s.runner.name] for s in states]
        reserved = [
            (s.reserved.millicpu, s.reserved.memory_bytes, s.reserved.slots) for s in states
        ]
        classes.add_many(
            slots,
            t.seq[slots].tolist(),
            shapes,
            reserved,
            [not s.draining for s in states],
        )

    def check(self) -> None:
        """Assert that the index agrees with the allocator's states (tests call this)."""
        self.sync()
        self.table.check(self._states)
        if self.classes is not None:
            slots = {}
            for name, state in self._states.items():
                r = state.reserved
                slots[self.table.slot_of[name]] = (
                    (r.millicpu, r.memory_bytes, r.slots),
                    not state.draining,
                )
            self.classes.check(slots)

    # ------------------------------------------------------------------ scoring

    def scores(self, idx: Any, request: Resources, times: Any = None) -> Any:  # noqa: ANN401
        """Return the float64 scores of slots ``idx`` for ``request``, exactly as the python path.

        Args:
            idx: a slice or an index array of slots.
            request: the request.
            times: optional int64 array: score the placement of the ``times``-th
                copy of ``request`` (reserved + times * request) instead.

        Runtime complexity: O(len(idx) * dimensions).
        """
        t = self.table
        q = (request.millicpu, request.memory_bytes, request.slots)
        total: Any = None
        for d in range(3):
            w = self._w[d]
            num = t.res[d][idx] + (q[d] if times is None else q[d] * times)
            if w > 1:
                num *= w
            term = num.astype(np.float64) / t.capf[d][idx]
            total = term if total is None else total + term
        if not request.extended:
            return total / t.wsumf[idx]
        wsum = t.wsum[idx].copy()
        for name, count in request.extended.items():
            w = self._weights.get(name, 1)
            cols = t.ext.get(name)
            if not w or cols is None:
                continue
            cap = cols[0][idx]
            scored = cap > 0
            num = cols[1][idx] + (count if times is None else count * times)
            if w > 1:
                num *= w
            capf = np.where(scored, cap.astype(np.float64), _INF)
            total = total + num.astype(np.float64) / capf
            wsum += np.where(scored, w, 0)
        return total / np.where(wsum > 0, wsum, 1).astype(np.float64)

    def feasible(self, idx: Any, request: Resources, require: frozenset[str]) -> Any:  # noqa: ANN401
        """Return a bool array: which slots ``idx`` can take ``request`` now. O(len(idx))."""
        t = self.table
        ok = (
            (t.fu[0][idx] >= request.millicpu)
            & (t.fu[1][idx] >= request.memory_bytes)
            & (t.fu[2][idx] >= request.slots)
        )
        if require:
            ok &= t.label_table(require)[t.lset[idx]]
        for name, count in request.extended.items():
            cols = t.ext.get(name)
            if cols is None:
                return np.zeros_like(ok)
            ok &= cols[1][idx] + count <= cols[0][idx]
        return ok

    # ------------------------------------------------------------------ choosing

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        """Return the name of the runner the python backend would pick, or None.

        Runtime complexity: with the class index, O(shapes * tiers) heap peeks
        plus O(log N) per r-class popped (see :mod:`runtime_alloc._numpy_classes`);
        with the block index O(N / block_size + block_size) numpy work in the
        common case; O(N) for extended-resource requests; the python scan's
        O(N) for custom strategies.
        """
        if self._pending:
            self.flush()
        if not self.vectorized:
            state = _placement.choose(self._states.values(), self._strategy, request, require)
            return None if state is None else state.name
        if request.extended._data:  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            self.sync()
            slot = self._scan(slice(0, self.table.nslots), request, require)
        elif self.classes is not None:
            slot = self.classes.choose(
                (request.millicpu, request.memory_bytes, request.slots), require
            )
        else:
            slot = self._search(request, require)
        return None if slot < 0 else self.table.names[slot]

    def _scan(self, idx: Any, request: Resources, require: frozenset[str]) -> int:  # noqa: ANN401
        """Best slot among ``idx`` (a slice or index array), ties to the lowest sequence."""
        ok = self.feasible(idx, request, require)
        if not ok.any():
            return -1
        sc = self.scores(idx, request)
        sc = np.where(ok, sc, -_INF if self._maximize else _INF)
        best = sc.max() if self._maximize else sc.min()
        hits = np.flatnonzero(sc == best)
        slots = np.arange(self.table.nslots)[idx][hits]
        return int(slots[self.table.seq[slots].argmin()])

    def _eval_block(
        self,
        k: int,
        request: Resources,
        lut: Any,  # noqa: ANN401
    ) -> tuple[float, int] | None:
        t = self.table
        lo = k * t.block_size
        s = slice(lo, lo + t.block_size)
        ok = (
            (t.fu[0][s] >= request.millicpu)
            & (t.fu[1][s] >= request.memory_bytes)
            & (t.fu[2][s] >= request.slots)
        )
        if lut is not None:
            ok &= lut[t.lset[s]]
        t.refresh(k)
        if not ok.any():
            return None
        sc = self.scores(s, request)
        if self._maximize:
            j = int(np.where(ok, sc, -_INF).argmax())
        else:
            j = int(np.where(ok, sc, _INF).argmin())
        return float(sc[j]), lo + j

    def _search(self, request: Resources, require: frozenset[str]) -> int:
        t = self.table
        nb = t.nblocks
        if nb == 0:
            return -1
        q = (request.millicpu, request.memory_bytes, request.slots)
        cand = (t.mf[0][:nb] >= q[0]) & (t.mf[1][:nb] >= q[1]) & (t.mf[2][:nb] >= q[2])
        qf = np.array(q, dtype=np.float64)
        maximize = self._maximize
        if maximize:
            key = np.where(cand, -(t.amax[:nb] + t.gmax[:nb] @ qf), _INF)
        else:
            key = np.where(cand, t.amin[:nb] + t.gmin[:nb] @ qf, _INF)
        lut = t.label_table(require) if require else None
        score = 0.0
        slot = -1
        while True:
            k = int(key.argmin())
            kv = key.item(k)
            if kv == _INF:
                return slot
            key[k] = _INF
            if slot >= 0:
                bkey = -score if maximize else score
                if kv > bkey + _TOL * (1.0 + abs(bkey)):
                    return slot  # every remaining block is worse: best bound first
                # a near tie: the exact float bound decides whether the block can win
                t.refresh_reserved(k)
                exact = float(self._block_bound(k, q))
                if (exact < score if maximize else exact > score) or (
                    exact == score and t.minseq.item(k) > t.seq.item(slot)
                ):
                    continue
            found = self._eval_block(k, request, lut)
            if found is None:
                continue
            s2, slot2 = found
            if slot < 0 or (s2 > score if maximize else s2 < score):
                score, slot = s2, slot2
            elif s2 == score and t.seq.item(slot2) < t.seq.item(slot):
                slot = slot2

    def _block_bound(self, ks: Any, q: tuple[int, int, int]) -> Any:  # noqa: ANN401
        """Exact float bound of the scores in blocks ``ks`` (lower/upper to minimize/maximize)."""
        t = self.table
        r, cf = (t.rmax, t.cfmin) if self._maximize else (t.rmin, t.cfmax)
        total: Any = None
        for d in range(3):
            num = r[d][ks] + q[d]
            if self._w[d] > 1:
                num *= self._w[d]
            term = num.astype(np.float64) / cf[d][ks]
            total = term if total is None else total + term
        return total / t.bwsumf[ks]

    def plan(self, request: Resources, require: frozenset[str], count: int) -> list[str] | None:
        """Return the runners ``count`` sequential identical ``allocate`` calls pick, in order.

        Shorter than ``count`` when capacity runs out (the rest would fail);
        None for a custom strategy. See :func:`runtime_alloc._numpy_batch.plan`.
        """
        self.sync()
        if not self.vectorized:
            return None
        from runtime_alloc._numpy_batch import plan  # noqa: PLC0415

        slots = plan(self, request, require, count)
        if slots is None:
            return None
        names = self.table.names
        return [names[i] for i in slots.tolist()]

    # ------------------------------------------------------------------ failures

    def diagnose(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> AllocationError:
        """Build the same error as :func:`runtime_alloc._placement.diagnose`, vectorized. O(N)."""
        self.sync()
        t = self.table
        live = np.flatnonzero(t.alive[: t.nslots])
        live = live[np.argsort(t.seq[live], kind="stable")]
        n = int(live.size)
        labels_ok = t.label_table(require)[t.lset[live]] if require else np.ones(n, np.bool_)
        dims = request.dimensions()
        caps = [self._column(dim, live, reserved=False) for dim in dims]
        reqs = [request.get(dim) for dim in dims]
        fits = labels_ok.copy()
        for cap, req in zip(caps, reqs, strict=True):
            fits &= cap >= req
        ever = bool(fits.any())
        entries: list[tuple[int, int, str, int]] = []  # (first index, order, reason, count)
        rest = np.ones(n, np.bool_)
        if ever:
            drain = t.draining[live]
            if drain.any():
                entries.append((int(np.argmax(drain)), 0, "draining", int(drain.sum())))
            rest &= ~drain
        missing_at = rest & ~labels_ok
        if missing_at.any():
            groups: dict[str, list[int]] = {}
            ids = t.lset[live]
            uniq, first, counts = np.unique(ids[missing_at], return_index=True, return_counts=True)
            positions = np.flatnonzero(missing_at)
            for ident, f, c in zip(uniq.tolist(), first.tolist(), counts.tolist(), strict=True):
                key = "missing label " + ",".join(sorted(require - t.labelset_list[ident]))
                g = groups.setdefault(key, [n, 0])
                g[0] = min(g[0], int(positions[f]))
                g[1] += c
            entries.extend((g[0], 0, key, g[1]) for key, g in groups.items())
        rest &= labels_ok
        best: dict[str, int] = {}
        if rest.any():
            for order, (dim, cap, req) in enumerate(zip(dims, caps, reqs, strict=True)):
                avail = cap - self._column(dim, live, reserved=True) if ever else cap
                avail = avail[rest]
                short = avail < req
                if short.any():
                    first_pos = int(np.flatnonzero(rest)[int(np.argmax(short))])
                    entries.append((first_pos, order, f"insufficient {dim}", int(short.sum())))
                best[dim] = int(avail.max())
        entries.sort(key=lambda e: (e[0], e[1]))
        reasons = {reason: count for _f, _o, reason, count in entries}
        shortfalls = tuple(
            Shortfall(dim, request.get(dim), best[dim])
            for dim in dims
            if f"insufficient {dim}" in reasons
        )
        cls = InsufficientCapacityError if ever else UnschedulableError
        return cls(task_id, request, n, reasons, shortfalls)

    def _column(self, dim: str, idx: Any, *, reserved: bool) -> Any:  # noqa: ANN401
        t = self.table
        j = {"cpu": 0, "memory": 1, "slots": 2}.get(dim)
        if j is not None:
            return (t.res if reserved else t.cap)[j][idx]
        cols = t.ext.get(dim)
        if cols is None:
            return np.zeros(len(idx), np.int64)
        return cols[1 if reserved else 0][idx]
