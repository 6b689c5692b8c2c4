"""The Allocator: the one mutable, thread-safe object of runtime_alloc."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from runtime_alloc._allocator_fleet import AllocatorFleet
from runtime_alloc._allocator_placement import AllocatorPlacement
from runtime_alloc._allocator_views import AllocatorViews
from runtime_alloc._ledger import Ledger
from runtime_alloc._requests import Request, check_max_task_slots, normalize
from runtime_alloc._restore import load_state, resolve_settings
from runtime_alloc.backends import BUILTIN_BACKENDS, Backend, make_backend
from runtime_alloc.dimensions import warn_undeclared_weights
from runtime_alloc.release_states import release_states as _release_states
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner, RunnerState
from runtime_alloc.snapshot import FleetSnapshot
from runtime_alloc.strategies import (
    Strategy,
    check_strategy,
    strategy_from_env,
)

__all__ = ["BACKENDS", "Allocator", "Request"]

#: ``from_snapshot`` -> ``__init__`` (per thread): the states the backend is built from
_restoring = threading.local()

#: The backend names ``Allocator`` accepts.
BACKENDS = BUILTIN_BACKENDS

_DEFAULT_TASK_REQUEST = Resources(slots=1)


class Allocator(AllocatorPlacement, AllocatorFleet, AllocatorViews):
    """Decides which runner runs each task and keeps the reservations.

    Every method holds one re-entrant lock, so an allocator can be shared by
    many threads. A failed call changes nothing: the snapshot before and after
    is equal.

    The methods live by concept in private bases: placing and releasing
    tasks in :mod:`._allocator_placement`, runner membership in
    :mod:`._allocator_fleet`, the read-only views (snapshot, explain,
    metrics) in :mod:`._allocator_views`; this class holds the lock, the
    settings and the two constructors.

    Args:
        runners: the initial fleet, in registration order.
        strategy: a :class:`~runtime_alloc.strategies.Strategy`; None reads
            ``ALLOCATOR_STRATEGY`` (default EvenSpreadStrategy).
        backend: ``"python"``, ``"numpy"``, ``"compiled"`` (the numpy backend with
            its class index in numba kernels: extra ``fast``) or ``"auto"``.
        default_request: the request of a task that gives none (default: 1 slot).
        max_task_slots: the most slots one task may ask for (default 16).
        release_states: completion states :meth:`release` accepts besides
            :data:`~runtime_alloc.release_states.RELEASE_STATES`.

    >>> from runtime_alloc import Allocator, Runner, MaxPackingStrategy
    >>> fleet = [Runner.parse("a", "cpu=4,memory=8Gi"), Runner.parse("b", "cpu=8,memory=8Gi")]
    >>> alloc = Allocator(fleet, strategy=MaxPackingStrategy())
    >>> alloc.allocate("t1", {"cpu": "1", "memory": "1Gi"}).runner
    'a'
    >>> alloc.release("t1", "success").runner
    'a'
    """

    def __init__(
        self,
        runners: Iterable[Runner] = (),
        *,
        strategy: Strategy | None = None,
        backend: str = "auto",
        default_request: Request = None,
        max_task_slots: int = 16,
        release_states: Iterable[str] = (),
    ) -> None:
        states, _restoring.states = getattr(_restoring, "states", ()), ()
        ledger = self._setup(
            states, strategy, backend, default_request, max_task_slots, release_states
        )
        if ledger.insert_fleet(runners):
            warn_undeclared_weights(self._strategy, ledger.declared)

    def _setup(  # noqa: PLR0917
        self,
        states: Sequence[RunnerState],
        strategy: Strategy | None,
        backend: str,
        default_request: Request,
        max_task_slots: int,
        release_states: Iterable[str],
    ) -> Ledger:
        """Check the settings; make the lock, the ledger and its backend built from ``states``."""
        self._release_states = _release_states(release_states)
        self._max_task_slots = check_max_task_slots(max_task_slots)
        self._strategy = check_strategy(strategy_from_env() if strategy is None else strategy)
        self._default_request = normalize(
            default_request, _DEFAULT_TASK_REQUEST, max_task_slots, field="default_request"
        )
        self._lock = threading.RLock()
        #: request specs (text, plain dicts) parsed before, see _requests.normalize
        self._memo: dict[Any, Resources] = {}
        ledger = self._ledger = Ledger(make_backend(backend, states, self._strategy))
        # the ledger's tables under their historical names (read-only use outside the ledger)
        self._states = ledger.states
        self._tasks = ledger.tasks
        self._reservations = ledger.reservations
        return ledger

    @property
    def _backend(self) -> Backend:
        """The backend the ledger sends its events to (settable, for tests and wrappers)."""
        return self._ledger.backend

    @_backend.setter
    def _backend(self, backend: Any) -> None:  # noqa: ANN401
        self._ledger.attach(backend)

    # ------------------------------------------------------------------ properties

    @property
    def strategy(self) -> Strategy:
        """The strategy in use. O(1)."""
        return self._strategy

    @property
    def backend(self) -> str:
        """The backend in use (``"python"``, ``"numpy"`` or ``"compiled"``), ``"auto"`` resolved.

        O(1).
        """
        return self._backend.name

    @property
    def default_request(self) -> Resources:
        """The request of a task that gives none. O(1)."""
        return self._default_request

    @property
    def release_states(self) -> frozenset[str]:
        """The completion states :meth:`release` accepts (the built-ins and the added ones).

        O(1).
        """
        return self._release_states

    @property
    def device_kinds(self) -> frozenset[str]:
        """The kinds some runner declares as devices (requests give them in devices). O(kinds)."""
        return frozenset(self._ledger.device_kinds)

    @property
    def max_task_slots(self) -> int:
        """The most slots one task may ask for. O(1)."""
        return self._max_task_slots

    def __len__(self) -> int:
        """The number of reservations held."""
        return len(self._reservations)

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"<Allocator {len(self._states)} runners, {len(self._reservations)} tasks, "
                f"strategy={self._strategy.name}, backend={self.backend}>"
            )

    @classmethod
    def from_snapshot(
        cls,
        snapshot: FleetSnapshot | Mapping[str, Any],
        *,
        strategy: Strategy | None = None,
        backend: str = "auto",
        default_request: Request = None,
        max_task_slots: int | None = None,
        release_states: Iterable[str] | None = None,
    ) -> Allocator:
        """Build an allocator that holds exactly what ``snapshot`` holds, configured as it was.

        The configuration comes, per setting, from the argument when given,
        else from the snapshot's :attr:`~FleetSnapshot.config`, else from the
        :class:`Allocator` defaults. For the strategy: ``strategy=``, else the
        stored one (rebuilt by its registered name and weights with
        :func:`~runtime_alloc.strategies.strategy_from_name`), else (a snapshot
        without config) ``ALLOCATOR_STRATEGY``; the environment variable never
        overrides a stored strategy. A stored strategy whose name is not
        registered (a custom strategy) must be passed as ``strategy=``. The
        counters of :meth:`metrics` continue from the stored ones (zero for a
        snapshot without them).

        Args:
            snapshot: a :class:`FleetSnapshot` or its :meth:`~FleetSnapshot.to_dict` form.
            strategy: overrides the stored strategy.
            backend: as for :class:`Allocator` (not stored: it changes no decision).
            default_request: overrides the stored one.
            max_task_slots: overrides the stored one (default 16).
            release_states: overrides the stored added states.

        Raises:
            InvalidSnapshotError: when the snapshot is malformed or inconsistent,
                or its strategy is not registered and ``strategy`` is not given.

        Runtime complexity: O(N + tasks).

        >>> from runtime_alloc import Allocator, MaxPackingStrategy, Runner
        >>> alloc = Allocator([Runner.parse("a", "cpu=2")], strategy=MaxPackingStrategy({"cpu": 2}))
        >>> alloc.allocate("t1", "cpu=1").runner
        'a'
        >>> from runtime_alloc import FleetSnapshot
        >>> restored = Allocator.from_snapshot(FleetSnapshot.from_json(alloc.snapshot().to_json()))
        >>> restored.strategy, restored.metrics().allocations
        (MaxPackingStrategy(weights={'cpu': 2}), 1)
        """
        snapshot, settings = resolve_settings(
            snapshot,
            strategy=strategy,
            default_request=default_request,
            max_task_slots=max_task_slots,
            release_states=release_states,
        )
        # not cls(runners): the backend is built once, from the snapshot's own states
        _restoring.states = snapshot.runners
        try:
            allocator = cls(backend=backend, **settings)
        finally:
            _restoring.states = ()
        with allocator._lock:
            load_state(allocator._ledger, snapshot, allocator.strategy)
        return allocator
