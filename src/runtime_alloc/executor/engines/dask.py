"""``DaskEngine``: tasks pinned to Dask workers, one worker per runner (extra ``dask``).

Dask has no placement hook, and its own choice checks only a worker's
declared totals, not what is free; so the executor decides and the engine
pins: ``client.submit(CALL, payload, key=..., workers=[address],
allow_other_workers=False, pure=False)`` (``CALL(payload)`` runs
``payload()``; it pickles by reference, so a task costs what Dask's own
``client.submit(payload)`` does). A runner is a worker started with
``--name runner-1`` (give it at least as many threads as the runner has
slots). The engine:

* registers a :class:`MembershipRelay` scheduler plugin (it and the
  completion relay live in :mod:`.dask_relay`) that relays
  ``add_worker``, ``remove_worker`` and the ``processing`` transition of the
  engine's keys with ``scheduler.log_event(topic, ...)``, and a worker plugin
  (sent by value) that relays the end of each of the engine's tasks, with a
  small result, the same way; the client follows them with
  ``subscribe_topic`` (the scheduler must be able to import
  ``runtime_alloc``; the workers need not);
* maps a runner to its worker's current address by the worker's name, so a
  worker that comes back under a new address (a nanny restart) gets the new
  tasks, and reports the runner lost when its current address is removed;
* turns each future's end into ``TaskFinished`` (``result`` is the return
  value) and cancels the future of an evicted or cancelled attempt (a pinned
  task of a dead worker would wait in ``no-worker`` forever).

A payload is a callable run without arguments on the worker (cloudpickle:
lambdas and closures work; use :func:`functools.partial` for arguments).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from distributed import Client, Future

from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.executor.engine import EventSink
from runtime_alloc.executor.engines._catalogue import runner_catalogue
from runtime_alloc.executor.engines._dispatch import dispatch
from runtime_alloc.executor.engines.dask_comms import (
    CommIntervals,
    check_comm_interval,
    check_comm_streams,
)
from runtime_alloc.executor.engines.dask_relay import (
    CALL,
    KEY_PREFIX,
    MembershipRelay,
    completion_relay,
    remove_plugins,
)
from runtime_alloc.executor.events import Event, RunnerJoined, RunnerLeft, TaskFinished, TaskStarted
from runtime_alloc.runners import Runner

__all__ = ["KEY_PREFIX", "DaskEngine", "MembershipRelay"]

SWEEP = 0.2
"""Seconds between two looks at the open futures for an end that no relay reported."""


class DaskEngine:
    """Runs tasks on Dask workers, each pinned to the worker of its runner.

    Args:
        client: a connected :class:`distributed.Client` or a scheduler address.
        runners: the capacity of each runner that may join (by worker name),
            as Runner values, a name -> Runner mapping, or a function of the
            name (None ignores that worker).
        report_starts: relay each task's start (``running`` state); one more
            scheduler message per task, which costs throughput when few tasks
            run at once (docs/performance.md).
        comm_interval: None (the default) leaves Dask's batched comms as they
            are; else seconds (0 to 1) set as the batching interval of the four
            streams a task and its completion take: this client's to the
            scheduler, the scheduler's to this client and to every worker, and
            every worker's to the scheduler (workers that join later too).
            Dask's own intervals (10, 2, 5 and 2 ms in distributed 2026.8.0) are
            waited out on every hop of a busy stream, and a runner with as many
            slots as its worker has threads sends each next task only after a
            completion came back, so small values (0 to 1 ms) raise its
            throughput (docs/executor.md); bursts of many tasks at once are
            served a little slower (more, smaller writes). The scheduler -> worker and worker ->
            scheduler streams are the cluster's own: every client of those
            workers feels the change while the engine is open. ``close()``
            restores each interval that still reads the value set, and removes
            the plugins (see :mod:`.dask_comms`). A distributed without one of
            these streams makes ``open()`` raise (``UnsupportedDaskError``, a
            RuntimeError, from the client or scheduler; a worker's
            AttributeError), changing nothing.
        comm_streams: which streams ``comm_interval`` sets: ``"all"`` (the
            default: the four above) or ``"client"`` (this client's stream to the
            scheduler and the scheduler's stream to this client only: no other
            client of the cluster feels it; the workers' streams keep Dask's
            intervals, so a task still waits out those two).

    Threading: the relayed events (completions, starts, membership) are
    delivered on the client's event-loop thread, where they arrive: all those
    of one scheduler message in one batch. Events of the engine's own threads
    (results gathered, futures that ended without a relay) are delivered from
    one dispatcher thread of the engine, in batches too. The tasks the executor
    starts while it handles a delivery of either kind are sent when the
    delivery returns, in one ``client.map`` message per worker; a task started
    from any other thread (``submit``) is sent at once with ``client.submit``.
    """

    def __init__(
        self,
        client: Client | str,
        runners: Iterable[Runner] | Mapping[str, Runner] | Callable[[str], Runner | None],
        *,
        report_starts: bool = True,
        comm_interval: float | None = None,
        comm_streams: str = "all",
    ) -> None:
        self._comm_interval = check_comm_interval(comm_interval)
        self._comm_streams = check_comm_streams(comm_streams)
        self._catalogue = runner_catalogue(runners)
        if not isinstance(client, (Client, str)):
            msg = f"client must be a distributed.Client or a scheduler address, got {client!r}"
            raise InvalidArgumentError(msg)
        self._client_arg = client
        self.client: Client | None = client if isinstance(client, Client) else None
        self._topic = f"runtime-alloc-{uuid.uuid4().hex[:12]}"
        self._prefix = f"{KEY_PREFIX}{self._topic[-12:]}~"  # this engine's keys
        self._relay = MembershipRelay(self._topic, report_starts=report_starts, prefix=self._prefix)
        self._completions = completion_relay(f"{self._topic}-ends", self._topic, self._prefix)
        self._intervals: CommIntervals | None = None  # set by open() with comm_interval
        self._lock = threading.Lock()
        self._addresses: dict[str, str] = {}  # runner -> current worker address
        self._futures: dict[str, Future] = {}  # key -> future
        self._keys: dict[tuple[str, int], str] = {}
        self._attempts: dict[str, tuple[str, int]] = {}
        self._starts: dict[str, list[tuple[str, Any]]] = {}  # address -> sent after the delivery
        self._ended: dict[str, bool] = {}  # reported by the relay before its future was kept
        self._events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        # results to gather (relayed "fetch"); None stops the thread
        self._done: queue.SimpleQueue[tuple[Future, tuple[str, int]] | None] = queue.SimpleQueue()
        self._sink: EventSink | None = None
        self._thread: threading.Thread | None = None
        self._collecting = threading.local()  # .on: starts wait for the end of the delivery
        self._inbox: list[Event] = []  # relayed on the client's event loop, not yet delivered
        self._flush_due = False  # a _flush is scheduled on the client's event loop

    # ------------------------------------------------------------------ Engine

    def open(self, sink: EventSink) -> None:
        """Connect, set comm_interval, register the relay, report the workers there. O(workers)."""
        if self.client is None:
            self.client = Client(self._client_arg, set_as_default=False)
        client = self.client
        if self._comm_interval is not None:
            intervals = CommIntervals(self._comm_interval, self._topic, self._comm_streams)
            try:
                intervals.apply(client)  # undoes itself if it raises
            except BaseException:
                if not isinstance(self._client_arg, Client):
                    client.close()
                    self.client = None
                raise
            self._intervals = intervals
        self._sink = sink
        self._thread = threading.Thread(
            target=self._dispatch, name="runtime-alloc-dask-engine", daemon=True
        )
        self._thread.start()
        threading.Thread(target=self._fetch, name="runtime-alloc-dask-results", daemon=True).start()
        try:
            client.subscribe_topic(self._topic, self._on_relay)
            client.register_plugin(self._relay)
            client.register_plugin(self._completions)  # on every worker, and those joining later
            workers = client.scheduler_info(n_workers=-1)["workers"]
        except BaseException:
            self.close()  # removes what was registered, restores the intervals
            if not isinstance(self._client_arg, Client):
                self.client = None
            raise
        for address, info in workers.items():
            self._on_member(str(info.get("name", address)), address, self._events.put)

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> None:  # noqa: ANN401
        """Submit the attempt pinned to the runner's current worker. O(1) plus one message.

        Inside a delivery of the engine (the executor starting the next tasks as it
        handles completions, on the client's event loop or the engine's dispatcher
        thread), the attempt is sent after the delivery, with the others started in it,
        in one message per runner (``client.map``).
        """
        if not callable(payload):
            msg = f"DaskEngine payloads must be callables, got {payload!r}"
            raise InvalidArgumentError(msg)
        client = self.client
        assert client is not None  # noqa: S101 (open() ran)
        key = f"{self._prefix}{task_id}~{attempt}~{uuid.uuid4().hex[:8]}"
        with self._lock:
            address = self._addresses.get(runner)
            if address is None:
                return  # the worker is gone; its RunnerLeft evicts the task
            self._keys[(task_id, attempt)] = key
            self._attempts[key] = (task_id, attempt)
            if getattr(self._collecting, "on", False):  # inside a delivery of the engine
                self._starts.setdefault(address, []).append((key, payload))
                return
        future = client.submit(
            CALL, payload, key=key, workers=[address], allow_other_workers=False, pure=False
        )
        self._keep([key], [future])

    def _send_starts(self) -> None:
        """Send the attempts started during a delivery: one ``client.map`` per worker."""
        with self._lock:
            starts, self._starts = self._starts, {}
            attempts = self._attempts  # without the ones cancelled meanwhile
            starts = {a: [(k, p) for k, p in items if k in attempts] for a, items in starts.items()}
        client = self.client
        for address, items in starts.items():
            if not items:
                continue
            keys = [key for key, _ in items]
            try:
                futures = client.map(  # type: ignore[union-attr]
                    CALL,
                    [payload for _, payload in items],
                    key=keys,
                    workers=[address],
                    allow_other_workers=False,
                    pure=False,
                )
            except Exception as error:  # noqa: BLE001 (as a failed start: the attempts fail)
                self._not_sent(keys, error)
                continue
            self._keep(keys, futures)

    def _not_sent(self, keys: list[str], error: Exception) -> None:
        """Report attempts whose sending raised as failed, as ``start`` raising would."""
        with self._lock:
            attempts = [self._forget(key)[0] for key in keys]
        reason = f"engine could not start the task: {error!r}"
        for attempt in attempts:
            if attempt is not None:
                self._events.put(TaskFinished(*attempt, "failed", error=reason))

    def _keep(self, keys: list[str], futures: list[Future]) -> None:
        """Keep each submitted future until its end is reported; cancel the cancelled ones."""
        dropped = []
        with self._lock:
            for key, future in zip(keys, futures, strict=True):
                if key in self._attempts:
                    self._futures[key] = future  # its end comes by the relay (or the sweep)
                elif self._ended.pop(key, False) is False:
                    dropped.append(future)  # cancelled meanwhile (ended ones just go)
        _cancel(dropped)

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:  # noqa: ARG002
        """Cancel the attempt's future (a pinned task of a dead worker would wait forever). O(1)."""
        with self._lock:
            key = self._keys.pop((task_id, attempt), None)
            self._attempts.pop(key or "", None)
            future = self._futures.pop(key or "", None)
        if future is not None:
            _cancel([future])

    def close(self) -> None:
        """Stop the dispatcher, cancel open futures, remove the plugins, close a client it made.

        Restores the intervals ``comm_interval`` set. O(tasks + workers).
        """
        self._sink = None
        self._events.put(None)
        self._done.put(None)
        with self._lock:
            futures = list(self._futures.values())
            self._futures.clear()
        client = self.client
        if client is not None:
            _cancel(futures)
            intervals, self._intervals = self._intervals, None
            if intervals is not None:
                intervals.restore(client)
            if client.status == "running":
                with contextlib.suppress(Exception):  # never subscribed (a failed open)
                    client.unsubscribe_topic(self._topic)
                with contextlib.suppress(Exception):  # a worker gone, or never registered
                    client.unregister_worker_plugin(self._completions.name)
            remove_plugins(client, [self._relay.name])
            if not isinstance(self._client_arg, Client):
                client.close()

    # ------------------------------------------------------------------ internals

    def _on_relay(self, event: tuple[float, Mapping[str, Any]]) -> None:
        message = event[1]
        op = message.get("op")
        if op == "add":
            self._on_member(str(message["name"]), str(message["address"]), self._relayed)
        elif op == "remove":
            name = message.get("name")
            with self._lock:
                current = name is not None and self._addresses.get(name) == message["address"]
                if current:
                    del self._addresses[str(name)]
            if current:
                reason = f"worker removed ({message.get('reason') or 'unknown'})"
                self._relayed(RunnerLeft(str(name), lost=True, reason=reason))
        elif op == "processing":
            with self._lock:
                attempt = self._attempts.get(str(message["key"]))
            if attempt is not None:
                self._relayed(TaskStarted(*attempt))
        elif op in ("done", "failed", "fetch"):  # relayed by the worker as the task ended
            key = str(message["key"])
            with self._lock:
                attempt, future = self._forget(key)
                if attempt is not None and future is None:  # not yet kept: _keep drops it
                    self._ended[key] = True
            if attempt is None:
                return  # cancelled, or the sweep reported it
            if op == "done":  # the future is dropped: the worker releases the result
                self._relayed(TaskFinished(*attempt, "success", result=message.get("result")))
            elif op == "failed":
                self._relayed(TaskFinished(*attempt, "failed", error=str(message["error"])))
            else:
                self._done.put((future or Future(key, self.client), attempt))

    def _forget(self, key: str) -> tuple[tuple[str, int] | None, Future | None]:
        """Drop an attempt's key from every map (the caller holds the lock). O(1).

        Returns the attempt it named (None: cancelled or reported already) and its
        future (None: not kept yet).
        """
        attempt = self._attempts.pop(key, None)
        future = self._futures.pop(key, None)
        if attempt is not None:
            self._keys.pop(attempt, None)
        return attempt, future

    def _on_member(self, name: str, address: str, emit: Callable[[Event], None]) -> None:
        runner = self._catalogue(name)
        if runner is None:
            return
        with self._lock:
            new = name not in self._addresses
            self._addresses[name] = address  # a restarted worker: the new address wins
        if new:
            emit(RunnerJoined(runner))

    def _sweep(self) -> list[tuple[Future, tuple[str, int]]]:
        """Take the open futures that ended without a relay. O(open futures).

        An error before the payload ran ends a future without a relay; a relay still on
        its way finds the attempt taken and reports nothing.
        """
        ended = []
        with self._lock:
            for key, future in list(self._futures.items()):
                if future.status in ("finished", "error"):
                    attempt, _ = self._forget(key)
                    if attempt is not None:
                        ended.append((future, attempt))
        return ended

    def _fetch(self) -> None:
        """Gather the results not relayed, in batches (one gather per batch), and sweep."""
        swept = time.monotonic()
        while True:
            batch: list[tuple[Future, tuple[str, int]]] = []
            try:
                item = self._done.get(timeout=SWEEP)
                while item is not None:
                    batch.append(item)
                    if len(batch) >= 1024:
                        break
                    item = self._done.get_nowait()
            except queue.Empty:
                pass
            else:
                if item is None:
                    return
            if time.monotonic() - swept >= SWEEP:
                swept = time.monotonic()
                batch.extend(self._sweep())
            if batch:
                self._report(batch)

    def _report(self, batch: list[tuple[Future, tuple[str, int]]]) -> None:
        """Turn ended futures into events: gather the finished ones' results at once."""
        # a relayed "fetch" may come before its future learns it finished: gather waits
        finished = [(f, a) for f, a in batch if f.status != "error"]
        try:
            results = self.client.gather([f for f, _ in finished]) if finished else []  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 (a result lost with its worker: fetch one by one)
            results = None
        for index, (future, attempt) in enumerate(finished):
            if results is not None:
                self._events.put(TaskFinished(*attempt, "success", result=results[index]))
                continue
            try:
                value = future.result()
            except Exception:  # noqa: BLE001, S112 (its worker died: RunnerLeft resubmits it)
                continue
            self._events.put(TaskFinished(*attempt, "success", result=value))
        for future, attempt in batch:
            if future.status != "error":
                continue
            error = future.exception()
            if type(error).__name__ == "KilledWorker":
                continue  # the worker died: its RunnerLeft resubmits the task
            self._events.put(TaskFinished(*attempt, "failed", error=repr(error)))

    def _relayed(self, event: Event) -> None:
        """Queue a relayed event for delivery on the client's event loop (where relays arrive).

        Every relay read from one message of the scheduler is delivered as one batch, by
        one ``_flush`` scheduled after them: no hop to another thread. O(1).
        """
        self._inbox.append(event)
        if not self._flush_due:
            self._flush_due = True
            self.client.loop.add_callback(self._flush)  # type: ignore[union-attr]

    def _flush(self) -> None:
        """On the client's event loop: deliver the relayed events, then send the starts."""
        self._flush_due = False
        batch, self._inbox = self._inbox, []
        sink = self._sink
        if not batch or sink is None:
            return
        self._collecting.on = True
        try:
            sink(batch)
        finally:
            self._collecting.on = False
        self._send_starts()

    def _dispatch(self) -> None:
        self._collecting.on = True  # this thread's deliveries send their starts after them
        dispatch(self._events, lambda: self._sink, self._send_starts)


_CANCELLING: set[asyncio.Future[Any]] = set()  # kept until done (the loop holds weak refs)


def _cancel(futures: Iterable[Future]) -> None:
    """Cancel futures from any thread (on the client's event loop, cancel is a coroutine)."""
    for future in futures:
        pending = future.cancel()
        if inspect.isawaitable(pending):
            task = asyncio.ensure_future(pending)
            _CANCELLING.add(task)
            task.add_done_callback(_CANCELLING.discard)
