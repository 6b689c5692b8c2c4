"""The executor layer: a pending queue and engines that turn decisions into running tasks.

``Executor`` (the engine-agnostic core, attrs only) places submitted tasks with
an :class:`~runtime_alloc.Allocator`, queues what does not fit yet with bounded
backfill, follows runner membership and releases every reservation exactly once.
Engines run the tasks: :class:`~runtime_alloc.executor.engines.local.LocalEngine`
(no server), ``CeleryEngine`` (extra ``celery``) and ``DaskEngine`` (extra
``dask``) in :mod:`runtime_alloc.executor.engines`. See docs/executor.md.
"""

from runtime_alloc.executor.engine import Engine, EventSink
from runtime_alloc.executor.events import (
    COMPLETION_STATES,
    Event,
    RunnerJoined,
    RunnerLeft,
    TaskFinished,
    TaskStarted,
)
from runtime_alloc.executor.executor import Executor
from runtime_alloc.executor.metrics import ExecutorMetrics, WaitStats
from runtime_alloc.executor.queue import Outcome, PendingQueue
from runtime_alloc.executor.snapshot import ExecutorSnapshot, TaskRecord
from runtime_alloc.executor.tasks import TERMINAL_STATES, TaskHandle, TaskState, Transition

__all__ = [
    "COMPLETION_STATES",
    "TERMINAL_STATES",
    "Engine",
    "Event",
    "EventSink",
    "Executor",
    "ExecutorMetrics",
    "ExecutorSnapshot",
    "Outcome",
    "PendingQueue",
    "RunnerJoined",
    "RunnerLeft",
    "TaskFinished",
    "TaskHandle",
    "TaskRecord",
    "TaskStarted",
    "TaskState",
    "Transition",
    "WaitStats",
]
