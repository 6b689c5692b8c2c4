"""Consistency checks of the numpy indexes against the states they were sent (tests call these).

Each check asserts that an index agrees with the runner states and that every
bound it keeps still bounds what it summarizes. Runtime complexity: O(N).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runtime_alloc.backends.numpy.shape_groups import CHUNK_BITS, MASK

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.columns import Table
    from runtime_alloc.backends.numpy.shape_classes import ClassIndex
    from runtime_alloc.runners import RunnerState

__all__ = ["check_classes", "check_table"]


def check_table(table: Table, states: Mapping[str, RunnerState]) -> None:
    """Assert that every column and block bound agrees with ``states`` (tests call this).

    Runtime complexity: O(N * (dimensions + devices)); the block bounds vectorized.
    """
    assert set(table.row_of) == set(states), "runner sets differ"  # noqa: S101
    seqs = [table.sequence.item(table.row_of[name]) for name in states]
    assert seqs == sorted(seqs), "registration order lost"  # noqa: S101
    bs = table.block_size
    for name, state in states.items():
        i = table.row_of[name]
        r, c = state.reserved, state.runner.capacity
        assert (table.reserved[0][i], table.reserved[1][i], table.reserved[2][i]) == (  # noqa: S101
            r.millicpu,
            r.memory_bytes,
            r.slots,
        ), name
        assert (table.capacity[0][i], table.capacity[1][i], table.capacity[2][i]) == (  # noqa: S101
            c.millicpu,
            c.memory_bytes,
            c.slots,
        ), name
        assert bool(table.draining[i]) == state.draining, name  # noqa: S101
        for dim, cols in table.extended.items():
            assert cols[0][i] == c.extended.get(dim, 0), (name, dim)  # noqa: S101
            assert cols[1][i] == r.extended.get(dim, 0), (name, dim)  # noqa: S101
        table.devices.check(i, state.devices, name)
    for k in range(table.nblocks if table.summaries else 0):
        lo, hi = k * bs, (k + 1) * bs
        for d in range(3):
            assert table.block_free_max[d][k] >= table.free_usable[d][lo:hi].max(), (k, d)  # noqa: S101
            usable = table.free_usable[d][lo:hi] >= 0
            if usable.any():
                col = table.reserved[d][lo:hi][usable]
                assert table.block_reserved_min[d][k] <= col.min(), (k, d)  # noqa: S101
                assert table.block_reserved_max[d][k] >= col.max(), (k, d)  # noqa: S101
        assert table.block_base_score_min[k] <= table.base_score_low[lo:hi].min(), k  # noqa: S101
        assert table.block_base_score_max[k] >= table.base_score_high[lo:hi].max(), k  # noqa: S101


def check_classes(index: ClassIndex, rows: dict[int, Any]) -> None:
    """Assert that r-classes agree with ``rows`` (row -> (reserved, usable)); for tests.

    Runtime complexity: O(rows + heap entries).
    """
    counts: dict[tuple[int, tuple[int, int, int]], int] = {}
    for row, (r, usable) in rows.items():
        cls = index.rclass_of[row]
        if not usable:
            assert cls is None, row  # noqa: S101
            continue
        assert cls == r, row  # noqa: S101
        g = index.group_of[row]
        assert g is not None, row  # noqa: S101
        key = (id(g), r)
        counts[key] = counts.get(key, 0) + 1
    for g in index.groups.values():
        entries = {e[1] for tier in g.tiers for e in tier}
        assert sum(map(len, g.tiers)) == g.entries, "heap entries miscounted"  # noqa: S101
        assert set(g.count) <= set(g.members), "counts of dead classes"  # noqa: S101
        for r, m in g.members.items():
            n = 1 if type(m) is int else g.count[r]
            assert counts.get((id(g), r)) == n > 0, r  # noqa: S101
            assert r in entries, r  # noqa: S101
            listed = {m} if type(m) is int else set(m)
            valid = {x for x in listed if index.rclass_of[x & MASK] == r}
            assert len(valid) == n, r  # every member is listed once, stale ones aside  # noqa: S101
        for c, bound in enumerate(g.cmin):
            for h in g.tiers[c << CHUNK_BITS : (c + 1) << CHUNK_BITS]:
                assert all(e[0] >= bound for e in h), c  # noqa: S101
