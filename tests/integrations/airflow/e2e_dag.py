"""The DAG of test_end_to_end: tasks asking for different resources, one unschedulable.

Each task writes the runner it ran on (the worker's ``E2E_RUNNER``) and when, to ``$E2E_OUT/<task id>``.
Fleet (RUNTIME_ALLOC_RUNNERS): w1 cpu=2,memory=2GB,gpu=1; w2 cpu=4,memory=8GB.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pendulum
from airflow.sdk import dag, task


def _record(name: str) -> str:
    """Hold the task's resources for a second; write where and when it ran."""
    start = time.time()
    time.sleep(1)
    runner = os.environ["E2E_RUNNER"]
    record = {"runner": runner, "start": start, "end": time.time()}
    (Path(os.environ["E2E_OUT"]) / name).write_text(json.dumps(record))
    return runner


@dag(
    dag_id="runtime_alloc_e2e",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
)
def runtime_alloc_e2e() -> None:
    @task(executor_config={"runtime_alloc": {"cpu": "1", "memory": "512MB", "gpu": "1"}})
    def needs_gpu() -> str:
        return _record("needs_gpu")  # only w1 has a gpu

    @task(executor_config={"runtime_alloc": {"cpu": "1.5", "memory": "6GB", "slots": "2"}})
    def needs_memory() -> str:
        return _record("needs_memory")  # only w2 has 6GB

    @task(executor_config={"runtime_alloc": {"cpu": "1", "memory": "6GB"}})
    def needs_memory_too() -> str:
        return _record("needs_memory_too")  # w2 again: waits until needs_memory frees 6GB

    @task
    def default_request() -> str:
        return _record("default_request")  # 1 slot: either runner

    @task(executor_config={"runtime_alloc": {"cpu": "1", "memory": "64GB"}})
    def too_big() -> str:
        return _record("too_big")  # no runner has 64GB: fails before it starts

    @task(executor_config={"runtime_alloc": {"cpu": "500m"}}, retries=0)
    def fails() -> None:
        _record("fails")
        msg = "this task fails on purpose"
        raise RuntimeError(msg)

    needs_gpu()
    needs_memory()
    needs_memory_too()
    default_request()
    too_big()
    fails()


runtime_alloc_e2e()
