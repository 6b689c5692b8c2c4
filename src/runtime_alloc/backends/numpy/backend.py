"""The numpy backend: the class, and its index upkeep (the ledger's events, lazy writes).

:class:`NumpyBackend` keeps its indexes in step with the ledger's events here
(``add``, ``update``, ``update_reserved``, ``remove``, the lazy column writes
of :meth:`NumpyBackend.sync`, and re-indexing in :meth:`NumpyBackend.rebuild`);
scoring and the choice of index per request are its mixin :class:`.choosing.Choosing`.

Fleets of at most :data:`SCAN_ROWS` runners (:data:`SCAN_ROWS_LOWEST` when the
lowest score wins and the class index can hold the fleet's shapes) are answered
by one vectorized scan of the columns per decision (cheaper there than any
index upkeep). Above,
two indexes answer the built-in strategies (those with a
:class:`~runtime_alloc.strategies.LinearScore`). While the fleet has at most
:data:`MAX_SHAPES` runner shapes (capacity of cpu, memory and slots, and label
set), decisions use the per-shape r-class heaps of :mod:`.shape_classes`
(pure Python heaps, O(log N) per update; the numpy columns are then written
lazily, only for vectorized reads); ``index="compiled"`` answers the same
from the segment trees of :mod:`.compiled_index` (numba kernels; the ledger's
hot events go straight to them, :mod:`.direct`). Otherwise the block search of
:mod:`.blocks` answers. Requests for extended resources and devices use the
chunks of :mod:`.extended_index` (label ORs without them, and small fleets, a
vectorized scan); strategies without a LinearScore the python scan.
Why each answer equals the python scan: the lemmas in
:mod:`runtime_alloc.backends.numpy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
from typing import TYPE_CHECKING

import numpy as np

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._ledger_views import NOTHING, reserved_of
from runtime_alloc.backends.bulk_events import each_update_reserved
from runtime_alloc.backends.numpy import index_layout as layout
from runtime_alloc.backends.numpy.changed_rows import write_changed
from runtime_alloc.backends.numpy.checks import check_table
from runtime_alloc.backends.numpy.choosing import Choosing
from runtime_alloc.backends.numpy.columns import (
    Table,
    default_block_size,
    member_ints,
    members_of,
)
from runtime_alloc.backends.numpy.direct import DirectPath, direct_path
from runtime_alloc.backends.numpy.extended_index import ExtendedIndex
from runtime_alloc.backends.numpy.index_layout import (
    EMPTY,
    MAX_SHAPES,
    SCAN_ROWS,
    SCAN_ROWS_LOWEST,
    Facts,
    Queued,
    Shape,
    facts_of,
    name_of,
    pick_layout,
    scan_rows,
    shape_of,
)
from runtime_alloc.backends.numpy.scan import ScanArrays
from runtime_alloc.backends.numpy.shape_classes import ClassIndex
from runtime_alloc.backends.numpy.shape_groups import MASK
from runtime_alloc.backends.numpy.table_views import SharedKeys
from runtime_alloc.backends.protocol import ExtendedAmounts, ReservedAmounts
from runtime_alloc.runners import Runner, RunnerState
from runtime_alloc.strategies import LinearScore, Strategy, linear_score

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.compiled_index import CompiledIndex

__all__ = ["MAX_SHAPES", "SCAN_ROWS", "SCAN_ROWS_LOWEST", "NumpyBackend"]

#: The most runner changes kept back from the columns before they are written.
_MAX_DIRTY = 4096


class NumpyBackend(Choosing):
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
            decision; ``"compiled"`` the per-shape segment trees of
            :mod:`.compiled_index` (the class index's answers from numba kernels;
            needs the ``fast`` extra, else ImportError here); ``"auto"`` scans up to
            :data:`SCAN_ROWS` runners (:data:`SCAN_ROWS_LOWEST`, see there), then
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
        if index == "compiled":
            from runtime_alloc.backends.numpy.compiled_index import require_numba  # noqa: PLC0415

            require_numba()  # the optional extra, checked before anything is built
            self.name = "compiled"  # Allocator.backend
        self._index = index
        #: the ledger's direct path to the compiled index (see .direct), or None
        self.direct: DirectPath | None = None
        self._pending: list[Queued] = []
        #: row -> newest (reserved, extended, draining) not yet written to the columns
        self._dirty: dict[int, tuple[tuple[int, int, int], Mapping[str, int] | None, bool]] = {}
        #: name -> state, kept only for a strategy without a LinearScore (the python scan)
        self._scan_states: dict[str, RunnerState] | None = (
            None if self.vectorized else {s.runner.name: s for s in initial}
        )
        self.classes: ClassIndex | CompiledIndex | None = None
        #: the scan's float copies of the rows (small fleets), taken when first read
        self._arrays: ScanArrays | None = None
        #: chunks of the rows declaring extended resources (requests for them, above the scan)
        self.extended_index = ExtendedIndex(self, block_size)
        #: the ledger's name -> row dict, once it offered it (see share_rows)
        self._rows: dict[str, int] | None = None
        #: name -> position in ``states``: the table's name map goes through it (see
        #: share_rows) and a ledger loading the same states takes it as its own
        #: (Ledger.load), so that a restore makes one name map, not two; None after
        self.restored_rows: dict[str, int] | None = None
        if initial:
            rows = {name_of(s): i for i, s in enumerate(initial)}
            if len(rows) == len(initial):
                self.restored_rows = self._rows = rows
        self.rebuild(initial)

    @property
    def states(self) -> dict[str, RunnerState]:
        """Runner name -> state, in registration order, built from the columns. O(N)."""
        if self._scan_states is not None:
            return self._scan_states
        self.sync()
        t = self.table
        return {name: t.state_at(k & MASK) for name, k in t.key_of.items()}

    # ------------------------------------------------------------------ index upkeep

    def add(self, state: RunnerState) -> None:
        """Queue a new runner; queued runners are indexed in bulk before the next read. O(1)."""
        if self._scan_states is not None:
            self._scan_states[state.runner.name] = state
        self.direct = None  # queued runners: events take the general path until indexed
        runner = state.runner
        if (
            state.reserved is NOTHING
            and not state.draining
            and not runner.capacity.extended
            and type(runner) is Runner
        ):
            # a new, empty runner (the ledger's insert) waits as its Runner alone: no
            # state object per queued runner (64 bytes each while a fleet is built)
            self._pending.append(runner)
        else:
            self._pending.append(state)

    def share_rows(self, rows: dict[str, int]) -> None:
        """Take the ledger's name -> row dict as the table's name map (no second dict). O(N).

        The ledger calls this when it attaches the backend and after it renumbers
        its rows; the table's members are then kept in a flat column by ledger
        row. Until the dict names every runner the table holds, the table keeps
        its own map (tried again when queued runners are indexed).
        """
        self._rows = rows
        t = self.table
        t.share(rows)
        own = self.restored_rows
        if own is not None and (
            rows is own  # the ledger took it: its names are the ledger's now
            or not isinstance(t.key_of, SharedKeys)
            or t.key_of.slots is not own  # the table went over to the ledger's map
        ):
            self.restored_rows = None
        self.direct = direct_path(self, NumpyBackend)

    def update(self, state: RunnerState) -> None:
        """Store a runner's new reserved amounts, draining flag or device use. O(log N)."""
        r = state.reserved
        name = state.runner.name
        self.update_reserved(
            name, (r.millicpu, r.memory_bytes, r.slots), r.extended, state.draining
        )
        if state.devices:  # the ledger sends device runners' changes as states (.devices)
            self.table.devices.set(self.table.key_of[name] & MASK, state.devices)
            if self._scan_states is not None:
                self._scan_states[name] = state

    def update_reserved(
        self, name: str, reserved: ReservedAmounts, extended: ExtendedAmounts, draining: bool
    ) -> None:
        """Store a runner's reserved amounts and draining flag (the ledger's event). O(log N).

        With the class index the numpy columns are written lazily: the change
        waits in ``_dirty`` until a vectorized read (see :meth:`sync`).
        """
        scan = self._scan_states
        if scan is not None:  # a strategy without a LinearScore: the python scan's states
            scan[name] = RunnerState(scan[name].runner, reserved_of(*reserved, extended), draining)
        if self._pending:
            self.flush()
        key = self.table.key_of[name]
        i = key & MASK
        ext = self.extended_index
        if ext._chunks or ext._classes:  # noqa: SLF001 (touch() is a no-op without them)
            ext.touch(i)
        classes = self.classes
        if classes is None and not self.scanning:
            self.table.set_row(i, reserved, extended, draining)
            return
        dirty = self._dirty
        dirty[i] = (reserved, extended, draining)
        if len(dirty) > _MAX_DIRTY:
            self._write_dirty()  # bounds the memory of the changes kept back
        if classes is not None:
            classes.set(key, reserved, not draining)
        elif self._arrays is not None:
            self._arrays.set(self.table, i, reserved, draining)

    def update_reserved_many(
        self,
        names: Sequence[str],
        reserved: Sequence[ReservedAmounts],
        extended: Sequence[ExtendedAmounts],
        draining: Sequence[bool],
    ) -> None:
        """Several runners' :meth:`update_reserved` events at once (distinct names, in step).

        With the class index and no extended amounts (``allocate_many``'s
        case), the rows' numpy columns are written with one fancy-indexed
        assignment per column (nothing kept back in ``_dirty``) and each row
        moves to its new r-class; otherwise, and for a subclass that overrides
        :meth:`update_reserved`, one :meth:`update_reserved` per runner.

        Runtime complexity: O(len(names)) numpy work plus one class index
        ``set`` (O(log N)) per runner.
        """
        classes = self.classes
        t = self.table
        if (
            type(self).update_reserved is not NumpyBackend.update_reserved
            or classes is None
            or self._scan_states is not None
            or t.extended
            or self.extended_index._chunks  # noqa: SLF001 (touch() is a no-op without them)
            or self.extended_index._classes  # noqa: SLF001
            or len(names) < 64
            or any(extended)
        ):
            each_update_reserved(self, names, reserved, extended, draining)
            return
        if self._pending:
            self.flush()
        if self._dirty:
            self._write_kept()  # older changes first: the columns are written below
        key_of = t.key_of
        if isinstance(key_of, SharedKeys):  # its flat column by ledger row: one gather
            column = np.frombuffer(key_of.keys, dtype=np.int64)
            members = column[list(map(key_of.slots.__getitem__, names))]
            del column  # (a view of the array: it must not outlive this call)
            keys: list[int] = members.tolist()
        else:
            keys = list(map(key_of.__getitem__, names))
            members = np.array(keys, dtype=np.int64)
        rows = members & MASK
        drains = np.array(draining, dtype=np.bool_)
        flat = np.fromiter(chain.from_iterable(reserved), dtype=np.int64, count=3 * rows.size)
        t.set_rows(rows, flat.reshape(rows.size, 3), drains)
        put = classes.set
        for key, amounts, drain in zip(keys, reserved, draining, strict=True):
            put(key, amounts, not drain)

    def sync(self) -> None:
        """Write the lazily kept changes into the numpy columns. O(changed)."""
        self.flush()
        self._write_dirty()

    def _write_dirty(self) -> None:
        if self._dirty:
            self._write_kept()
        if self.classes is not None and not isinstance(self.classes, ClassIndex):
            # after the kept events: the index holds every row's newest amounts
            write_changed(self.classes)  # the direct path's changed rows

    def _write_kept(self) -> None:
        dirty = self._dirty
        t = self.table
        if len(dirty) < 64 or t.summaries or t.extended:
            set_row = t.set_row
            for i, (reserved, extended, draining) in dirty.items():
                set_row(i, reserved, extended, draining)
        else:
            rows: list[int] = []
            amounts: list[tuple[int, int, int]] = []
            drains: list[bool] = []
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
            self.classes.remove(self.table.key_of[name])
        self.table.remove(name)
        t = self.table
        if t.nrows - t.nlive > max(t.nlive, 4 * t.block_size):
            self.rebuild()

    def flush(self) -> None:
        """Index queued runners (re-blocking when the fleet outgrew the block size).

        Runtime complexity: O(queued) amortized; O(N) when it lays the fleet out again.
        """
        if not self._pending:
            return
        n = self.table.nlive + len(self._pending)
        if (
            (self._fixed_block is None and default_block_size(n) > self.table.block_size)
            or (
                self.scanning
                and self._index == "auto"
                and (n > layout.SCAN_ROWS or self.table.nlive <= scan_rows(self.maximize) < n)
            )
            or (self.classes is not None and not self.classes.can_add(map(shape_of, self._pending)))
        ):
            self.rebuild()
            return
        pending, self._pending = self._pending, []  # indexed as it is: no copy
        self._add_states(pending, facts_of(pending))
        self._share()
        self.direct = direct_path(self, NumpyBackend)

    def _share(self) -> None:
        """Use the ledger's name -> row dict in the table, once it names every runner. O(N)."""
        if self._rows is not None:
            self.table.share(self._rows)

    def rebuild(self, states: list[Queued] | None = None) -> None:
        """Lay every runner out again (from the columns and the queue, or ``states``). O(N)."""
        if states is None:
            self._write_dirty()
            t: Table = self.table
            if t.nlive:
                states = [t.state_at(k & MASK) for k in t.key_of.values()]
                states += self._pending
            else:  # nothing indexed yet (a new fleet's first read): the queue as it is
                states = self._pending
        self._pending = []
        self._dirty.clear()
        facts = facts_of(states)  # each runner's name and shape, read once for the build
        self.scanning, use_classes = pick_layout(
            states,
            self._index,
            vectorized=self.vectorized,
            maximize=self.maximize,
            distinct=facts.shapes.distinct,
        )
        bs = self._fixed_block or default_block_size(len(states))
        self.table: Table = Table(
            self.weights,
            bs,
            summaries=not (use_classes or self.scanning),
            ordered=self.scanning,
        )
        self.classes = self._class_index(facts.shapes.distinct) if use_classes else None
        rows = self._rows
        if rows is not None and all(map(rows.__contains__, facts.names())):
            self.table.share(rows)  # before the build: no own map made
        if rows is not self.restored_rows:  # the new table does not go through it
            self.restored_rows = None
        self._add_states(states, facts)
        self.direct = direct_path(self, NumpyBackend)

    def _class_index(self, shapes: Iterable[Shape]) -> ClassIndex | CompiledIndex:
        """A new, empty class index for runners of these distinct ``shapes``. O(len(shapes)).

        Compiled when asked for and able.
        """
        if self._index == "compiled":
            from runtime_alloc.backends.numpy import compiled_index  # noqa: PLC0415 (numba)

            if all(compiled_index.fits(s, self.weights) for s in shapes):
                return compiled_index.CompiledIndex(
                    self.weights, maximize=self.maximize, max_groups=2**62
                )
            # a capacity beyond the kernels' int64 products: the python heaps answer
        return ClassIndex(
            self.weights,
            maximize=self.maximize,
            max_groups=2**62 if self._index in {"classes", "compiled"} else layout.MAX_SHAPES,
        )

    def _add_states(self, states: list[Queued], facts: Facts) -> None:
        self._arrays = None  # rows added: the scan's copies are taken again when read
        self.extended_index.clear()
        t = self.table
        own = self.restored_rows
        if own is not None and isinstance(t.key_of, SharedKeys) and t.key_of.slots is own:
            # the table's names go through the map made from the given states, which no
            # ledger took (a backend used alone): new names get their slot there
            for name in facts.names():
                own.setdefault(name, len(own))
        seq, rows = t.add_many(states, facts)
        classes = self.classes
        if classes is None:
            return
        n = len(states)
        # the compiled index reads the members' array; the python one gets ints, a
        # chunk's list at a time (no column of 1M members beside the build's others)
        keys: Iterable[int] = (
            member_ints(seq, rows) if type(classes) is ClassIndex else members_of(seq, rows)
        )
        if facts.bare:  # new, empty runners: one shared empty r-class tuple, all usable
            classes.add_many(keys, facts.shapes, repeat(EMPTY, n), repeat(True, n), rows=t.nrows)  # noqa: FBT003
            return
        # one tuple per runner holding something (the class index keeps it as the row's
        # r-class), the empty ones share one
        reserved = (
            (r.millicpu, r.memory_bytes, r.slots) if r.millicpu or r.memory_bytes or r.slots
            else EMPTY
            for r in (NOTHING if type(s) is Runner else s.reserved for s in states)  # type: ignore[union-attr]
        )  # fmt: skip
        classes.add_many(
            keys,
            facts.shapes,
            reserved,
            (type(s) is Runner or not s.draining for s in states),  # type: ignore[union-attr]
            rows=t.nrows,
        )

    def check(self, states: Mapping[str, RunnerState] | None = None) -> None:
        """Assert that the index agrees with ``states`` (default: its own rows); tests. O(N)."""
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
            self.classes.check(rows)
