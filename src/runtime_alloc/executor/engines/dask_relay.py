"""What ``DaskEngine`` runs inside the Dask cluster: the relaying task function and the plugin.

:func:`relaying` makes the function every task runs on a worker (the payload,
then its end logged to the engine's topic), :class:`PickledOnce` sends it
pickled once, and :class:`MembershipRelay` runs in the scheduler and relays
worker membership and task starts to the same topic (the scheduler must be
able to import ``runtime_alloc``; the workers need not). See
:mod:`.dask` for the engine that reads the topic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import cloudpickle  # a dependency of distributed
from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = [
    "KEY_PREFIX",
    "RELAYED_TEXT",
    "MembershipRelay",
    "PickledOnce",
    "relaying",
    "remove_plugins",
]

KEY_PREFIX = "runtime-alloc~"
"""Every key the engine submits starts with this."""

RELAYED_TEXT = 4096
"""The longest str or bytes result relayed with the completion (longer ones are fetched)."""


def relaying(topic: str) -> Callable[[Callable[[], Any]], Any]:
    """The function the engine submits: runs a payload on the worker, then relays its end.

    It logs ``{"op": "done", "key": ..., "result": ...}`` to ``topic`` before returning
    (``"failed"`` with the error's repr before re-raising), so the client learns of the
    end, and of a small scalar result, by the worker -> scheduler -> client path that
    reports the task finished, without a ``gather`` round trip. Any other result is
    marked ``"fetch"`` and gathered. Made in a closure so that cloudpickle sends it by
    value: the workers need not import runtime_alloc.
    """

    def run(payload: Callable[[], Any]) -> Any:  # noqa: ANN401
        from distributed import get_worker  # noqa: PLC0415 (runs on the worker)

        worker = get_worker()
        key = worker.get_current_task()
        try:
            result = payload()
        except Exception as error:
            worker.log_event(topic, {"op": "failed", "key": key, "error": repr(error)})
            raise
        kind = type(result)
        small = (
            result is None
            or kind is bool
            or kind is float
            or (kind is int and -(2**63) <= result < 2**64)
            or (kind in (str, bytes) and len(result) <= RELAYED_TEXT)
        )
        message = {"op": "done", "result": result} if small else {"op": "fetch"}
        worker.log_event(topic, message | {"key": key})
        return result

    return run


class PickledOnce:
    """A function that pickles as ``cloudpickle.loads(<its bytes, made once>)``.

    Dask pickles a task's function with every submit; the relaying closure
    goes by value (code, closure and globals: about 2 KB and tens of
    microseconds each time). Wrapped, it is pickled once, and each submit
    carries those bytes and a reference to ``cloudpickle.loads``, which every
    Dask worker has; the worker gets the plain function back.
    """

    __slots__ = ("function", "pickled")

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.pickled = cloudpickle.dumps(function)

    def __call__(self, *args: Any) -> Any:  # noqa: ANN401
        """Call the function (in this process). O(the function)."""
        return self.function(*args)

    def __reduce__(self) -> tuple[Callable[[bytes], Any], tuple[bytes]]:
        return cloudpickle.loads, (self.pickled,)


class MembershipRelay(SchedulerPlugin):  # type: ignore[misc]
    """Runs in the scheduler: relays membership and task starts to a log topic."""

    idempotent = False

    def __init__(self, topic: str, *, report_starts: bool = True) -> None:
        self.topic = topic
        self.report_starts = report_starts
        self.name = f"runtime-alloc-relay-{topic}"
        self._names: dict[str, str] = {}
        self._scheduler: Any = None

    async def start(self, scheduler: Any) -> None:  # noqa: ANN401
        """Remember the scheduler and announce the workers already there."""
        self._scheduler = scheduler
        for address, state in scheduler.workers.items():
            self._names[address] = str(state.name)

    def add_worker(self, scheduler: Any, worker: str) -> None:  # noqa: ANN401
        """Relay a worker that joined, with its name."""
        name = str(scheduler.workers[worker].name)
        self._names[worker] = name
        scheduler.log_event(self.topic, {"op": "add", "address": worker, "name": name})

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:  # noqa: ANN401
        """Relay a worker that left (died or was closed)."""
        name = self._names.pop(worker, None)
        if name is None and worker in scheduler.workers:
            name = str(scheduler.workers[worker].name)
        reason = str(kwargs.get("stimulus_id", ""))
        scheduler.log_event(
            self.topic, {"op": "remove", "address": worker, "name": name, "reason": reason}
        )

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401, ARG002
        """Relay that one of the engine's tasks started processing."""
        if not self.report_starts or finish != "processing":
            return
        if isinstance(key, str) and key.startswith(KEY_PREFIX):
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
    One round trip to the scheduler.
    """
    if client.status != "running":
        return
    with contextlib.suppress(Exception):  # the scheduler is gone: its plugins with it
        client.run_on_scheduler(_remove, names=names)
