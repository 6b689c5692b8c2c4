"""Helpers of the Airflow tests: hand-built workloads and an engine the test drives.

Airflow reads its settings at import, so AIRFLOW_HOME points at a temporary
folder before anything imports it (the fast tests never touch a database).
Each test module skips itself when Airflow is not installed.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="runtime-alloc-airflow-"))
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "runtime-alloc-tests-" + uuid.uuid4().hex)

from runtime_alloc.executor import RunnerJoined, RunnerLeft, TaskFinished, TaskStarted
from runtime_alloc.runners import Runner

collect_ignore = ["e2e_dag.py"]  # a DAG file for the end-to-end test, not a test module


class DrivenEngine:
    """An engine whose runners join on open and whose tasks end when the test says."""

    def __init__(self, runners: list[Runner]) -> None:
        self.runners = runners
        self.started: dict[str, tuple[int, str, Any]] = {}  # task id -> (attempt, runner, payload)
        self.cancelled: list[str] = []
        self.sink: Any = None

    def open(self, sink: Any) -> None:
        self.sink = sink
        for runner in self.runners:
            sink(RunnerJoined(runner))

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> None:
        self.started[task_id] = (attempt, runner, payload)

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:
        self.cancelled.append(task_id)

    def close(self) -> None:
        self.sink = None

    # driven by the test
    def join(self, runner: Runner) -> None:
        self.sink(RunnerJoined(runner))

    def lose(self, name: str) -> None:
        self.sink(RunnerLeft(name, lost=True, reason="heartbeats stopped"))

    def finish(self, task_id: str, state: str = "success", error: str | None = None) -> None:
        attempt = self.started[task_id][0]
        self.sink(TaskStarted(task_id, attempt))
        self.sink(TaskFinished(task_id, attempt, state, error=error))

    def runner_of(self, task_id: str) -> str:
        return self.started[task_id][1]


def make_workload(
    task_id: str,
    config: dict[str, Any] | None = None,
    *,
    priority: int = 1,
    dag_id: str = "dag",
    try_number: int = 1,
) -> Any:
    from airflow.executors.workloads import BundleInfo, ExecuteTask, TaskInstanceDTO

    ti = TaskInstanceDTO(
        id=uuid.uuid4(),
        task_id=task_id,
        dag_id=dag_id,
        run_id="manual__2026-01-01T00:00:00+00:00",
        try_number=try_number,
        dag_version_id=uuid.uuid4(),
        pool_slots=1,
        priority_weight=priority,
        executor_config=config,
    )
    return ExecuteTask(
        ti=ti,
        dag_rel_path="dag.py",
        token="not-a-token",  # noqa: S106 (never sent: no API server)
        bundle_info=BundleInfo(name="dags-folder"),
        log_path=f"dag_id={dag_id}/{task_id}/attempt={try_number}.log",
    )


def request(**spec: Any) -> dict[str, Any]:
    return {"runtime_alloc": spec}
