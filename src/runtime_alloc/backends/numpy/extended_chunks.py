"""The chunk summaries of the extended index: rows sorted and cut into chunks, bounds per chunk.

:class:`Chunks` holds, for one tuple of requested extended names, the rows
declaring the first name (sorted by capacity, then registration order, cut
into chunks that never straddle two capacities), each row's values as
:meth:`.NumpyBackend.feasible` and :meth:`.NumpyBackend.scores` compute them,
and per chunk their extrema over its usable rows: the feasibility bounds, the
real-valued score bound (lemma 4) and the exact float bound (lemmas 3 and 6 of
:mod:`runtime_alloc.backends.numpy`). :mod:`.extended_index` decides with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy.feasibility import NO_LIMIT, rows_at_least
from runtime_alloc.devices import DEVICE_MILLI
from runtime_alloc.labels import any_labels

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.backend import NumpyBackend
    from runtime_alloc.resources import Resources

__all__ = ["Chunks", "chunk_size"]


_INF = np.inf
_I64 = np.int64
#: Stands for "no limit" in a device bound (a row without devices of the kind).
_UNBOUNDED = int(np.iinfo(_I64).max)
#: Up to this many changed rows are read row by row, beyond with numpy gathers.
_FEW_ROWS = 16


def chunk_size(rows: int) -> int:
    """Rows per chunk for ``rows`` candidate rows (about sqrt(rows), 32 to 128; measured).

    Runtime complexity: O(1): at most three doublings.
    """
    size = 32
    while size * size < rows and size < 128:
        size *= 2
    return size


def _chunk_starts(capacities: list[Any], n: int, size: int) -> Any:  # noqa: ANN401
    """Start positions of the chunks over ``n`` sorted rows: ``size`` rows, cut at capacity changes.

    A chunk holds one capacity (its bounds are then tight) unless the fleet has
    more capacities than chunks; it then falls back to plain ``size``-row chunks.
    """
    if not n:
        return np.zeros(0, dtype=_I64)
    change = np.zeros(n, dtype=np.bool_)
    change[0] = True
    for column in capacities:
        change[1:] |= column[1:] != column[:-1]
    groups = np.flatnonzero(change)
    if len(groups) > -(-n // size):
        return np.arange(0, n, size, dtype=_I64)
    ends = np.append(groups[1:], n)
    return np.concatenate(
        [np.arange(a, b, size, dtype=_I64) for a, b in zip(groups, ends, strict=True)]
    )


class Chunks:
    """The rows declaring ``names[0]``, their per-row values, and per-chunk bounds over them.

    Per position ``p`` of the sorted rows, ``iv[:, p]`` holds the int values
    (free amounts of cpu, memory, slots and each name; each name's largest
    free device share and wholly free devices, :data:`_UNBOUNDED` without
    devices of the kind; the reserved amount of each scored dimension) and
    ``fv[:, p]`` the float ones (per scored dimension the float capacity, then
    the slope ``g = w / (c * W)``, then the float weight sum ``W`` and the base
    score ``a``), as :meth:`.NumpyBackend.feasible` and
    :meth:`.NumpyBackend.scores` compute them. Per chunk, ``imax``/``imin``
    and ``fmax``/``fmin`` are their extrema over the chunk's usable rows.
    """

    def __init__(self, backend: NumpyBackend, names: tuple[str, ...], size: int | None) -> None:
        t = backend.table
        self.backend = backend
        self.names = names
        first = t.extended[names[0]][0][: t.nrows]
        rows = np.flatnonzero(first > 0)
        # capacity-homogeneous, sequence-ordered chunks keep the bounds tight
        columns = [t.extended[n][0] for n in reversed(names)]
        columns += [t.capacity[d] for d in (2, 1, 0)]
        rows = rows[np.lexsort([t.sequence[rows], *(c[rows] for c in columns)])]
        self.rows = rows
        self.size = size or chunk_size(len(rows))
        starts = _chunk_starts([c[rows] for c in columns], len(rows), self.size)
        self.starts = np.append(starts, len(rows))
        self.nchunks = n = len(starts)
        self.position = np.full(t.nrows, -1, dtype=_I64)
        self.position[rows] = np.arange(len(rows), dtype=_I64)
        self.chunk_at = np.repeat(np.arange(n, dtype=_I64), np.diff(self.starts))
        #: the scored extended names (weight > 0), in the request's order
        self.scored = [x for x in names if backend.spec.weight(x)]
        self.weights = [*backend.weights, *(backend.spec.weight(x) for x in self.scored)]
        self.weight_column = np.array(self.weights, dtype=np.float64)[:, None]
        nn, ns = len(names), 3 + len(self.scored)
        self.ns = ns
        self.nfree = 3 + nn
        self.nres = 3 + 3 * nn  # first reserved row of iv
        self.neutral_imax = np.array([-1] * self.nres + [0] * ns, dtype=_I64)[:, None]
        self.neutral_imin = np.full((ns, 1), _UNBOUNDED, dtype=_I64)
        self.neutral_fmax = np.array([0.0] * (2 * ns) + [1.0, -_INF])[:, None]
        self.neutral_fmin = np.full((2 * ns + 2, 1), _INF)
        self.empty_fmax = np.array([_INF] * ns + [0.0] * ns + [1.0, -_INF])
        self.empty_fmin = np.array([_INF] * ns + [0.0] * ns + [1.0, _INF])
        self.sequence = t.sequence[rows]
        self.first_sequence = (
            np.minimum.reduceat(self.sequence, starts) if n else np.zeros(0, dtype=_I64)
        )
        self.iv, self.fv, self.usable = self._values(rows)
        self.imax, self.imin, self.fmax, self.fmin = self._reduce(slice(None), starts)

    def members(self, k: int) -> slice:
        """The positions of chunk ``k``. O(1)."""
        return slice(self.starts.item(k), self.starts.item(k + 1))

    def _values(self, rows: Any) -> tuple[Any, Any, Any]:  # noqa: ANN401
        """The int and float values of ``rows`` (see the class docstring), and which are usable."""
        t = self.backend.table
        weight = self.backend.spec.weight
        capacity = [t.capacity_float[d][rows] for d in range(3)]
        wsum = t.weight_sum[rows].copy()
        for name in self.scored:
            cap = t.extended[name][0][rows]
            has = cap > 0
            capacity.append(np.where(has, cap.astype(np.float64), _INF))
            wsum += np.where(has, weight(name), 0)
        wsumf = np.where(wsum > 0, wsum, 1).astype(np.float64)
        slopes = [w / cap / wsumf for w, cap in zip(self.weights, capacity, strict=True)]
        iv, usable = self._int_values(rows)
        fv = np.array([*capacity, *slopes, wsumf, wsumf])
        fv[-1] = self._base_score(iv, fv)
        return iv, fv, usable

    def _int_values(self, rows: Any) -> tuple[Any, Any]:  # noqa: ANN401
        """The int values of ``rows`` (the ones a reservation changes), and which are usable."""
        if len(rows) <= _FEW_ROWS:
            return self._int_values_of_few(rows.tolist())
        t = self.backend.table
        free = [t.free_usable[d][rows] for d in range(3)]
        device, whole = [], []
        for name in self.names:
            cols = t.extended[name]
            free.append(cols[0][rows] - cols[1][rows])
            share = t.devices.share.get(name)
            if share is None:
                device.append(np.full(len(rows), _UNBOUNDED, dtype=_I64))
                whole.append(device[-1])
            else:
                s, w = share[rows], t.devices.whole[name][rows]
                device.append(np.where(s < 0, _UNBOUNDED, s))
                whole.append(np.where(w < 0, _UNBOUNDED, w))
        reserved = [t.reserved[d][rows] for d in range(3)]
        reserved += [t.extended[name][1][rows] for name in self.scored]
        return np.array([*free, *device, *whole, *reserved], dtype=_I64), free[2] >= 0

    def _int_values_of_few(self, rows: list[int]) -> tuple[Any, Any]:
        """:meth:`_int_values` read row by row (cheaper than numpy calls for a few rows)."""
        t = self.backend.table
        free = t.free_usable
        reserved = t.reserved
        extended = [t.extended[name] for name in self.names]
        scored = [t.extended[name][1] for name in self.scored]
        share = [t.devices.share.get(name) for name in self.names]
        whole = [t.devices.whole.get(name) for name in self.names]
        columns = []
        for i in rows:
            values = [free[0].item(i), free[1].item(i), free[2].item(i)]
            values += [cols[0].item(i) - cols[1].item(i) for cols in extended]
            for kind in (share, whole):
                for column in kind:
                    v = -1 if column is None else column.item(i)
                    values.append(_UNBOUNDED if v < 0 else v)
            values += [reserved[0].item(i), reserved[1].item(i), reserved[2].item(i)]
            values += [column.item(i) for column in scored]
            columns.append(values)
        iv = np.array(columns, dtype=_I64).reshape(len(rows), self.nres + self.ns).T.copy()
        return iv, iv[2] >= 0

    def _base_score(self, iv: Any, fv: Any) -> Any:  # noqa: ANN401
        """The base score ``a = sum_d w_d * r_d / c_d / W`` of the columns of ``iv``/``fv``."""
        ns = self.ns
        return (self.weight_column * iv[self.nres :] / fv[:ns]).sum(axis=0) / fv[2 * ns]

    def _reduce(self, span: slice | Any, starts: Any) -> tuple[Any, Any, Any, Any]:  # noqa: ANN401
        """The chunk extrema over positions ``span`` (a slice or an array) cut at ``starts``."""
        usable = self.usable[span]
        iv, fv = self.iv[:, span], self.fv[:, span]
        if not iv.shape[1]:
            return iv[:, :0], iv[self.nres :, :0], fv[:, :0], fv[:, :0]
        imax = np.maximum.reduceat(np.where(usable, iv, self.neutral_imax), starts, axis=1)
        imin = np.minimum.reduceat(
            np.where(usable, iv[self.nres :], self.neutral_imin), starts, axis=1
        )
        fmax = np.maximum.reduceat(np.where(usable, fv, self.neutral_fmax), starts, axis=1)
        fmin = np.minimum.reduceat(np.where(usable, fv, self.neutral_fmin), starts, axis=1)
        empty = imax[2] < 0  # no usable row: bounds that overflow nothing
        if empty.any():
            imax[self.nres :, empty] = 0
            imin[:, empty] = 0
            fmax[:, empty] = self.empty_fmax[:, None]
            fmin[:, empty] = self.empty_fmin[:, None]
        return imax, imin, fmax, fmin

    def update(self, rows: Any) -> None:  # noqa: ANN401
        """Take the new values of ``rows`` (indexed here or not); re-summarize their chunks.

        Runtime complexity: O(len(rows) + chunk * chunks touched) numpy work.
        """
        positions = self.position[rows]
        positions = positions[positions >= 0]
        if not positions.size:
            return
        iv, usable = self._int_values(self.rows[positions])
        self.iv[:, positions], self.usable[positions] = iv, usable
        self.fv[-1, positions] = self._base_score(iv, self.fv[:, positions])  # capacities stay
        ks = np.unique(self.chunk_at[positions])
        span, starts = self.positions_of(ks)
        self.imax[:, ks], self.imin[:, ks], self.fmax[:, ks], self.fmin[:, ks] = self._reduce(
            span, starts
        )

    def positions_of(self, ks: Any) -> tuple[Any, Any]:  # noqa: ANN401
        """The positions of chunks ``ks`` (int64 array), and where each chunk starts in them.

        Runtime complexity: O(len(ks) + positions returned).
        """
        first = self.starts[ks]
        lengths = self.starts[ks + 1] - first
        starts = np.zeros(len(ks), dtype=_I64)
        np.cumsum(lengths[:-1], out=starts[1:])
        span = np.arange(int(lengths.sum()), dtype=_I64) + np.repeat(first - starts, lengths)
        return span, starts

    def _thresholds(self, request: Resources) -> Any:  # noqa: ANN401
        """The ``(rows of iv, 1)`` thresholds of :func:`.feasibility.rows_at_least` for ``request``.

        On rows, exactly :meth:`.NumpyBackend.feasible` without labels: each free
        amount at least the request, and per device kind the largest free share
        at least a share, or the wholly free devices at least the whole ones
        (:meth:`.DeviceColumns.mask`); reserved amounts are not tested.
        """
        nn = len(self.names)
        thresholds = [request.millicpu, request.memory_bytes, request.slots]
        thresholds += [request.extended[x] for x in self.names]
        share, whole = [], []
        for name in self.names:
            milli = request.extended[name]
            share.append(milli if milli <= DEVICE_MILLI else NO_LIMIT)
            whole.append(milli // DEVICE_MILLI if milli > DEVICE_MILLI else NO_LIMIT)
        thresholds += share + whole + [NO_LIMIT] * self.ns
        assert len(thresholds) == self.nres + self.ns == 3 + 3 * nn + self.ns  # noqa: S101
        return np.array(thresholds, dtype=_I64)[:, None]

    def candidates(self, request: Resources) -> Any:  # noqa: ANN401
        """Bool array over chunks: some row of the chunk may hold ``request`` (bounds only).

        Runtime complexity: O(chunks * dimensions), vectorized.
        """
        return rows_at_least(self.imax, self._thresholds(request))

    def _amounts(self, request: Resources) -> list[int]:
        return [
            request.millicpu,
            request.memory_bytes,
            request.slots,
            *(request.extended[x] for x in self.scored),
        ]

    def key(self, request: Resources) -> Any:  # noqa: ANN401
        """Real-valued bound of every chunk's scores, as a key to minimize (lemma 4).

        ``a + q . g`` with the least ``a`` and ``g`` (the most, negated, to
        maximize). O(chunks * dimensions).
        """
        q = np.array(self._amounts(request), dtype=np.float64)
        ns = self.ns
        if self.backend.maximize:
            f = self.fmax
            return -(f[2 * ns + 1] + q @ f[ns : 2 * ns])
        f = self.fmin
        return f[2 * ns + 1] + q @ f[ns : 2 * ns]

    def bound(self, request: Resources, ks: Any) -> Any:  # noqa: ANN401
        """Exact float bound of the scores in chunks ``ks``: below to minimize, above to maximize.

        The score specification (:meth:`LinearScore.vector`) applied to the least
        reserved amounts over the largest capacities and weight sums (the most
        over the smallest, to maximize). Lemmas 3 and 6. O(len(ks) * dimensions).
        """
        backend = self.backend
        q = self._amounts(request)
        ns = self.ns
        if backend.maximize:
            res, cap, wsum = self.imax[self.nres :, ks], self.fmin[:ns, ks], self.fmin[2 * ns, ks]
        else:
            res, cap, wsum = self.imin[:, ks], self.fmax[:ns, ks], self.fmax[2 * ns, ks]
        used = [res[d] + q[d] for d in range(ns)]
        return backend.spec.vector(used, list(cap), self.weights) / wsum

    def evaluate(
        self,
        span: slice | Any,  # noqa: ANN401
        request: Resources,
        require: frozenset[str],
    ) -> tuple[float, int]:
        """The best score at positions ``span`` and its row (-1: none), ties to the lowest sequence.

        The scan restricted to those rows: the feasibility of :meth:`_thresholds` and
        labels, and the scores of :meth:`.NumpyBackend.scores` (the same values,
        the same operations: lemma 1). O(len(span) * dimensions).
        """
        backend = self.backend
        iv, fv = self.iv[:, span], self.fv[:, span]
        ok = rows_at_least(iv, self._thresholds(request))
        if require:
            t = backend.table
            labelset = t.labelset[self.rows[span]]
            ok &= t.label_table(require)[labelset]
            any_of = any_labels(require)  # a LabelRule: one of these labels too
            if any_of:
                ok &= t.any_label_table(any_of)[labelset]
        if not ok.any():
            return _INF, -1
        ns = self.ns
        used = iv[self.nres :] + np.array(self._amounts(request), dtype=_I64)[:, None]
        score = backend.spec.vector(used, fv[:ns], self.weights) / fv[2 * ns]
        # every row is scored (the same operations on the same values, row by row);
        # the infeasible ones then lose
        if backend.maximize:
            s = np.where(ok, score, -_INF).max()
        else:
            s = np.where(ok, score, _INF).min()
        hits = np.flatnonzero(ok & (score == s))
        best = hits[self.sequence[span][hits].argmin()]
        return float(s), int(self.rows[span][best])
