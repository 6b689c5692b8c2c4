"""``backend="auto"``: the python scan for small fleets, the numpy index once the fleet is large.

numpy is imported only when the fleet first reaches :data:`AUTO_MIN_RUNNERS`
runners; from then on the allocator keeps the numpy index (it does not switch
back when the fleet shrinks). Decisions are the same on both paths, so the
switch is invisible except in speed and in :attr:`Allocator.backend`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

from runtime_alloc.errors import AllocationError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState
from runtime_alloc.strategies import Strategy, UtilizationStrategy

__all__ = ["AUTO_MIN_RUNNERS", "AutoBackend", "is_vectorized", "numpy_available"]

#: The fleet size from which ``backend="auto"`` uses numpy: the measured
#: crossover (see docs/performance.md), where numpy starts to win.
AUTO_MIN_RUNNERS = 32


def numpy_available() -> bool:
    """Return True when numpy can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("numpy") is not None
    except (ImportError, ValueError):
        return False


def is_vectorized(strategy: Strategy) -> bool:
    """Return True when the numpy backend can score ``strategy`` itself.

    That holds for :class:`UtilizationStrategy` subclasses (EvenSpread,
    MaxPacking) that do not override ``score``; any other strategy runs on the
    python scan under ``backend="numpy"``.
    """
    return (
        isinstance(strategy, UtilizationStrategy)
        and type(strategy).score is UtilizationStrategy.score
        and isinstance(strategy.maximize, bool)
    )


class AutoBackend:
    """Delegate to ``python`` until the fleet reaches ``threshold`` runners, then to numpy.

    Args:
        states: the allocator's runner states.
        strategy: the allocator's strategy.
        python: the python backend to start with.
        threshold: the fleet size that switches to numpy.
    """

    def __init__(
        self,
        states: Mapping[str, RunnerState],
        strategy: Strategy,
        python: Any,  # noqa: ANN401 (the allocator's _PythonBackend)
        threshold: int = AUTO_MIN_RUNNERS,
    ) -> None:
        self._states = states
        self._strategy = strategy
        self._threshold = threshold
        self._inner: Any = python
        self._can_switch = is_vectorized(strategy) and numpy_available()

    @property
    def name(self) -> str:
        """The backend in use now: ``"python"`` or ``"numpy"``."""
        return str(self._inner.name)

    def _maybe_switch(self) -> None:
        if self._can_switch and len(self._states) >= self._threshold:
            from runtime_alloc._numpy import NumpyBackend  # noqa: PLC0415 (numpy is optional)

            self._inner = NumpyBackend(self._states, self._strategy)
            self._can_switch = False

    def add(self, state: RunnerState) -> None:
        """Index a new runner; may switch to numpy. O(1) amortized."""
        if self._can_switch and len(self._states) >= self._threshold:
            self._maybe_switch()  # the new state is already in the allocator's states
        else:
            self._inner.add(state)

    def update(self, state: RunnerState) -> None:
        """Pass an updated state on. O(1)."""
        self._inner.update(state)

    def remove(self, name: str) -> None:
        """Pass a removal on. O(1) amortized."""
        self._inner.remove(name)

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        """Return the chosen runner name, as the python backend would."""
        return self._inner.choose(request, require)  # type: ignore[no-any-return]

    @property
    def diagnose(self) -> Callable[[str, Resources, frozenset[str]], AllocationError] | None:
        """The current backend's vectorized diagnosis, if it has one (else the allocator's scan)."""
        return getattr(self._inner, "diagnose", None)

    @property
    def plan(self) -> Callable[[Resources, frozenset[str], int], list[str] | None] | None:
        """The current backend's batch planner, if it has one (else one allocation at a time)."""
        return getattr(self._inner, "plan", None)
