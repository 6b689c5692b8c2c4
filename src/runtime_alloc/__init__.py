"""runtime_alloc: decide which runner runs each task, exactly and fast.

The public API is re-exported here; see ``docs/concepts.md`` for units, the
score formula and the placement rules.
"""

from runtime_alloc._units import MAX_QUANTITY, parse_cpu, parse_memory, parse_slots
from runtime_alloc.allocator import BACKENDS, Allocator, Request
from runtime_alloc.errors import (
    AllocationError,
    DuplicateRunnerError,
    DuplicateTaskError,
    InsufficientCapacityError,
    InvalidArgumentError,
    InvalidResourcesError,
    InvalidSnapshotError,
    RunnerBusyError,
    RuntimeAllocError,
    Shortfall,
    UndeclaredWeightWarning,
    UnknownRunnerError,
    UnknownStrategyError,
    UnknownTaskError,
    UnschedulableError,
)
from runtime_alloc.explain import Explanation, RunnerVerdict
from runtime_alloc.metrics import DimensionUsage, Metrics, RunnerMetrics
from runtime_alloc.release_states import RELEASE_STATES
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources
from runtime_alloc.runners import DEFAULT_RUNNER_SLOTS, Runner, RunnerState
from runtime_alloc.snapshot import FleetSnapshot
from runtime_alloc.strategies import (
    STRATEGIES,
    BalancedPackingStrategy,
    EvenSpreadStrategy,
    FragmentationStrategy,
    MaxPackingStrategy,
    Strategy,
    strategy_from_env,
    strategy_from_name,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "BACKENDS",
    "DEFAULT_RUNNER_SLOTS",
    "MAX_QUANTITY",
    "RELEASE_STATES",
    "STRATEGIES",
    "AllocationError",
    "Allocator",
    "BalancedPackingStrategy",
    "DimensionUsage",
    "DuplicateRunnerError",
    "DuplicateTaskError",
    "EvenSpreadStrategy",
    "Explanation",
    "FleetSnapshot",
    "FragmentationStrategy",
    "InsufficientCapacityError",
    "InvalidArgumentError",
    "InvalidResourcesError",
    "InvalidSnapshotError",
    "MaxPackingStrategy",
    "Metrics",
    "Request",
    "Reservation",
    "Resources",
    "Runner",
    "RunnerBusyError",
    "RunnerMetrics",
    "RunnerState",
    "RunnerVerdict",
    "RuntimeAllocError",
    "Shortfall",
    "Strategy",
    "UndeclaredWeightWarning",
    "UnknownRunnerError",
    "UnknownStrategyError",
    "UnknownTaskError",
    "UnschedulableError",
    "__version__",
    "parse_cpu",
    "parse_memory",
    "parse_slots",
    "strategy_from_env",
    "strategy_from_name",
]
