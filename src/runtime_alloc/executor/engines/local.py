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
from collections.abc import Iterable
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
from runtime_alloc.executor.events import Event, RunnerJoined, RunnerLeft, TaskFinished
from runtime_alloc.runners import Runner

__all__ = ["LocalEngine"]

FLUSH = 256
"""The most deferred tasks one completion submits (the rest wait for the next ones)."""

SELF_SUBMITS = 4096
"""Tasks a pool's own thread may submit into that pool while it delivers one completion.

A process pool's submit writes a wake-up message (4 bytes) into a pipe that
only the pool's management thread empties; a 64 KiB pipe holds 16,384. A
completion is delivered on that thread, and the tasks the executor places in
that delivery are submitted there, so past this many the rest are handed to
a relay thread (rare: it takes a completion that frees room for thousands).
"""


@attrs.define(eq=False)
class _Pool:
    runner: Runner
    executor: Executor
    generation: int
    workers: int = 1
    lost: bool = False
    futures: dict[tuple[str, int], Future[Any]] = attrs.Factory(dict)
    # Placed while every worker was busy, from a thread other than the pool's own: submitted
    # by the pool's next done callback, on its own thread (no wake-up of it per task).
    deferred: dict[tuple[str, int], Any] = attrs.Factory(dict)
    lock: threading.Lock = attrs.Factory(threading.Lock)  # guards deferred with the pops


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
    A task placed from another thread while every worker of its process pool
    is busy (and one more task waits in it) is kept and submitted by the
    pool's next done callback, on the pool's own thread: one wake-up of that
    thread less per task. Membership events come from the thread that calls
    :meth:`add_runner` / :meth:`remove_runner`, or the pool's thread for a
    lost worker.
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
        #: per thread: .pool, the pool whose completion this thread delivers, and .sent,
        #: what that delivery submitted into it so far
        self._local = threading.local()
        self._relay: ThreadPoolExecutor | None = None

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
        """Submit ``payload`` to the runner's pool; True: it is running (handed to the pool). O(1).

        Raises:
            InvalidArgumentError: the payload is not callable.
        """
        if not callable(payload):
            msg = f"LocalEngine payloads must be callables, got {payload!r}"
            raise InvalidArgumentError(msg)
        pool = self._pools.get(runner)  # no engine lock: the pool's own submit is thread-safe
        if pool is None or pool.lost:
            return False  # the runner is going away; its RunnerLeft evicts the task
        local = self._local
        delivering: _Pool | None = getattr(local, "pool", None)
        if delivering is pool:  # on the pool's own thread, in its callback
            local.sent += 1
            if local.sent > SELF_SUBMITS:
                self._relayed(pool, task_id, attempt, payload)
                return True
        elif self._pool_kind == "process":
            with pool.lock:
                if len(pool.futures) > pool.workers:  # every worker busy, one more queued
                    pool.deferred[(task_id, attempt)] = payload
                    return True
        self._submit(pool, task_id, attempt, payload)
        return True  # the executor records it running: no TaskStarted event to deliver

    def _submit(self, pool: _Pool, task_id: str, attempt: int, payload: Any) -> None:  # noqa: ANN401
        try:
            future = pool.executor.submit(payload)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by remove_runner
            self._lose(pool, "its process pool broke")
            return
        key = (task_id, attempt)
        pool.futures[key] = future  # before the callback, which pops it (at once if done)
        future.add_done_callback(functools.partial(self._done, pool, key))

    def _flush(self, pool: _Pool, deferred: dict[tuple[str, int], Any]) -> None:
        items = iter(deferred.items())
        for count, ((task_id, attempt), payload) in enumerate(items, 1):
            self._submit(pool, task_id, attempt, payload)
            if count == FLUSH:  # the rest at the next completion (one more in flight each)
                with pool.lock:
                    pool.deferred = dict(items) | pool.deferred
                return

    def _relayed(self, pool: _Pool, task_id: str, attempt: int, payload: Any) -> None:  # noqa: ANN401
        with self._lock:
            if self._relay is None:
                self._relay = ThreadPoolExecutor(1, thread_name_prefix="runtime-alloc-local-relay")
            relay = self._relay
        relay.submit(self._submit, pool, task_id, attempt, payload)

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:
        """Cancel the attempt if no worker has taken it yet (a running one finishes). O(1)."""
        pool = self._pools.get(runner)
        if pool is None:
            return
        with pool.lock:
            if pool.deferred.pop((task_id, attempt), None) is not None:
                return  # never handed to the pool
            future = pool.futures.pop((task_id, attempt), None)
        if future is not None:
            future.cancel()

    def close(self) -> None:
        """Stop every pool (running payloads finish first); no event follows. O(runners)."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
            self._sink = None
        if self._relay is not None:
            self._relay.shutdown(wait=True)  # its submits first, then the pools' shutdown
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
            executor: Executor = (
                ProcessPoolExecutor(workers, mp_context=self._context)
                if self._pool_kind == "process"
                else ThreadPoolExecutor(workers, thread_name_prefix=f"runner-{runner.name}")
            )
            self._pools[runner.name] = _Pool(runner, executor, self._generation, workers)

    def _done(self, pool: _Pool, key: tuple[str, int], future: Future[Any]) -> None:
        with pool.lock:
            pool.futures.pop(key, None)
            deferred = pool.deferred
            if deferred:
                pool.deferred = {}
        if deferred:  # on the pool's own thread: its loop clears the wake-ups it writes
            self._flush(pool, deferred)
        try:
            result = future.result()  # done: one look under the future's lock, no wait
        except CancelledError:
            return
        except BrokenProcessPool:
            self._lose(pool, "a worker process died")
            return
        except BaseException as error:  # noqa: BLE001 (the payload's failure, reported)
            event = TaskFinished(*key, "failed", error=repr(error))
        else:
            event = TaskFinished(*key, "success", result=result)
        local = self._local
        outer = getattr(local, "pool", None), getattr(local, "sent", 0)
        local.pool, local.sent = pool, 0  # start() counts what this delivery submits to pool
        try:
            self._deliver(event)
        finally:
            local.pool, local.sent = outer

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

    def _deliver(self, event: Event) -> None:
        """Hand one event to the sink on this thread (never waits: see ``Executor.deliver``)."""
        sink = self._sink
        if sink is not None:  # None before open and after close: dropped
            sink(event)
