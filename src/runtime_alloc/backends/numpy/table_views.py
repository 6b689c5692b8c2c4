"""The numpy table's name maps: name -> packed member (:class:`KeyOf`), and views of them.

The table (:mod:`.columns`) keeps one list of runners by row and a map of
name -> packed member (``sequence << SHIFT | row``): its own dict, or
:class:`SharedKeys` through the ledger's name map; the views
:class:`Names` and :class:`RowOf` answer the older questions (a row's name, a
name's row) from them without a second copy.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from runtime_alloc.backends.numpy.shape_groups import MASK

if TYPE_CHECKING:
    from runtime_alloc.runners import Runner

__all__ = ["Names", "RowOf", "SharedKeys", "share_keys"]


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

    def __init__(self, keys: Mapping[str, int] | SharedKeys) -> None:
        self._keys = keys

    def __getitem__(self, name: str) -> int:
        return self._keys[name] & MASK

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


_NONE = array("q", [-1])


class SharedKeys:
    """Runner name -> packed member ``sequence << SHIFT | row``, through the ledger's name map.

    The table's ``key_of`` is a plain dict until :func:`share_keys` replaces it
    with this: ``slots`` is then the ledger's name -> row dict
    (``Ledger.row_of``) and ``keys[row]`` the member (-1: none), so the table
    keeps 8 bytes per runner instead of a second dict. Names the ledger holds
    that the table does not yet (queued runners) have no member. Reads and
    writes are O(1).
    """

    __slots__ = ("keys", "n", "slots")

    def __init__(self, slots: dict[str, int], keys: array[int], n: int) -> None:
        self.slots = slots
        self.keys = keys
        self.n = n

    def __getitem__(self, name: str) -> int:
        return self.keys[self.slots[name]]

    def __setitem__(self, name: str, key: int) -> None:
        """Give a new runner (a name the table does not hold) its member. O(1) amortized."""
        slot = self.slots[name]
        keys = self.keys
        if slot >= len(keys):
            keys.extend(_NONE * max(slot + 1 - len(keys), len(keys), 64))
        keys[slot] = key
        self.n += 1

    def pop(self, name: str) -> int:
        """Forget a runner (the ledger drops its name); return its member. O(1)."""
        slot = self.slots[name]
        key = self.keys[slot]
        self.keys[slot] = -1
        self.n -= 1
        return key

    def __contains__(self, name: object) -> bool:
        slot = self.slots.get(name)  # type: ignore[call-overload]
        return slot is not None and slot < len(self.keys) and self.keys[slot] >= 0

    def items(self) -> Iterator[tuple[str, int]]:
        """(name, member) of every runner, in registration order. O(N)."""
        keys = self.keys
        n = len(keys)
        for name, slot in self.slots.items():
            if slot < n and (key := keys[slot]) >= 0:
                yield name, key

    def values(self) -> Iterator[int]:
        """Every runner's member, in registration order. O(N)."""
        return (key for _, key in self.items())

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.items())

    def __len__(self) -> int:
        return self.n


def share_keys(
    key_of: dict[str, int] | SharedKeys, rows: dict[str, int]
) -> dict[str, int] | SharedKeys:
    """``key_of`` kept through ``rows`` (name -> ledger row), or unchanged if a name is missing.

    Runtime complexity: O(N).
    """
    if isinstance(key_of, SharedKeys) and key_of.slots is rows:
        return key_of
    if len(rows) < len(key_of) or any(name not in rows for name in key_of):
        return key_of
    keys = _NONE * (max(rows.values(), default=-1) + 1)
    for name, key in key_of.items():
        keys[rows[name]] = key
    return SharedKeys(rows, keys, len(key_of))
