"""The executor's state machine: task states, the queue, and the handling of engine events.

:class:`~runtime_alloc.executor.Executor` is the public API over it; this part places tasks,
fails the unschedulable, turns engine events into at most one change each (see
docs/executor.md) and keeps the lock discipline (:meth:`ExecutorCore._section`).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from runtime_alloc import devices
from runtime_alloc._units import _show
from runtime_alloc.allocator import Allocator, Request
from runtime_alloc.errors import (
    DuplicateRunnerError,
    InsufficientCapacityError,
    InvalidArgumentError,
    InvalidResourcesError,
    RuntimeAllocError,
    UnknownRunnerError,
    UnschedulableError,
)
from runtime_alloc.executor.engine import Engine
from runtime_alloc.executor.events import RunnerJoined, RunnerLeft, TaskFinished, TaskStarted
from runtime_alloc.executor.metrics import WaitTimes
from runtime_alloc.executor.queue import Outcome, PendingQueue
from runtime_alloc.executor.tasks import ACTIVE_STATES, TaskHandle, TaskState
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources, as_task_request, parse_device_request

__all__ = ["EVENTS", "ExecutorCore", "count"]

EVENTS = (TaskStarted, TaskFinished, RunnerJoined, RunnerLeft)
PLACED, RUNNING, SUCCESS = TaskState.PLACED, TaskState.RUNNING, TaskState.SUCCESS


@functools.lru_cache(maxsize=1024)
def _parse_text(request: str) -> Resources:
    """Parse a request string once: workloads repeat a few request texts."""
    return Resources.parse(request, default_slots=1)


def count(name: str, value: object, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Return ``value`` when it is an int from ``minimum`` to ``maximum`` (None: no bound). O(1).

    Raises:
        InvalidArgumentError: naming ``name`` and the value.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        rule = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        msg = f"{name} must be an integer {rule}, got {_show(value)}"
        raise InvalidArgumentError(msg)
    return value


class _Section:
    """``with core._section:`` holds the lock; the outermost exit handles the inbox.

    Every hold of the executor's lock is a section: on the way out the
    outermost one handles the events engines delivered meanwhile and, after
    letting go of the lock, pumps again, so an event whose ``deliver`` found
    the lock taken (and did not wait) is handled by the thread that held it.
    A class rather than a generator: it is entered once per call of the API.
    """

    __slots__ = ("_core",)

    def __init__(self, core: ExecutorCore) -> None:
        self._core = core

    def __enter__(self) -> None:
        core = self._core
        core._lock.acquire()  # noqa: SLF001
        core._depth += 1  # noqa: SLF001

    def __exit__(self, *exc_info: object) -> None:
        core = self._core
        outer = core._depth == 1  # noqa: SLF001
        try:
            if outer:
                core._drain()  # noqa: SLF001
        finally:
            core._depth -= 1  # noqa: SLF001
            core._lock.release()  # noqa: SLF001
        if outer and core._inbox:  # noqa: SLF001
            core._pump()  # noqa: SLF001


class ExecutorCore:
    """State and event handling of an executor; use :class:`~runtime_alloc.executor.Executor`."""

    def __init__(
        self,
        engine: Engine,
        allocator: Allocator | None = None,
        *,
        max_retries: int = 3,
        max_overtakes: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(engine, Engine):
            msg = f"engine must have open, start, cancel and close methods, got {engine!r}"
            raise InvalidArgumentError(msg)
        if allocator is not None and not isinstance(allocator, Allocator):
            msg = f"allocator must be an Allocator, got {allocator!r}"
            raise InvalidArgumentError(msg)
        self._engine = engine
        self._allocator = Allocator() if allocator is None else allocator
        self.max_retries = count("max_retries", max_retries)
        self._queue = PendingQueue(count("max_overtakes", max_overtakes))
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0  # sections entered (nested) by the thread holding the lock
        self._section = _Section(self)
        self._rescan = False  # capacity grew since the last scan of this section
        self._freed: list[Resources] | None = None  # released since the last scan; None: unknown
        self._inbox: deque[object] = deque()
        self._tasks: dict[str, TaskHandle] = {}
        self._live = 0  # tasks not yet terminal
        self._idle = threading.Event()  # set while no task is live (what ``wait`` waits for)
        self._idle.set()
        self._seq = 0
        self._waits = WaitTimes()
        self._retries = 0
        self._joined = self._left = self._lost = 0
        self._opened = self._closed = False

    # ------------------------------------------------------------------ internals

    def _pump(self) -> None:
        """Handle the inbox unless another thread holds the lock (it pumps when it lets go)."""
        inbox, lock = self._inbox, self._lock
        while inbox:
            if not lock.acquire(blocking=False):
                return  # the holder pumps after it releases: the events are not stranded
            try:
                if self._depth:
                    return  # re-entrant on this thread: the section in progress handles them
                self._depth = 1
                try:
                    self._drain()
                finally:
                    self._depth = 0
            finally:
                lock.release()

    def _drain(self) -> None:
        """Handle the queued events, then scan the queue once if any of them freed capacity."""
        inbox = self._inbox
        while True:
            while inbox:
                self._handle(inbox.popleft())
            if not self._rescan:
                return
            self._rescan = False
            self._scan()  # a batch of completions costs one scan, not one each

    def _normalize(self, request: Request) -> Resources:
        if request is None:
            return self._allocator.default_request
        kinds = getattr(self._allocator, "device_kinds", None)
        if kinds and isinstance(request, (str, Mapping)):  # device kinds are read in devices
            resources = parse_device_request(request, kinds)
        elif type(request) is str:
            resources = _parse_text(request)
        else:  # a Resources without slots takes 1, like Allocator.allocate (as_task_request)
            resources = as_task_request(request)
        if kinds:
            devices.check_device_request(resources.extended, kinds)
        if not 1 <= resources.slots <= self._allocator.max_task_slots:
            msg = (
                f"request slots must be from 1 to {self._allocator.max_task_slots} for a task, "
                f"got {resources.slots}"
            )
            raise InvalidResourcesError(msg)
        return resources

    def _scan(self) -> int:
        if not self._opened:
            return 0
        freed, self._freed = self._freed, []
        return self._queue.scan(self._try_place, freed)  # also on an empty queue

    def _released(self, task: TaskHandle, state: str) -> None:
        """Release the task's reservation; the next scan learns what was freed."""
        self._allocator.release(task.task_id, state)
        if self._freed is not None:
            self._freed.append(task.request)

    def _try_place(self, task: TaskHandle) -> Outcome:
        try:
            reservation = self._allocator.allocate_or_error(
                task.task_id, task.request, require=task.require
            )
        except RuntimeAllocError as error:  # e.g. the id is held by a reservation made by hand
            self._fail(task, str(error))
            return Outcome.DROPPED
        if type(reservation) is not Reservation:
            return self._not_placed(task, reservation)
        now = self._clock()
        history = task.history  # a pending task's last move is the one into pending
        self._waits.add(now - history[-1].at if history else 0.0)
        task.attempt += 1
        runner = task.runner = reservation.runner
        task._move(PLACED, now, runner)  # noqa: SLF001
        attempt = task.attempt
        try:
            started = self._engine.start(task.task_id, attempt, runner, task.payload)
        except Exception as exc:  # noqa: BLE001 (any engine failure fails the attempt)
            if task.state in ACTIVE_STATES:
                self._released(task, TaskState.FAILED.value)
                self._fail(task, f"engine could not start the task: {exc!r}", runner)
            return Outcome.PLACED
        if started is True and task.state is PLACED and task.attempt == attempt:
            task._move(RUNNING, now, runner)  # noqa: SLF001 (as a TaskStarted at once)
        return Outcome.PLACED

    def _not_placed(self, task: TaskHandle, error: object) -> Outcome:
        if isinstance(error, InsufficientCapacityError):
            return Outcome.BLOCKED
        if isinstance(error, UnschedulableError) and error.runners_total == 0:
            return Outcome.BLOCKED  # no runner has joined yet: not a verdict on the task
        self._fail(task, str(error))  # unschedulable, or any other kind: a verdict on the task
        return Outcome.DROPPED

    def _fail(self, task: TaskHandle, error: str, runner: str | None = None) -> None:
        task.error = error
        self._end(task, TaskState.FAILED, self._clock(), runner)

    def _begin(self) -> None:
        """Count a new live task (submitted, or restored from a snapshot). O(1)."""
        if not self._live:
            self._idle.clear()
        self._live += 1

    def _end(self, task: TaskHandle, state: TaskState, at: float, runner: str | None) -> None:
        """Move a live task to a terminal state; the last one sets ``_idle``. O(1)."""
        task._move(state, at, runner)  # noqa: SLF001
        self._live -= 1
        if not self._live:
            self._idle.set()

    def _engine_cancel(self, task: TaskHandle, runner: str) -> None:
        with contextlib.suppress(Exception):  # best effort: the runner may be gone
            self._engine.cancel(task.task_id, task.attempt, runner)

    def _handle(self, event: object) -> None:
        if isinstance(event, TaskFinished):
            self._finished(event)
        elif isinstance(event, TaskStarted):
            task = self._tasks.get(event.task_id)
            if (
                task is not None
                and task.attempt == event.attempt
                and task.state is TaskState.PLACED
            ):
                task._move(TaskState.RUNNING, self._clock(), task.runner)  # noqa: SLF001
        elif isinstance(event, RunnerJoined):
            try:
                self._allocator.add_runner(event.runner)
            except DuplicateRunnerError:
                return  # a repeated announcement
            self._joined += 1
            self._freed = None  # a new runner: every misfit may fit now
            self._rescan = True
        elif isinstance(event, RunnerLeft):
            self._runner_left(event)

    def _finished(self, event: TaskFinished) -> None:
        task = self._tasks.get(event.task_id)
        if task is None or task.attempt != event.attempt or task.state not in ACTIVE_STATES:
            return  # unknown, late (an older attempt) or duplicate
        self._released(task, event.state)
        if event.state == "success":
            task.result = event.result
            self._end(task, SUCCESS, self._clock(), task.runner)
        else:
            self._fail(task, event.error or "failed", task.runner)
        self._rescan = True

    def _runner_left(self, event: RunnerLeft) -> None:
        try:
            evicted = self._allocator.remove_runner(event.name, force=True)
        except UnknownRunnerError:
            return  # never joined, or already gone
        self._freed = None  # the fleet changed: a blocked task may now be unschedulable
        if event.lost:
            self._lost += 1
        else:
            self._left += 1
        how = "died" if event.lost else "left"
        now = self._clock()
        for reservation in evicted:
            task = self._tasks.get(reservation.task_id)
            if task is None or task.state not in ACTIVE_STATES:
                continue  # a reservation made outside the executor
            self._engine_cancel(task, event.name)
            if task.retries < self.max_retries:
                task.retries += 1
                self._retries += 1
                task._move(TaskState.PENDING, now)  # noqa: SLF001
                self._queue.push(task)
            else:
                reason = f": {event.reason}" if event.reason else ""
                task.error = (
                    f"runner {event.name!r} {how}{reason}; "
                    f"the task was retried {task.retries} time(s) (max_retries={self.max_retries})"
                )
                self._end(task, TaskState.LOST, now, event.name)
        self._rescan = True
