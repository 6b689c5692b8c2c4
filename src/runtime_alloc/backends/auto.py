"""``backend="auto"``: the python scan for small fleets, the numpy index once the fleet is large.

numpy is imported only when the fleet first reaches :data:`AUTO_MIN_RUNNERS`
runners; from then on the backend keeps the numpy index (it does not switch
back when the fleet shrinks). Decisions are the same on both paths, so the
switch is invisible except in speed and in :attr:`Allocator.backend`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime_alloc.backends.protocol import Backend, is_vectorized, numpy_available

if TYPE_CHECKING:
    from runtime_alloc.backends.python import PythonBackend
    from runtime_alloc.runners import RunnerState
    from runtime_alloc.strategies import Strategy

__all__ = ["AUTO_MIN_RUNNERS", "AutoBackend"]

#: The fleet size from which ``backend="auto"`` uses numpy: the measured
#: crossover (see docs/performance.md), where numpy starts to win.
AUTO_MIN_RUNNERS = 32


class AutoBackend:
    """Delegate to the python scan until the fleet reaches ``threshold`` runners, then to numpy.

    Every event and question but ``add`` goes straight to the backend in use:
    its bound methods are this object's attributes, re-bound at the switch
    (one call per event, no forwarding layer).

    Args:
        python: the python backend to start with (it holds the states so far).
        strategy: the allocator's strategy.
        threshold: the fleet size that switches to numpy.
    """

    def __init__(
        self, python: PythonBackend, strategy: Strategy, threshold: int = AUTO_MIN_RUNNERS
    ) -> None:
        self._python = python
        self._rows: dict[str, int] | None = None
        self._strategy = strategy
        self._threshold = threshold
        self._use(python)
        self._can_switch = is_vectorized(strategy) and numpy_available()
        if self._can_switch and len(python.states) >= threshold:
            self._switch()

    def _use(self, inner: Backend) -> None:
        """Answer with ``inner`` from now on: bind its methods here. O(1)."""
        self._inner = inner
        self.update = inner.update
        self.update_reserved = inner.update_reserved
        self.remove = inner.remove
        self.choose = inner.choose
        self.diagnose = inner.diagnose
        self.plan = inner.plan
        # allocate_many's bulk event (protocol.update_reserved_many): the inner
        # backend's own, or None for one update_reserved per runner
        self.update_reserved_many = getattr(inner, "update_reserved_many", None)

    @property
    def name(self) -> str:
        """The backend in use now: ``"python"`` or ``"numpy"``. O(1)."""
        return self._inner.name

    def _switch(self) -> None:
        from runtime_alloc.backends.numpy import NumpyBackend  # noqa: PLC0415 (numpy is optional)

        self._use(NumpyBackend(self._python.states, self._strategy))
        if self._rows is not None:
            self._inner.share_rows(self._rows)  # type: ignore[attr-defined]
        self._can_switch = False
        self._python.states = {}  # the numpy backend keeps its own copy from now on

    def share_rows(self, rows: dict[str, int]) -> None:
        """Pass the ledger's name -> row dict to the numpy backend (now or at the switch). O(N)."""
        self._rows = rows
        share = getattr(self._inner, "share_rows", None)
        if share is not None:
            share(rows)

    def add(self, state: RunnerState) -> None:
        """Index a new runner; may switch to numpy. O(1) amortized, O(N) once at the switch."""
        self._inner.add(state)
        if self._can_switch and len(self._python.states) >= self._threshold:
            self._switch()
