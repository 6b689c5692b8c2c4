"""What ``DaskEngine`` runs inside the Dask cluster: two plugins that relay to its topic.

Every task is ``CALL(payload)`` (:data:`CALL`). :func:`completion_relay` makes
the worker plugin that logs each task's end (with a small result) to the
engine's topic, and :class:`MembershipRelay` runs in the scheduler and relays
worker membership and task starts to the same topic (the scheduler must be
able to import ``runtime_alloc``; the workers need not). See :mod:`.dask` for
the engine that reads the topic.
"""

from __future__ import annotations

import contextlib
import operator
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

__all__ = [
    "CALL",
    "KEY_PREFIX",
    "RELAYED_TEXT",
    "MembershipRelay",
    "completion_relay",
    "remove_plugins",
]

KEY_PREFIX = "runtime-alloc~"
"""Every key the engine submits starts with this."""

RELAYED_TEXT = 4096
"""The longest str or bytes result relayed with the completion (longer ones are fetched)."""


CALL = operator.methodcaller("__call__")
"""The function of every task the engine submits: ``CALL(payload)`` runs ``payload()``.

It pickles by reference to :mod:`operator` (a few bytes, plain pickle everywhere), so a
task costs the scheduler and the workers what Dask's own ``client.submit(payload)`` does.
"""


def completion_relay(name: str, topic: str, prefix: str) -> WorkerPlugin:
    """A worker plugin that relays the end of each task whose key starts with ``prefix``.

    Its ``transition`` hook (distributed's public ``WorkerPlugin.transition``) sees a task
    leave ``executing`` (or ``long-running``) and logs to ``topic``: ``{"op": "done", "key":
    ..., "result": ...}`` with a small scalar result (None, bool, float, a 64-bit int, str
    or bytes up to :data:`RELAYED_TEXT`), ``"fetch"`` for any other result (the engine
    gathers it), ``"failed"`` with the exception's repr. The log rides the worker ->
    scheduler message that reports the task finished, so the client learns of the end,
    and of a small result, without a ``gather`` round trip. The class is made here so that
    cloudpickle sends it by value: the workers need not import runtime_alloc.
    Cost per task: O(1), plus one ``sizeof``-free look at a small result.
    """

    class CompletionRelay(WorkerPlugin):  # type: ignore[misc]
        idempotent = False

        def __init__(self) -> None:
            self.name = name
            self.worker: Any = None

        def setup(self, worker: Any) -> None:  # noqa: ANN401
            self.worker = worker

        def teardown(self, worker: Any) -> None:  # noqa: ANN401, ARG002
            self.worker = None

        def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:  # noqa: ANN401, ARG002
            if (
                start not in ("executing", "long-running")
                or finish not in ("memory", "error")
                or not isinstance(key, str)
                or not key.startswith(prefix)
                or self.worker is None
            ):
                return
            worker = self.worker
            if finish == "error":
                task = worker.state.tasks.get(key)
                error = getattr(task, "exception_text", "") or "unknown error"
                worker.log_event(topic, {"op": "failed", "key": key, "error": error})
                return
            message: dict[str, Any] = {"op": "fetch", "key": key}
            task = worker.state.tasks.get(key)
            if task is not None and task.nbytes is not None and task.nbytes <= RELAYED_TEXT + 64:
                result = worker.data.get(key)
                kind = type(result)
                if (
                    result is None
                    or kind is bool
                    or kind is float
                    or (kind is int and -(2**63) <= result < 2**64)
                    or (kind in (str, bytes) and len(result) <= RELAYED_TEXT)
                ):
                    message = {"op": "done", "key": key, "result": result}
            worker.log_event(topic, message)

    return CompletionRelay()


class MembershipRelay(SchedulerPlugin):  # type: ignore[misc]
    """Runs in the scheduler: relays membership and task starts to a log topic.

    Args:
        topic: the log topic.
        report_starts: relay the ``processing`` transition of the keys starting with
            ``prefix`` (the engine's keys).
        prefix: see ``report_starts``.
    """

    idempotent = False

    def __init__(self, topic: str, *, report_starts: bool = True, prefix: str = KEY_PREFIX) -> None:
        self.topic = topic
        self.report_starts = report_starts
        self.prefix = prefix
        self.name = f"runtime-alloc-relay-{topic}"
        self._names: dict[str, str] = {}
        self._scheduler: Any = None

    async def start(self, scheduler: Any) -> None:  # noqa: ANN401
        """Remember the scheduler and the names of the workers already there. O(workers)."""
        self._scheduler = scheduler
        for address, state in scheduler.workers.items():
            self._names[address] = str(state.name)

    def add_worker(self, scheduler: Any, worker: str) -> None:  # noqa: ANN401
        """Relay a worker that joined, with its name. O(1)."""
        name = str(scheduler.workers[worker].name)
        self._names[worker] = name
        scheduler.log_event(self.topic, {"op": "add", "address": worker, "name": name})

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:  # noqa: ANN401
        """Relay a worker that left (died or was closed). O(1)."""
        name = self._names.pop(worker, None)
        if name is None and worker in scheduler.workers:
            name = str(scheduler.workers[worker].name)
        reason = str(kwargs.get("stimulus_id", ""))
        scheduler.log_event(
            self.topic, {"op": "remove", "address": worker, "name": name, "reason": reason}
        )

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401, ARG002
        """Relay that one of the engine's tasks started processing. O(1) per transition."""
        if not self.report_starts or finish != "processing":
            return
        if isinstance(key, str) and key.startswith(self.prefix):
            self._scheduler.log_event(self.topic, {"op": "processing", "key": key})


def _remove(dask_scheduler: Any, names: list[str]) -> None:  # noqa: ANN401
    """Run on the scheduler: remove the named plugins, calling a plugin's ``restore()`` first."""
    for name in names:
        plugin = dask_scheduler.plugins.pop(name, None)
        restore = getattr(plugin, "restore", None)
        if callable(restore):
            restore()


def remove_plugins(client: Any, names: list[str]) -> None:  # noqa: ANN401
    """Remove scheduler plugins by name (``unregister_scheduler_plugin`` calls no hook).

    Best effort: nothing is done if the client is not running or the scheduler is gone.
    Costs one round trip to the scheduler, O(names) there.
    """
    if client.status != "running":
        return
    with contextlib.suppress(Exception):  # the scheduler is gone: its plugins with it
        client.run_on_scheduler(_remove, names=names)
