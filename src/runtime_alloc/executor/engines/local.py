"""``LocalEngine``: worker processes per runner on this machine; no server, stdlib only.

A runner has one worker process per slot (started as tasks arrive), each
with a pipe from the engine and one back. A payload is a picklable callable run with
no arguments (use :func:`functools.partial` for arguments); its return value
is the task's ``result`` and an exception fails it. A worker process that dies
(killed, out of memory) loses its runner: the engine reports it ``lost`` and,
with ``restart_lost=True``, starts it afresh and reports it joining again.

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
import multiprocessing.util
import threading
from collections.abc import Iterable, MutableSequence
from typing import Any

from runtime_alloc.errors import DuplicateRunnerError, InvalidArgumentError, UnknownRunnerError
from runtime_alloc.executor.engine import EventSink
from runtime_alloc.executor.engines._local_pool import (
    MAX_BATCH,
    Batch,
    Pool,
    ProcessWorker,
    ThreadWorker,
    Worker,
)
from runtime_alloc.executor.engines._local_reader import Reader
from runtime_alloc.executor.engines._local_worker import SKIPPED, Outcomes
from runtime_alloc.executor.events import Event, RunnerJoined, RunnerLeft, TaskFinished
from runtime_alloc.runners import Runner

__all__ = ["LocalEngine"]


class LocalEngine:
    """Runs payloads in worker processes (or threads) per runner.

    Args:
        runners: the runners to start with.
        processes: workers per runner (default: its slots, at least one).
            Fewer workers than slots keep the placed tasks in the engine,
            handed over in batches, which keeps the workers busy.
        pool: ``"process"`` (default) or ``"thread"``: worker threads suit
            payloads that wait (sleep, I/O) and cannot be killed.
        restart_lost: start the runner afresh (and report it joining again)
            after one of its worker processes died.
        mp_context: the multiprocessing start method (``"forkserver"`` by
            default where available, else ``"spawn"``); payloads must be
            importable by the worker processes.

    Threading: :meth:`start` pickles the payload and writes it to an idle
    worker's pipe on the calling thread, and returns True (the executor
    records the task running at once, no ``TaskStarted``). One reader thread
    per engine waits on every worker process's pipe and process sentinel: it
    reads each batch's outcomes and delivers the completions on its own
    thread, so the task the executor places in that call goes straight to the
    freed worker; a worker process that dies is seen at once. A worker thread
    delivers its own completions.

    Batches: a worker holds at most two batches, one running and one waiting
    in its pipe. A task placed while every worker of its runner holds two is
    kept by the engine (``cancel`` drops it) and handed over as a worker
    frees up, together with the tasks kept after it as one batch of up to
    :data:`MAX_BATCH` tasks, as many as run in about ``BATCH_SECONDS`` by the
    runner's recent seconds per task (one while that is unknown) and spread
    over its workers. The worker runs a batch's payloads in order and the
    completions come back per task, each with its own result or error;
    ``cancel`` of a task in a batch its worker has not come to yet makes the
    worker skip it. A payload that cannot be pickled fails its own task only;
    so does a result. Membership events come from the thread that calls
    :meth:`add_runner` / :meth:`remove_runner`, or the reader thread for a
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
        self._lock = threading.RLock()  # guards the fields below; taken after a pool's lock
        self._pools: dict[str, Pool] = {}
        self._sink: EventSink | None = None
        self._reader: Reader | None = None
        self._live: set[ProcessWorker] = set()  # started, not yet joined
        self._threads: list[ThreadWorker] = []  # started, not yet joined
        # at interpreter exit (before multiprocessing joins its children), close the pipes
        # so that idle workers of an engine never closed end
        multiprocessing.util.Finalize(self, _hang_up, args=(self._live,), exitpriority=10)

    # ------------------------------------------------------------------ Engine

    def open(self, sink: EventSink) -> None:
        """Set up each initial runner, report every runner joined at once. O(runners)."""
        with self._lock:
            for runner in self._initial:
                self._start_pool(runner)
            for pool in list(self._pools.values()):  # also runners added before open
                sink(RunnerJoined(pool.runner))
            self._sink = sink

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> bool:  # noqa: ANN401
        """Hand ``payload`` to a worker of the runner (or keep it); True: it is running. O(1).

        Raises:
            InvalidArgumentError: the payload is not callable.
        """
        if not callable(payload):
            msg = f"LocalEngine payloads must be callables, got {payload!r}"
            raise InvalidArgumentError(msg)
        pool = self._pools.get(runner)  # no engine lock: the pool has its own
        if pool is None or pool.lost:
            return False  # the runner is going away; its RunnerLeft evicts the task
        key = (task_id, attempt)
        with pool.lock:
            if pool.lost:  # lost or removed since the look-up above
                return False
            pool.deferred[key] = payload
            try:
                failed = self._dispatch(pool)  # nothing while every worker holds two batches
            except BaseException:  # a worker could not be started: the executor fails the task
                pool.deferred.pop(key, None)
                raise
        if failed:
            self._deliver(failed)
        return True  # the executor records it running: no TaskStarted event to deliver

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:
        """Drop the attempt, or mark it so its worker skips it; a running one finishes. O(1)."""
        pool = self._pools.get(runner)
        if pool is None:
            return
        key = (task_id, attempt)
        with pool.lock:
            if pool.deferred.pop(key, None) is None:  # else never handed to a worker
                slot = pool.handed.pop(key, None)
                if slot is not None:  # in a batch: skipped unless its worker began it
                    pool.flags[slot] = 1

    def close(self) -> None:
        """Stop every worker and join it (running payloads finish first); no event follows.

        Runtime complexity: O(workers) plus the running payloads.
        """
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
            self._sink = None
            reader, self._reader = self._reader, None
        for pool in pools:
            with pool.lock:
                pool.stop()
        if reader is not None:
            reader.close()  # no thread but this one joins processes from here on
        with self._lock:
            live, threads = list(self._live), self._threads[:]
            self._live.clear()
            self._threads.clear()
        for worker in live:
            worker.hang_up()  # a worker still running a payload ends when it is done
        for worker in live:
            worker.process.join()
            worker.process.close()
        for thread_worker in threads:
            if thread_worker.thread is not threading.current_thread():
                thread_worker.thread.join()

    # ------------------------------------------------------------------ membership

    def add_runner(self, runner: Runner) -> None:
        """Set up ``runner`` and report it joined. O(1) (workers start as tasks arrive).

        Raises:
            DuplicateRunnerError: a runner of this name is running.
        """
        self._start_pool(runner)
        self._deliver(RunnerJoined(runner))

    def remove_runner(self, name: str) -> None:
        """Report the runner leaving, then stop its workers (running payloads finish first). O(1).

        Raises:
            UnknownRunnerError: no runner of this name is running.
        """
        with self._lock:
            pool = self._pools.pop(name, None)
            if pool is None:
                msg = f"no runner {name!r} is running"
                raise UnknownRunnerError(msg)
        with pool.lock:
            pool.lost = True
        self._deliver(RunnerLeft(name, lost=False, reason="removed"))
        with pool.lock:
            pool.stop()  # a worker process's end is joined by the reader thread

    def pids(self, name: str) -> tuple[int, ...]:
        """The process ids of a runner's worker processes (to watch or kill). O(workers)."""
        pool = self._pools.get(name)
        if pool is None:
            return ()
        workers = list(pool.workers)
        return tuple(sorted(w.process.pid for w in workers if isinstance(w, ProcessWorker)))  # type: ignore[misc]

    # ------------------------------------------------------------------ internals

    def _start_pool(self, runner: Runner) -> None:
        with self._lock:
            if runner.name in self._pools:
                msg = f"runner {runner.name!r} is already running"
                raise DuplicateRunnerError(msg)
            size = self._processes or max(runner.capacity.slots, 1)
            slots = 2 * size * MAX_BATCH  # the most tasks handed at once: two batches a worker
            flags: MutableSequence[int]
            if self._pool_kind == "process":
                flags = self._context.RawArray("b", slots)  # shared with the workers
            else:
                flags = bytearray(slots)
            self._pools[runner.name] = Pool(runner, size, flags, self._new_worker)

    def _new_worker(self, pool: Pool) -> Worker:
        """Start one more worker for ``pool`` (under its lock). O(1) plus the start."""
        name = f"runtime-alloc-{pool.runner.name}-{len(pool.workers)}"
        if self._pool_kind == "thread":
            thread_worker = ThreadWorker(pool.flags, name, functools.partial(self._finished, pool))
            with self._lock:
                self._threads = [t for t in self._threads if t.thread.is_alive()]
                self._threads.append(thread_worker)
            return thread_worker
        worker = ProcessWorker(self._context, pool.flags, name)
        with self._lock:
            self._live.add(worker)
            if self._reader is None:
                self._reader = Reader(self._finished, self._gone)
            self._reader.watch(pool, worker)
        return worker

    def _dispatch(self, pool: Pool) -> list[Event]:
        """Under ``pool.lock``: hand deferred tasks to workers with room; tasks that failed."""
        failed: list[Event] = []
        for worker, batch in pool.take():
            failed += self._hand(pool, worker, batch)
        return failed

    def _hand(self, pool: Pool, worker: Worker, batch: Batch) -> list[Event]:
        """Under ``pool.lock``: send ``batch`` to ``worker``; tasks whose payload cannot go."""
        failed: list[Event] = []
        try:
            data = worker.encode(_items(batch))
        except Exception:  # noqa: BLE001 (each payload on its own: only the culprits fail)
            kept: Batch = []
            for entry in batch:
                try:
                    worker.encode([(entry[1], entry[2])])
                except Exception as error:  # noqa: BLE001, PERF203 (its own task fails; rare path)
                    if pool.release([entry]):  # not cancelled
                        failed.append(TaskFinished(*entry[0], "failed", error=repr(error)))
                else:
                    kept.append(entry)
            if not kept:
                pool.unpick(worker)
                return failed
            batch = kept
            data = worker.encode(_items(batch))
        worker.send(data)
        worker.batches.append(batch)
        return failed

    def _finished(self, pool: Pool, worker: Worker, outcomes: Outcomes | Exception) -> None:
        """A worker's running batch ended: hand it more, then deliver the batch's ends.

        ``outcomes`` is an exception when they could not be unpickled: each task fails with it.
        """
        if isinstance(outcomes, Exception):
            results: list[tuple[int, Any]] = [(0, repr(outcomes))] * len(worker.batches[0])
            seconds: float | None = None
        else:
            results, seconds = outcomes
        with pool.lock:
            batch = pool.ended(worker, seconds)
            live = pool.release(batch)
            events = [] if pool.lost else self._dispatch(pool)
        for index, key in live:
            code, value = results[index]
            if code == 1:
                events.append(TaskFinished(*key, "success", result=value))
            elif code != SKIPPED:
                events.append(TaskFinished(*key, "failed", error=value))
        if events:
            self._deliver(events if len(events) > 1 else events[0])

    def _gone(self, pool: Pool, worker: ProcessWorker) -> None:
        """On the reader thread: ``worker``'s process ended (or closed its pipe)."""
        with pool.lock:
            lost = not pool.lost
            if lost:
                pool.stop()
        if lost:
            with self._lock:
                if self._pools.get(pool.runner.name) is pool:
                    del self._pools[pool.runner.name]
            for other in pool.workers:  # the runner is gone: all of its processes
                if other.process.is_alive():  # type: ignore[attr-defined]
                    other.process.kill()  # type: ignore[attr-defined]
        worker.process.join()
        worker.hang_up()
        with self._lock:
            self._live.discard(worker)
        worker.process.close()
        if lost:
            reason = "a worker process died"
            self._deliver(RunnerLeft(pool.runner.name, lost=True, reason=reason))
            if self.restart_lost and self._sink is not None:
                self.add_runner(pool.runner)

    def _deliver(self, event: Event | list[Event]) -> None:
        """Hand an event or a list to the sink on this thread (it never waits: see deliver)."""
        sink = self._sink
        if sink is not None:  # None before open and after close: dropped
            sink(event)


def _items(batch: Batch) -> list[tuple[int, Any]]:
    """What a worker runs of ``batch``: ``(cancel slot, payload)`` per task. O(len(batch))."""
    return [(slot, payload) for _, slot, payload in batch]


def _hang_up(live: set[ProcessWorker]) -> None:
    """At interpreter exit: close the engine's ends of the pipes; idle workers then end."""
    for worker in list(live):
        worker.hang_up()
