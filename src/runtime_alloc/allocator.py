"""The Allocator: the one mutable, thread-safe object of runtime_alloc."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from runtime_alloc import devices
from runtime_alloc._ledger import Ledger
from runtime_alloc._ledger_views import metrics_of
from runtime_alloc._requests import (
    Request,
    check_max_task_slots,
    identical_runs,
    normalize,
    prepare_batch,
    prepare_task,
)
from runtime_alloc._restore import load_state, resolve_settings, stored_config, stored_counters
from runtime_alloc._units import _show
from runtime_alloc.backends import BUILTIN_BACKENDS, Backend, make_backend
from runtime_alloc.dimensions import check_known_resources, warn_undeclared_weights
from runtime_alloc.errors import (
    AllocationError,
    RunnerBusyError,
    UnknownTaskError,
)
from runtime_alloc.explain import Explanation, explain
from runtime_alloc.metrics import Metrics
from runtime_alloc.release_states import check_release_state
from runtime_alloc.release_states import release_states as _release_states
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources, parse_device_request
from runtime_alloc.runners import Runner, check_name, label_rule
from runtime_alloc.snapshot import FleetSnapshot
from runtime_alloc.strategies import (
    Strategy,
    check_strategy,
    strategy_from_env,
)

__all__ = ["BACKENDS", "Allocator", "Request"]

#: The backend names ``Allocator`` accepts.
BACKENDS = BUILTIN_BACKENDS

_DEFAULT_TASK_REQUEST = Resources(slots=1)

#: allocate_many hands runs of at least this many identical requests to the
#: backend's ``plan``.
_MIN_RUN = 8


class Allocator:
    """Decides which runner runs each task and keeps the reservations.

    Every method holds one re-entrant lock, so an allocator can be shared by
    many threads. A failed call changes nothing: the snapshot before and after
    is equal.

    Args:
        runners: the initial fleet, in registration order.
        strategy: a :class:`~runtime_alloc.strategies.Strategy`; None reads
            ``ALLOCATOR_STRATEGY`` (default EvenSpreadStrategy).
        backend: ``"python"``, ``"numpy"`` or ``"auto"``.
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
        self._release_states = _release_states(release_states)
        self._max_task_slots = check_max_task_slots(max_task_slots)
        self._strategy = check_strategy(strategy_from_env() if strategy is None else strategy)
        self._default_request = normalize(
            default_request, _DEFAULT_TASK_REQUEST, max_task_slots, field="default_request"
        )
        self._lock = threading.RLock()
        #: request specs (text, plain dicts) parsed before, see _requests.normalize
        self._memo: dict[Any, Resources] = {}
        ledger = self._ledger = Ledger(make_backend(backend, (), self._strategy))
        # the ledger's tables under their historical names (read-only use outside the ledger)
        self._states = ledger.states
        self._tasks = ledger.tasks
        self._reservations = ledger.reservations
        fleet = ledger.check_fleet(runners)
        for runner in fleet:
            ledger.insert(runner)
        if fleet:
            warn_undeclared_weights(self._strategy, ledger.declared)

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
        """The strategy in use."""
        return self._strategy

    @property
    def backend(self) -> str:
        """The backend in use (``"python"`` or ``"numpy"``), after resolving ``"auto"``."""
        return self._backend.name

    @property
    def default_request(self) -> Resources:
        """The request of a task that gives none."""
        return self._default_request

    @property
    def release_states(self) -> frozenset[str]:
        """The completion states :meth:`release` accepts (the built-ins and the added ones)."""
        return self._release_states

    @property
    def device_kinds(self) -> frozenset[str]:
        """The kinds some runner declares as devices (requests give them in devices). O(kinds)."""
        return frozenset(self._ledger.device_kinds)

    @property
    def max_task_slots(self) -> int:
        """The most slots one task may ask for."""
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

    # ------------------------------------------------------------------ placement

    def allocate(
        self,
        task_id: str,
        request: Request = None,
        *,
        require: Iterable[str] = (),
        require_any: Iterable[str] = (),
    ) -> Reservation:
        """Reserve ``request`` for ``task_id`` on the runner the strategy picks.

        Args:
            task_id: a new task id (non-empty string).
            request: None for the default request; a mapping or string as in
                :meth:`Resources.parse` (missing slots mean 1); or a :class:`Resources`
                (its ``slots=0``, "not given", means 1).
            require: labels the runner must all have (one string is one label).
            require_any: labels of which the runner must have at least one (an OR,
                like a GPU model list ``{"V100", "A100"}``); empty for no such rule.

        Returns:
            The reservation.

        Raises:
            InvalidResourcesError: bad request, or slots outside 1..max_task_slots.
            DuplicateTaskError: ``task_id`` already holds a reservation.
            InsufficientCapacityError: some runner could hold it when empty, none can now.
            UnschedulableError: no runner could ever hold it.

        Runtime complexity: O(N) runners on the python backend.
        """
        with self._lock:
            result = self._allocate_one(task_id, request, require, require_any)
            if isinstance(result, AllocationError):
                raise result
            return result

    def try_allocate(
        self,
        task_id: str,
        request: Request = None,
        *,
        require: Iterable[str] = (),
        require_any: Iterable[str] = (),
    ) -> Reservation | None:
        """Like :meth:`allocate`, but return None when no runner can take the task.

        Invalid input still raises. To learn why no runner could take it without a
        second call, use :meth:`allocate_or_error`. Runtime complexity: as :meth:`allocate`.
        """
        with self._lock:
            result = self._allocate_one(task_id, request, require, require_any)
            return result if isinstance(result, Reservation) else None

    def allocate_or_error(
        self,
        task_id: str,
        request: Request = None,
        *,
        require: Iterable[str] = (),
        require_any: Iterable[str] = (),
    ) -> Reservation | AllocationError:
        """Like :meth:`allocate`, but return the :class:`AllocationError` instead of raising it.

        One call gives the reservation or the reason: the error is the one
        :meth:`allocate` would raise (an :class:`InsufficientCapacityError` to
        retry later, or an :class:`UnschedulableError`), with its ``reasons`` and
        ``shortfalls``, as :meth:`allocate_many` returns it per item. Invalid
        input still raises.

        >>> from runtime_alloc import Allocator, AllocationError, Runner
        >>> alloc = Allocator([Runner.parse("a", "cpu=2")])
        >>> result = alloc.allocate_or_error("t1", "cpu=4")
        >>> isinstance(result, AllocationError), result.kind, dict(result.reasons)
        (True, 'unschedulable', {'insufficient cpu': 1})
        >>> alloc.allocate_or_error("t2", "cpu=1").runner
        'a'

        Runtime complexity: as :meth:`allocate`.
        """
        with self._lock:
            return self._allocate_one(task_id, request, require, require_any)

    def allocate_many(self, items: Iterable[Sequence[Any]]) -> list[Reservation | AllocationError]:
        """Place several tasks in order, as if :meth:`allocate` were called for each.

        Args:
            items: ``(task_id, request)`` or ``(task_id, request, require)`` tuples.

        Returns:
            One entry per item: the :class:`Reservation`, or the
            :class:`AllocationError` that ``allocate`` would have raised.

        Raises:
            InvalidResourcesError, InvalidArgumentError, DuplicateTaskError: when
                any item is invalid; nothing is placed then.

        Runtime complexity: O(len(items) * N) on the python backend; on the
        numpy backend a run of identical requests is placed at once in
        O(N log N) (see docs/performance.md).
        """
        with self._lock:
            prepared = prepare_batch(items, self._prepare)
            results: list[Reservation | AllocationError] = []
            for run in identical_runs(prepared):
                placed = self._ledger.place_run(run) if len(run) >= _MIN_RUN else None
                if placed is None:
                    placed = [self._ledger.place(*p) for p in run]
                results.extend(placed)
            return results

    def release(self, task_id: str, state: str = "success") -> Reservation:
        """Return a task's reservation to its runner.

        Args:
            task_id: the task.
            state: its completion state, one of :attr:`release_states`
                (``success``, ``failed``, ``upstream_failed``, ``skipped``, ...; see
                :mod:`runtime_alloc.release_states`), counted in :meth:`metrics`.

        Raises:
            InvalidArgumentError: a bad task id, or a state not in :attr:`release_states`
                (the message lists them); nothing changes.
            UnknownTaskError: no reservation under ``task_id``.

        Runtime complexity: O(number of dimensions).
        """
        with self._lock:
            check_name(task_id, field="task_id")
            check_release_state(state, self._release_states)
            reservation = self._reservations.get(task_id)
            if reservation is None:
                msg = f"no reservation is held for task {_show(task_id)}"
                raise UnknownTaskError(msg)
            self._unreserve(reservation)
            self._ledger.count_release(state)
            return reservation

    # ------------------------------------------------------------------ fleet

    def add_runner(self, runner: Runner) -> None:
        """Register a runner; it is the newest for tie-breaking.

        Raises:
            DuplicateRunnerError: a runner with this name is registered.

        Runtime complexity: O(1) on the python backend.
        """
        with self._lock:
            self._ledger.check_new_runner(runner)
            self._ledger.insert(runner)

    def drain_runner(self, name: str) -> None:
        """Stop new placements on a runner; its reservations stay. O(1)."""
        self._set_draining(name, draining=True)

    def undrain_runner(self, name: str) -> None:
        """Allow new placements on a draining runner again. O(1)."""
        self._set_draining(name, draining=False)

    def remove_runner(self, name: str, *, force: bool = False) -> tuple[Reservation, ...]:
        """Unregister a runner.

        Args:
            name: the runner.
            force: evict its reservations instead of refusing.

        Returns:
            The evicted reservations (empty unless ``force``), oldest first, so an
            executor can retry those tasks.

        Raises:
            UnknownRunnerError: no such runner.
            RunnerBusyError: it holds reservations and ``force`` is False.

        Runtime complexity: O(tasks on the runner).
        """
        check_name(name, field="name")
        with self._lock:
            self._ledger.state(name)
            held = self._ledger.held_by(name)
            if held and not force:
                raise RunnerBusyError(name, held)
            return self._ledger.remove(name)

    # ------------------------------------------------------------------ views

    def get_reservation(self, task_id: str) -> Reservation:
        """Return the reservation held for ``task_id``.

        Raises:
            UnknownTaskError: no reservation under ``task_id``.
        """
        with self._lock:
            check_name(task_id, field="task_id")
            reservation = self._reservations.get(task_id)
            if reservation is None:
                msg = f"no reservation is held for task {_show(task_id)}"
                raise UnknownTaskError(msg)
            return reservation

    def snapshot(self) -> FleetSnapshot:
        """Return an immutable, comparable picture of runners and reservations.

        Runtime complexity: O(N + tasks).
        """
        with self._lock:
            return FleetSnapshot(
                tuple(self._states.values()),
                dict(self._reservations),
                config=stored_config(
                    self._strategy, self._max_task_slots, self._default_request,
                    self._release_states,
                ),
                counters=stored_counters(self._ledger),
            )  # fmt: skip

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
        allocator = cls((s.runner for s in snapshot.runners), backend=backend, **settings)
        with allocator._lock:
            load_state(allocator._ledger, snapshot)
        return allocator

    def explain(
        self,
        request: Request = None,
        *,
        require: Iterable[str] = (),
        require_any: Iterable[str] = (),
    ) -> Explanation:
        """Show, per runner, whether ``request`` fits, why not, its score, and the winner.

        Read-only. Runtime complexity: O(N).
        """
        with self._lock:
            kinds = self._ledger.device_kinds
            if kinds and isinstance(request, (str, Mapping)):  # device kinds read in devices
                request = parse_device_request(request, kinds)
            resources = normalize(request, self._default_request, self._max_task_slots)
            labels = label_rule(require, any_of=require_any)
            return explain(tuple(self._states.values()), self._strategy, resources, labels)

    def metrics(self) -> Metrics:
        """Return counters (allocations, failures, releases, evictions) and gauges.

        Runtime complexity: O(N) list copies plus O(dimensions): the fleet
        gauges are kept as the ledger changes; ``per_runner`` is computed when
        first read (O(N * dimensions)).
        """
        with self._lock:
            return metrics_of(self._ledger)

    def _check(self) -> None:
        """Assert the internal invariants (tests and the harness call this). O(N + tasks)."""
        with self._lock:
            self._ledger.check()

    # ------------------------------------------------------------------ internals

    def _prepare(
        self,
        task_id: str,
        request: Request,
        require: Iterable[str],
        cache: dict[Any, tuple[Resources, frozenset[str]]] | None = None,
        require_any: Iterable[str] = (),
    ) -> tuple[str, Resources, frozenset[str]]:
        kinds = self._ledger.device_kinds
        if kinds and isinstance(request, (str, Mapping)):  # device kinds read in devices
            request = parse_device_request(request, kinds)
        prepared = prepare_task(
            task_id, request, require, self._default_request, self._max_task_slots,
            self._reservations, cache, self._memo,
        )  # fmt: skip
        if require_any:  # an OR of labels (LabelRule)
            prepared = (prepared[0], prepared[1], label_rule(prepared[2], any_of=require_any))
        if prepared[1].extended._data:  # noqa: SLF001
            check_known_resources(prepared[1].extended, self._ledger.declared)
            if kinds:
                devices.check_device_request(prepared[1].extended, kinds)
        return prepared

    def _allocate_one(
        self,
        task_id: str,
        request: Request,
        require: Iterable[str],
        require_any: Iterable[str] = (),
    ) -> Reservation | AllocationError:
        return self._ledger.place(*self._prepare(task_id, request, require, None, require_any))

    def _reserve(self, reservation: Reservation) -> None:
        self._ledger.reserve(reservation)

    def _unreserve(self, reservation: Reservation) -> None:
        self._ledger.unreserve(reservation)

    def _set_draining(self, name: str, *, draining: bool) -> None:
        check_name(name, field="name")
        with self._lock:
            self._ledger.set_draining(name, draining=draining)
