"""The :class:`Executor`: a pending queue and an engine over one :class:`Allocator`.

It turns decisions into running tasks: it places what fits, queues what may
fit later, fails what never can, follows runners that join, leave and die,
resubmits the tasks of a lost runner, and releases each reservation exactly
once with the task's completion state. See docs/executor.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from runtime_alloc._frozen import FrozenMap
from runtime_alloc.allocator import Allocator, Request
from runtime_alloc.errors import (
    DuplicateTaskError,
    InvalidArgumentError,
    UnknownTaskError,
)
from runtime_alloc.executor._core import EVENTS, ExecutorCore, count
from runtime_alloc.executor.engine import Engine
from runtime_alloc.executor.metrics import ExecutorMetrics
from runtime_alloc.executor.snapshot import ExecutorSnapshot, TaskRecord
from runtime_alloc.executor.tasks import ACTIVE_STATES, TERMINAL_STATES, TaskHandle, TaskState
from runtime_alloc.runners import check_name, label_rule
from runtime_alloc.snapshot import FleetSnapshot

__all__ = ["Executor"]

_NO_LABELS: frozenset[str] = frozenset()  # what label_rule((), any_of=()) gives


class Executor(ExecutorCore):
    """Runs submitted tasks on an engine, placed by an allocator.

    Thread-safe: one re-entrant lock guards the executor; engines deliver
    events from any thread (see :mod:`runtime_alloc.executor.engine`).

    Args:
        engine: an :class:`~runtime_alloc.executor.engine.Engine`.
        allocator: the allocator to place with (default: an empty one; runners
            then join through the engine).
        max_retries: how many times a task evicted from a runner that left or
            died goes back to the queue before it is ``lost``.
        max_overtakes: the backfill bound (see :mod:`runtime_alloc.executor.queue`).
        clock: the time source of the timestamps (default ``time.time``).

    >>> from runtime_alloc import Runner
    >>> from runtime_alloc.executor import Executor, TaskFinished
    >>> class Recorder:  # the smallest engine: remembers what it was asked to start
    ...     def open(self, sink): self.sink = sink
    ...     def start(self, task_id, attempt, runner, payload): self.started = (task_id, runner)
    ...     def cancel(self, task_id, attempt, runner): pass
    ...     def close(self): pass
    >>> ex = Executor(Recorder(), Allocator([Runner.parse("w1", "cpu=2")])).open()
    >>> ex.submit("t1", "payload", "cpu=2").state, ex.submit("t2", "payload", "cpu=1").state
    (<TaskState.PLACED: 'placed'>, <TaskState.PENDING: 'pending'>)
    >>> ex.deliver(TaskFinished("t1", 1, "success"))
    >>> ex.task("t1").state, ex.task("t2").state, ex.allocator.metrics().releases
    (<TaskState.SUCCESS: 'success'>, <TaskState.PLACED: 'placed'>, {'success': 1})
    """

    # ------------------------------------------------------------------ life

    @property
    def allocator(self) -> Allocator:
        """The allocator (read it freely; change runners through the executor). O(1)."""
        return self._allocator

    @property
    def engine(self) -> Engine:
        """The engine. O(1)."""
        return self._engine

    def open(self) -> Executor:
        """Open the engine (it reports its runners) and place what is pending; return self.

        Runtime complexity: under the executor's lock, one :meth:`Engine.open` (the engine's own
        wait, e.g. Celery's up to 30 s) plus one scan of the queue; O(1) when already open.
        """
        with self._section:
            if not self._opened:
                self._opened = True
                self._engine.open(self.deliver)
                self._scan()
        return self

    def close(self) -> None:
        """Close the engine; tasks keep their states (snapshot first to keep them).

        Runtime complexity: O(1) plus one :meth:`Engine.close` under the executor's lock (nothing
        when already closed).
        """
        with self._section:
            if self._opened and not self._closed:
                self._closed = True
                self._engine.close()

    def __enter__(self) -> Executor:  # noqa: PYI034 (Self needs Python 3.11)
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ tasks

    def submit(
        self,
        task_id: str,
        payload: Any,  # noqa: ANN401 (the engine's business)
        request: Request = None,
        *,
        require: Iterable[str] = (),
        priority: int = 0,
        require_any: Iterable[str] = (),
    ) -> TaskHandle:
        """Queue a task and place it now if the backfill rule allows.

        Args:
            task_id: a new id (unique for the executor's life; also the reservation id).
            payload: what the engine runs (see the engine's docs).
            request: as for :meth:`Allocator.allocate`.
            require: labels the runner must all have.
            priority: higher is placed first; ties in submit order; from -2**62 to 2**62.
            require_any: labels of which the runner must have one (an OR).

        Returns:
            The task's handle; its state is ``placed`` (or already further),
            ``pending``, or ``failed`` when no runner of a non-empty fleet could
            ever hold it (``error`` gives the allocator's reason).

        Raises:
            InvalidArgumentError, InvalidResourcesError: bad input; nothing changes.
            DuplicateTaskError: ``task_id`` was submitted before.

        Runtime complexity: one decision (O(N) on the python backend) when no
        task waits ahead of it, else O(Q) for the queue insert.
        """
        check_name(task_id, field="task_id")
        count("priority", priority, minimum=-(2**62), maximum=2**62)  # snapshots hold int64
        resources = self._normalize(request)
        if require == () and require_any == ():  # the common case, without label_rule's checks
            labels: frozenset[str] = _NO_LABELS
        else:
            labels = label_rule(require, any_of=require_any)
        with self._section:
            if task_id in self._tasks:
                msg = f"task {task_id!r} was already submitted"
                raise DuplicateTaskError(msg)
            task = TaskHandle(task_id, payload, resources, labels, priority, self._seq)
            self._seq += 1
            self._tasks[task_id] = task
            self._begin()
            task._move(TaskState.PENDING, self._clock())  # noqa: SLF001
            if self._opened:
                self._queue.admit(task, self._try_place)
            else:
                self._queue.push(task)
            return task

    def cancel(self, task_id: str) -> bool:
        """Cancel a task; return False when it was already terminal.

        A placed or running task is cancelled on the engine (best effort) and
        its reservation released with state ``cancelled``.

        Raises:
            UnknownTaskError: no task was submitted under ``task_id``.

        Runtime complexity: O(Q) for a pending task, else O(dimensions) plus a scan.
        """
        with self._section:
            task = self.task(task_id)
            if task.state in TERMINAL_STATES:
                return False
            now = self._clock()
            if task.state is TaskState.PENDING:
                self._queue.remove(task)
                self._end(task, TaskState.CANCELLED, now, None)
            else:
                runner = task.runner
                assert runner is not None  # noqa: S101 (active tasks have a runner)
                self._engine_cancel(task, runner)
                self._released(task, TaskState.CANCELLED.value)
                self._end(task, TaskState.CANCELLED, now, runner)
            self._scan()
            return True

    def task(self, task_id: str) -> TaskHandle:
        """The handle of a submitted task. O(1).

        Raises:
            UnknownTaskError: no task was submitted under ``task_id``.
        """
        task = self._tasks.get(task_id)
        if task is None:
            msg = f"no task was submitted under {task_id!r}"
            raise UnknownTaskError(msg)
        return task

    def tasks(self) -> tuple[TaskHandle, ...]:
        """Every submitted task, in submit order. O(tasks)."""
        with self._section:
            return tuple(self._tasks.values())

    def pending(self) -> tuple[TaskHandle, ...]:
        """The pending tasks in the order they will be tried. O(Q)."""
        with self._section:
            return tuple(self._queue)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted task is terminal; False on timeout.

        Also waits for tasks that other threads submit meanwhile. The caller
        sleeps until the last live task ends (one wake-up, not one per task).

        Runtime complexity: O(1).
        """
        return self._idle.wait(timeout)

    # ------------------------------------------------------------------ fleet

    def drain_runner(self, name: str) -> None:
        """Stop new placements on a runner (see :meth:`Allocator.drain_runner`). O(1)."""
        with self._section:
            self._allocator.drain_runner(name)
            self._freed = None  # the next scan tries every task: a verdict may change

    def undrain_runner(self, name: str) -> None:
        """Allow placements on a runner again and retry the queue. O(1) plus a scan."""
        with self._section:
            self._allocator.undrain_runner(name)
            self._freed = None  # every misfit may fit on it now
            self._scan()

    def retry_pending(self) -> int:
        """Scan the queue now (after changing the allocator by hand); return the tasks placed.

        Runtime complexity: one scan of the queue with every pending task eligible: O(Q) tasks tried
        at most, one decision per distinct request shape (see :meth:`PendingQueue.scan`).
        """
        with self._section:
            self._freed = None  # the allocator changed by hand: try every pending task
            return self._scan()

    # ------------------------------------------------------------------ events

    def deliver(self, event: object) -> None:
        """Handle one engine event, or a list of events as one batch (the engine's sink).

        Any thread may call it, and it never waits for the executor's lock: when
        another thread holds it, that thread handles the events before it lets
        go (so an engine's thread is not held up while, say, ``submit`` runs).
        A list is handled in order as one batch, with one scan of the queue
        after all of it (an engine that collects its completions delivers them
        so). A late, duplicate or unknown event changes nothing.

        Raises:
            InvalidArgumentError: ``event`` (or an item of the list) is not one of
                the event classes; nothing of the list is handled then.

        Runtime complexity: O(dimensions) per task event, O(tasks on the runner)
        per runner leaving, plus one scan when capacity freed.
        """
        events = event if type(event) is list else (event,)
        for item in events:
            if not isinstance(item, EVENTS):
                msg = (
                    "event must be TaskStarted, TaskFinished, RunnerJoined or RunnerLeft, "
                    f"got {item!r}"
                )
                raise InvalidArgumentError(msg)
        self._inbox.extend(events)
        self._pump()  # never waits for the lock: its holder handles them before letting go

    # ------------------------------------------------------------------ views

    def metrics(self) -> ExecutorMetrics:
        """Queue length, wait times, tasks by state, retries, runners, and the allocator's metrics.

        Runtime complexity: O(N * dimensions + tasks + W log W) for W <= 10 000 recent waits.
        """
        with self._section:
            by_state = dict.fromkeys((s.value for s in TaskState), 0)
            for task in self._tasks.values():
                by_state[task.state.value] += 1
            return ExecutorMetrics(
                allocator=self._allocator.metrics(),
                queue_length=len(self._queue),
                wait=self._waits.stats(),
                tasks=FrozenMap(by_state),
                submitted=len(self._tasks),
                retries=self._retries,
                runners_joined=self._joined,
                runners_left=self._left,
                runners_lost=self._lost,
            )

    def snapshot(self) -> ExecutorSnapshot:
        """The fleet and every pending, placed and running task. O(N + tasks)."""
        with self._section:
            live = [t for t in self._tasks.values() if t.state not in TERMINAL_STATES]
            pending = list(self._queue)
            active = [t for t in live if t.state in ACTIVE_STATES]
            return ExecutorSnapshot(
                self._allocator.snapshot(),
                tuple(_record(t) for t in pending + active),
                self._seq,
            )

    @classmethod
    def from_snapshot(
        cls,
        snapshot: ExecutorSnapshot | dict[str, Any],
        engine: Engine,
        *,
        requeue_active: bool = True,
        allocator_factory: Callable[[FleetSnapshot], Allocator] = Allocator.from_snapshot,
        **options: Any,  # noqa: ANN401
    ) -> Executor:
        """Build an executor that holds what ``snapshot`` holds; then call :meth:`open`.

        Args:
            snapshot: an :class:`ExecutorSnapshot` or its ``to_dict`` form.
            engine: the engine of the new executor.
            requeue_active: True (default) releases the reservations of placed
                and running tasks with state ``requeued`` and queues them again at
                their place (for engines that lost their work in the restart,
                such as :class:`LocalEngine`); False keeps them placed, for an
                engine that still runs them and will report their completion.
            allocator_factory: builds the allocator from the fleet snapshot
                (pass a lambda to choose the strategy or backend).
            options: ``max_retries``, ``max_overtakes``, ``clock``.

        Raises:
            InvalidSnapshotError: when the snapshot is malformed or inconsistent.

        Runtime complexity: O(N + tasks * Q).
        """
        if not isinstance(snapshot, ExecutorSnapshot):
            snapshot = ExecutorSnapshot.from_dict(snapshot)
        snapshot.check()
        executor = cls(engine, allocator_factory(snapshot.fleet), **options)
        executor._seq = snapshot.next_seq
        for record in snapshot.tasks:
            task = TaskHandle(
                record.task_id,
                record.payload,
                record.request,
                record.require,
                record.priority,
                record.seq,
                runner=record.runner,
                attempt=record.attempt,
                retries=record.retries,
                overtakes=record.overtakes,
            )
            task._move(TaskState.PENDING, record.submitted_at)  # noqa: SLF001
            executor._tasks[task.task_id] = task
            if record.state not in TERMINAL_STATES:  # from_dict allows live states only
                executor._begin()
            if record.state is TaskState.PENDING:
                executor._queue.push(task)
            elif requeue_active:
                executor._allocator.release(task.task_id, "requeued")
                task._move(TaskState.PENDING, executor._clock())  # noqa: SLF001
                executor._queue.push(task)
            else:
                task._move(record.state, executor._clock(), record.runner)  # noqa: SLF001
        return executor

    def _check(self) -> None:
        """Assert that reservations and task states agree (tests call this). O(N + tasks)."""
        with self._section:
            self._allocator._check()  # noqa: SLF001
            held = self._allocator.snapshot().reservations
            for task in self._tasks.values():
                if task.state in ACTIVE_STATES:
                    assert held[task.task_id].runner == task.runner, task  # noqa: S101
                else:
                    assert task.task_id not in held, task  # noqa: S101
                assert (task.state is TaskState.PENDING) == (task in self._queue), task  # noqa: S101
                assert task.overtakes <= self._queue.max_overtakes, task  # noqa: S101
            live = sum(1 for task in self._tasks.values() if task.state not in TERMINAL_STATES)
            assert live == self._live, (live, self._live)  # noqa: S101
            assert self._idle.is_set() == (not live), live  # noqa: S101


def _record(task: TaskHandle) -> TaskRecord:
    submitted = task.history[0].at if task.history else 0.0
    return TaskRecord(
        task.task_id,
        task.payload,
        task.request,
        task.require,
        task.priority,
        task.seq,
        task.state,
        task.runner,
        task.attempt,
        task.retries,
        task.overtakes,
        submitted,
    )
