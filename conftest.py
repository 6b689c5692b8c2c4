"""Root pytest configuration: skip the doctests of modules whose optional extra is missing."""

from __future__ import annotations

import importlib.util

_EXTRA_MODULES = {
    "celery": [
        "src/runtime_alloc/executor/engines/celery.py",
        "src/runtime_alloc/executor/engines/celery_app.py",
        "tests/executor/celery_app.py",
    ],
    "distributed": ["src/runtime_alloc/executor/engines/dask.py"],
    "opentelemetry": ["src/runtime_alloc/otel.py"],
    "airflow": [
        "src/runtime_alloc/integrations/airflow/executor.py",
        "src/runtime_alloc/integrations/airflow/celery_tasks.py",
        "src/runtime_alloc/integrations/airflow/celery_config.py",
    ],
}

collect_ignore = [
    path
    for library, paths in _EXTRA_MODULES.items()
    if importlib.util.find_spec(library) is None
    for path in paths
]
