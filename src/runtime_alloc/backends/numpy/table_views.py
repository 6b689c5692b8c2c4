"""Read-only views of the numpy table's runners: row -> name and name -> row.

The table (:mod:`.columns`) keeps one list of runners by row and one dict of
name -> packed member (``sequence << SHIFT | row``); these views answer the
older questions (a row's name, a name's row) from them without a second copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from runtime_alloc.backends.numpy.shape_groups import MASK

if TYPE_CHECKING:
    from runtime_alloc.runners import Runner

__all__ = ["Names", "RowOf"]


class Names:
    """Row -> runner name (None for an empty row), read from a table's runners (a view)."""

    __slots__ = ("_runners",)

    def __init__(self, runners: list[Runner | None]) -> None:
        self._runners = runners

    def __getitem__(self, i: int) -> str | None:
        runner = self._runners[i]
        return None if runner is None else runner.name

    def __len__(self) -> int:
        return len(self._runners)


class RowOf(Mapping[str, int]):
    """Runner name -> row, read from a table's ``key_of`` (a view; each read O(1))."""

    __slots__ = ("_keys",)

    def __init__(self, keys: dict[str, int]) -> None:
        self._keys = keys

    def __getitem__(self, name: str) -> int:
        return self._keys[name] & MASK

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
