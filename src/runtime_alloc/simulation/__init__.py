"""Discrete-event simulation of a task executor on top of the Allocator.

The simulator needs only the core (attrs); the command line (``runtime-alloc
simulate``) adds workloads, trace readers, tables, JSON, CSV and plots on top.
"""

from runtime_alloc.simulation.engine import ProgressCallback, dimensions_of, simulate
from runtime_alloc.simulation.errors import InputFileError
from runtime_alloc.simulation.result import SimulationResult, Timeline
from runtime_alloc.simulation.tasks import SimTask

__all__ = [
    "InputFileError",
    "ProgressCallback",
    "SimTask",
    "SimulationResult",
    "Timeline",
    "dimensions_of",
    "simulate",
]
