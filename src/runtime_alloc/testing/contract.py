"""``StrategyContract``: what every placement strategy must satisfy, in a few lines of test code."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

from hypothesis import given, settings, stateful
from hypothesis import strategies as st

from runtime_alloc import Allocator, FleetSnapshot, Resources, Runner, Strategy
from runtime_alloc.testing._generators import DEFAULT_LABELS, requests, snapshots
from runtime_alloc.testing._model import quiet_weights
from runtime_alloc.testing.machine import AllocatorStateMachine, best_runner, infeasibility

# Some hypothesis releases ship this function without annotations; one typed name keeps
# ``mypy --strict`` clean on every supported version.
_run_machine = cast("Callable[..., None]", stateful.run_state_machine_as_test)

__all__ = ["StrategyContract", "check_strategy_contract", "contract_machine"]

_REQUIRES = st.lists(st.sampled_from(DEFAULT_LABELS), max_size=1).map(tuple)

#: Requests with the labels they require, placed in this order.
_Items = list[tuple[Resources, tuple[str, ...]]]


def _items(max_size: int) -> st.SearchStrategy[_Items]:
    """1 to ``max_size`` requests, each requiring none or one of the default labels."""
    return st.lists(st.tuples(requests(), _REQUIRES), min_size=1, max_size=max_size)


def _checked(strategy: object) -> Strategy:
    if not isinstance(strategy, Strategy):
        msg = (
            "a strategy needs a name, a maximize flag and a score(state, request) method, "
            f"got {strategy!r}"
        )
        raise TypeError(msg)
    return strategy


def contract_machine(
    strategy: Strategy, *, backend: str = "python", check_round_trip: bool = True
) -> type[AllocatorStateMachine]:
    """Return an :class:`AllocatorStateMachine` subclass that runs ``strategy`` on ``backend``.

    Runtime complexity: O(1): it defines a class; the runs cost what :class:`AllocatorStateMachine`
    says.

    ``check_round_trip`` sets :attr:`AllocatorStateMachine.check_round_trip`.
    """
    strategy = _checked(strategy)
    round_trip = check_round_trip

    class ContractMachine(AllocatorStateMachine):
        check_round_trip = round_trip

        def make_strategy(self) -> Strategy:
            return strategy

        def make_allocator(self, fleet: Sequence[Runner]) -> Allocator:
            return Allocator(fleet, strategy=strategy, backend=backend)

    ContractMachine.__name__ = ContractMachine.__qualname__ = f"{strategy.name}Machine"
    return ContractMachine


def _run(test: Any, property_settings: settings | None) -> None:  # noqa: ANN401
    (test if property_settings is None else property_settings(test))()


def _restore(snapshot: FleetSnapshot, strategy: Strategy, backend: str) -> Allocator:
    with quiet_weights():  # generated fleets may lack a weighed resource
        return Allocator.from_snapshot(snapshot, strategy=strategy, backend=backend)


def check_deterministic(
    strategy: Strategy, *, backend: str = "python", property_settings: settings | None = None
) -> None:
    """Property: scores are finite and repeatable, and equal inputs give equal decisions.

    Cost: hypothesis' ``max_examples`` examples; each scores every runner for 8 requests twice
    (16 N scores), restores two allocators from the snapshot (O(N + reservations) each) and makes
    8 decisions on each.

    Raises:
        AssertionError: with the counterexample hypothesis found.
    """
    strategy = _checked(strategy)

    @given(snapshots(), _items(8))
    def deterministic(snapshot: FleetSnapshot, items: _Items) -> None:
        for state in snapshot.runners:
            for request, _ in items:
                if infeasibility(state, request):
                    continue
                one, two = strategy.score(state, request), strategy.score(state, request)
                assert isinstance(one, float), f"score() returned {one!r}, not a float"
                assert math.isfinite(one), f"score({state!r}, {request}) is {one}, not finite"
                assert one == two, f"score({state!r}, {request}) gave {one} then {two}"
        first = _restore(snapshot, strategy, backend)
        second = _restore(snapshot, strategy, backend)
        for i, (request, require) in enumerate(items):
            a = first.try_allocate(f"x{i}", request, require=require)
            b = second.try_allocate(f"x{i}", request, require=require)
            assert a == b, f"the same request {request} on the same fleet went to {a!r} and {b!r}"

    _run(deterministic, property_settings)


def check_feasible_and_complete(
    strategy: Strategy, *, backend: str = "python", property_settings: settings | None = None
) -> None:
    """Property: never an infeasible runner; a runner whenever one is feasible; the best-scored one.

    Cost: hypothesis' ``max_examples`` examples; each restores an allocator (O(N + reservations))
    and makes 12 decisions, each checked against a snapshot and a reference scan:
    O(N + reservations) per decision.

    Raises:
        AssertionError: with the counterexample hypothesis found.
    """
    strategy = _checked(strategy)

    @given(snapshots(), _items(12))
    def feasible_and_complete(snapshot: FleetSnapshot, items: _Items) -> None:
        allocator = _restore(snapshot, strategy, backend)
        for i, (request, require) in enumerate(items):
            before = allocator.snapshot()
            best = best_runner(before.runners, strategy, request, require)
            got = allocator.try_allocate(f"x{i}", request, require=require)
            if got is None:
                assert best is None, (
                    f"no runner for {request} (require {list(require)}) although "
                    f"{best.name if best else ''!r} was feasible"
                )
                continue
            state = next(s for s in before.runners if s.name == got.runner)
            why = infeasibility(state, request, require)
            assert not why, f"{request} went to {got.runner!r}, which was not feasible: {why}"
            assert best is not None
            assert got.runner == best.name, (
                f"{request} went to {got.runner!r} but {strategy.name} ranks {best.name!r} best"
            )

    _run(feasible_and_complete, property_settings)


def check_strategy_contract(
    strategy: Strategy,
    *,
    backend: str = "python",
    state_machine_settings: settings | None = None,
    property_settings: settings | None = None,
) -> None:
    """Run every contract check on ``strategy``: the state machine and the properties.

    Cost: one :class:`AllocatorStateMachine` run plus :func:`check_deterministic` and
    :func:`check_feasible_and_complete`, each with its hypothesis settings.

    Args:
        strategy: any object with ``name``, ``maximize`` and ``score(state, request)``.
        backend: the allocator backend to run it on.
        state_machine_settings: hypothesis settings for the state machine (default:
            the active profile).
        property_settings: hypothesis settings for the properties (default: the
            active profile).

    Raises:
        AssertionError: naming the broken property with a shrunk counterexample.
        TypeError: when ``strategy`` is not a strategy.
    """
    _run_machine(contract_machine(strategy, backend=backend), settings=state_machine_settings)
    check_deterministic(strategy, backend=backend, property_settings=property_settings)
    check_feasible_and_complete(strategy, backend=backend, property_settings=property_settings)


class StrategyContract:
    """Subclass in a ``Test...`` class to run the strategy contract under pytest.

    Set :attr:`strategy` (or override :meth:`make_strategy`); every ``test_``
    method below is one part of the contract.

    Example::

        class TestLeastTasks(StrategyContract):
            strategy = LeastTasks()
    """

    #: The strategy under test.
    strategy: ClassVar[Any] = None
    #: The backend the allocator uses.
    backend: ClassVar[str] = "python"
    #: Settings for the state machine (None: the active hypothesis profile).
    state_machine_settings: ClassVar[settings | None] = None
    #: Settings for the properties (None: the active hypothesis profile).
    property_settings: ClassVar[settings | None] = None
    #: Check the snapshot round trip after every state-machine step (restarts are always tested).
    check_round_trip: ClassVar[bool] = True

    def make_strategy(self) -> Strategy:
        """Return the strategy under test (default: :attr:`strategy`). O(1)."""
        if self.strategy is None:
            msg = f"{type(self).__name__} must set strategy = ... or override make_strategy()"
            raise TypeError(msg)
        return _checked(self.strategy)

    def test_state_machine(self) -> None:
        """The allocator state machine passes with this strategy.

        Cost: one state machine run with :attr:`state_machine_settings` (see
        :func:`check_strategy_contract`).
        """
        _run_machine(
            contract_machine(
                self.make_strategy(), backend=self.backend, check_round_trip=self.check_round_trip
            ),
            settings=self.state_machine_settings,
        )

    def test_deterministic(self) -> None:
        """Finite, repeatable scores; equal inputs give equal decisions.

        Cost: as :func:`check_deterministic`.
        """
        check_deterministic(
            self.make_strategy(), backend=self.backend, property_settings=self.property_settings
        )

    def test_feasible_and_complete(self) -> None:
        """Never an infeasible runner; a runner whenever one is feasible; the best-ranked one.

        Cost: as :func:`check_feasible_and_complete`.
        """
        check_feasible_and_complete(
            self.make_strategy(), backend=self.backend, property_settings=self.property_settings
        )
