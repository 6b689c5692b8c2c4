"""Columnar runner storage for the numpy backend: the row table.

Runners live in *rows* of int64/float64 columns (one column per quantity, so
every numpy operation is a flat, contiguous loop): ``capacity[d]``,
``reserved[d]``, ``free_usable[d]`` (free amount, -1 when draining or empty),
``capacity_float[d]`` (``inf`` where dimension ``d`` is not scored),
``weight_sum``/``weight_sum_float``, ``sequence`` (registration order),
``labelset`` (id of the label set) and ``extended[name]`` ([capacity,
reserved]). Rows are grouped in blocks of ``block_size``; every block belongs
to one *group* of runners with the same capacity (or, once a fleet has very
many distinct capacities, the same power-of-two capacity bucket), and inside a
block rows follow registration order. The per-block summaries and their upkeep
(widened in O(1) per reservation change, tightened when a search evaluates a
block) are :mod:`.block_bounds`'s.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, islice, repeat
from operator import itemgetter
from typing import Any

import numpy as np

from runtime_alloc._ledger_views import NOTHING as _NOTHING
from runtime_alloc._ledger_views import reserved_of
from runtime_alloc.backends.numpy.block_bounds import BlockBounds, grow
from runtime_alloc.backends.numpy.derived_columns import DerivedColumns
from runtime_alloc.backends.numpy.devices import DeviceColumns
from runtime_alloc.backends.numpy.index_layout import Facts, Shape, facts_of
from runtime_alloc.backends.numpy.shape_groups import MASK, SHIFT
from runtime_alloc.backends.numpy.table_views import Names, RowOf, SharedKeys, share_keys
from runtime_alloc.runners import Runner, RunnerState

__all__ = ["MAX_EXACT_GROUPS", "Table", "default_block_size"]

#: Distinct capacities that get their own exact group; beyond, runners share
#: power-of-two capacity buckets (bounds stay valid, only looser).
MAX_EXACT_GROUPS = 64

_INF = math.inf
_I64 = np.int64
_F64 = np.float64
#: Runners whose columns :meth:`Table.add_many` writes at once (bounds its temporaries).
_CHUNK = 1 << 16


def default_block_size(n: int) -> int:
    """Return the block size used for a fleet of ``n`` runners (grows about like sqrt(n)). O(1)."""
    if n < 4096:
        return 64
    if n < 300_000:
        return 256
    return 1024


_CAP = itemgetter(0)
_LABELS = itemgetter(1)


#: Members a build writes or hands on at a time (their temporaries stay small).
_MEMBER_CHUNK = 65_536


def members_of(seq: int, rows: Any, start: int = 0, stop: int | None = None) -> Any:  # noqa: ANN401
    """New runners' members ``(seq + i) << SHIFT | rows[i]`` for ``start <= i < stop``.

    ``rows`` (an int array) are the rows given to runners numbered from
    sequence ``seq`` on, in order; the result is an int64 array.
    Runtime complexity: O(stop - start).
    """
    stop = len(rows) if stop is None else stop
    members = np.arange(seq + start, seq + stop, dtype=_I64)
    members <<= SHIFT
    members |= rows[start:stop]
    return members


def member_ints(seq: int, rows: Any) -> Iterator[int]:  # noqa: ANN401
    """:func:`members_of` as Python ints, made a chunk at a time (no list of them all). O(n)."""
    n = len(rows)
    return chain.from_iterable(
        members_of(seq, rows, i, min(i + _MEMBER_CHUNK, n)).tolist()
        for i in range(0, n, _MEMBER_CHUNK)
    )


def _set_keys(
    key_of: dict[str, int] | SharedKeys,
    names: Iterable[str],
    seq: int,
    rows: Any,  # noqa: ANN401
) -> None:
    """``key_of[name] = member`` for new runners' names and :func:`members_of` ``(seq, rows)``.

    Through a :class:`.table_views.SharedKeys`, its flat column is written
    with one numpy assignment per chunk of runners (grown first as its
    ``__setitem__`` grows it). O(len(rows)).
    """
    if not isinstance(key_of, SharedKeys):
        key_of.update(zip(names, member_ints(seq, rows), strict=True))
        return
    n = len(rows)
    names = iter(names)
    slot_of = key_of.slots.__getitem__
    for start in range(0, n, _MEMBER_CHUNK):
        stop = min(start + _MEMBER_CHUNK, n)
        slots = np.fromiter(map(slot_of, islice(names, stop - start)), _I64, stop - start)
        column = key_of.keys
        top = int(slots.max()) + 1
        if top > len(column):
            column.extend(array("q", [-1]) * max(top - len(column), len(column), 64))
        np.frombuffer(column, dtype=_I64)[slots] = members_of(seq, rows, start, stop)  # a view
    key_of.n += n


def _bucket(value: int) -> int:
    return int(value).bit_length()


class Table(DerivedColumns, BlockBounds):
    """Column storage of runner states for one strategy's weights.

    Args:
        weights: the builtin weights ``(w_cpu, w_memory, w_slots)``.
        block_size: rows per block.
    """

    def __init__(
        self,
        weights: tuple[int, int, int],
        block_size: int,
        *,
        summaries: bool = True,
        ordered: bool = False,
    ) -> None:
        self.weights = weights
        self.block_size = block_size
        #: False when the backend searches another index: updates then only
        #: write the columns, and block summaries are not kept.
        self.summaries = summaries
        #: True: rows follow registration order (one group for every capacity), so
        #: the lowest row among equal scores is the runner registered first.
        self.ordered = ordered
        #: runner name -> ``sequence << SHIFT | row``: one int per runner that is also
        #: the class index's member (registration order, then row), so no second
        #: int per runner is kept for the row
        self.key_of: dict[str, int] | SharedKeys = {}
        #: row -> the Runner (None for an empty row)
        self.runners: list[Runner | None] = []
        self.nlive = 0
        self.nextseq = 0
        self.labelsets: dict[frozenset[str], int] = {}
        self.labelset_list: list[frozenset[str]] = []
        self._groups: dict[Any, list[int]] = {}
        self.nblocks = 0
        self.fill: list[int] = []
        self.devices = DeviceColumns()
        #: the float columns of the scoring, made at their first read (see capacity_float)
        self._floats: tuple[list[Any], Any] | None = None
        #: True while another index answers (the class index): the columns derived
        #: from others (capacity, free_usable, sequence, weight_sum) are then made at
        #: their first read, 64 bytes per row less for a fleet that never reads them
        self.lazy = not summaries and not ordered
        self._free: list[Any] | None = None
        self._capacity: list[Any] | None = None
        self._sequence: Any = None
        self._weight_sum: Any = None
        self._allocate_rows(0)
        self._allocate_blocks(0)
        self.block_capacity = 0

    @property
    def names(self) -> Names:
        """Row -> runner name, None for an empty row (a view of :attr:`runners`). O(1)."""
        return Names(self.runners)

    @property
    def row_of(self) -> RowOf:
        """Runner name -> row (a view of :attr:`key_of`). O(1)."""
        return RowOf(self.key_of)

    def share(self, rows: dict[str, int]) -> None:
        """Keep the name map through the ledger's ``rows`` (see :class:`.table_views.SharedKeys`).

        Left as it is while ``rows`` lacks a runner the table holds. O(N).
        """
        self.key_of = share_keys(self.key_of, rows)

    # ------------------------------------------------------------------ storage

    def _allocate_rows(self, nrows: int) -> None:
        """Grow every row column to ``nrows`` rows. O(nrows).

        :meth:`add_many` calls this once per call, after assigning its rows, not
        once per doubling of the blocks: the columns of the sizes in between
        would stay behind as free but resident heap (about 60 bytes per runner
        at a 1M-runner build).
        """
        g = getattr
        eager = not self.lazy
        if eager or self._capacity is not None:
            caps = self._capacity or [None] * 3
            self._capacity = [grow(caps[d], nrows, 0, _I64) for d in range(3)]
        self.reserved = [grow(g(self, "reserved", [None] * 3)[d], nrows, 0, _I64) for d in range(3)]
        if eager or self._free is not None:
            free = self._free or [None] * 3
            self._free = [grow(free[d], nrows, -1, _I64) for d in range(3)]
        if eager or self._weight_sum is not None:
            self._weight_sum = grow(self._weight_sum, nrows, 0, _I64)
        floats = g(self, "_floats", None)
        if floats is not None:
            self._floats = (
                [grow(floats[0][d], nrows, _INF, _F64) for d in range(3)],
                grow(floats[1], nrows, 1.0, _F64),
            )
        # the per-row score terms serve only the block summaries: empty without them
        nscored = nrows if self.summaries else 0
        self.base_score_low = grow(g(self, "base_score_low", None), nscored, _INF, _F64)
        self.base_score_high = grow(g(self, "base_score_high", None), nscored, -_INF, _F64)
        if eager or self._sequence is not None:
            self._sequence = grow(self._sequence, nrows, np.iinfo(_I64).max, _I64)
        self.labelset = grow(g(self, "labelset", None), nrows, 0, np.int32)
        self.alive = grow(g(self, "alive", None), nrows, 0, np.bool_)
        self.draining = grow(g(self, "draining", None), nrows, 0, np.bool_)
        self.devices.grow(nrows)
        ext: dict[str, list[Any]] = g(self, "extended", {})
        self.extended = {
            k: [grow(v[0], nrows, 0, _I64), grow(v[1], nrows, 0, _I64)] for k, v in ext.items()
        }
        self.row_capacity = nrows

    def _new_block(self) -> int:
        """Open a block (its rows get columns at the end of :meth:`add_many`). O(1) amortized."""
        if self.nblocks == self.block_capacity:
            nb = max(4, self.block_capacity * 2)
            # gmin/gmax are 2-D: grow flat copies
            self.block_slope_min = self.block_slope_min.ravel()
            self.block_slope_max = self.block_slope_max.ravel()
            self._allocate_blocks(nb)
            self.block_capacity = nb
        k = self.nblocks
        self.nblocks += 1
        self.fill.append(0)
        return k

    def extended_columns(self, name: str) -> list[Any]:
        """``[capacity, reserved]`` columns of an extended dimension; O(1), O(rows) when made."""
        cols = self.extended.get(name)
        if cols is None:
            cols = [np.zeros(self.row_capacity, _I64), np.zeros(self.row_capacity, _I64)]
            self.extended[name] = cols
        return cols

    def labelset_id(self, labels: frozenset[str]) -> int:
        """Return the id of a label set, registering it on first sight. O(labels) to hash."""
        ident = self.labelsets.get(labels)
        if ident is None:
            ident = len(self.labelset_list)
            self.labelsets[labels] = ident
            self.labelset_list.append(labels)
        return ident

    def label_table(self, require: frozenset[str]) -> Any:  # noqa: ANN401
        """Which label sets (bool array by id) hold every label of ``require``. O(label sets)."""
        return np.fromiter(
            (require <= s for s in self.labelset_list), np.bool_, len(self.labelset_list)
        )

    def any_label_table(self, any_of: frozenset[str]) -> Any:  # noqa: ANN401
        """Which label sets (bool array by id) hold one label of ``any_of``. O(label sets)."""
        return np.fromiter(
            (not any_of.isdisjoint(s) for s in self.labelset_list),
            np.bool_,
            len(self.labelset_list),
        )

    # ------------------------------------------------------------------ runners

    def _group_key(self, cap: tuple[int, int, int]) -> Any:  # noqa: ANN401
        if cap in self._groups or len(self._groups) < MAX_EXACT_GROUPS:
            return cap
        return ("bucket", *(_bucket(c) for c in cap))

    def add_many(
        self, states: Sequence[RunnerState | Runner], facts: Facts | None = None
    ) -> tuple[int, Any]:
        """Append runners (newest last); return ``(seq, rows)``. O(len(states)) amortized.

        Rows are assigned by numpy work over a new table (a build, see
        :meth:`_first_rows`), else by one Python pass (8 bytes kept per
        runner, see :meth:`_next_rows`); the columns
        and the touched blocks' summaries are then written with whole-array
        numpy operations, :data:`_CHUNK` runners at a time, so the temporaries
        of a 1M-runner build stay a few MiB instead of about 100 bytes per runner.
        ``facts`` (:func:`.index_layout.facts_of` of ``states``) is read when
        given, else made here. Returned: the first new runner's sequence and
        the rows given (an int array, in order), from which :func:`members_of`
        and :func:`member_ints` make the members ``sequence << SHIFT | row``
        that :attr:`key_of` now holds.
        """
        if not states:
            return self.nextseq, np.empty(0, dtype=_I64)
        if facts is None:
            facts = facts_of(states)
        self.devices.runners_changed()
        runners = self.runners
        seq = self.nextseq
        if self.nblocks == 0 and not self._groups:  # a new table (a build): rows at once
            all_rows = self._first_rows(facts.shapes)
        else:
            all_rows = self._next_rows(facts.shapes)
        _set_keys(self.key_of, facts.names(), seq, all_rows)
        need = int(all_rows.max()) + 1
        if len(runners) < need:
            runners.extend(repeat(None, need - len(runners)))  # no temporary list
        if self.row_capacity < self.nrows:
            # the rows in use, or twice the old size when that is more (amortized O(1) per
            # runner added one at a time): a fleet built at once gets no spare blocks
            self._allocate_rows(
                max(self.nrows, min(2 * self.row_capacity, self.block_capacity * self.block_size))
            )
        for start in range(0, len(states), _CHUNK):
            # (each chunk takes the next sequence numbers, as assigned above)
            stop = start + _CHUNK
            self._write_added(
                states[start:stop], all_rows[start:stop], facts.shapes[start:stop], facts.bare
            )
        return seq, all_rows

    def _next_rows(self, shapes: Sequence[Shape]) -> Any:  # noqa: ANN401
        """Rows (int64 array) for new runners of these shapes, one by one. O(n).

        Each runner goes to the last block of its group (its capacity's, or
        one for all when :attr:`ordered`), a new block when that one is full.
        """
        bs = self.block_size
        rows = array("q")  # each new runner's row, in order
        groups, fill = self._groups, self.fill
        ordered = self.ordered
        seq = self.nextseq
        for shape in shapes:
            cap = shape[0]
            blocks = groups.get(None if ordered else cap)
            if blocks is None:
                blocks = groups.setdefault(None if ordered else self._group_key(cap), [])
            if not blocks or fill[blocks[-1]] == bs:
                blocks.append(self._new_block())
            k = blocks[-1]
            f = fill[k]
            i = k * bs + f
            if f == 0:
                self.block_first_sequence[k] = seq
            fill[k] = f + 1
            seq += 1
            rows.append(i)
        return np.frombuffer(rows, dtype=_I64)

    def _first_rows(self, shapes: Sequence[Shape]) -> Any:  # noqa: ANN401
        """:meth:`_next_rows` for a new table, by numpy work over the runners. O(n log n).

        The same rows, blocks and groups: the runners of a group fill its
        blocks in order, and blocks are numbered in the order of the runners
        that open them (each group's ``block_size``-th runners).
        """
        bs = self.block_size
        n = len(shapes)
        key_ids: dict[Any, int] = {}  # group key -> its number, in order of first sight
        # int32 where a value fits (n < 2**31) and in-place steps: a 1M-runner build
        # holds about 5 such columns at once, whose memory the C allocator keeps
        if self.ordered:
            key_ids[None] = 0
            gid = np.zeros(n, dtype=np.int32)
        else:
            number: dict[tuple[int, int, int], int] = {}
            for cap in dict.fromkeys(map(_CAP, shapes)):  # first sight order, as one by one
                key = self._group_key(cap)
                self._groups.setdefault(key, [])
                number[cap] = key_ids.setdefault(key, len(key_ids))
            gid = np.fromiter(map(number.__getitem__, map(_CAP, shapes)), dtype=np.int32, count=n)
        counts = np.bincount(gid, minlength=len(key_ids))
        starts = (np.cumsum(counts) - counts).astype(np.int32)
        by_group = np.arange(n, dtype=np.int32)  # the runners by group, arrival order within:
        by_group -= np.repeat(starts, counts)  # there, each one's place in its group
        rank = np.empty(n, dtype=np.int32)  # each runner's place in its group
        rank[np.argsort(gid, kind="stable")] = by_group
        del by_group
        opens = np.flatnonzero(rank % bs == 0)  # the runners that open a block, in order
        # a group's j-th block is the k-th opened: k at the group's block offset + j
        per_group = -(-counts // bs)
        offset = (np.cumsum(per_group) - per_group).astype(np.int32)
        opened = np.empty(opens.size, dtype=np.int32)  # (rows fit: n < 2**31)
        opened[offset[gid[opens]] + rank[opens] // bs] = np.arange(opens.size, dtype=np.int32)
        at = rank // bs
        at += offset[gid]
        rows = opened[at]  # each runner's block
        del at
        for _ in range(opens.size):
            self._new_block()
        seq = self.nextseq
        self.block_first_sequence[: opens.size] = seq + opens
        self.fill[:] = np.bincount(rows, minlength=opens.size).tolist()
        rows *= bs
        rows += rank % bs
        if self.ordered:
            self._groups[None] = list(range(opens.size))
        else:
            by_number = [self._groups[key] for key in key_ids]
            for k, g in enumerate(gid[opens].tolist()):
                by_number[g].append(k)
        return rows

    def _write_added(
        self,
        states: Sequence[RunnerState | Runner],
        idx: Any,  # noqa: ANN401
        shapes: list[Shape],
        bare: bool,
    ) -> None:
        """Write the columns and block summaries of new runners at rows ``idx``. O(len(idx)).

        ``shapes`` are theirs (:attr:`.index_layout.Facts.shapes`); ``bare`` True
        when every state is a bare new :class:`Runner` (empty, not draining, no
        extended capacity: nothing to read from it but the runner itself).
        """
        n = len(idx)
        runners = self.runners
        with_ext: list[tuple[int, RunnerState]] = []
        # the rows' amounts gathered flat (8 bytes each, no tuple per runner)
        cap_a = np.fromiter(
            chain.from_iterable(map(_CAP, shapes)), dtype=_I64, count=3 * n
        ).reshape(n, 3)
        # label set ids given in order of first appearance, as one by one
        lset_of = {
            labels: self.labelset_id(labels) for labels in dict.fromkeys(map(_LABELS, shapes))
        }
        lsets = np.fromiter(map(lset_of.__getitem__, map(_LABELS, shapes)), np.int32, n)
        if bare:
            for runner, i in zip(states, idx.tolist(), strict=True):
                runners[i] = runner  # type: ignore[assignment]  # bare: a Runner
            res_a = np.zeros((n, 3), dtype=_I64)
            drain_a = np.zeros(n, dtype=np.bool_)
        else:
            reserved = array("q")
            draining = bytearray()
            for state, i in zip(states, idx.tolist(), strict=True):
                if type(state) is Runner:  # a new, empty runner queued alone (NumpyBackend.add)
                    runner, r, drain = state, _NOTHING, False
                else:
                    runner, r, drain = state.runner, state.reserved, state.draining  # type: ignore[union-attr]
                runners[i] = runner
                reserved.extend((r.millicpu, r.memory_bytes, r.slots))
                draining.append(drain)
                if runner.capacity.extended._data or r.extended._data:  # noqa: SLF001
                    with_ext.append((i, state))  # type: ignore[arg-type]  # never a bare Runner
            res_a = np.frombuffer(reserved, dtype=_I64).reshape(n, 3)
            drain_a = np.frombuffer(draining, dtype=np.bool_)
        if self._sequence is not None:
            self._sequence[idx] = np.arange(self.nextseq, self.nextseq + n, dtype=_I64)
        self.nextseq += n
        self.nlive += n
        self.alive[idx] = True
        self.draining[idx] = drain_a
        self.labelset[idx] = lsets
        wsum = np.zeros(n, dtype=_I64)
        for d in range(3):
            if self._capacity is not None:
                self._capacity[d][idx] = cap_a[:, d]
            self.reserved[d][idx] = res_a[:, d]
            if self._free is not None:
                self._free[d][idx] = np.where(drain_a, -1, cap_a[:, d] - res_a[:, d])
            if self.weights[d] > 0:
                scored = cap_a[:, d] > 0
                if self._floats is not None:
                    self._floats[0][d][idx] = np.where(scored, cap_a[:, d].astype(_F64), _INF)
                wsum += np.where(scored, self.weights[d], 0)
        if self._weight_sum is not None:
            self._weight_sum[idx] = wsum
        wsumf = np.where(wsum > 0, wsum.astype(_F64), 1.0)
        if self._floats is not None:
            self._floats[1][idx] = wsumf
        for i, state in with_ext:
            for name, count in state.runner.capacity.extended.items():
                self.extended_columns(name)[0][i] = count
            self._update_ext(state.reserved.extended, i)
            if state.devices:
                self.devices.set(i, state.devices)
        touched = set(np.unique(idx // self.block_size).tolist())
        self._summarize_added(idx, cap_a, res_a, drain_a, wsumf, touched)

    def remove(self, name: str) -> None:
        """Forget a runner; its row stays empty until the next rebuild. O(1)."""
        i = self.key_of.pop(name) & MASK
        self.devices.runners_changed()
        self.runners[i] = None
        self.nlive -= 1
        self.alive[i] = False
        self.draining[i] = False
        for d in range(3):
            if self._free is not None:
                self._free[d][i] = -1
            if self._capacity is not None:
                self._capacity[d][i] = 0
            self.reserved[d][i] = 0
        if self.summaries:
            self.base_score_low[i] = _INF
            self.base_score_high[i] = -_INF
        for cols in self.extended.values():
            cols[0][i] = 0
            cols[1][i] = 0
        self.devices.clear(i)

    def update(self, state: RunnerState, i: int | None = None) -> None:
        """Store a runner's reserved amounts and draining flag; widen its block's bounds. O(1)."""
        if i is None:
            i = self.key_of[state.runner.name] & MASK
        r = state.reserved
        self.set_row(i, (r.millicpu, r.memory_bytes, r.slots), r.extended, state.draining)

    def set_rows(self, rows: Any, reserved: Any, draining: Any) -> None:  # noqa: ANN401
        """:meth:`set_row` for many rows at once, without extended amounts or summaries.

        Args:
            rows: int64 array of distinct rows.
            reserved: int64 array of shape ``(len(rows), 3)``.
            draining: bool array.

        Runtime complexity: O(len(rows)) numpy work.
        """
        self.draining[rows] = draining
        for d in range(3):
            res = reserved[:, d]
            self.reserved[d][rows] = res
            if self._free is not None:
                self._free[d][rows] = np.where(draining, -1, self.capacity[d][rows] - res)

    def state_at(self, i: int) -> RunnerState:
        """Build the :class:`RunnerState` of row ``i`` from the columns. O(dimensions)."""
        ext = {name: cols[1].item(i) for name, cols in self.extended.items() if cols[1].item(i)}
        return RunnerState(
            self.runners[i],  # type: ignore[arg-type]
            reserved_of(
                self.reserved[0].item(i), self.reserved[1].item(i), self.reserved[2].item(i), ext
            ),
            bool(self.draining.item(i)),
            *((self.devices.use[i],) if i in self.devices.use else ()),
        )

    def _update_ext(self, ext: Mapping[str, int], i: int) -> None:
        for name, cols in self.extended.items():
            cols[1][i] = ext.get(name, 0)
        for name, count in ext.items():
            if name not in self.extended:
                self.extended_columns(name)[1][i] = count

    # ------------------------------------------------------------------ checks

    @property
    def nrows(self) -> int:
        """Slots in use (live or emptied), i.e. ``nblocks * block_size``. O(1)."""
        return self.nblocks * self.block_size
