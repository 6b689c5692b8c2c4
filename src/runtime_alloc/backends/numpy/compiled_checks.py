"""The compiled index's invariant check (tests): its arrays against the rows it should hold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy import _kernels as k
from runtime_alloc.backends.numpy.shape_groups import MASK

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.compiled_index import CompiledIndex

__all__ = ["check"]


def check(index: CompiledIndex, rows: dict[int, Any]) -> None:
    """Assert that ``index`` agrees with ``rows`` (row -> (reserved, usable)). O(n).

    Each row is indexed with its reserved amounts, tree (shape and tier) and
    usability, at a position of its tree that names it and holds a copy of its
    amounts (cpu -1 when not usable); each tree's free list holds its other
    used positions once, their cpu -1; every node equals a fresh build's.
    """
    ri, pm, tr, sh = index.ri, index.pm, index.tr, index.sh
    indexed = set(np.flatnonzero(ri[:, 4] >= 0).tolist())
    assert indexed == set(rows), "indexed rows differ"  # noqa: S101
    for row, (r, usable) in rows.items():
        assert tuple(ri[row, :3].tolist()) == tuple(r), row  # noqa: S101
        tree = int(ri[row, 4]) >> 1
        s = int(tr[tree, 5])
        tier = min(max((int(sh[s, 0]) - r[0]) // int(sh[s, 6]), 0), index.ntiers - 1)
        assert tree == s * index.ntiers + tier, row  # noqa: S101
        assert bool(ri[row, 4] & 1) == bool(usable), row  # noqa: S101
        pos = int(ri[row, 3])
        assert tr[tree, 0] <= pos < tr[tree, 0] + tr[tree, 3], row  # noqa: S101
        assert pm[pos, 0] == ri[row, 5], row  # noqa: S101
        copy = (r[0] if usable else -1, r[1], r[2])
        assert tuple(pm[pos, 1:].tolist()) == tuple(copy), ("position copy", row)  # noqa: S101
        assert ri[row, 5] & MASK == row, row  # noqa: S101
    for tree in range(len(tr)):
        poff, used, head = int(tr[tree, 0]), int(tr[tree, 3]), int(tr[tree, 4])
        free = set()
        while head >= 0:  # the free list: positions of the tree, each once
            assert poff <= head < poff + used, tree  # noqa: S101
            assert head not in free, tree  # noqa: S101
            free.add(head)
            assert pm[head, 1] == -1, ("free position holds amounts", head)  # noqa: S101
            head = -2 - int(pm[head, 0])
        held = {p for p in range(poff, poff + used) if pm[p, 0] >= 0}
        assert len(free) + len(held) == used, tree  # noqa: S101
        assert (pm[poff + used : poff + int(tr[tree, 2]) * k.BUCKET] == -1).all(), tree  # noqa: S101
    assert np.shares_memory(index.ni, index.nf), "node keys apart from their records"  # noqa: S101
    assert index.ni.ctypes.data % 64 == 0, "node records not 64-byte aligned"  # noqa: S101
    ni = index.ni.copy()
    nf = ni.view(np.float64)
    k.build(ri, pm, ni, nf, tr, sh, index.sf)
    assert np.array_equal(ni[:, :7], index.ni[:, :7]), "node amounts differ from a fresh build"  # noqa: S101
    assert np.array_equal(nf[:, 7], index.nf[:, 7]), "node keys differ from a fresh build"  # noqa: S101
