"""A ``LocalEngine`` runner: its workers and the batches they hold.

A runner has up to ``size`` workers, started on demand: processes with a duplex
pipe each, or threads with an in-box. A worker holds at most two batches: one
it runs, one waiting in its pipe (so it starts the next as soon as it ends,
without a round trip to the engine). Tasks placed while every worker holds two
are *deferred*: kept by the engine, in order, and handed over in batches as
workers free up (``cancel`` drops them before any worker sees them).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, MutableSequence
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

import attrs

from runtime_alloc.executor.engines._local_worker import (
    Frames,
    Outcomes,
    dumps,
    run_batch,
    serve,
    write_frame,
)
from runtime_alloc.runners import Runner

__all__ = ["BATCH_SECONDS", "MAX_BATCH", "QUEUED_BYTES", "Batch", "Key", "Pool", "Worker"]

_log = logging.getLogger("runtime_alloc.executor.engines.local")

Key = tuple[str, int]  # (task id, attempt)
Batch = list[tuple[Key, int, Any]]  # (key, cancel slot, payload) per task

MAX_BATCH = 64
"""The most tasks one batch carries."""

BATCH_SECONDS = 0.002
"""A batch carries about this much work at most (by its runner's recent seconds per task).

A task's completion is reported when its whole batch ends, so this bounds how
much later than alone a task of a batch is reported (and its slot freed).
Tasks of unknown length (none has ended on the runner yet) go one per batch.
"""

QUEUED_BYTES = 16384
"""The largest pickled batch written to a worker process that is running another.

A worker's pipe (64 KiB) then never holds more than two such batches unread (the
one the worker is about to read, one queued behind it), so the write never
waits on a busy worker, which may be writing a large result back at the same
moment; a larger batch is held by the engine and written as the worker's
running batch ends (the worker then reads).
"""


class Worker:
    """One worker of a runner: the batches it holds, oldest (running) first."""

    __slots__ = ("batches", "held")

    def __init__(self) -> None:
        self.batches: deque[Batch] = deque()
        self.held: Any = None  # a second batch not sent yet (too large to wait in the pipe)

    def encode(self, items: list[tuple[int, Any]]) -> Any:  # noqa: ANN401
        """What :meth:`send` sends for ``items``; raises when it cannot be made."""
        return items

    def send(self, data: Any) -> None:  # noqa: ANN401
        """Hand ``data`` (from :meth:`encode`) to the worker, or hold it while it is busy."""
        self.transmit(data)

    def transmit(self, data: Any) -> None:  # noqa: ANN401
        """Write ``data`` to the worker now."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the worker to end after the batches it has (they are cancelled first)."""
        raise NotImplementedError

    def sent(self) -> None:
        """Its running batch ended: send the held one, if any. O(1) plus the send."""
        held, self.held = self.held, None
        if held is not None:
            self.transmit(held)


class ProcessWorker(Worker):
    """A worker process, fed through one pipe and read through another.

    Two one-way pipes (``os.pipe``) cost less per small message than a socket pair.
    """

    __slots__ = ("fd", "frames", "pipes", "process", "write_fd")

    def __init__(self, context: BaseContext, flags: MutableSequence[int], name: str) -> None:
        super().__init__()
        child_in, to_child = context.Pipe(duplex=False)
        from_child, child_out = context.Pipe(duplex=False)
        self.process: BaseProcess = context.Process(  # type: ignore[attr-defined]
            target=serve, args=(child_in, child_out, flags), name=name
        )
        self.process.start()
        child_in.close()
        child_out.close()
        self.pipes = (to_child, from_child)
        self.write_fd = to_child.fileno()
        self.fd = from_child.fileno()  # what the reader thread watches
        self.frames = Frames()  # what the reader thread has read of its outcomes

    def hang_up(self) -> None:
        """Close the engine's ends: an idle worker then ends, a busy one after its batch."""
        for pipe in self.pipes:
            pipe.close()

    def encode(self, items: list[tuple[int, Any]]) -> Any:  # noqa: ANN401
        return dumps(items)

    def send(self, data: Any) -> None:  # noqa: ANN401
        if self.batches and len(data) > QUEUED_BYTES:
            self.held = data  # sent by sent() when the running batch ends
        else:
            self.transmit(data)

    def transmit(self, data: Any) -> None:  # noqa: ANN401
        with contextlib.suppress(OSError):  # it died: its sentinel reports it
            write_frame(self.write_fd, data)

    def stop(self) -> None:
        self.held = None
        with contextlib.suppress(OSError):
            write_frame(self.write_fd, dumps(None))


class ThreadWorker(Worker):
    """A worker thread of this process: it reports each batch's outcomes itself."""

    __slots__ = ("inbox", "thread")

    def __init__(
        self,
        flags: MutableSequence[int],
        name: str,
        finished: Callable[[ThreadWorker, Outcomes], None],
    ) -> None:
        super().__init__()
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(
            target=self._run, args=(flags, finished), name=name, daemon=True
        )
        self.thread.start()

    def _run(
        self, flags: MutableSequence[int], finished: Callable[[ThreadWorker, Outcomes], None]
    ) -> None:
        while (items := self.inbox.get()) is not None:
            try:
                finished(self, run_batch(items, flags))
            except Exception:  # noqa: BLE001, PERF203 (a sink that raised: logged, as a done callback's error)
                _log.exception("LocalEngine: delivering a completion failed")

    def transmit(self, data: Any) -> None:  # noqa: ANN401
        self.inbox.put(data)

    def stop(self) -> None:
        self.inbox.put(None)


@attrs.define(eq=False)
class Pool:
    """One runner's workers and tasks; all but ``runner`` and ``size`` under ``lock``."""

    runner: Runner
    size: int  # the most workers
    flags: MutableSequence[int]  # a cancel slot per task handed to a worker (1: skip it)
    new_worker: Callable[[Pool], Worker]  # starts one more worker
    lost: bool = False  # lost or removed: hand nothing more
    items: int = 0  # batches held by the workers
    workers: list[Worker] = attrs.Factory(list)
    idle: list[Worker] = attrs.Factory(list)  # holding no batch
    waiting: dict[Worker, None] = attrs.Factory(dict)  # holding one: room for a second
    deferred: OrderedDict[Key, Any] = attrs.Factory(OrderedDict)
    handed: dict[Key, int] = attrs.Factory(dict)  # in a batch handed to a worker -> its slot
    free: list[int] = attrs.Factory(list)  # unused cancel slots
    task_seconds: float | None = None  # recent running time per task (None: none ended yet)
    lock: threading.Lock = attrs.Factory(threading.Lock)

    def __attrs_post_init__(self) -> None:
        self.free = list(range(len(self.flags) - 1, -1, -1))

    def take(self) -> list[tuple[Worker, Batch]]:
        """Deferred tasks in batches, each for a worker with room. O(tasks taken).

        An idle worker first, then a new one (up to ``size``), then one running
        a batch. A batch's size comes from :data:`BATCH_SECONDS`, at most
        :data:`MAX_BATCH` and the deferred tasks spread over ``size`` workers.
        """
        taken: list[tuple[Worker, Batch]] = []
        deferred, free, handed = self.deferred, self.free, self.handed
        while deferred:
            if self.idle:
                worker = self.idle.pop()
                self.waiting[worker] = None
            elif len(self.workers) < self.size:
                worker = self.new_worker(self)
                self.workers.append(worker)
                self.waiting[worker] = None
            elif self.waiting:
                worker = self.waiting.popitem()[0]
            else:
                break
            size = 1
            if self.task_seconds is not None:
                size = int(BATCH_SECONDS / max(self.task_seconds, 1e-9))
                size = max(1, min(size, MAX_BATCH, -(-len(deferred) // self.size)))
            batch: Batch = []
            for _ in range(size):
                key, payload = deferred.popitem(last=False)
                slot = free.pop()
                handed[key] = slot
                batch.append((key, slot, payload))
            self.items += 1
            taken.append((worker, batch))
        return taken

    def unpick(self, worker: Worker) -> None:
        """``worker`` got nothing of what :meth:`take` picked it for. O(1)."""
        self.items -= 1
        if worker.batches:
            self.waiting[worker] = None
        else:
            self.waiting.pop(worker, None)
            self.idle.append(worker)

    def release(self, batch: Batch) -> list[tuple[int, Key]]:
        """Give back a batch's cancel slots; its ``(index, key)`` not cancelled. O(len(batch))."""
        live: list[tuple[int, Key]] = []
        flags, free, handed = self.flags, self.free, self.handed
        for index, (key, slot, _) in enumerate(batch):
            if handed.get(key) == slot:
                del handed[key]
                live.append((index, key))
            flags[slot] = 0
            free.append(slot)
        return live

    def ended(self, worker: Worker, seconds: float | None) -> Batch:
        """``worker``'s running batch ended after ``seconds`` (None: unknown): its batch.

        Runtime complexity: O(1).
        """
        batch = worker.batches.popleft()
        self.items -= 1
        if worker.batches:  # its second batch runs now
            self.waiting[worker] = None
            worker.sent()
        else:
            self.waiting.pop(worker, None)
            self.idle.append(worker)
        if seconds is None:
            return batch
        per_task = seconds / len(batch)
        known = self.task_seconds
        self.task_seconds = per_task if known is None else (known + per_task) / 2
        return batch

    def stop(self) -> None:
        """Cancel everything handed, drop the deferred, ask each worker to end. O(tasks)."""
        self.lost = True
        self.deferred.clear()
        for slot in self.handed.values():
            self.flags[slot] = 1
        for worker in self.workers:
            worker.stop()
