"""Proof that the harness bites: deliberately broken allocators must be caught, with small examples.

Each broken allocator below has one realistic bug. The state machine must fail
on it, the failure must name the problem, and hypothesis must shrink the run
to a handful of steps. Settings are local and derandomized so the outcome is
the same on every run and under every profile.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from runtime_alloc import Allocator, FleetSnapshot, Reservation, Resources, Runner, RunnerState
from runtime_alloc.testing import AllocatorStateMachine, check_invariants

BITE_SETTINGS = settings(
    max_examples=60,
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
        kept = attrs.evolve(reservation.resources, memory_bytes=0)
        state = self._states[reservation.runner]
        self._states[reservation.runner] = attrs.evolve(state, reserved=state.reserved - kept)
        del self._tasks[reservation.runner][reservation.task_id]
        del self._reservations[reservation.task_id]
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

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        return self._inner.choose(request, frozenset())


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


def machine_for(allocator_class: type[Allocator]) -> type[AllocatorStateMachine]:
    class Machine(AllocatorStateMachine):
        def make_allocator(self, fleet: list[Runner]) -> Allocator:
            return allocator_class(fleet, strategy=self.make_strategy(), backend="python")

    Machine.__name__ = f"{allocator_class.__name__}Machine"
    return Machine


def run_and_catch(allocator_class: type[Allocator]) -> tuple[str, list[str]]:
    """Run the machine on a broken allocator; return the error text and the shrunk steps."""
    with pytest.raises(AssertionError) as info:
        run_state_machine_as_test(machine_for(allocator_class), settings=BITE_SETTINGS)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    steps = [line for line in notes.splitlines() if re.match(r"\s*state\.\w+\(", line)]
    steps = [s for s in steps if "init_allocator" not in s and "teardown" not in s]
    return str(info.value), steps


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (ForgetfulRelease, r"release\('t\d+'\).* (left it reserving|did not restore)"),
        (Misplacing, r"not feasible: missing label\(s\) (gpu|ssd)"),
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
