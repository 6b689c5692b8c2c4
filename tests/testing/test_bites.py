"""Proof that the harness bites: deliberately broken allocators must be caught, with small examples.

Each broken allocator below has one realistic bug. The state machine must fail
on it, the failure must name the problem, and hypothesis must shrink the run
to a handful of steps. Settings are local and derandomized so the outcome is
the same on every run and under every profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from runtime_alloc import (
    AllocationError,
    Allocator,
    FleetSnapshot,
    InsufficientCapacityError,
    InvalidArgumentError,
    Reservation,
    Resources,
    Runner,
    RunnerState,
    UnknownTaskError,
    UnschedulableError,
)
from runtime_alloc.testing import AllocatorStateMachine, check_invariants

BITE_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=20,
    derandomize=True,
    report_multiple_bugs=False,
    # The explain phase re-runs the failure many times to annotate it; it costs
    # minutes on a state machine and adds nothing to these checks.
    phases=[p for p in Phase if p is not Phase.explain],
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: A shrunk counterexample must be at most this many steps (after initialization).
SMALL = 6


class ForgetfulRelease(Allocator):
    """Release gives back everything but the memory."""

    def _unreserve(self, reservation: Reservation) -> None:
        super()._unreserve(reservation)
        ledger = self._ledger
        ledger.memory[ledger.row_of[reservation.runner]] += reservation.resources.memory_bytes
        self._backend.update(self._states[reservation.runner])


class _LabelBlindBackend:
    """Wraps the real backend but forgets required labels: sometimes picks an infeasible runner."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = inner.name

    def add(self, state: RunnerState) -> None:
        self._inner.add(state)

    def update(self, state: RunnerState) -> None:
        self._inner.update(state)

    def remove(self, name: str) -> None:
        self._inner.remove(name)

    def update_reserved(
        self,
        name: str,
        reserved: tuple[int, int, int],
        extended: Mapping[str, int] | None,
        draining: bool,
    ) -> None:
        self._inner.update_reserved(name, reserved, extended, draining)

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        return self._inner.choose(request, frozenset())

    def diagnose(self, task_id: str, request: Resources, require: frozenset[str]) -> Any:
        return self._inner.diagnose(task_id, request, require)

    def plan(self, request: Resources, require: frozenset[str], count: int) -> Any:
        return self._inner.plan(request, require, count)


class Misplacing(Allocator):
    """The placement ignores required labels (the Allocator's own filter is bypassed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._backend = _LabelBlindBackend(self._backend)


class LosingRemove(Allocator):
    """remove_runner(force=True) forgets to report the newest evicted reservation."""

    def remove_runner(self, name: str, *, force: bool = False) -> tuple[Reservation, ...]:
        evicted = super().remove_runner(name, force=force)
        return evicted[:-1]


class DrainForgettingRestore(Allocator):
    """Restoring from a snapshot drops the draining state (a restarted executor undrains all)."""

    @classmethod
    def from_snapshot(cls, snapshot: FleetSnapshot | dict[str, Any], **kwargs: Any) -> Allocator:  # type: ignore[override]
        if isinstance(snapshot, FleetSnapshot):
            snapshot = snapshot.to_dict()
        data = {**snapshot, "runners": [{**r, "draining": False} for r in snapshot["runners"]]}
        return super().from_snapshot(data, **kwargs)


class DrainHidingSnapshot(Allocator):
    """snapshot() reports no runner as draining (what an executor persists loses the drain)."""

    def snapshot(self) -> FleetSnapshot:
        snap = super().snapshot()
        return FleetSnapshot(
            [attrs.evolve(s, draining=False) for s in snap.runners], snap.reservations
        )


# ---------------------------------------------------------------- broken error paths
# Each gets exactly one documented error path wrong; the rule named beside it catches it.


class ReleasesTwice(Allocator):
    """release() of a task released before returns its old reservation instead of raising."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.released: dict[str, Reservation] = {}

    def release(self, task_id: str, state: str = "success") -> Reservation:
        try:
            reservation = super().release(task_id, state)
        except UnknownTaskError:
            if task_id in self.released:
                return self.released[task_id]
            raise
        self.released[task_id] = reservation
        return reservation


class CountsUnschedulableTwice(Allocator):
    """An UnschedulableError is counted twice in metrics().failures (state changed on a failure)."""

    def allocate(self, task_id: str, request: Any = None, *, require: Any = ()) -> Reservation:
        try:
            return super().allocate(task_id, request, require=require)
        except UnschedulableError as exc:
            self._ledger.failures[exc.kind] += 1
            raise


class FullRunnerUnschedulable(Allocator):
    """Off by one at the boundary: a request equal to a runner's whole capacity, refused while
    that runner is busy, is reported as UnschedulableError instead of InsufficientCapacityError."""

    def allocate(self, task_id: str, request: Any = None, *, require: Any = ()) -> Reservation:
        try:
            return super().allocate(task_id, request, require=require)
        except InsufficientCapacityError as exc:
            wanted = exc.request

            def roomy(runner: Runner) -> bool:
                return set(require) <= runner.labels and all(
                    wanted.get(dim) < runner.capacity.get(dim)
                    for dim in wanted.dimensions()
                    if wanted.get(dim)
                )

            if any(roomy(s.runner) for s in self.snapshot().runners):
                raise
            raise UnschedulableError(
                exc.task_id, exc.request, exc.runners_total, exc.reasons, exc.shortfalls
            ) from None


class CountsInvalidRequests(Allocator):
    """A request refused as invalid is counted as a failed placement (metrics change)."""

    def allocate(self, task_id: str, request: Any = None, *, require: Any = ()) -> Reservation:
        try:
            return super().allocate(task_id, request, require=require)
        except InvalidArgumentError:
            self._ledger.failures["invalid"] = self._ledger.failures.get("invalid", 0) + 1
            raise


class BatchOneByOne(Allocator):
    """allocate_many() places item by item, so a bad item leaves the ones before it placed."""

    def allocate_many(self, items: Any) -> list[Reservation | AllocationError]:
        results: list[Reservation | AllocationError] = []
        for task_id, request, *require in items:
            try:
                results.append(
                    self.allocate(task_id, request, require=require[0] if require else ())
                )
            except AllocationError as exc:
                results.append(exc)
        return results


class RemovedRunnerLingers(Allocator):
    """A removed runner's name is still accepted by drain/undrain/remove, which do nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.removed: set[str] = set()

    def drain_runner(self, name: str) -> None:
        if name not in self.removed:
            super().drain_runner(name)

    def undrain_runner(self, name: str) -> None:
        if name not in self.removed:
            super().undrain_runner(name)

    def remove_runner(self, name: str, *, force: bool = False) -> tuple[Reservation, ...]:
        if name in self.removed:
            return ()
        evicted = super().remove_runner(name, force=force)
        self.removed.add(name)
        return evicted


#: broken allocator, the rule that must catch it, the rules that rule needs to set
#: the scene (for the "alone" test), and what the report says.
ERROR_PATH_BITES: list[tuple[type[Allocator], str, tuple[str, ...], str]] = [
    (
        ReleasesTwice,
        "release_gone",
        ("allocate", "release"),
        r"release\('t\d+'\) of a task that holds nothing any more returned",
    ),
    (
        CountsUnschedulableTwice,
        "allocate_unschedulable",
        (),
        (
            r"failed with UnschedulableError but changed the allocator:\s+metrics "
            r"counters.failures.unschedulable 1 became 2"
        ),
    ),
    (
        FullRunnerUnschedulable,
        "allocate_whole_runner",
        (),
        r"raised UnschedulableError, expected InsufficientCapacityError",
    ),
    (
        CountsInvalidRequests,
        "call_with_bad_values",
        (),
        r"failed with Invalid\w+Error but changed the allocator:\s+metrics counters.failures.invalid",
    ),
    (
        BatchOneByOne,
        "allocate_many_refused",
        (),
        r"allocate_many\(.*\) with a .* failed with \w+Error but changed the allocator",
    ),
    (
        RemovedRunnerLingers,
        "call_missing_runner",
        ("remove_runner",),
        r"_runner\('r\d+'\) returned .*expected UnknownRunnerError",
    ),
]


@pytest.fixture(autouse=True)
def fixed_constant_pool(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run each derandomized search without hypothesis's pool of local source constants.

    Hypothesis (6.131 and later) mixes literals from the source of every *local* module
    in ``sys.modules`` (not tests, not site-packages) into its draws. A derandomized
    search then depends on which runtime_alloc modules are imported and on every literal
    in them: importing ``runtime_alloc.cli`` first, or adding an unrelated module, turned
    a found bug into a missed one. With the pool empty (the one private hook hypothesis
    has for it; skipped where a version lacks it) each search depends only on this file,
    the harness and the hypothesis version.
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover
        yield
        return
    if not hasattr(providers, "_get_local_constants"):  # pragma: no cover
        yield
        return
    empty = type(providers._local_constants)()
    monkeypatch.setattr(providers, "_get_local_constants", lambda: empty)
    providers.CONSTANTS_CACHE.cache.clear()
    yield
    providers.CONSTANTS_CACHE.cache.clear()


def machine_for(
    allocator_class: type[Allocator], *, without: tuple[str, ...] = ()
) -> type[AllocatorStateMachine]:
    """The state machine on ``allocator_class``, with the rules named in ``without`` disabled."""

    class Machine(AllocatorStateMachine):
        def make_allocator(self, fleet: list[Runner]) -> Allocator:
            return allocator_class(fleet, strategy=self.make_strategy(), backend="python")

    for name in without:
        assert callable(getattr(Machine, name)), name
        setattr(Machine, name, None)  # hypothesis collects only attributes marked as rules
    Machine.__name__ = f"{allocator_class.__name__}Machine"
    return Machine


def run_and_catch(
    allocator_class: type[Allocator], *, without: tuple[str, ...] = ()
) -> tuple[str, list[str]]:
    """Run the machine on a broken allocator; return the error text and the shrunk steps."""
    with pytest.raises(AssertionError) as info:
        run_state_machine_as_test(
            machine_for(allocator_class, without=without), settings=BITE_SETTINGS
        )
    notes = "\n".join(getattr(info.value, "__notes__", []))
    steps = [line for line in notes.splitlines() if re.match(r"\s*state\.\w+\(", line)]
    steps = [
        s
        for s in steps
        if not any(word in s for word in ("init_allocator", "teardown", "allocator_matches_model"))
    ]
    return str(info.value), steps


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (ForgetfulRelease, r"release\('t\d+'\).* (left it reserving|did not restore)"),
        (
            Misplacing,
            (
                r"not feasible: missing label\(s\) (gpu|ssd)"
                r"|require=\['absent0'\]\), which no runner could ever hold, returned"
            ),
        ),
        (LosingRemove, r"remove_runner\('\w+', force=True\) returned .* lost or invented"),
        (DrainForgettingRestore, r"draining True became False"),
        (DrainHidingSnapshot, r"draining True became False"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_harness_reports_broken_allocator(broken: type[Allocator], expected: str) -> None:
    message, steps = run_and_catch(broken)
    assert re.search(expected, message), message
    assert 1 <= len(steps) <= SMALL, f"counterexample not small ({len(steps)} steps): {steps}"


def rule_names() -> list[str]:
    """The names of the state machine's rules (not its initializer or invariants)."""
    return [
        name
        for name in dir(AllocatorStateMachine)
        if getattr(getattr(AllocatorStateMachine, name), "hypothesis_stateful_rule", None)
    ]


@pytest.mark.parametrize(
    ("broken", "rule", "needs", "expected"),
    ERROR_PATH_BITES,
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_error_path_rule_catches_broken_allocator(
    broken: type[Allocator], rule: str, needs: tuple[str, ...], expected: str
) -> None:
    message, steps = run_and_catch(broken)
    assert re.search(expected, message), message
    assert 1 <= len(steps) <= SMALL, f"counterexample not small ({len(steps)} steps): {steps}"
    assert any(f"state.{rule}(" in step for step in steps), (rule, steps)


@pytest.mark.parametrize(
    ("broken", "rule", "needs", "expected"),
    ERROR_PATH_BITES,
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_error_path_rule_alone_catches_broken_allocator(
    broken: type[Allocator], rule: str, needs: tuple[str, ...], expected: str
) -> None:
    # Only this rule (and the plain rules it needs to set the scene) is enabled.
    others = tuple(name for name in rule_names() if name not in {rule, *needs})
    message, _ = run_and_catch(broken, without=others)
    assert re.search(expected, message), message


@pytest.mark.parametrize(
    ("broken", "rule"),
    # Left out, because the plain `allocate` rule also catches them: CountsUnschedulableTwice
    # (it meets unschedulable requests, e.g. an empty fleet, and checks the metrics too) and
    # FullRunnerUnschedulable (it draws requests equal to a busy runner's whole capacity, e.g.
    # `slots=2` on a 2-slot runner, and checks the error's type). Both are still caught with
    # only their own rule enabled (test_error_path_rule_catches_broken_allocator).
    [
        b[:2]
        for b in ERROR_PATH_BITES
        if b[0] not in {CountsUnschedulableTwice, FullRunnerUnschedulable}
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_error_path_bug_escapes_without_its_rule(broken: type[Allocator], rule: str) -> None:
    # The ablation: with that one rule disabled, the same settings find nothing,
    # so the rule (and not some other part of the harness) is what catches the bug.
    run_state_machine_as_test(machine_for(broken, without=(rule,)), settings=BITE_SETTINGS)


def test_forgetful_release_breaks_the_sum_invariant_directly() -> None:
    # Outside the machine, check_invariants alone names the broken sum.
    alloc = ForgetfulRelease([Runner.parse("r0", "cpu=2,memory=2Gi")], backend="python")
    alloc.allocate("t0", "memory=1Gi")
    alloc.allocate("t1", "memory=1Gi")
    alloc.release("t0")
    with pytest.raises(
        AssertionError, match=r"runner 'r0' reserved .* != the sum of its reservations"
    ):
        check_invariants(alloc)


def test_drain_forgetting_restore_fails_the_round_trip() -> None:
    alloc = DrainForgettingRestore([Runner.parse("r0", "cpu=2")], backend="python")
    alloc.drain_runner("r0")
    with pytest.raises(
        AssertionError,
        match=r"does not survive to_dict/from_snapshot:\s+runner 'r0' draining True became False",
    ):
        check_invariants(alloc)


def test_correct_allocator_passes_the_same_settings() -> None:
    # The control: the unbroken allocator passes the very settings that catch the bugs above.
    run_state_machine_as_test(machine_for(Allocator), settings=BITE_SETTINGS)
