"""``LocalEngine``: one process pool per runner on this machine; no server, stdlib only.

A runner is a :class:`concurrent.futures.ProcessPoolExecutor` with one worker
process per slot of the runner. A payload is a picklable callable run with no
arguments (use :func:`functools.partial` for arguments); its return value is
the task's ``result`` and an exception fails it. A worker process that dies
(killed, out of memory) breaks its pool: the engine reports the runner
``lost`` and, with ``restart_lost=True``, starts a fresh pool that joins again.

>>> import functools, operator
>>> from runtime_alloc import Runner
>>> from runtime_alloc.executor import Executor
>>> from runtime_alloc.executor.engines import LocalEngine
>>> engine = LocalEngine([Runner.parse("local-1", "cpu=1,slots=2")])
>>> with Executor(engine) as ex:
...     task = ex.submit("add", functools.partial(operator.add, 2, 3), "cpu=500m")
...     task.wait(60), task.result, task.runner
(<TaskState.SUCCESS: 'success'>, 5, 'local-1')
"""

from __future__ import annotations

import functools
import multiprocessing
import threading
from collections import OrderedDict
from collections.abc import Iterable, MutableSequence
from concurrent.futures import (
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import attrs

from runtime_alloc.errors import DuplicateRunnerError, InvalidArgumentError, UnknownRunnerError
from runtime_alloc.executor.engine import EventSink
from runtime_alloc.executor.engines._local_worker import SKIPPED, init_worker, run_batch
from runtime_alloc.executor.events import Event, RunnerJoined, RunnerLeft, TaskFinished
from runtime_alloc.runners import Runner

__all__ = ["LocalEngine"]

Key = tuple[str, int]  # (task id, attempt)
Batch = list[tuple[Key, int, Any]]  # (key, cancel slot, payload) per task

MAX_BATCH = 64
"""The most tasks one work item of a pool carries."""

BATCH_SECONDS = 0.002
"""A batch carries about this much work at most (by its pool's recent seconds per task).

A task's completion is reported when its whole batch ends, so this bounds how
much later than alone a task of a batch is reported (and its slot freed).
Tasks of unknown length (none has ended in the pool yet) go one per item.
"""

MAX_ITEMS = 4096
"""The most work items in one pool (twice its processes, at most this).

A process pool's submit writes a wake-up message (4 bytes) into a pipe that
only the pool's management thread empties, and that thread submits the next
items after each completion; a 64 KiB pipe holds 16,384 of them.
"""


@attrs.define(eq=False)
class _Pool:
    runner: Runner
    executor: Executor
    generation: int
    workers: int
    flags: MutableSequence[int]  # a cancel slot per task handed to the pool (1: skip it)
    lost: bool = False
    items: int = 0  # work items in the pool (batches submitted, not yet done)
    # Placed while the pool held its most work items: handed over, in order and in batches,
    # by the pool's next done callbacks; cancel() drops such a task before it reaches the pool.
    deferred: OrderedDict[Key, Any] = attrs.Factory(OrderedDict)
    handed: dict[Key, int] = attrs.Factory(dict)  # in a submitted batch -> its cancel slot
    free: list[int] = attrs.Factory(list)  # unused cancel slots
    task_seconds: float | None = None  # recent running time per task (None: none ended yet)
    lock: threading.Lock = attrs.Factory(threading.Lock)  # guards all of the above but lost

    @property
    def most_items(self) -> int:
        return min(2 * self.workers, MAX_ITEMS)

    def take(self) -> list[Batch]:
        """Under ``lock``: the batches to submit now, each counted in ``items``. O(tasks taken)."""
        batches: list[Batch] = []
        deferred, most = self.deferred, self.most_items
        while deferred and self.items < most:
            size = 1
            if self.task_seconds is not None:
                size = int(BATCH_SECONDS / max(self.task_seconds, 1e-9))
                size = max(1, min(size, MAX_BATCH, -(-len(deferred) // self.workers)))
            batch: Batch = []
            for _ in range(size):
                key, payload = deferred.popitem(last=False)
                slot = self.free.pop()
                self.handed[key] = slot
                batch.append((key, slot, payload))
            batches.append(batch)
            self.items += 1
        return batches


class LocalEngine:
    """Runs payloads in a process pool per runner.

    Args:
        runners: the runners to start with.
        processes: workers per runner (default: its slots, at least one).
            Fewer workers than slots queue the placed tasks inside the pool,
            which keeps the workers busy between completions.
        pool: ``"process"`` (default) or ``"thread"``: a thread pool per runner
            suits payloads that wait (sleep, I/O) and cannot be killed.
        restart_lost: start a fresh pool (and report the runner joining again)
            after a worker process died.
        mp_context: the multiprocessing start method (``"forkserver"`` by
            default where available, else ``"spawn"``); payloads must be
            importable by the worker processes.

    Threading: the engine has no thread of its own. A completion is delivered
    from the pool's done callback (the pool's management thread for a process
    pool, the worker thread for a thread pool), so the executor releases the
    task and starts the next one there, without a hand-off to another thread.
    :meth:`start` returns True (the task is handed to the pool, so the
    executor records it running at once) instead of delivering ``TaskStarted``.

    Batches: a pool holds at most twice its processes in work items. A task
    placed while it holds that many is kept by the engine (``cancel`` drops
    it) and handed over by the pool's next done callback, together with the
    tasks kept after it as one work item of up to :data:`MAX_BATCH` tasks, as
    many as run in about :data:`BATCH_SECONDS` by the pool's recent seconds
    per task (one while that is unknown) and spread over its processes. The
    worker runs a batch's payloads in order and the completions come back per
    task, each with its own result or error; ``cancel`` of a task in a batch
    its worker has not come to yet makes the worker skip it. Membership
    events come from the thread that calls :meth:`add_runner` /
    :meth:`remove_runner`, or the pool's thread for a lost worker.
    """

    def __init__(
        self,
        runners: Iterable[Runner] = (),
        *,
        processes: int | None = None,
        pool: str = "process",
        restart_lost: bool = False,
        mp_context: str | None = None,
    ) -> None:
        self._initial = list(runners)
        for runner in self._initial:
            if not isinstance(runner, Runner):
                msg = f"runners must be Runner values, got {runner!r}"
                raise InvalidArgumentError(msg)
        if processes is not None and (
            isinstance(processes, bool) or not isinstance(processes, int) or processes < 1
        ):
            msg = f"processes must be a positive integer or None, got {processes!r}"
            raise InvalidArgumentError(msg)
        self._processes = processes
        if pool not in ("process", "thread"):
            msg = f"pool must be 'process' or 'thread', got {pool!r}"
            raise InvalidArgumentError(msg)
        self._pool_kind = pool
        methods = multiprocessing.get_all_start_methods()
        method = mp_context or ("forkserver" if "forkserver" in methods else "spawn")
        if method not in methods:
            msg = f"mp_context must be one of {methods}, got {mp_context!r}"
            raise InvalidArgumentError(msg)
        self._context = multiprocessing.get_context(method)
        self.restart_lost = restart_lost
        self._lock = threading.RLock()
        self._pools: dict[str, _Pool] = {}
        self._generation = 0
        self._sink: EventSink | None = None

    # ------------------------------------------------------------------ Engine

    def open(self, sink: EventSink) -> None:
        """Start a pool per initial runner, report every runner joined at once. O(runners)."""
        with self._lock:
            for runner in self._initial:
                self._start_pool(runner)
            for pool in list(self._pools.values()):  # also runners added before open
                sink(RunnerJoined(pool.runner))
            self._sink = sink

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> bool:  # noqa: ANN401
        """Hand ``payload`` to the runner's pool; True: it is running (handed to the pool). O(1).

        Raises:
            InvalidArgumentError: the payload is not callable.
        """
        if not callable(payload):
            msg = f"LocalEngine payloads must be callables, got {payload!r}"
            raise InvalidArgumentError(msg)
        pool = self._pools.get(runner)  # no engine lock: the pool has its own
        if pool is None or pool.lost:
            return False  # the runner is going away; its RunnerLeft evicts the task
        with pool.lock:
            pool.deferred[(task_id, attempt)] = payload
            batches = pool.take()  # none while the pool holds its most items
        for batch in batches:
            self._submit(pool, batch)
        return True  # the executor records it running: no TaskStarted event to deliver

    def _submit(self, pool: _Pool, batch: Batch) -> None:
        items = [(slot, payload) for _, slot, payload in batch]
        try:
            if self._pool_kind == "process":
                future = pool.executor.submit(run_batch, items, None, check_pickle=True)
            else:  # threads share the engine's memory: the slots go with the batch
                future = pool.executor.submit(run_batch, items, pool.flags)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by remove_runner
            self._lose(pool, "its process pool broke")
            return
        future.add_done_callback(functools.partial(self._done, pool, batch))

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:
        """Drop the attempt, or mark it so its worker skips it; a running one finishes. O(1)."""
        pool = self._pools.get(runner)
        if pool is None:
            return
        key = (task_id, attempt)
        with pool.lock:
            if pool.deferred.pop(key, None) is None:  # else never handed to the pool
                slot = pool.handed.pop(key, None)
                if slot is not None:  # in a batch: skipped unless its worker began it
                    pool.flags[slot] = 1

    def close(self) -> None:
        """Stop every pool (running payloads finish first); no event follows. O(runners)."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
            self._sink = None
        for pool in pools:
            pool.executor.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ membership

    def add_runner(self, runner: Runner) -> None:
        """Start a pool for ``runner`` and report it joined. O(1) (workers start on demand).

        Raises:
            DuplicateRunnerError: a pool runs under this name.
        """
        self._start_pool(runner)
        self._deliver(RunnerJoined(runner))

    def remove_runner(self, name: str) -> None:
        """Report the runner leaving, then stop its pool (running payloads finish first). O(1).

        Raises:
            UnknownRunnerError: no pool runs under this name.
        """
        with self._lock:
            pool = self._pools.pop(name, None)
            if pool is None:
                msg = f"no runner {name!r} is running"
                raise UnknownRunnerError(msg)
            pool.lost = True
        self._deliver(RunnerLeft(name, lost=False, reason="removed"))
        pool.executor.shutdown(wait=False, cancel_futures=True)

    def pids(self, name: str) -> tuple[int, ...]:
        """The worker process ids of a runner's process pool (to watch or kill). O(workers)."""
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                return ()
            processes = getattr(pool.executor, "_processes", None) or {}
            return tuple(sorted(processes))

    # ------------------------------------------------------------------ internals

    def _start_pool(self, runner: Runner) -> None:
        with self._lock:
            if runner.name in self._pools:
                msg = f"runner {runner.name!r} is already running"
                raise DuplicateRunnerError(msg)
            workers = self._processes or max(runner.capacity.slots, 1)
            self._generation += 1
            slots = min(2 * workers, MAX_ITEMS) * MAX_BATCH  # the most tasks handed at once
            executor: Executor
            flags: MutableSequence[int]
            if self._pool_kind == "process":
                flags = self._context.RawArray("b", slots)  # shared with the workers
                executor = ProcessPoolExecutor(
                    workers, mp_context=self._context, initializer=init_worker, initargs=(flags,)
                )
            else:
                flags = bytearray(slots)
                executor = ThreadPoolExecutor(workers, thread_name_prefix=f"runner-{runner.name}")
            pool = _Pool(runner, executor, self._generation, workers, flags)
            pool.free = list(range(slots - 1, -1, -1))
            self._pools[runner.name] = pool

    def _done(self, pool: _Pool, batch: Batch, future: Future[Any]) -> None:
        """A batch ended (on the pool's own thread): hand over the next, deliver its tasks' ends."""
        live: list[tuple[int, tuple[Key, int, Any]]] = []  # (index, entry): not cancelled
        flags, free, handed = pool.flags, pool.free, pool.handed
        with pool.lock:
            pool.items -= 1
            for index, entry in enumerate(batch):
                key, slot = entry[0], entry[1]
                if handed.get(key) == slot:
                    del handed[key]
                    live.append((index, entry))
                flags[slot] = 0
                free.append(slot)
            try:
                outcomes, seconds = future.result()  # done: no wait
            except BaseException as error:  # noqa: BLE001 (sorted out below, outside the lock)
                outcomes, failure = None, error
            else:
                per_task = seconds / len(batch)
                known = pool.task_seconds
                pool.task_seconds = per_task if known is None else (known + per_task) / 2
            batches = [] if pool.lost else pool.take()
        for more in batches:  # on the pool's own thread: its loop clears the wake-ups it writes
            self._submit(pool, more)
        if outcomes is None:
            self._batch_failed(pool, live, failure, alone=len(batch) == 1)
            return
        events: list[Event] = []
        for index, (key, _, _) in live:
            code, value = outcomes[index]
            if code == 1:
                events.append(TaskFinished(*key, "success", result=value))
            elif code != SKIPPED:
                events.append(TaskFinished(*key, "failed", error=value))
        if events:
            self._deliver(events)

    def _batch_failed(
        self,
        pool: _Pool,
        live: list[tuple[int, tuple[Key, int, Any]]],
        error: BaseException,
        *,
        alone: bool,
    ) -> None:
        """A batch that did not run: the pool broke or shut down, or it could not be sent.

        ``live`` are its tasks not cancelled; ``alone``: it held one task.
        """
        if isinstance(error, CancelledError):
            return  # shut down by remove_runner or close
        if isinstance(error, BrokenProcessPool):
            self._lose(pool, "a worker process died")
            return
        if alone:  # a payload that cannot be pickled, say: its own task fails
            for _, (key, _, _) in live:
                self._deliver(TaskFinished(*key, "failed", error=repr(error)))
            return
        for _, (key, _, payload) in live:  # again one by one: each gets its own verdict
            with pool.lock:  # (one item more each than the pool's most, for this once)
                slot = pool.free.pop()
                pool.handed[key] = slot
                pool.items += 1
            self._submit(pool, [(key, slot, payload)])

    def _lose(self, pool: _Pool, reason: str) -> None:
        with self._lock:
            if pool.lost:
                return
            pool.lost = True
            if self._pools.get(pool.runner.name) is pool:
                del self._pools[pool.runner.name]
        self._deliver(RunnerLeft(pool.runner.name, lost=True, reason=reason))
        pool.executor.shutdown(wait=False, cancel_futures=True)
        if self.restart_lost and self._sink is not None:
            self.add_runner(pool.runner)

    def _deliver(self, event: Event | list[Event]) -> None:
        """Hand an event or a list to the sink on this thread (it never waits: see deliver)."""
        sink = self._sink
        if sink is not None:  # None before open and after close: dropped
            sink(event)
