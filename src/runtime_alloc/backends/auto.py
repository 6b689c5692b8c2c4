"""``backend="auto"``: the python scan for small fleets, the numpy index once the fleet is large.

numpy is imported only when the fleet first reaches :data:`AUTO_MIN_RUNNERS`
runners; from then on the backend keeps the numpy index (it does not switch
back when the fleet shrinks). Decisions are the same on both paths, so the
switch is invisible except in speed and in :attr:`Allocator.backend`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from runtime_alloc.backends.protocol import Backend, is_vectorized, numpy_available

if TYPE_CHECKING:
    from runtime_alloc.backends.python import PythonBackend
    from runtime_alloc.errors import AllocationError
    from runtime_alloc.resources import Resources
    from runtime_alloc.runners import RunnerState
    from runtime_alloc.strategies import Strategy

__all__ = ["AUTO_MIN_RUNNERS", "AutoBackend"]

#: The fleet size from which ``backend="auto"`` uses numpy: the measured
#: crossover (see docs/performance.md), where numpy starts to win.
AUTO_MIN_RUNNERS = 32


class AutoBackend:
    """Delegate to the python scan until the fleet reaches ``threshold`` runners, then to numpy.

    Args:
        python: the python backend to start with (it holds the states so far).
        strategy: the allocator's strategy.
        threshold: the fleet size that switches to numpy.
    """

    def __init__(
        self, python: PythonBackend, strategy: Strategy, threshold: int = AUTO_MIN_RUNNERS
    ) -> None:
        self._python = python
        self._strategy = strategy
        self._threshold = threshold
        self._inner: Backend = python
        self._can_switch = is_vectorized(strategy) and numpy_available()
        if self._can_switch and len(python.states) >= threshold:
            self._switch()

    @property
    def name(self) -> str:
        """The backend in use now: ``"python"`` or ``"numpy"``."""
        return self._inner.name

    def _switch(self) -> None:
        from runtime_alloc.backends.numpy import NumpyBackend  # noqa: PLC0415 (numpy is optional)

        self._inner = NumpyBackend(self._python.states, self._strategy)
        self._can_switch = False
        self._python.states = {}  # the numpy backend keeps its own copy from now on

    def add(self, state: RunnerState) -> None:
        """Index a new runner; may switch to numpy. O(1) amortized, O(N) once at the switch."""
        self._inner.add(state)
        if self._can_switch and len(self._python.states) >= self._threshold:
            self._switch()

    def update(self, state: RunnerState) -> None:
        """Pass an updated state on. O(1)."""
        self._inner.update(state)

    def update_reserved(
        self,
        name: str,
        reserved: tuple[int, int, int],
        extended: Mapping[str, int] | None,
        draining: bool,
    ) -> None:
        """Pass the ledger's reserved amounts on. O(1)."""
        self._inner.update_reserved(name, reserved, extended, draining)  # type: ignore[attr-defined]

    def remove(self, name: str) -> None:
        """Pass a removal on. O(1) amortized."""
        self._inner.remove(name)

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        """The current backend's answer."""
        return self._inner.choose(request, require)

    def diagnose(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> AllocationError:
        """The current backend's answer."""
        return self._inner.diagnose(task_id, request, require)

    def plan(self, request: Resources, require: frozenset[str], count: int) -> list[str] | None:
        """The current backend's answer."""
        return self._inner.plan(request, require, count)
