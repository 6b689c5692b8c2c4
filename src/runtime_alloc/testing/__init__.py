"""Property-based testing for runtime_alloc and for the executors and strategies built on it.

Needs hypothesis: ``pip install 'runtime_alloc[testing]'``. See ``docs/testing.md``.

- strategies of values: :func:`resources`, :func:`requests`, :func:`runners`,
  :func:`fleets`, :func:`runner_states`, :func:`snapshots`;
- strategies of operations: :func:`operations`, :func:`workloads` (and
  :func:`run_workload` to apply one with checks after every step);
- :func:`check_invariants` for an allocator, a wrapper or a snapshot;
- :class:`AllocatorStateMachine` to subclass, and :class:`StrategyContract`
  for custom strategies.
"""

try:
    import hypothesis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    msg = (
        "runtime_alloc.testing needs hypothesis, which is not installed: "
        "pip install 'runtime_alloc[testing]'"
    )
    raise ImportError(msg, name=exc.name) from None

from runtime_alloc.testing._generators import (
    DEFAULT_LABELS,
    fleets,
    requests,
    reservations,
    resources,
    runner_states,
    runners,
    snapshots,
)
from runtime_alloc.testing._workloads import KINDS, Operation, operations, run_workload, workloads
from runtime_alloc.testing.contract import StrategyContract, check_strategy_contract
from runtime_alloc.testing.invariants import check_invariants, describe_difference
from runtime_alloc.testing.machine import AllocatorStateMachine, best_runner, infeasibility

__all__ = [
    "DEFAULT_LABELS",
    "KINDS",
    "AllocatorStateMachine",
    "Operation",
    "StrategyContract",
    "best_runner",
    "check_invariants",
    "check_strategy_contract",
    "describe_difference",
    "fleets",
    "infeasibility",
    "operations",
    "requests",
    "reservations",
    "resources",
    "run_workload",
    "runner_states",
    "runners",
    "snapshots",
    "workloads",
]
