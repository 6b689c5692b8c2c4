"""The Celery application of the integration tests (workers import it with ``-A``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery

app = Celery("runtime_alloc_tests", broker=os.environ.get("RUNTIME_ALLOC_TEST_BROKER", "memory://"))
app.conf.update(
    worker_prefetch_multiplier=1,
    task_acks_late=False,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="tests.pid_after")
def pid_after(seconds: float = 0.0, marker: str | None = None) -> int:
    """Sleep, then return the worker's pid; touch ``marker`` (with the pid) first."""
    if marker:
        Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


@app.task(name="tests.fail")
def fail(message: str = "boom") -> None:
    raise ValueError(message)
