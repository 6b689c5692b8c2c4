"""A ready Celery application whose workers can run ``runtime-alloc run`` workloads.

Start one worker per runner (the broker comes from ``RUNTIME_ALLOC_BROKER``,
default ``redis://127.0.0.1:6379/0``)::

    celery -A runtime_alloc.executor.engines.celery_app worker -Q r01 -n r01@%h -E -P threads -c 16

Its one task, ``runtime_alloc.sleep(seconds)``, stands for a task of the
workload that runs for ``seconds``.
"""

from __future__ import annotations

import os
import time

from celery import Celery

__all__ = ["app", "sleep"]

app = Celery(
    "runtime_alloc", broker=os.environ.get("RUNTIME_ALLOC_BROKER", "redis://127.0.0.1:6379/0")
)
app.conf.update(worker_prefetch_multiplier=1, task_acks_late=False)


@app.task(name="runtime_alloc.sleep")  # type: ignore[untyped-decorator]
def sleep(seconds: float) -> float:
    """Sleep ``seconds`` and return them.

    Cost: ``seconds`` of wall time on the worker; O(1) work.
    """
    time.sleep(seconds)
    return seconds
