"""The failure diagnosis of the numpy backend: the python scan's error, from columns.

Equal to :func:`runtime_alloc._placement.diagnose`: the same reasons in the
same order (first runner to give each reason, in registration order), the same
counts and shortfalls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.errors import (
    AllocationError,
    InsufficientCapacityError,
    Shortfall,
    UnschedulableError,
)

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.backend import NumpyBackend
    from runtime_alloc.resources import Resources

__all__ = ["diagnose"]


def diagnose(
    backend: NumpyBackend, task_id: str, request: Resources, require: frozenset[str]
) -> AllocationError:
    """Build the same error as :func:`runtime_alloc._placement.diagnose`, vectorized. O(N)."""
    t = backend.table
    live = np.flatnonzero(t.alive[: t.nrows])
    live = live[np.argsort(t.sequence[live], kind="stable")]
    n = int(live.size)
    labels_ok = t.label_table(require)[t.labelset[live]] if require else np.ones(n, np.bool_)
    dims = request.dimensions()
    caps = [_column(backend, dim, live, reserved=False) for dim in dims]
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
        ids = t.labelset[live]
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
            avail = cap - _column(backend, dim, live, reserved=True) if ever else cap
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


def _column(backend: NumpyBackend, dim: str, idx: Any, *, reserved: bool) -> Any:  # noqa: ANN401
    t = backend.table
    j = {"cpu": 0, "memory": 1, "slots": 2}.get(dim)
    if j is not None:
        return (t.reserved if reserved else t.capacity)[j][idx]
    cols = t.extended.get(dim)
    if cols is None:
        return np.zeros(len(idx), np.int64)
    return cols[1 if reserved else 0][idx]
