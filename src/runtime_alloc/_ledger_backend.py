"""How the ledger talks to a backend: the reserved-amounts event, and older wrappers completed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime_alloc import _placement

if TYPE_CHECKING:
    from runtime_alloc._ledger_rows import LedgerRows
    from runtime_alloc.errors import AllocationError
    from runtime_alloc.resources import Resources

__all__ = ["Completed", "fast_update"]


def fast_update(backend: Any) -> Any:  # noqa: ANN401
    """The backend's ``update_reserved`` when the ledger may send it instead of ``update``.

    Only when the class that defines ``update_reserved`` in the backend's MRO
    also defines ``update``: a subclass that overrides only ``update`` still
    sees every event. None otherwise. O(len(MRO)).
    """
    if _defined_together(type(backend), "update"):
        return backend.update_reserved
    return None


def _defined_together(cls: type, name: str) -> bool:
    """True when the class defining ``update_reserved`` in ``cls``'s MRO also defines ``name``."""
    for base in cls.__mro__:
        if "update_reserved" in base.__dict__:
            return name in base.__dict__
        if name in base.__dict__:
            return False
    return False


class Completed:
    """A backend with only ``add``/``update``/``remove``/``choose`` (older wrappers), completed.

    ``diagnose`` scans the ledger's states and ``plan`` declines, as the
    allocator did for such backends before the protocol was complete.
    """

    def __init__(self, inner: Any, ledger: LedgerRows) -> None:  # noqa: ANN401
        self._ledger = ledger
        self.name = inner.name
        self.add = inner.add
        self.update = inner.update
        self.remove = inner.remove
        self.choose = inner.choose

    def diagnose(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> AllocationError:
        """Scan the ledger's states (:func:`runtime_alloc._placement.diagnose`). O(N)."""
        return _placement.diagnose(tuple(self._ledger.states.values()), task_id, request, require)

    def plan(self, request: Resources, require: frozenset[str], count: int) -> list[str] | None:  # noqa: ARG002
        """None: one request at a time. O(1)."""
        return None
