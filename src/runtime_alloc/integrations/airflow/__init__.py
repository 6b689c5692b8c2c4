"""Airflow 3 integration (extra ``airflow``): ``RuntimeAllocExecutor`` replaces the Celery executor.

Enable it with::

    AIRFLOW__CORE__EXECUTOR=runtime_alloc.integrations.airflow.RuntimeAllocExecutor

Tasks ask for resources with ``executor_config={"runtime_alloc": {...}}``
(:mod:`~runtime_alloc.integrations.airflow.task_request`); runners and the
strategy come from :mod:`~runtime_alloc.integrations.airflow.config`. See
docs/airflow.md. ``task_request`` and ``config`` import without Airflow; the
executor is imported on first use of ``RuntimeAllocExecutor``.
"""

from __future__ import annotations

from typing import Any

from runtime_alloc.integrations.airflow.config import ExecutorSettings, parse_runners
from runtime_alloc.integrations.airflow.task_request import (
    TaskRequest,
    executor_config,
    request_of,
    task_request,
)

__all__ = [
    "ExecutorSettings",
    "RuntimeAllocExecutor",
    "TaskRequest",
    "executor_config",
    "parse_runners",
    "request_of",
    "task_request",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name == "RuntimeAllocExecutor":
        from runtime_alloc.integrations.airflow.executor import (  # noqa: PLC0415
            RuntimeAllocExecutor,
        )

        return RuntimeAllocExecutor
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
