"""The Celery configuration of the scheduler and of every runner (worker).

Point Airflow at it on the scheduler and on the workers::

    AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=runtime_alloc.integrations.airflow.celery_config.CELERY_CONFIG

It is Airflow's ``DEFAULT_CELERY_CONFIG`` with the changes the executor needs:
workers send task and heartbeat events (membership and completions come from
them, as for :class:`~runtime_alloc.executor.engines.CeleryEngine`), import the
``runtime_alloc.execute_workload`` task, prefetch one message, acknowledge
early (the executor, not the broker, resubmits the tasks of a lost worker) and
store no results (the events carry them).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

__all__ = ["CELERY_CONFIG"]

CELERY_CONFIG: dict[str, Any] = {
    **DEFAULT_CELERY_CONFIG,
    "worker_send_task_events": True,
    "imports": ("runtime_alloc.integrations.airflow.celery_tasks",),
    "worker_prefetch_multiplier": 1,
    "task_acks_late": False,
    "task_ignore_result": True,
}
