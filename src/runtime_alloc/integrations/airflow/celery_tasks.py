"""The Celery task the executor sends to a runner's queue: ``runtime_alloc.execute_workload``.

Registered with ``shared_task`` on every Celery app, so Airflow's own worker
(``airflow celery worker``) runs it once this module is imported, which the
``imports`` of :data:`~runtime_alloc.integrations.airflow.celery_config.CELERY_CONFIG`
does. It differs from the provider's ``execute_workload`` in one way: a
non-zero exit code of the task supervisor (the task process could not run or
was killed) raises, so the worker's ``task-failed`` event carries it (see
:mod:`~runtime_alloc.integrations.airflow.run_workload`).
"""

from __future__ import annotations

from celery import shared_task

from runtime_alloc.integrations.airflow.run_workload import run_workload_json

__all__ = ["TASK_NAME", "execute_workload"]

TASK_NAME = "runtime_alloc.execute_workload"


@shared_task(name=TASK_NAME)  # type: ignore[untyped-decorator]
def execute_workload(workload_json: str) -> int:
    """Run the serialized ``ExecuteTask``; raise when its supervisor exits non-zero.

    Cost: blocks the Celery worker for the whole task (one :func:`run_workload_json`); O(1) work
    here.

    Raises:
        RuntimeError: the exit code is in the message.
    """
    code = run_workload_json(workload_json)
    if code != 0:
        msg = f"the Airflow task process exited with code {code}"
        raise RuntimeError(msg)
    return code
