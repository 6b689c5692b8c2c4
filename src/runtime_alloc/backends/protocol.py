"""The Backend protocol, and what a backend checks about its strategy and environment."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from runtime_alloc.backends.bulk_events import each_update_reserved
from runtime_alloc.strategies import linear_score

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from runtime_alloc.errors import AllocationError
    from runtime_alloc.resources import Resources
    from runtime_alloc.runners import RunnerState
    from runtime_alloc.strategies import Strategy

__all__ = [
    "Backend",
    "ExtendedAmounts",
    "ReservedAmounts",
    "is_vectorized",
    "numpy_available",
    "update_reserved_many",
]

#: A runner's reserved millicpu, memory bytes and slots, in that order (``update_reserved``).
ReservedAmounts: TypeAlias = "tuple[int, int, int]"

#: A runner's reserved extended amounts: the non-zero ones, or None when it has none.
ExtendedAmounts: TypeAlias = "Mapping[str, int] | None"


@runtime_checkable
class Backend(Protocol):
    """What the allocator needs from a placement backend.

    The ledger calls ``add``, ``update_reserved`` (``update`` for a runner
    with devices) and ``remove`` after every change, in order; ``choose``,
    ``diagnose`` and ``plan`` must answer as the python scan over the states
    received so far would. Every method is required: the ledger probes for none.

    One event is optional: ``update_reserved_many(names, reserved, extended,
    draining)``, the ``update_reserved`` events of several runners at once
    (``allocate_many`` sends one per run of identical requests). A backend
    without it gets one ``update_reserved`` per runner (see
    :func:`update_reserved_many`); a backend with it must end in the state
    those events would leave.
    """

    @property
    def name(self) -> str:
        """The engine answering now (``"python"``, ``"numpy"``, ...).

        An implementation answers in O(1).
        """
        ...  # pragma: no cover

    def add(self, state: RunnerState) -> None:
        """A runner was registered (it is the newest for tie-breaking).

        Cost: the ledger calls it under the allocator's lock once per runner registered; the
        allocator relies on O(log N) amortized or less (python: O(1); numpy queues the runner and
        indexes in bulk).
        """
        ...  # pragma: no cover

    def update(self, state: RunnerState) -> None:
        """A runner's reserved amounts, draining flag or device use changed.

        Cost: called after every change of a runner with devices (every allocate and release on it),
        under the allocator's lock; the allocator relies on O(log N) or less (python: O(1); numpy:
        O(log N)).

        The ledger sends it for runners with devices (their device use travels
        in the state); other changes come as :meth:`update_reserved`.
        """
        ...  # pragma: no cover

    def update_reserved(
        self, name: str, reserved: ReservedAmounts, extended: ExtendedAmounts, draining: bool
    ) -> None:
        """A runner without devices has new reserved amounts or a new draining flag.

        Cost: called after every allocate and release, under the allocator's lock, so it is on the
        hot path; the allocator relies on O(log N) or less (python: O(1); numpy: O(log N)).

        Args:
            name: the runner.
            reserved: its reserved millicpu, memory bytes and slots.
            extended: its reserved extended amounts (non-zero ones; None or
                empty when there are none); the backend must not change it.
            draining: its draining flag.
        """
        ...  # pragma: no cover

    def remove(self, name: str) -> None:
        """A runner was unregistered.

        Cost: called under the allocator's lock once per runner removed; the allocator relies on
        O(log N) amortized or less (python: O(1); numpy: O(1) amortized).
        """
        ...  # pragma: no cover

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        """The runner the strategy picks for ``request``, or None when none is feasible.

        Cost: called once per decision under the allocator's lock; an implementation must stay
        within the python scan's O(N) (an index answers in less, see its own docstring).
        """
        ...  # pragma: no cover

    def diagnose(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> AllocationError:
        """The error of :func:`runtime_alloc._placement.diagnose` for a failed request.

        Cost: called only for a request that failed, under the allocator's lock; O(N) expected (the
        python scan's).
        """
        ...  # pragma: no cover

    def plan(self, request: Resources, require: frozenset[str], count: int) -> list[str] | None:
        """The runners ``count`` sequential identical ``choose``-and-reserve steps pick.

        Cost: called once per run of identical requests under the allocator's lock; an
        implementation should cost at most ``count`` decisions (numpy: O(N log N + count)
        vectorized), or O(1) to return None.

        Shorter than ``count`` when capacity runs out; None when the backend
        cannot plan (the allocator then places one request at a time).
        """
        ...  # pragma: no cover


def update_reserved_many(
    backend: Backend,
    names: Sequence[str],
    reserved: Sequence[ReservedAmounts],
    extended: Sequence[ExtendedAmounts],
    draining: Sequence[bool],
) -> None:
    """Send the ``update_reserved`` events of several runners (distinct names, in step).

    Through the backend's own ``update_reserved_many`` when it has one (the
    python and numpy backends), else one :meth:`Backend.update_reserved` per
    runner, in order: every backend gets the state the per-runner events give.

    Runtime complexity: the backend's bulk event; else ``len(names)``
    ``update_reserved`` calls.
    """
    bulk = getattr(backend, "update_reserved_many", None)
    if bulk is not None:
        bulk(names, reserved, extended, draining)
    else:
        each_update_reserved(backend, names, reserved, extended, draining)


def numpy_available() -> bool:
    """Return True when numpy can be imported (without importing it).

    Runtime complexity: O(1) once numpy is imported, else one search of the import path (no import).
    """
    try:
        return importlib.util.find_spec("numpy") is not None
    except (ImportError, ValueError):
        return False


def is_vectorized(strategy: Strategy) -> bool:
    """Return True when the numpy backend indexes ``strategy`` (it has a LinearScore). O(1)."""
    return linear_score(strategy) is not None
