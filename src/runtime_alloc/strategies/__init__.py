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

A custom strategy runs on the pure-Python path under every backend, unless it
offers the :class:`LinearScore` capability (a ``linear_score`` attribute, as
the built-in strategies do), which the numpy backend indexes. Register a
factory under a name with :func:`register_strategy` to make it selectable by
``ALLOCATOR_STRATEGY`` and the CLI's ``--strategy``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from runtime_alloc._registry import Registry
from runtime_alloc._units import _show
from runtime_alloc.errors import InvalidArgumentError, UnknownStrategyError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState
from runtime_alloc.strategies._scoring import (
    MAX_WEIGHT,
    LinearScore,
    UtilizationStrategy,
    linear_score,
    utilization_score,
)
from runtime_alloc.strategies.balanced_packing import BalancedPackingStrategy
from runtime_alloc.strategies.even_spread import EvenSpreadStrategy
from runtime_alloc.strategies.fragmentation import FragmentationStrategy
from runtime_alloc.strategies.max_packing import MaxPackingStrategy

__all__ = [
    "ENV_VAR",
    "MAX_WEIGHT",
    "STRATEGIES",
    "BalancedPackingStrategy",
    "EvenSpreadStrategy",
    "FragmentationStrategy",
    "LinearScore",
    "MaxPackingStrategy",
    "Strategy",
    "StrategyFactory",
    "UtilizationStrategy",
    "check_strategy",
    "linear_score",
    "register_strategy",
    "strategy_from_env",
    "strategy_from_name",
    "unregister_strategy",
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
        """A short name shown in metrics, explanations and reports.

        An implementation should answer in O(1).
        """
        ...  # pragma: no cover

    @property
    def maximize(self) -> bool:
        """True when the highest score wins, False when the lowest does.

        An implementation should answer in O(1).
        """
        ...  # pragma: no cover

    def score(self, state: RunnerState, request: Resources) -> float:
        """Score a *feasible* runner for ``request``; must be deterministic and finite.

        An implementation should cost O(dimensions): :func:`runtime_alloc.explain.explain`
        (``Allocator.explain``) calls it once per feasible runner, so one explanation pays N times
        its cost.
        """
        ...  # pragma: no cover


def check_strategy(strategy: object) -> Strategy:
    """Return ``strategy`` when it implements :class:`Strategy`. O(1).

    Raises:
        InvalidArgumentError: it lacks a name, a maximize flag or a score method.
    """
    if isinstance(strategy, type):
        msg = (
            f"strategy must be a strategy instance, got the class {strategy.__name__}; "
            f"pass {strategy.__name__}() instead"
        )
        raise InvalidArgumentError(msg)
    if not isinstance(strategy, Strategy):
        msg = (
            "strategy must have a name, a maximize flag and a score(state, request) "
            f"method, got {_show(strategy)}"
        )
        raise InvalidArgumentError(msg)
    return strategy


#: What :func:`register_strategy` takes: weights (or None) -> a strategy.
StrategyFactory = Callable[[Mapping[str, int] | None], Any]

_REGISTRY: Registry[StrategyFactory] = Registry("strategy", unknown=UnknownStrategyError)

#: Registered names (class names and kebab-case aliases) -> strategy factory (a
#: read-only live view of the registry; the built-ins map to their classes).
STRATEGIES: Mapping[str, Any] = _REGISTRY.view


def register_strategy(name: str, factory: StrategyFactory) -> None:
    """Make ``factory`` selectable by ``name`` (``strategy_from_name``, the env var, the CLI).

    Args:
        name: a new, non-empty name without surrounding spaces.
        factory: called with the weights mapping (or None); returns a :class:`Strategy`.

    Raises:
        InvalidArgumentError: the name is taken or malformed, or factory is not callable.

    Runtime complexity: O(1).

    >>> register_strategy("least-loaded", EvenSpreadStrategy)
    >>> strategy_from_name("least-loaded")
    EvenSpreadStrategy(weights={})
    >>> unregister_strategy("least-loaded")
    """
    _REGISTRY.add(name, factory)


def unregister_strategy(name: str) -> None:
    """Remove a name added by :func:`register_strategy`. O(1).

    Raises:
        UnknownStrategyError: no strategy is registered under ``name``.
    """
    _REGISTRY.remove(name)


def _fragmentation(weights: Mapping[str, int] | None) -> FragmentationStrategy:
    """The registry's FragmentationStrategy: learned workload, no weights. O(1)."""
    if weights:
        msg = f"FragmentationStrategy takes no weights, got weights={dict(weights)!r}"
        raise InvalidArgumentError(msg)
    return FragmentationStrategy()


def _balanced_packing(weights: Mapping[str, int] | None) -> BalancedPackingStrategy:
    """The registry's BalancedPackingStrategy: default weights, no weights mapping. O(1)."""
    if weights:
        msg = f"BalancedPackingStrategy takes no weights, got weights={dict(weights)!r}"
        raise InvalidArgumentError(msg)
    return BalancedPackingStrategy()


for _name, _factory in (
    ("EvenSpreadStrategy", EvenSpreadStrategy),
    ("MaxPackingStrategy", MaxPackingStrategy),
    ("FragmentationStrategy", _fragmentation),
    ("BalancedPackingStrategy", _balanced_packing),
    ("even-spread", EvenSpreadStrategy),
    ("max-packing", MaxPackingStrategy),
    ("fragmentation", _fragmentation),
    ("balanced-packing", _balanced_packing),
):
    register_strategy(_name, _factory)


def strategy_from_name(name: str, weights: Mapping[str, int] | None = None) -> UtilizationStrategy:
    """Return a registered strategy by name (``EvenSpreadStrategy`` or ``even-spread``, ...).

    Runtime complexity: O(1) lookup plus O(len(weights)) to check the weights.

    Raises:
        UnknownStrategyError: listing the valid names.

    >>> strategy_from_name("max-packing", {"memory": 2})
    MaxPackingStrategy(weights={'memory': 2})
    """
    factory = _REGISTRY.factories.get(name.strip()) if isinstance(name, str) else None
    if factory is None:
        valid = ", ".join(STRATEGIES)
        msg = f"strategy must be one of {valid}; got {name!r}"
        raise UnknownStrategyError(msg)
    return factory(weights)  # type: ignore[no-any-return]


def strategy_from_env(environ: Mapping[str, str] | None = None) -> UtilizationStrategy:
    """Return the strategy named by ``ALLOCATOR_STRATEGY``; unset or empty means EvenSpread.

    Runtime complexity: O(1): one variable read and one :func:`strategy_from_name`.

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
