"""``DaskEngine(comm_interval=...)``: the batching interval of Dask's four message streams.

Dask sends every message of a long-lived connection through a
``distributed.batched.BatchedSend`` that writes at most once per ``interval``
(seconds; distributed 2026.8.0 hard-codes 10 ms client -> scheduler, 5 ms
scheduler -> worker, 2 ms scheduler -> client and 2 ms worker -> scheduler).
An idle stream writes at once; a busy one waits out the interval. An
executor that holds at most a runner's slots in flight sends each next task
only after the last one's completion came back (worker -> scheduler ->
client -> scheduler -> worker), so with slots = worker threads every task
waits out up to four intervals. :class:`CommIntervals` sets the interval of:

* the engine's client's stream to the scheduler (``client.scheduler_comm``);
* the scheduler's stream to that client (``scheduler.client_comms[client.id]``)
  and to every worker (``scheduler.stream_comms``), through the scheduler plugin
  :class:`SchedulerCommIntervals` (``add_worker`` reaches workers that join later);
* every worker's stream to the scheduler (``worker.batched_stream``), through a
  worker plugin (:func:`worker_comm_intervals`) that the scheduler hands to
  workers that join later too.

:meth:`CommIntervals.restore` puts back each interval that still reads the
value set (one that something else changed since is left alone) and removes
both plugins. With ``streams="client"`` only the first two are set (the
engine's own client's streams; the scheduler plugin leaves the workers'
streams alone and no worker plugin is registered). What stays: a client that
reconnects gets Dask's default on its side, and a worker stream's original
value is only restored while that worker is up (a restarted worker starts with
Dask's defaults anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

from distributed import Client
from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

from runtime_alloc.errors import InvalidArgumentError, RuntimeAllocError
from runtime_alloc.executor.engines.dask_relay import remove_plugins

__all__ = [
    "COMM_STREAMS",
    "MAX_COMM_INTERVAL",
    "CommIntervals",
    "SchedulerCommIntervals",
    "UnsupportedDaskError",
    "check_comm_interval",
    "worker_comm_intervals",
]

MAX_COMM_INTERVAL = 1.0
"""The longest ``comm_interval`` accepted, in seconds (Dask's own are 2 to 10 ms)."""

COMM_STREAMS = ("all", "client")
"""``comm_streams`` values: the four streams, or only the engine's client's two."""


class UnsupportedDaskError(RuntimeAllocError, RuntimeError):
    """The installed distributed lacks a stream that ``comm_interval`` sets."""


def check_comm_interval(value: object) -> float | None:
    """``value`` as seconds (None stays None), or InvalidArgumentError. O(1)."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= MAX_COMM_INTERVAL
    ):
        msg = (
            f"comm_interval must be None or a number of seconds from 0 to "
            f"{MAX_COMM_INTERVAL:g}, got {value!r}"
        )
        raise InvalidArgumentError(msg)
    return float(value)


def check_comm_streams(value: object) -> str:
    """``value`` if it is one of :data:`COMM_STREAMS`, else InvalidArgumentError. O(1)."""
    if not isinstance(value, str) or value not in COMM_STREAMS:
        msg = f"comm_streams must be one of {', '.join(map(repr, COMM_STREAMS))}, got {value!r}"
        raise InvalidArgumentError(msg)
    return value


def _tunable(stream: Any) -> bool:  # noqa: ANN401
    """True when ``stream`` has a numeric ``interval`` (a BatchedSend). O(1)."""
    interval = getattr(stream, "interval", None)
    return not isinstance(interval, bool) and isinstance(interval, (int, float))


def _stream(owner: Any, attribute: str, where: str) -> Any:  # noqa: ANN401
    """``owner.<attribute>`` if it is a BatchedSend-like stream, else UnsupportedDaskError."""
    stream = getattr(owner, attribute, None)
    if not _tunable(stream):
        msg = (
            f"comm_interval: this version of distributed has no {where}.{attribute} with a "
            "numeric interval (written for distributed 2026.8.0); leave comm_interval None"
        )
        raise UnsupportedDaskError(msg)
    return stream


class SchedulerCommIntervals(SchedulerPlugin):  # type: ignore[misc]
    """Runs in the scheduler: sets the interval of its streams to the workers and one client."""

    idempotent = False

    def __init__(self, name: str, interval: float, client_id: str, *, workers: bool = True) -> None:
        self.name = name
        self.interval = interval
        self.client_id = client_id
        self.workers = workers  # False: the client's stream only
        self._saved: dict[str, tuple[Any, float]] = {}  # worker address or client id -> stream
        self._scheduler: Any = None

    async def start(self, scheduler: Any) -> None:  # noqa: ANN401
        """Check the streams exist; set those of the workers there and of the client. O(workers)."""
        for attribute in ("stream_comms", "client_comms"):
            if not isinstance(getattr(scheduler, attribute, None), dict):
                msg = f"comm_interval: this version of distributed has no Scheduler.{attribute}"
                raise UnsupportedDaskError(msg)
        self._scheduler = scheduler
        for address in list(scheduler.stream_comms):
            self.add_worker(scheduler, address)
        self._tune_client()

    def add_worker(self, scheduler: Any, worker: str) -> None:  # noqa: ANN401
        """Set the interval of the stream to a worker (made just before this hook). O(1)."""
        if self.workers:
            self._tune(worker, scheduler.stream_comms.get(worker))

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:  # noqa: ANN401, ARG002
        """Forget a worker's stream (it closes with the worker). O(1)."""
        self._saved.pop(worker, None)

    def add_client(self, scheduler: Any, client: str) -> None:  # noqa: ANN401, ARG002
        """The engine's client reconnected: set its new stream (made after this hook). O(1)."""
        if client == self.client_id:
            asyncio.get_running_loop().call_soon(self._tune_client)

    def _tune_client(self) -> None:
        self._tune(self.client_id, self._scheduler.client_comms.get(self.client_id))

    def _tune(self, key: str, stream: Any) -> None:  # noqa: ANN401
        if not _tunable(stream):
            return
        saved = self._saved.get(key)
        if saved is None or saved[0] is not stream:
            self._saved[key] = (stream, stream.interval)
        stream.interval = self.interval

    def restore(self) -> None:
        """Put back each interval that still reads the one set. O(workers)."""
        for stream, original in self._saved.values():
            if stream.interval == self.interval:
                stream.interval = original
        self._saved.clear()


def worker_comm_intervals(name: str, interval: float) -> WorkerPlugin:
    """A worker plugin setting ``worker.batched_stream.interval``; teardown restores it. O(1).

    The class is made here so that cloudpickle sends it by value: the workers need not
    import runtime_alloc. A worker without the stream raises in ``setup`` (at the engine's
    open, the open fails; a worker joining later logs it and keeps Dask's interval).
    """

    class WorkerCommIntervals(WorkerPlugin):  # type: ignore[misc]
        idempotent = False

        def __init__(self) -> None:
            self.name = name
            self.saved: tuple[Any, float] | None = None

        def setup(self, worker: Any) -> None:  # noqa: ANN401
            stream = getattr(worker, "batched_stream", None)
            original = getattr(stream, "interval", None)
            if isinstance(original, bool) or not isinstance(original, (int, float)):
                msg = "comm_interval: this version of distributed has no Worker.batched_stream"
                raise AttributeError(msg)  # noqa: TRY004 (a missing attribute)
            self.saved = (stream, original)
            stream.interval = interval  # type: ignore[union-attr]

        def teardown(self, worker: Any) -> None:  # noqa: ANN401, ARG002
            if self.saved is not None and self.saved[0].interval == interval:
                self.saved[0].interval = self.saved[1]
            self.saved = None

    return WorkerCommIntervals()


class CommIntervals:
    """Sets, then restores, the interval of the four streams that carry a client's tasks.

    Args:
        interval: seconds (checked by :func:`check_comm_interval`).
        name: a name unique to the engine (the plugins' names derive from it).
        streams: ``"all"`` (the four) or ``"client"`` (the client's stream to the
            scheduler and the scheduler's stream to the client only: no worker plugin).
    """

    def __init__(self, interval: float, name: str, streams: str = "all") -> None:
        self.interval = interval
        self.streams = check_comm_streams(streams)
        #: the name of both plugins (the scheduler keeps the two kinds apart)
        self.plugin = f"{name}-comm-intervals"
        self._client: tuple[Any, float] | None = None
        self._registered: list[str] = []  # "scheduler", "worker"

    def apply(self, client: Client) -> None:
        """Set the four intervals; on any error undo what was set and re-raise.

        Costs one scheduler plugin registration and, with ``streams="all"``, one worker
        plugin registration (a round trip to every worker): O(workers).
        """
        stream = _stream(client, "scheduler_comm", "Client")  # before anything changes
        self._client = (stream, stream.interval)
        stream.interval = self.interval
        try:
            workers = self.streams == "all"
            self._registered.append("scheduler")
            client.register_plugin(
                SchedulerCommIntervals(self.plugin, self.interval, client.id, workers=workers)
            )
            if workers:
                self._registered.append("worker")
                client.register_plugin(worker_comm_intervals(self.plugin, self.interval))
        except BaseException:
            self.restore(client)
            raise

    def restore(self, client: Client) -> None:
        """Put back the intervals and remove the plugins (best effort if the cluster is gone).

        Costs one round trip to the scheduler and, with ``streams="all"``, one to every
        worker: O(workers).
        """
        if self._client is not None:
            stream, original = self._client
            if stream.interval == self.interval:
                stream.interval = original
            self._client = None
        registered, self._registered = self._registered, []
        if client.status != "running":
            return
        if "worker" in registered:
            with contextlib.suppress(Exception):  # never registered, or a worker gone
                client.unregister_worker_plugin(self.plugin)
        if "scheduler" in registered:
            remove_plugins(client, [self.plugin])  # restore() runs there first
