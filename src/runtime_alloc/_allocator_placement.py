"""The Allocator's placement family: the allocate methods and release.

:meth:`allocate`, :meth:`try_allocate`, :meth:`allocate_or_error`,
:meth:`allocate_many` and :meth:`release`, with the request preparation
they share. :class:`AllocatorPlacement` is a private base of
:class:`~runtime_alloc.allocator.Allocator`, which sets the attributes it
declares; every method takes the allocator's lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Any

from runtime_alloc import devices
from runtime_alloc._batch import GC_PAUSE_ITEMS, batch_runs, gc_paused
from runtime_alloc._requests import NO_LABELS, Request, memo_key, prepare_task
from runtime_alloc._units import _show
from runtime_alloc.dimensions import check_known_resources
from runtime_alloc.errors import AllocationError, UnknownTaskError
from runtime_alloc.labels import MAX_NAME_LENGTH
from runtime_alloc.release_states import check_release_state
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources, parse_device_request
from runtime_alloc.runners import check_name, label_rule

if TYPE_CHECKING:
    from runtime_alloc._ledger import Ledger

__all__ = ["AllocatorPlacement"]

#: allocate_many hands runs of at least this many identical requests to the
#: backend's ``plan``.
_MIN_RUN = 8


class AllocatorPlacement:
    """Placing and releasing tasks (the methods of :class:`Allocator` named so)."""

    _lock: threading.RLock
    _ledger: Ledger
    _default_request: Resources
    _max_task_slots: int
    _release_states: frozenset[str]
    _memo: dict[Any, Resources]
    _reservations: dict[str, Reservation]

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
            items: ``(task_id, request)`` or ``(task_id, request, require)`` tuples;
                a ``(task_id,)`` tuple asks for the allocator's default request.

        Returns:
            One entry per item: the :class:`Reservation`, or the
            :class:`AllocationError` that ``allocate`` would have raised.

        Raises:
            InvalidResourcesError, InvalidArgumentError, DuplicateTaskError: when
                any item is invalid; nothing is placed then.

        A batch of 10,000 items or more pauses Python's cyclic garbage
        collector for the call (as ``timeit`` does; it is enabled again on
        exit if it was on entry): the reservations it creates are not
        garbage. On exit the process's young objects (the reservations among
        them) join the oldest generation, which the next full collection
        looks at, without a young-generation collection (unless the
        process keeps objects frozen with ``gc.freeze()``; see
        :func:`runtime_alloc._batch.gc_paused`).

        Runtime complexity: O(len(items) * N) on the python backend; on the
        numpy backend a run of identical requests is placed at once in
        O(N log N) (see docs/performance.md), plus about 0.5 µs of Python
        work per item.
        """
        with self._lock, gc_paused(len(items) if isinstance(items, Sized) else GC_PAUSE_ITEMS):
            task_ids, runs = batch_runs(items, self._prepare, self._reservations)
            ledger = self._ledger
            results: list[Reservation | AllocationError] = []
            for start, stop, request, require in runs:
                ids = task_ids if stop - start == len(task_ids) else task_ids[start:stop]
                placed = ledger.place_run(ids, request, require) if len(ids) >= _MIN_RUN else None
                if placed is None:
                    place = ledger.place
                    placed = [place(task_id, request, require) for task_id in ids]
                if len(runs) == 1:
                    return placed  # one run: its new list is the result (no copy)
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
            # a held task's id was checked when it was placed: only an unknown id
            # or a state outside the set is looked at closely (the same errors)
            reservation = self._reservations.get(task_id) if type(task_id) is str else None
            if (
                reservation is None
                or state.__class__ is not str
                or state not in self._release_states
            ):
                check_name(task_id, field="task_id")
                check_release_state(state, self._release_states)
                reservation = self._reservations.get(task_id)
                if reservation is None:
                    msg = f"no reservation is held for task {_show(task_id)}"
                    raise UnknownTaskError(msg)
            self._unreserve(reservation)
            self._ledger.count_release(state)
            return reservation

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
        if type(request) is not Resources and not self._ledger.device_kinds:
            # a text or dict spec parsed before: its Resources (valid, slots in range)
            key = memo_key(request)
            if key is not None:
                request = self._memo.get(key, request)
        if (  # the hot path: a valid Resources without extended resources, no labels
            type(request) is Resources
            and not request.extended._data  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            and not require  # () or an empty frozenset (the executor's labels)
            and (type(require) is tuple or type(require) is frozenset)
            and not require_any
            and type(task_id) is str
            and 1 <= request.slots <= self._max_task_slots
            and 0 < len(task_id) <= MAX_NAME_LENGTH  # check_name's rule
            and task_id not in self._reservations
        ):
            return self._ledger.place(task_id, request, NO_LABELS)
        return self._ledger.place(*self._prepare(task_id, request, require, None, require_any))

    def _reserve(self, reservation: Reservation) -> None:
        self._ledger.reserve(reservation)

    def _unreserve(self, reservation: Reservation) -> None:
        self._ledger.unreserve(reservation)
