"""Engines for :class:`~runtime_alloc.executor.Executor`.

``LocalEngine`` needs only the standard library; ``CeleryEngine`` (extra
``celery``) and ``DaskEngine`` (extra ``dask``) are imported on first use, so
this package imports without them.
"""

from __future__ import annotations

from typing import Any

from runtime_alloc.executor.engines.local import LocalEngine

__all__ = ["CeleryEngine", "DaskEngine", "LocalEngine"]


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name == "CeleryEngine":
        from runtime_alloc.executor.engines.celery import CeleryEngine  # noqa: PLC0415

        return CeleryEngine
    if name == "DaskEngine":
        from runtime_alloc.executor.engines.dask import DaskEngine  # noqa: PLC0415

        return DaskEngine
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
