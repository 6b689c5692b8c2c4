"""check_invariants, describe_difference and run_workload on good and hand-broken inputs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from runtime_alloc import (
    Allocator,
    FleetSnapshot,
    MaxPackingStrategy,
    Reservation,
    Resources,
    Runner,
    RunnerState,
    UnknownTaskError,
)
from runtime_alloc.testing import (
    check_invariants,
    describe_difference,
    fleets,
    run_workload,
    workloads,
)

R0 = Runner.parse("r0", "cpu=2,memory=4Gi,slots=4")
R1 = Runner.parse("r1", "cpu=1,slots=2")


def reservation(task: str, runner: str, spec: str) -> Reservation:
    return Reservation(task, runner, Resources.parse(spec, default_slots=1))


def test_consistent_snapshot_and_allocator_pass() -> None:
    alloc = Allocator([R0, R1], strategy=MaxPackingStrategy(), backend="python")
    alloc.allocate("t0", "cpu=1")
    alloc.drain_runner("r1")
    snap = check_invariants(alloc)
    assert snap == alloc.snapshot()
    assert check_invariants(snap) is snap


def test_over_committed_runner_is_named() -> None:
    t0 = reservation("t0", "r1", "cpu=1500m")
    snap = FleetSnapshot([RunnerState(R1, t0.resources)], {"t0": t0})
    with pytest.raises(
        AssertionError, match=r"runner 'r1' is over-committed: .*\(cpu 1500 > 1000\)"
    ):
        check_invariants(snap)


def test_reserved_not_the_sum_is_named() -> None:
    t0 = reservation("t0", "r0", "cpu=1")
    snap = FleetSnapshot([RunnerState(R0, Resources(500, slots=1))], {"t0": t0})
    with pytest.raises(
        AssertionError,
        match=r"runner 'r0' reserved .* != the sum of its reservations .*tasks: 't0'",
    ):
        check_invariants(snap)


def test_reservation_on_missing_runner_is_named() -> None:
    t0 = reservation("t0", "gone", "cpu=1")
    snap = FleetSnapshot([RunnerState(R0)], {"t0": t0})
    with pytest.raises(
        AssertionError, match=r"reservation of task 't0' points at missing runner 'gone'"
    ):
        check_invariants(snap)


def test_every_problem_is_listed() -> None:
    t0 = reservation("t0", "gone", "cpu=1")
    t1 = reservation("t1", "r1", "cpu=3")
    snap = FleetSnapshot(
        [RunnerState(R0, Resources(1)), RunnerState(R1, t1.resources)], {"t0": t0, "t1": t1}
    )
    with pytest.raises(AssertionError) as info:
        check_invariants(snap)
    text = str(info.value)
    assert "missing runner 'gone'" in text
    assert "runner 'r0' reserved" in text
    assert "runner 'r1' is over-committed" in text


class Wrapper:
    """An executor wrapper that is not an Allocator: checked through snapshot() and len()."""

    def __init__(self, lie_about_len: bool = False) -> None:
        self.inner = Allocator([R0], backend="python")
        self.lie = lie_about_len

    def snapshot(self) -> FleetSnapshot:
        return self.inner.snapshot()

    def __len__(self) -> int:
        return len(self.inner) + (1 if self.lie else 0)


def test_wrapper_is_checked_through_public_api() -> None:
    good = Wrapper()
    good.inner.allocate("t0")
    check_invariants(good)
    bad = Wrapper(lie_about_len=True)
    with pytest.raises(AssertionError, match=r"len\(allocator\) is 1 but the snapshot holds 0"):
        check_invariants(bad)
    # With concurrent=True only atomic (single-snapshot) checks run.
    assert check_invariants(bad, concurrent=True) == bad.snapshot()


def test_not_an_allocator_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="needs an allocator or a FleetSnapshot, got int"):
        check_invariants(3)

    class Odd:
        def snapshot(self) -> dict[str, object]:
            return {}

    with pytest.raises(TypeError, match="snapshot\\(\\) must return a FleetSnapshot, got dict"):
        check_invariants(Odd())


def test_describe_difference_lines() -> None:
    a = Allocator([R0, R1], backend="python")
    before = a.snapshot()
    a.allocate("t0", "cpu=1")
    a.drain_runner("r1")
    text = describe_difference(before, a.snapshot())
    assert "runner 'r0' reserved cpu=0,memory=0,slots=0 became cpu=1,memory=0,slots=1" in text
    assert "runner 'r1' draining False became True" in text
    assert "reservation of task 't0': None became Reservation(" in text
    assert describe_difference(before, before) == ""


def test_run_workload_reports_the_step() -> None:
    class Leaky(Allocator):
        def release(self, task_id: str, state: str = "success") -> Reservation:
            held = self.get_reservation(task_id)
            del self._reservations[task_id]  # forgets the runner's bookkeeping
            return held

    alloc = Leaky([R0], backend="python")
    from runtime_alloc.testing import Operation

    ops = [Operation("allocate", "t0", Resources(1000, slots=1)), Operation("release", "t0")]
    with pytest.raises(
        AssertionError, match=r"after step 1: release\('t0', 'success'\): invariants broken"
    ):
        run_workload(alloc, ops)


@settings(max_examples=40)
@given(fleets(max_size=3).flatmap(lambda f: workloads(f, max_size=25).map(lambda w: (f, w))))
def test_run_workload_on_the_real_allocator(case) -> None:
    fleet, workload = case
    alloc = Allocator(fleet, backend="python")
    results = run_workload(alloc, workload)
    assert len(results) == len(workload)
    released = [r for op, r in zip(workload, results, strict=True) if op.kind == "release"]
    assert all(isinstance(r, (Reservation, UnknownTaskError)) for r in released)


def test_the_machine_models_mistyped_resource_names() -> None:
    # issue #14 item 8: with runners declaring gpu, a request for "gpus" is refused
    # as a typo; the machine must expect InvalidResourcesError there (and a plain
    # unschedulable failure while no runner declares gpu)
    from hypothesis import HealthCheck
    from hypothesis.stateful import run_state_machine_as_test

    from runtime_alloc.testing import AllocatorStateMachine, requests, resources

    class TypoMachine(AllocatorStateMachine):
        def fleet_strategy(self):
            return fleets(resources(extended_names=("gpu",), min_slots=1), max_size=3)

        def request_strategy(self):
            return requests(16, extended_names=("gpu", "gpus"))

    run_state_machine_as_test(
        TypoMachine,
        settings=settings(
            max_examples=15, stateful_step_count=15, deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )  # fmt: skip
