"""``AllocatorStateMachine``: a model-checked hypothesis state machine for allocators.

Subclass it and override :meth:`~AllocatorStateMachine.make_allocator` (and
optionally :meth:`~AllocatorStateMachine.make_strategy`) to test an executor
wrapper or a custom strategy; ``TestMine = MyMachine.TestCase`` makes it a test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from runtime_alloc import (
    Allocator,
    DuplicateRunnerError,
    DuplicateTaskError,
    EvenSpreadStrategy,
    FleetSnapshot,
    Reservation,
    Resources,
    Runner,
    RunnerBusyError,
    RunnerState,
    Strategy,
    UnknownRunnerError,
    UnknownTaskError,
)
from runtime_alloc.devices import use_of
from runtime_alloc.testing._generators import DEFAULT_LABELS, fleets, requests, resources
from runtime_alloc.testing._model import (
    _Fleet,
    best_runner,
    from_machine,
    infeasibility,
    quiet_weights,
)
from runtime_alloc.testing._placement_rules import PlacementRules
from runtime_alloc.testing.invariants import check_invariants, check_round_trip, describe_difference

__all__ = ["AllocatorStateMachine", "best_runner", "infeasibility"]


class AllocatorStateMachine(PlacementRules, RuleBasedStateMachine):
    """A hypothesis state machine that checks an allocator against a model.

    The model is what must be reserved: the runners in registration order, the
    draining ones and every held reservation. After every step the allocator
    must pass :func:`check_invariants` and its snapshot must equal the model.
    Every rule also checks its own promise: release restores exactly,
    allocations go to a feasible runner (the one the strategy ranks best when
    :attr:`check_strategy_choice`), an allocation fails only when no runner is
    feasible (:attr:`check_completeness`), ``allocate_many`` places as
    ``allocate`` would, and a forced removal returns exactly the evicted
    reservations. Every documented error of every method is driven by a rule
    that checks the error type and that the call changed nothing: snapshot,
    ``len()`` and ``metrics()`` when the allocator has them (a failed placement
    bumps only its failure counter). A wrapper without ``allocate_many`` or
    ``metrics`` is checked without them.

    Override :meth:`make_allocator` (and :meth:`make_strategy`,
    :meth:`restore_allocator`, :meth:`fleet_strategy`, :meth:`request_strategy`)
    in a subclass, then ``TestMine = MyMachine.TestCase``.

    Attributes:
        allocator: the allocator under test (what :meth:`make_allocator` returned).
        steps: steps run so far on this instance (rules after initialization).
        model_gone: task ids released or evicted (they must be unknown now).
        model_removed: names of runners removed (they must be unknown now).
    """

    #: Check that each allocation went to the runner the strategy ranks best.
    check_strategy_choice: ClassVar[bool] = True
    #: Check that an allocation fails only when no runner is feasible, with the right error type.
    check_completeness: ClassVar[bool] = True
    #: Check the snapshot round trip (to_dict / from_snapshot) after every step.
    check_round_trip: ClassVar[bool] = True
    #: The labels requests may require.
    labels: ClassVar[tuple[str, ...]] = DEFAULT_LABELS

    def __init__(self) -> None:
        super().__init__()
        self.allocator: Any = None
        self.model_runners: dict[str, Runner] = {}
        self.model_draining: set[str] = set()
        self.model_held: dict[str, Reservation] = {}
        self.model_gone: set[str] = set()
        self.model_removed: set[str] = set()
        self._round_tripped: FleetSnapshot | None = None
        self._next_task = 0
        self._next_runner = 0
        self.steps = 0

    # ------------------------------------------------------------------ hooks

    def make_strategy(self) -> Strategy:
        """Return the strategy under test (default :class:`EvenSpreadStrategy`). O(1)."""
        return EvenSpreadStrategy()

    def make_allocator(self, fleet: Sequence[Runner]) -> Any:  # noqa: ANN401
        """Return the allocator (or executor wrapper) under test, holding ``fleet``.

        Runtime complexity: O(N) for the N runners of ``fleet``.
        """
        return Allocator(fleet, strategy=self.make_strategy(), backend="python")

    def restore_allocator(self, data: dict[str, Any]) -> Any:  # noqa: ANN401
        """Rebuild the allocator from ``snapshot().to_dict()`` after a simulated restart.

        Runtime complexity: one ``from_snapshot``, O(N + reservations).

        The default uses the allocator's class ``from_snapshot``; return None to
        skip restarts (the default does for objects that are not an Allocator).
        """
        if not isinstance(self.allocator, Allocator):
            return None
        return type(self.allocator).from_snapshot(
            data,
            strategy=self.allocator.strategy,
            backend=self.allocator.backend,
            max_task_slots=self.allocator.max_task_slots,
        )

    def fleet_strategy(self) -> st.SearchStrategy[list[Runner]]:
        """The initial fleets (default :func:`fleets`). O(1) to build; each draw costs O(N)."""
        return fleets()

    def request_strategy(self) -> st.SearchStrategy[Resources]:
        """The task requests (default :func:`requests` within the allocator's slot limit).

        Runtime complexity: O(1) to build; each draw costs O(dimensions).
        """
        return requests(getattr(self.allocator, "max_task_slots", 16))

    def capacity_strategy(self) -> st.SearchStrategy[Resources]:
        """Capacities of runners added later (default 1..32 slots).

        Runtime complexity: O(1) to build; each draw costs O(dimensions).
        """
        return resources(min_slots=1, max_slots=32)

    # ------------------------------------------------------------------ helpers

    def model_snapshot(self) -> FleetSnapshot:
        """The snapshot the allocator must equal, built from the model.

        Runtime complexity: O(N * dimensions + reservations).
        """
        sums = {name: Resources() for name in self.model_runners}
        for reservation in self.model_held.values():
            sums[reservation.runner] += reservation.resources
        held: dict[str, list[Reservation]] = {}
        for reservation in self.model_held.values():
            held.setdefault(reservation.runner, []).append(reservation)
        states = [
            RunnerState(
                runner,
                sums[name],
                name in self.model_draining,
                use_of(runner, held.get(name, ())),  # the devices checked at each placement
            )
            for name, runner in self.model_runners.items()
        ]
        return FleetSnapshot(states, self.model_held)

    def _strategy(self) -> Strategy:
        strategy = getattr(self.allocator, "strategy", None)
        return strategy if isinstance(strategy, Strategy) else self.make_strategy()

    def _new_task(self) -> str:
        task = f"t{self._next_task}"
        self._next_task += 1
        return task

    # ------------------------------------------------------------------ rules

    @initialize(fleet=from_machine(lambda m: m.fleet_strategy().map(_Fleet)))
    def init_allocator(self, fleet: list[Runner]) -> None:
        """Create the allocator under test. O(N) for the N runners drawn."""
        with quiet_weights():  # generated fleets may lack a weighed resource
            self.allocator = self.make_allocator(list(fleet))
        self.model_runners = {r.name: r for r in fleet}

    @precondition(lambda self: self.model_held)
    @rule(data=st.data())
    def allocate_duplicate(self, data: st.DataObject) -> None:
        """Allocating a held task id fails and changes nothing.

        Cost: one failed ``allocate`` plus the unchanged-state check, O(N + reservations).
        """
        task = data.draw(st.sampled_from(sorted(self.model_held)), label="task")
        self.expect_error(
            f"allocate({task!r})", DuplicateTaskError, lambda: self.allocator.allocate(task)
        )

    @rule()
    def release_unknown(self) -> None:
        """Releasing a task that holds nothing fails and changes nothing.

        Cost: one failed ``release`` plus the unchanged-state check, O(N + reservations).
        """
        task = self._new_task()
        self.expect_error(
            f"release({task!r})", UnknownTaskError, lambda: self.allocator.release(task)
        )

    @rule(
        capacity=from_machine(lambda m: m.capacity_strategy()),
        labels=from_machine(
            lambda m: (
                st.lists(st.sampled_from(m.labels), unique=True).map(tuple)
                if m.labels
                else st.just(())
            )
        ),
    )
    def add_runner(self, capacity: Resources, labels: tuple[str, ...]) -> None:
        """Register a new runner. O(1) plus one ``add_runner``."""
        name = f"n{self._next_runner}"
        self._next_runner += 1
        runner = Runner(name, capacity, labels)
        self.allocator.add_runner(runner)
        self.model_runners[name] = runner

    @precondition(lambda self: self.model_runners)
    @rule(data=st.data())
    def add_duplicate_runner(self, data: st.DataObject) -> None:
        """Registering a taken runner name fails and changes nothing.

        Cost: one failed ``add_runner`` plus the unchanged-state check, O(N + reservations).
        """
        name = data.draw(st.sampled_from(list(self.model_runners)), label="name")
        runner = Runner.parse(name, "cpu=1")
        self.expect_error(
            f"add_runner({name!r})", DuplicateRunnerError, lambda: self.allocator.add_runner(runner)
        )

    @precondition(lambda self: self.model_runners)
    @rule(data=st.data(), drain=st.booleans())
    def drain_or_undrain(self, data: st.DataObject, drain: bool) -> None:
        """Drain or undrain a runner; its reservations stay.

        Cost: one ``drain_runner`` or ``undrain_runner``; a repeated one also checks that nothing
        changed, O(N + reservations).
        """
        name = data.draw(st.sampled_from(list(self.model_runners)), label="name")
        if drain == (name in self.model_draining):
            # draining a draining runner (or undraining an active one) is allowed and a no-op
            before = self.observe()
            call = f"{'drain' if drain else 'undrain'}_runner({name!r}) a second time"
            getattr(self.allocator, "drain_runner" if drain else "undrain_runner")(name)
            self.assert_unchanged(before, call, None)
            return
        if drain:
            self.allocator.drain_runner(name)
            self.model_draining.add(name)
        else:
            self.allocator.undrain_runner(name)
            self.model_draining.discard(name)

    @precondition(lambda self: self.model_runners)
    @rule(data=st.data(), force=st.booleans())
    def remove_runner(self, data: st.DataObject, force: bool) -> None:
        """Remove a runner: refused while busy unless forced; forced returns exactly the evicted.

        Runtime complexity: O(reservations) to find the runner's, plus one ``remove_runner``.
        """
        name = data.draw(st.sampled_from(list(self.model_runners)), label="name")
        held = tuple(r for r in self.model_held.values() if r.runner == name)
        call = f"remove_runner({name!r}, force={force})"
        if held and not force:
            self.expect_error(
                call, RunnerBusyError, lambda: self.allocator.remove_runner(name, force=force)
            )
            return
        evicted = tuple(self.allocator.remove_runner(name, force=force))
        assert evicted == held, (
            f"{call} returned {[r.task_id for r in evicted]} but the runner held "
            f"{[r.task_id for r in held]}: an evicted reservation was lost or invented"
        )
        for reservation in held:
            del self.model_held[reservation.task_id]
            self.model_gone.add(reservation.task_id)
        del self.model_runners[name]
        self.model_removed.add(name)
        self.model_draining.discard(name)

    @rule(data=st.data(), kind=st.sampled_from(["drain_runner", "undrain_runner", "remove_runner"]))
    def call_missing_runner(self, data: st.DataObject, kind: str) -> None:
        """Operations on an unknown runner (never added, or removed) fail and change nothing.

        Cost: one failed call plus the unchanged-state check, O(N + reservations).
        """
        name = data.draw(st.sampled_from(self.missing_runner_names()), label="name")
        method = getattr(self.allocator, kind)
        self.expect_error(f"{kind}({name!r})", UnknownRunnerError, lambda: method(name))

    @rule()
    def restart(self) -> None:
        """Persist the snapshot as JSON and rebuild the allocator from it (an executor restart).

        Runtime complexity: O(N + reservations): a snapshot, its JSON round trip and one
        :meth:`restore_allocator`.
        """
        data = json.loads(json.dumps(self.allocator.snapshot().to_dict()))
        with quiet_weights():
            restored = self.restore_allocator(data)
        if restored is not None:
            self.allocator = restored

    # ------------------------------------------------------------------ invariants

    @invariant()
    def allocator_matches_model(self) -> None:
        """After every step: the invariants hold and the snapshot equals the model.

        Runtime complexity: O(N * dimensions + reservations) per step (the invariants, a snapshot
        and the model's), plus a JSON round trip of the same cost for each new snapshot.

        The JSON round trip (``to_dict`` -> ``from_snapshot``) is checked once
        for every distinct snapshot the run reaches: a step that changed
        nothing (most failed calls) has nothing new to round-trip.
        """
        if self.allocator is None:
            return
        self.steps += 1
        snapshot = check_invariants(self.allocator, round_trip=False)
        expected = self.model_snapshot()
        if snapshot != expected:
            diff = describe_difference(expected, snapshot).replace("\n", "\n  ")
            msg = f"the allocator no longer matches the model of what must be reserved:\n  {diff}"
            raise AssertionError(msg)
        if self.check_round_trip and snapshot != self._round_tripped:
            check_round_trip(self.allocator, snapshot)
            self._round_tripped = snapshot
