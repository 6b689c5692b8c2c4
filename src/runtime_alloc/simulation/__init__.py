"""Discrete-event simulation of a task executor on top of the Allocator.

The simulator needs only the core (attrs). The workloads and fleets it runs come
from :mod:`runtime_alloc.traces` (trace and fleet readers, the synthetic default);
the command line (``runtime-alloc simulate``) adds tables, JSON, CSV and plots on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime_alloc.simulation.engine import ProgressCallback, dimensions_of, simulate
from runtime_alloc.simulation.result import SimulationResult, Timeline
from runtime_alloc.simulation.tasks import SimTask

if TYPE_CHECKING:
    from runtime_alloc.traces.errors import InputFileError

__all__ = [
    "InputFileError",
    "ProgressCallback",
    "SimTask",
    "SimulationResult",
    "Timeline",
    "dimensions_of",
    "simulate",
]


def __getattr__(name: str) -> object:
    """Re-export :class:`~runtime_alloc.traces.InputFileError` (its home before the readers moved).

    Loaded on first use so that ``runtime_alloc.traces`` (whose readers build
    :class:`SimTask`) and this package do not import each other.
    """
    if name == "InputFileError":
        from runtime_alloc.traces.errors import InputFileError  # noqa: PLC0415

        return InputFileError
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
