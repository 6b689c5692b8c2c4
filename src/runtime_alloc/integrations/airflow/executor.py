"""``RuntimeAllocExecutor``: the executor layer inside an Airflow 3 executor.

Enable it with ``AIRFLOW__CORE__EXECUTOR=runtime_alloc.integrations.airflow.RuntimeAllocExecutor``
(docs/airflow.md). Each heartbeat:

1. every workload not yet seen is read (:func:`request_of`); a bad request or a
   request no declared runner could ever hold fails that task at once, with the
   reason in the event buffer, the task's event log and its log file;
2. a task that fits a declared runner which is not online yet waits in
   ``queued_tasks``; every other one is submitted to a
   :class:`~runtime_alloc.executor.Executor`, which places it, queues it (it
   stays in Airflow's ``queued_tasks``) or fails it as unschedulable;
3. ``sync`` moves placed tasks to ``running`` and reports finished ones with
   ``success`` / ``fail``; the allocator's and the queue's figures go to
   Airflow's metrics (StatsD / OpenTelemetry, as Airflow is configured).

Engine events arrive on the engine's threads; Airflow's own structures
(``queued_tasks``, ``running``, the event buffer) are touched only by the
scheduler's thread, in ``_process_workloads`` and ``sync``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.configuration import conf
from airflow.executors.base_executor import PARALLELISM, BaseExecutor
from airflow.executors.workloads import ExecuteTask
from airflow.observability.stats import Stats

from runtime_alloc.allocator import Allocator
from runtime_alloc.errors import RuntimeAllocError
from runtime_alloc.executor import Engine, Executor, ExecutorMetrics, TaskHandle, TaskState
from runtime_alloc.executor.engines import LocalEngine
from runtime_alloc.integrations.airflow.config import CONFIG_KEYS, SECTION, ExecutorSettings
from runtime_alloc.integrations.airflow.run_workload import run_in_subprocess
from runtime_alloc.integrations.airflow.task_request import TaskRequest, request_of
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner

__all__ = ["RuntimeAllocExecutor"]

_METRIC_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_DEFAULT_CELERY_RUNNER = "slots=16"  # an undeclared Celery worker: 16 slots, as Astronomer's


class RuntimeAllocExecutor(BaseExecutor):  # type: ignore[misc]
    """Places each Airflow task on a runner with runtime_alloc, then runs it there.

    Args:
        parallelism: Airflow's ``[core] parallelism`` (tasks running at once).
        team_name: Airflow's multi-team name (unused).
        settings: the settings (default: :meth:`ExecutorSettings.load` from the
            environment and the ``[runtime_alloc]`` section).
        engine: the engine (default: from ``settings.mode``); tests pass their own.

    Attributes:
        core: the :class:`~runtime_alloc.executor.Executor` (after ``start``).
    """

    supports_ad_hoc_ti_run = True
    serve_logs = False

    def __init__(
        self,
        parallelism: int = PARALLELISM,
        team_name: str | None = None,
        *,
        settings: ExecutorSettings | None = None,
        engine: Engine | None = None,
    ) -> None:
        super().__init__(parallelism=parallelism, team_name=team_name)
        if settings is None:
            section = {key: self.conf.get(SECTION, key, fallback=None) for key in CONFIG_KEYS}
            settings = ExecutorSettings.load(os.environ, section)
        self.settings = settings
        self.is_local = settings.mode == "local"
        self._engine = engine
        self.core: Executor | None = None
        self._declared = {r.name: r for r in settings.runners}
        self._catalogue = Allocator(
            settings.runners,
            strategy=settings.strategy,
            backend="python",
            release_states=("probe",),  # the probe places and at once releases
        )
        self._ids: dict[Any, str] = {}  # TaskInstanceKey -> executor task id, until reported
        self._seq = 0
        self.failures: dict[Any, str] = {}  # TaskInstanceKey -> why it failed (kept 10 000)

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Open the engine (its runners join) and the executor layer.

        Cost: one :meth:`Executor.open` (the engine's connection wait, e.g. up to 30 s for Celery)
        with an empty allocator; O(1) work here.
        """
        engine = self._engine if self._engine is not None else self._make_engine()
        allocator = Allocator(strategy=self.settings.strategy)
        self.core = Executor(engine, allocator, max_retries=self.settings.max_retries).open()

    def end(self, synchronous: bool | None = None) -> None:
        """Close the executor layer, first waiting for every submitted task when ``synchronous``.

        Cost: one :meth:`sync` (O(tasks not yet reported)) and one :meth:`Executor.close`; when
        ``synchronous``, blocks until every task finished, syncing every 0.5 s.

        ``synchronous`` defaults to the local mode (whose task processes are
        children of this one); Celery runners go on with their tasks, as under
        the Celery executor.
        """
        if self.core is None:
            return
        if synchronous is None:
            synchronous = self.is_local
        while synchronous and self._ids:
            self.sync()
            if self._ids:
                time.sleep(0.5)
        self.sync()
        self.core.close()

    def terminate(self) -> None:
        """Cancel every unfinished task (best effort) and close the engine.

        Runtime complexity: one :meth:`Executor.cancel` per unfinished task (O(Q) each for a pending
        one, else O(dimensions) plus a scan), then one :meth:`sync` and the close.
        """
        if self.core is None:
            return
        for task_id in list(self._ids.values()):
            self.core.cancel(task_id)
        self.sync()
        self.core.close()

    # ------------------------------------------------------------------ workloads

    def trigger_tasks(self, open_slots: int) -> None:
        """Offer the queued workloads not submitted yet, highest priority first.

        Workloads already submitted stay in ``queued_tasks`` (queued in
        Airflow's sense) until the executor layer places them.

        Runtime complexity: O(Q log Q) for Q queued workloads.
        """
        fresh = [
            workload
            for key, workload in self.order_queued_tasks_by_priority()
            if key not in self._ids
        ]
        if fresh and open_slots > 0:
            self._process_workloads(fresh[:open_slots])

    def _process_workloads(self, workloads: Sequence[Any]) -> None:
        core = self._require_core()
        for workload in workloads:
            if not isinstance(workload, ExecuteTask):
                msg = f"{type(self).__name__} runs task workloads only, got {workload!r}"
                raise TypeError(msg)
            key = workload.ti.key
            if key in self._ids:
                continue
            self.attempts.pop(key, None)
            task_id = self._task_id(key)
            try:
                request = request_of(workload.ti)
                self._probe(task_id, request)
            except RuntimeAllocError as error:
                self._fail_now(key, workload, str(error))
                continue
            if not self._fits_online(core, request):
                continue  # waits for a declared runner that can hold it to come online
            try:
                handle = core.submit(
                    task_id,
                    self._payload(workload),
                    request.resources,
                    priority=request.priority,
                )
            except RuntimeAllocError as error:
                self._fail_now(key, workload, str(error))
                continue
            self._ids[key] = task_id
            if handle.state is TaskState.FAILED:
                self._ids.pop(key)
                self._fail_now(key, workload, handle.error or "unschedulable")
        self.sync()

    def sync(self) -> None:
        """Move placed tasks to ``running``; report finished ones. O(tasks not yet reported)."""
        core = self._require_core()
        for key, task_id in list(self._ids.items()):
            task = core.task(task_id)
            state = task.state
            if state in (TaskState.PLACED, TaskState.RUNNING):
                if self.queued_tasks.pop(key, None) is not None:
                    self.running.add(key)
                continue
            if state is TaskState.PENDING:
                continue
            del self._ids[key]
            self.queued_tasks.pop(key, None)
            self._report(key, task)

    def revoke_task(self, *, ti: Any) -> None:  # noqa: ANN401
        """Forget a task instance and cancel it on its runner; no event is reported.

        Runtime complexity: O(1) bookkeeping plus one :meth:`Executor.cancel` (O(Q) for a pending
        task, else O(dimensions) plus a scan).
        """
        key = ti.key
        self.queued_tasks.pop(key, None)
        self.running.discard(key)
        task_id = self._ids.pop(key, None)
        if task_id is not None and self.core is not None:
            self.core.cancel(task_id)

    # ------------------------------------------------------------------ metrics

    def metrics(self) -> ExecutorMetrics:
        """The executor layer's metrics (allocator, queue, waits, tasks by state).

        Runtime complexity: one :meth:`Executor.metrics`, O(N * dimensions + tasks + W log W) for W
        <= 10 000 recent waits.
        """
        return self._require_core().metrics()

    def _emit_metrics(self, open_slots: int, num_running_tasks: int, num_queued_tasks: int) -> None:
        super()._emit_metrics(open_slots, num_running_tasks, num_queued_tasks)
        if self.core is None:
            return
        metrics = self.core.metrics()
        Stats.gauge("runtime_alloc.queue_length", metrics.queue_length)
        Stats.gauge("runtime_alloc.tasks_running", metrics.allocator.tasks_running)
        Stats.gauge("runtime_alloc.runners", metrics.allocator.runners)
        for dim, usage in metrics.allocator.fleet.items():
            name = _metric(dim)
            Stats.gauge(f"runtime_alloc.reserved.{name}", usage.reserved)
            Stats.gauge(f"runtime_alloc.capacity.{name}", usage.capacity)
            Stats.gauge(f"runtime_alloc.utilization.{name}", usage.utilization)
        for runner in metrics.allocator.per_runner:
            Stats.gauge(f"runtime_alloc.runner.{_metric(runner.name)}.tasks", runner.tasks)
            for dim, usage in runner.usage.items():
                Stats.gauge(
                    f"runtime_alloc.runner.{_metric(runner.name)}.utilization.{_metric(dim)}",
                    usage.utilization,
                )

    # ------------------------------------------------------------------ internals

    def _require_core(self) -> Executor:
        if self.core is None:
            msg = f"{type(self).__name__}.start() was not called"
            raise RuntimeError(msg)
        return self.core

    def _make_engine(self) -> Engine:
        if self.settings.mode == "local":
            runners = self.settings.runners or (_local_runner(),)
            return LocalEngine(runners, pool="thread")
        from airflow.providers.celery.executors.celery_executor_utils import (  # noqa: PLC0415
            app,
        )

        from runtime_alloc.executor.engines.celery import CeleryEngine  # noqa: PLC0415

        if self._declared:
            return CeleryEngine(app, self._declared)
        return CeleryEngine(app, lambda name: Runner.parse(name, _DEFAULT_CELERY_RUNNER))

    def _payload(self, workload: Any) -> Any:  # noqa: ANN401
        text = workload.model_dump_json()
        if self.settings.mode == "local":
            return functools.partial(run_in_subprocess, text)
        from airflow.providers.celery.executors.celery_executor_utils import (  # noqa: PLC0415
            app,
        )

        from runtime_alloc.integrations.airflow.celery_tasks import TASK_NAME  # noqa: PLC0415

        return app.signature(TASK_NAME, args=(text,))

    def _task_id(self, key: Any) -> str:  # noqa: ANN401
        self._seq += 1
        index = "" if key.map_index < 0 else f"[{key.map_index}]"
        return f"{key.dag_id}.{key.task_id}{index}"[:200] + f"#{key.try_number}.{self._seq}"

    def _probe(self, task_id: str, request: TaskRequest) -> None:
        """Raise UnschedulableError when no declared runner could ever hold the request.

        The catalogue allocator holds the declared runners, always empty. O(N).
        """
        if not self._declared:
            return
        self._catalogue.allocate(task_id, request.resources)
        self._catalogue.release(task_id, "probe")

    def _fits_online(self, core: Executor, request: TaskRequest) -> bool:
        """True when a runner online could hold the request empty, or none is declared.

        Else a declared runner that can hold it (``_probe`` passed) is not online
        yet: the task waits in ``queued_tasks`` rather than fail. O(N).
        """
        if not self._declared:
            return True
        resources = request.resources or core.allocator.default_request
        return any(
            resources.fits_within(s.runner.capacity) for s in core.allocator.snapshot().runners
        )

    def _fail_now(self, key: Any, workload: Any, reason: str) -> None:  # noqa: ANN401
        message = f"runtime_alloc: task {key.task_id!r} cannot run: {reason}"
        self.log.error("%s (%s)", message, key)
        self.queued_tasks.pop(key, None)
        self._remember(key, reason)
        self.log_task_event(event="runtime_alloc failed", extra=message, ti_key=key)
        _append_to_task_log(getattr(workload, "log_path", None), message)
        Stats.incr("runtime_alloc.tasks.failed_before_start")
        self.fail(key, info=message)

    def _report(self, key: Any, task: TaskHandle) -> None:  # noqa: ANN401
        state = task.state
        Stats.incr(f"runtime_alloc.tasks.{state.value}")
        where = f"on runner {task.runner!r}" if task.runner else "before placement"
        if state is TaskState.SUCCESS:
            self.success(key, info=f"runtime_alloc: ran {where}")
            return
        reason = task.error or state.value
        self._remember(key, reason)
        self.fail(key, info=f"runtime_alloc: {state.value} {where}: {reason}")

    def _remember(self, key: Any, reason: str) -> None:  # noqa: ANN401
        if len(self.failures) >= 10_000:
            self.failures.pop(next(iter(self.failures)))
        self.failures[key] = reason


def _metric(name: str) -> str:
    return _METRIC_SAFE.sub("_", name)


def _local_runner() -> Runner:
    """This machine as one runner: its cores, its memory, 16 slots."""
    cores = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 0
    return Runner("local", Resources(cores * 1000, memory, 16))


def _append_to_task_log(log_path: object, message: str) -> None:
    """Best effort: add ``message`` to the task's log file when the log folder is local."""
    if not isinstance(log_path, str) or not log_path:
        return
    folder = conf.get("logging", "base_log_folder", fallback="")
    if not folder:
        return
    record: Mapping[str, str] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        "level": "error",
        "event": message,
        "logger": "runtime_alloc",
    }
    path = Path(folder) / log_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")
    except OSError:
        return
