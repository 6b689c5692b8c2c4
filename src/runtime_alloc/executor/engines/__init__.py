"""Engines for :class:`~runtime_alloc.executor.Executor`.

``LocalEngine`` needs only the standard library; ``CeleryEngine`` (extra
``celery``) is imported on first use, so this package imports without it.
"""

from __future__ import annotations

from typing import Any

from runtime_alloc.executor.engines.local import LocalEngine

__all__ = ["CeleryEngine", "LocalEngine"]


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name == "CeleryEngine":
        from runtime_alloc.executor.engines.celery import CeleryEngine  # noqa: PLC0415

        return CeleryEngine
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
