"""A ``LocalEngine``'s one reader thread: every worker process's pipe and sentinel.

The thread waits on all of them at once (a :mod:`selectors` selector, so each
wake-up costs O(ready), not O(workers) as building the set anew would): an
outcome on a pipe goes to ``finished`` on this thread, which delivers the
completions (and the executor sends the next task to the freed worker from
there); end of file on a pipe, or a process's sentinel, goes to ``gone``. The
set of watched workers changes only on this thread: other threads queue the
change and wake it through a pipe of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import selectors
import threading
from collections.abc import Callable
from typing import Any

from runtime_alloc.executor.engines._local_pool import Pool, ProcessWorker
from runtime_alloc.executor.engines._local_worker import Outcomes

__all__ = ["Reader"]

_log = logging.getLogger("runtime_alloc.executor.engines.local")


class Reader:
    """Reads the outcomes of worker processes and sees them end; see the module."""

    def __init__(
        self,
        finished: Callable[[Pool, ProcessWorker, Outcomes | Exception], None],
        gone: Callable[[Pool, ProcessWorker], None],
    ) -> None:
        self._finished = finished
        self._gone = gone
        self._selector = selectors.DefaultSelector()
        self._wake_in, self._wake_out = os.pipe()
        os.set_blocking(self._wake_out, False)
        self._selector.register(self._wake_in, selectors.EVENT_READ, None)
        self._lock = threading.Lock()  # guards _added, _closing, _stopped and the wake-up pipe
        self._added: list[tuple[Pool, ProcessWorker]] = []
        self._closing = False
        self._stopped = False  # the thread has ended and closed its pipe
        self._watched: set[ProcessWorker] = set()  # the reader thread's own
        self.thread = threading.Thread(target=self._run, name="runtime-alloc-local", daemon=True)
        self.thread.start()

    def watch(self, pool: Pool, worker: ProcessWorker) -> None:
        """Watch ``worker`` from the reader's next wake-up on. O(1)."""
        with self._lock:
            self._added.append((pool, worker))
            self._wake()

    def close(self) -> None:
        """Stop the thread and join it (unless called on it). O(1)."""
        with self._lock:
            self._closing = True
            self._wake()
        if self.thread is not threading.current_thread():
            self.thread.join()

    def _wake(self) -> None:
        """Wake the thread (the caller holds ``_lock``); nothing once it has stopped."""
        if self._stopped:  # its pipe is closed (and the fd number may be reused)
            return
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
            os.write(self._wake_out, b"x")

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            # The loop may end (on _closing) before close() writes its wake-up: the pipe is
            # closed under the lock, and _wake, which runs under it, writes nothing after.
            with self._lock:
                self._stopped = True
                self._selector.close()
                os.close(self._wake_in)
                os.close(self._wake_out)

    def _loop(self) -> None:
        select, watched = self._selector.select, self._watched
        while True:
            for key, _ in select():
                if self._closing:
                    return  # closed from a completion of this round: its workers are gone
                data: Any = key.data
                if data is None:
                    if self._woken():
                        return
                    continue
                pool, worker, is_pipe = data
                if worker not in watched:  # its other end was ready in this same round
                    continue
                if is_pipe:
                    try:
                        messages = worker.frames.read(worker.fd)
                    except OSError:
                        messages = None
                    if messages is not None:
                        for message in messages:
                            self._deliver(pool, worker, message)
                        continue
                self._forget(worker)
                self._gone(pool, worker)

    def _deliver(self, pool: Pool, worker: ProcessWorker, message: bytes) -> None:
        """Unpickle a batch's outcomes and hand them on; never lets an error end the thread."""
        try:
            outcomes: Outcomes | Exception = pickle.loads(message)  # noqa: S301 (our worker's)
        except Exception as error:  # noqa: BLE001 (a result that cannot be unpickled here)
            outcomes = error  # fails the batch's tasks
        try:
            self._finished(pool, worker, outcomes)
        except Exception:  # noqa: BLE001 (a sink that raised: logged, as a done callback's error)
            _log.exception("LocalEngine: delivering a completion failed")

    def _woken(self) -> bool:
        """Apply the queued changes; True: stop."""
        os.read(self._wake_in, 4096)
        with self._lock:
            added, self._added = self._added, []
            closing = self._closing
        for pool, worker in added:
            self._watched.add(worker)
            self._selector.register(worker.fd, selectors.EVENT_READ, (pool, worker, True))
            self._selector.register(
                worker.process.sentinel, selectors.EVENT_READ, (pool, worker, False)
            )
        return closing

    def _forget(self, worker: ProcessWorker) -> None:
        self._watched.discard(worker)
        # (a process closed meanwhile has no sentinel to read: nothing left to unregister)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(worker.fd)
            self._selector.unregister(worker.process.sentinel)
