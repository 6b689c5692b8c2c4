"""Which index the numpy backend lays a fleet out in: the scan, the class index or blocks.

:func:`pick_layout` decides from the fleet's size and runner shapes (capacity of
cpu, memory and slots, and label set) when :meth:`.backend.NumpyBackend.rebuild`
lays the runners out; :func:`scan_rows` is the size up to which ``"auto"`` keeps
the vectorized scan. The backend reads the three constants through this module
(tests set them here). Why each layout gives the python scan's answer: the lemmas
in :mod:`runtime_alloc.backends.numpy`.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Iterator, Sequence
from operator import attrgetter
from typing import NamedTuple, overload

from runtime_alloc.runners import Runner, RunnerState

__all__ = [
    "EMPTY",
    "MAX_SHAPES",
    "SCAN_ROWS",
    "SCAN_ROWS_LOWEST",
    "Facts",
    "Queued",
    "Shape",
    "ShapeColumn",
    "facts_of",
    "name_of",
    "pick_layout",
    "scan_rows",
    "shape_of",
    "shapes_of",
]

#: The most runner shapes (capacity of cpu, memory and slots, and label set) that
#: the ``"auto"`` index keeps in per-shape r-class heaps. Measured (see
#: docs/performance.md): with 100 and with 400 shapes the class index still made
#: 2-4x the decisions/s of the block index for both strategies.
MAX_SHAPES = 400
#: Up to this many runners (``index="auto"``) a decision is one vectorized scan of
#: the columns (exact by construction: the same feasibility and score arrays as
#: :meth:`.backend.NumpyBackend._scan`); measured (benchmarks/decisions.py) to beat the
#: class index's fixed cost at 1,000 runners. Larger fleets move to an index for good;
#: 0 turns the scan off.
SCAN_ROWS = 2048
#: When the lowest score wins (EvenSpread), the class index (one tier per shape)
#: beats the scan from about 512 runners (benchmarks, 2026-11-28: at 1,000 runners
#: 10.8 against 13.5 us per decision, at 128 runners 9.6 against 9.4): ``"auto"``
#: scans up to this many runners then, and up to :data:`SCAN_ROWS` only when the
#: fleet has too many shapes for the class index.
SCAN_ROWS_LOWEST = 256

Shape = tuple[tuple[int, int, int], frozenset[str]]

#: The reserved amounts of an empty runner (one tuple shared by all).
EMPTY = (0, 0, 0)

#: A queued runner: its state, or the bare :class:`Runner` of a new, empty one
#: (see :meth:`.backend.NumpyBackend.add`).
Queued = RunnerState | Runner


def shape_of(state: Queued) -> Shape:
    """A runner's shape: ``((millicpu, memory, slots), labels)``. O(1)."""
    runner = state if type(state) is Runner else state.runner  # type: ignore[union-attr]
    c = runner.capacity
    return (c.millicpu, c.memory_bytes, c.slots), runner.labels


def name_of(state: Queued) -> str:
    """A queued runner's name. O(1)."""
    return state.name if type(state) is Runner else state.runner.name  # type: ignore[union-attr]


_NAME = attrgetter("name")
_CAPACITY = attrgetter("capacity")
_LABELS = attrgetter("labels")
_AMOUNTS = attrgetter("millicpu", "memory_bytes", "slots")


class _Numbering(dict[Shape, int]):
    """Shape -> its number, numbered in order of first sight (a new key gets ``len``)."""

    def __missing__(self, shape: Shape) -> int:
        number = self[shape] = len(self)
        return number


class ShapeColumn(Sequence[Shape]):
    """Each runner's shape, stored as a number per runner (4 bytes) into the distinct shapes.

    Reads as the sequence of shapes (one tuple per distinct shape): iteration
    and slices are C-level gathers. Len and an item O(1), a slice O(its length).
    """

    __slots__ = ("distinct", "numbers")

    def __init__(self, numbers: array[int], distinct: list[Shape]) -> None:
        self.numbers = numbers
        self.distinct = distinct

    def __len__(self) -> int:
        return len(self.numbers)

    def __iter__(self) -> Iterator[Shape]:
        return map(self.distinct.__getitem__, self.numbers)

    @overload
    def __getitem__(self, i: int) -> Shape: ...
    @overload
    def __getitem__(self, i: slice) -> list[Shape]: ...
    def __getitem__(self, i: int | slice) -> Shape | list[Shape]:
        if isinstance(i, slice):
            return list(map(self.distinct.__getitem__, self.numbers[i]))
        return self.distinct[self.numbers[i]]


class Facts(NamedTuple):
    """What a build reads of each queued runner, read once (:func:`facts_of`)."""

    #: the runners (the states themselves when all are bare: no copy)
    runners: Sequence[Runner]
    #: each runner's shape (its capacity of cpu, memory and slots, and labels), one
    #: tuple per distinct shape (``shapes.distinct``, in order of first appearance)
    shapes: ShapeColumn
    #: True when every state is a bare :class:`Runner` (new, empty, not draining)
    bare: bool

    def names(self) -> Iterator[str]:
        """Each runner's name, in order, read anew per call. O(n).

        A 1M-runner build keeps no list of them (8 MB that the C allocator would
        keep after the build).
        """
        return map(_NAME, self.runners)


def facts_of(states: Sequence[Queued]) -> Facts:
    """The names and shapes of queued runners, read once. O(n).

    A queue of bare :class:`Runner` objects (a new fleet's: the usual first
    build) is read with C-level ``map`` passes, about 0.2 µs per runner. Each
    runner's (capacity, labels) tuple lives only until its shape is numbered.
    """
    bare = all(type(s) is Runner for s in states)
    runners = states if bare else [s if type(s) is Runner else s.runner for s in states]  # type: ignore[union-attr]
    numbering = _Numbering()
    numbers = array(
        "i",
        map(
            numbering.__getitem__,
            zip(map(_AMOUNTS, map(_CAPACITY, runners)), map(_LABELS, runners), strict=True),
        ),
    )
    return Facts(runners, ShapeColumn(numbers, list(numbering)), bare)  # type: ignore[arg-type]


def shapes_of(states: Iterable[Queued]) -> Iterator[Shape]:
    """The shape of each state, one tuple per distinct shape (yielded: no list). O(n)."""
    same: dict[Shape, Shape] = {}
    return (same.setdefault(shape, shape) for shape in map(shape_of, states))


def scan_rows(maximize: bool) -> int:
    """The most runners ``"auto"`` scans with this strategy (see :data:`SCAN_ROWS_LOWEST`). O(1)."""
    return SCAN_ROWS if maximize else min(SCAN_ROWS, SCAN_ROWS_LOWEST)


def pick_layout(
    states: Sequence[Queued],
    index: str,
    *,
    vectorized: bool,
    maximize: bool,
    distinct: Collection[Shape] | None = None,
) -> tuple[bool, bool]:
    """Return ``(scanning, use_classes)`` for laying ``states`` out. O(n).

    ``index`` is the backend's (``"auto"``, ``"classes"``, ``"compiled"`` (the class
    index's answers from :mod:`.compiled_index`), ``"blocks"`` or ``"scan"``);
    ``vectorized`` is False for a strategy without a LinearScore (the python scan: no
    layout), ``maximize`` True when the highest score wins; ``distinct``, when
    given, the states' distinct shapes (``Facts.shapes.distinct``: not counted again).
    A fleet that is neither scanned nor in the class index goes to blocks. Only
    the distinct shapes are kept while counting them (no list per runner).
    """
    n = len(states)
    auto_scan = index == "auto" and SCAN_ROWS > 0 and n <= SCAN_ROWS
    small = auto_scan and n <= scan_rows(maximize)
    counted = vectorized and index != "scan" and not small
    if not counted:
        nshapes = 0
    else:
        nshapes = len(set(map(shape_of, states)) if distinct is None else distinct)
    scanning = vectorized and (index == "scan" or (auto_scan and (small or nshapes > MAX_SHAPES)))
    use_classes = (
        vectorized
        and not scanning
        and (index in {"classes", "compiled"} or (index == "auto" and nshapes <= MAX_SHAPES))
    )
    return scanning, use_classes
