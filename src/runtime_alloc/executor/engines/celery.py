"""``CeleryEngine``: one Celery queue per runner (extra ``celery``).

Each runner is a Celery worker that consumes only its own queue and sends
events::

    celery -A proj worker -Q runner-1 -n runner-1@%h -E --concurrency 4

(``-E`` sends the task and heartbeat events the engine follows; the part of
the node name before ``@`` is the runner's name; give the worker at least as
many processes or threads as the runner has slots.) The engine:

* starts an attempt with ``payload.apply_async(task_id=..., queue=runner)``; a
  payload is a Celery signature (``add.s(2, 3)``) or a registered task name;
* turns ``task-started`` / ``task-succeeded`` / ``task-failed`` into executor
  events (``result`` is the event's text form of the return value; ``error``
  the exception's);
* reports a runner joined at its first ``worker-online`` or heartbeat (its
  capacity comes from ``runners``), left at ``worker-offline``, and lost when
  its heartbeats stop (a worker killed with SIGKILL sends nothing): after
  ``freq * 2`` seconds without one, Celery's own expiry rule
  (:func:`celery.events.state.heartbeat_expires`);
* cancels with ``revoke(terminate=True)`` (best effort).

With the default ``acks_late=False`` a killed worker's task is not redelivered
by the broker, so the executor's resubmission is the only retry.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from celery import Celery
from celery.events.state import heartbeat_expires

from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.executor.engine import EventSink
from runtime_alloc.executor.engines._catalogue import runner_catalogue
from runtime_alloc.executor.events import Event, RunnerJoined, RunnerLeft, TaskFinished, TaskStarted
from runtime_alloc.runners import Runner

__all__ = ["CeleryEngine", "runner_name"]


def runner_name(hostname: str) -> str:
    """The runner a Celery node name stands for: ``"runner-1@host"`` -> ``"runner-1"``.

    Runtime complexity: O(len(hostname)).
    """
    return hostname.split("@", 1)[0]


class CeleryEngine:
    """Runs tasks on Celery workers, one queue per runner.

    Args:
        app: the Celery application (its broker must carry events).
        runners: the capacity of each runner that may join, as Runner values,
            a name -> Runner mapping, or a function of the name (None ignores
            that worker).
        poll: how often (seconds) to look for expired heartbeats.

    Threading: events are delivered from the engine's receiver thread
    (tasks, joins, offline) and its monitor thread (expired heartbeats).
    """

    def __init__(
        self,
        app: Celery,
        runners: Iterable[Runner] | Mapping[str, Runner] | Callable[[str], Runner | None],
        *,
        poll: float = 0.5,
    ) -> None:
        self._catalogue = runner_catalogue(runners)
        if not poll > 0:
            msg = f"poll must be a positive number of seconds, got {poll!r}"
            raise InvalidArgumentError(msg)
        self.app = app
        self._poll = poll
        self._lock = threading.Lock()
        self._sink: EventSink | None = None
        self._attempts: dict[str, tuple[str, int]] = {}  # celery task id -> (task id, attempt)
        self._ids: dict[tuple[str, int], str] = {}
        self._expires: dict[str, float] = {}  # runner -> local time its heartbeats expire
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._receiver: Any = None
        self._ready = threading.Event()

    # ------------------------------------------------------------------ Engine

    def open(self, sink: EventSink) -> None:
        """Start listening to events (asking workers for a heartbeat at once). Waits up to 30 s.

        Cost: on the calling thread, two thread starts and a wait of at most 30 s for the receiver
        to be ready; the joins arrive later from the monitor thread.
        """
        self._sink = sink
        for target, name in ((self._receive, "receiver"), (self._monitor, "monitor")):
            thread = threading.Thread(
                target=target, name=f"runtime-alloc-celery-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._ready.wait(30)

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> None:  # noqa: ANN401
        """Send the attempt to the runner's queue. O(1) plus one publish."""
        celery_id = f"{task_id}~{attempt}~{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._attempts[celery_id] = (task_id, attempt)
            self._ids[(task_id, attempt)] = celery_id
        if isinstance(payload, str):
            self.app.send_task(payload, task_id=celery_id, queue=runner)
        elif hasattr(payload, "apply_async"):
            payload.apply_async(task_id=celery_id, queue=runner)
        else:
            msg = f"CeleryEngine payloads must be signatures or task names, got {payload!r}"
            raise InvalidArgumentError(msg)

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:  # noqa: ARG002
        """Revoke the attempt (terminating it where the pool allows). One broadcast.

        Cost: O(1) bookkeeping under the engine's lock, then one revoke broadcast on the calling
        thread (non-blocking: no reply is awaited).
        """
        with self._lock:
            celery_id = self._ids.pop((task_id, attempt), None)
            if celery_id is not None:
                self._attempts.pop(celery_id, None)
        if celery_id is not None:
            self.app.control.revoke(celery_id, terminate=True)

    def close(self) -> None:
        """Stop the receiver and monitor threads (within about a second). O(1)."""
        self._sink = None
        self._stop.set()
        receiver = self._receiver
        if receiver is not None:
            receiver.should_stop = True

    # ------------------------------------------------------------------ internals

    def _emit(self, event: Event) -> None:
        sink = self._sink
        if sink is not None:
            sink(event)

    def _receive(self) -> None:
        handlers = {"*": self._on_event}
        ready = self._ready

        class Receiver(self.app.events.Receiver):  # type: ignore[misc,name-defined]
            def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
                super().on_consume_ready(*args, **kwargs)  # asks workers for a heartbeat
                ready.set()  # consuming: every later event will be seen

        while not self._stop.is_set():
            try:
                with self.app.connection_for_read() as connection:
                    receiver = Receiver(connection, handlers=handlers)
                    self._receiver = receiver
                    receiver.should_stop = self._stop.is_set()
                    receiver.capture(limit=None, timeout=None, wakeup=True)
            except Exception:  # noqa: BLE001, PERF203 (broker unreachable: retry until closed)
                self._stop.wait(1.0)

    def _on_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type", "")
        if kind.startswith("worker-"):
            self._on_worker(kind, event)
            return
        with self._lock:
            key = self._attempts.get(event.get("uuid", ""))
            if key is not None and kind in ("task-succeeded", "task-failed"):
                del self._attempts[event["uuid"]]
                self._ids.pop(key, None)
        if key is None:
            return
        task_id, attempt = key
        if kind == "task-started":
            self._emit(TaskStarted(task_id, attempt))
        elif kind == "task-succeeded":
            self._emit(TaskFinished(task_id, attempt, "success", result=event.get("result")))
        elif kind == "task-failed":
            error = str(event.get("exception") or "failed")
            self._emit(TaskFinished(task_id, attempt, "failed", error=error))

    def _on_worker(self, kind: str, event: Mapping[str, Any]) -> None:
        name = runner_name(str(event.get("hostname", "")))
        if kind == "worker-offline":
            with self._lock:
                known = self._expires.pop(name, None) is not None
            if known:
                self._emit(RunnerLeft(name, lost=False, reason="worker-offline"))
            return
        freq = float(event.get("freq") or 2.0)
        with self._lock:
            new = name not in self._expires
            self._expires[name] = heartbeat_expires(time.time(), freq)
        if new:
            runner = self._catalogue(name)
            if runner is None:
                with self._lock:
                    del self._expires[name]
                return
            self._emit(RunnerJoined(runner))

    def _monitor(self) -> None:
        while not self._stop.wait(self._poll):
            now = time.time()
            with self._lock:
                expired = [name for name, at in self._expires.items() if at < now]
                for name in expired:
                    del self._expires[name]
            for name in expired:
                self._emit(RunnerLeft(name, lost=True, reason="heartbeats stopped"))
