"""``backend="python"``: the reference scan over every runner, O(N) per decision.

It keeps its own copy of the runner states, fed by the ledger's events, and
answers with :func:`runtime_alloc._placement.choose` and
:func:`~runtime_alloc._placement.diagnose`, the definitions every other
backend must equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from runtime_alloc import _placement
from runtime_alloc._ledger_views import reserved_of
from runtime_alloc.backends.bulk_events import each_update_reserved
from runtime_alloc.runners import RunnerState

if TYPE_CHECKING:
    from runtime_alloc.backends.protocol import ExtendedAmounts, ReservedAmounts
    from runtime_alloc.errors import AllocationError
    from runtime_alloc.resources import Resources
    from runtime_alloc.strategies import Strategy

__all__ = ["PythonBackend", "ScanAnswers"]


class ScanAnswers:
    """``diagnose`` and ``plan`` of a backend that keeps every runner's state in ``states``."""

    states: dict[str, RunnerState]

    def diagnose(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> AllocationError:
        """See :func:`runtime_alloc._placement.diagnose`. O(N)."""
        return _placement.diagnose(tuple(self.states.values()), task_id, request, require)

    def plan(self, request: Resources, require: frozenset[str], count: int) -> list[str] | None:  # noqa: ARG002
        """None: the scan places a run one request at a time. O(1)."""
        return None


class PythonBackend(ScanAnswers):
    """The reference backend: a scan over the runner states in registration order.

    Args:
        states: the runners so far, in registration order.
        strategy: the allocator's strategy.
    """

    name = "python"

    def __init__(
        self, states: Iterable[RunnerState] | Mapping[str, RunnerState], strategy: Strategy
    ) -> None:
        if isinstance(states, Mapping):
            states = states.values()  # a name -> state mapping
        self.states: dict[str, RunnerState] = {s.runner.name: s for s in states}
        self.strategy = strategy

    def add(self, state: RunnerState) -> None:
        """Append a runner. O(1)."""
        self.states[state.runner.name] = state

    def update(self, state: RunnerState) -> None:
        """Replace a runner's state. O(1)."""
        self.states[state.runner.name] = state

    def update_reserved(
        self, name: str, reserved: ReservedAmounts, extended: ExtendedAmounts, draining: bool
    ) -> None:
        """Replace a runner's state from its reserved amounts (the ledger's event). O(1)."""
        runner = self.states[name].runner
        self.states[name] = RunnerState(runner, reserved_of(*reserved, extended), draining)

    def update_reserved_many(
        self,
        names: Sequence[str],
        reserved: Sequence[ReservedAmounts],
        extended: Sequence[ExtendedAmounts],
        draining: Sequence[bool],
    ) -> None:
        """Several runners' :meth:`update_reserved` events (in step), one call each. O(len(names)).

        Each goes through ``self.update_reserved``, so a subclass overriding
        the per-runner event still sees every change.
        """
        each_update_reserved(self, names, reserved, extended, draining)

    def remove(self, name: str) -> None:
        """Forget a runner. O(1)."""
        del self.states[name]

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        """The strategy's pick, see :func:`runtime_alloc._placement.choose`. O(N)."""
        state = _placement.choose(self.states.values(), self.strategy, request, require)
        return None if state is None else state.name
