"""Placement strategies: the protocol, the built-in strategies and the name registry.

A strategy is a small object with a score rule and a direction; the allocator
does filtering (feasibility, labels, draining), tie-breaking (the runner
registered first wins) and bookkeeping once, for every strategy.

Write your own by implementing :class:`Strategy`::

    class LeastTasks:
        name = "LeastTasks"
        maximize = False

        def score(self, state, request):
            return float(state.reserved.slots)

A custom strategy runs on the pure-Python path under every backend.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from runtime_alloc.errors import UnknownStrategyError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState
from runtime_alloc.strategies._scoring import MAX_WEIGHT, UtilizationStrategy, utilization_score
from runtime_alloc.strategies.even_spread import EvenSpreadStrategy
from runtime_alloc.strategies.max_packing import MaxPackingStrategy

__all__ = [
    "ENV_VAR",
    "MAX_WEIGHT",
    "STRATEGIES",
    "EvenSpreadStrategy",
    "MaxPackingStrategy",
    "Strategy",
    "UtilizationStrategy",
    "strategy_from_env",
    "strategy_from_name",
    "utilization_score",
]

#: The environment variable that selects a deployment's strategy.
ENV_VAR = "ALLOCATOR_STRATEGY"


@runtime_checkable
class Strategy(Protocol):
    """What the allocator needs from a strategy.

    Attributes:
        name: a short name shown in metrics, explanations and reports.
        maximize: True when the highest score wins, False when the lowest does.
    """

    @property
    def name(self) -> str:
        """A short name shown in metrics, explanations and reports."""
        ...  # pragma: no cover

    @property
    def maximize(self) -> bool:
        """True when the highest score wins, False when the lowest does."""
        ...  # pragma: no cover

    def score(self, state: RunnerState, request: Resources) -> float:
        """Score a *feasible* runner for ``request``; must be deterministic and finite."""
        ...  # pragma: no cover


#: Registered names (class names and kebab-case aliases) -> strategy class.
STRATEGIES: Mapping[str, type[UtilizationStrategy]] = {
    "EvenSpreadStrategy": EvenSpreadStrategy,
    "MaxPackingStrategy": MaxPackingStrategy,
    "even-spread": EvenSpreadStrategy,
    "max-packing": MaxPackingStrategy,
}


def strategy_from_name(name: str, weights: Mapping[str, int] | None = None) -> UtilizationStrategy:
    """Return a built-in strategy by name (``EvenSpreadStrategy`` or ``even-spread``, ...).

    Raises:
        UnknownStrategyError: listing the valid names.

    >>> strategy_from_name("max-packing", {"memory": 2})
    MaxPackingStrategy(weights={'memory': 2})
    """
    cls = STRATEGIES.get(name.strip()) if isinstance(name, str) else None
    if cls is None:
        valid = ", ".join(STRATEGIES)
        msg = f"strategy must be one of {valid}; got {name!r}"
        raise UnknownStrategyError(msg)
    return cls(weights)


def strategy_from_env(environ: Mapping[str, str] | None = None) -> UtilizationStrategy:
    """Return the strategy named by ``ALLOCATOR_STRATEGY``; unset or empty means EvenSpread.

    Args:
        environ: the environment to read (default ``os.environ``).

    Raises:
        UnknownStrategyError: when the variable names no registered strategy.

    >>> strategy_from_env({"ALLOCATOR_STRATEGY": "MaxPackingStrategy"})
    MaxPackingStrategy(weights={})
    >>> strategy_from_env({})
    EvenSpreadStrategy(weights={})
    """
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR, "").strip()
    if not value:
        return EvenSpreadStrategy()
    try:
        return strategy_from_name(value)
    except UnknownStrategyError:
        valid = ", ".join(STRATEGIES)
        msg = f"{ENV_VAR} must be one of {valid} (or unset); got {value!r}"
        raise UnknownStrategyError(msg) from None
