"""The Allocator's public behaviour."""

from __future__ import annotations

import json

import pytest

from runtime_alloc import (
    AllocationError,
    Allocator,
    DuplicateRunnerError,
    DuplicateTaskError,
    EvenSpreadStrategy,
    FleetSnapshot,
    InsufficientCapacityError,
    InvalidArgumentError,
    InvalidResourcesError,
    InvalidSnapshotError,
    MaxPackingStrategy,
    Reservation,
    Resources,
    Runner,
    RunnerBusyError,
    RuntimeAllocError,
    Shortfall,
    UnknownRunnerError,
    UnknownTaskError,
    UnschedulableError,
)


def fleet() -> list[Runner]:
    return [
        Runner.parse("a", "cpu=2,memory=4Gi,slots=2"),
        Runner.parse("b", "cpu=4,memory=4Gi,slots=4", labels=["ssd"]),
        Runner.parse("c", "cpu=8,memory=16Gi,slots=8,gpu=2", labels=["gpu", "ssd"]),
    ]


@pytest.fixture
def alloc() -> Allocator:
    return Allocator(fleet(), strategy=EvenSpreadStrategy())


def test_default_request_is_one_slot(alloc: Allocator) -> None:
    assert alloc.allocate("t").resources == Resources(slots=1)
    custom = Allocator(fleet(), default_request="cpu=1", strategy=EvenSpreadStrategy())
    assert custom.allocate("t").resources == Resources(1000, 0, 1)


def test_missing_slots_mean_one(alloc: Allocator) -> None:
    assert alloc.allocate("t", {"cpu": "1"}).resources.slots == 1
    assert alloc.allocate("u", Resources(millicpu=1, slots=3)).resources.slots == 3


@pytest.mark.parametrize("request_", ["slots=0", "slots=17", Resources(millicpu=1, slots=17)])
def test_task_slots_must_be_from_one_to_max(alloc: Allocator, request_) -> None:
    before = alloc.snapshot()
    with pytest.raises(InvalidResourcesError, match="slots must be from 1 to 16"):
        alloc.allocate("t", request_)
    assert alloc.snapshot() == before


def test_max_task_slots_is_configurable() -> None:
    alloc = Allocator(fleet(), max_task_slots=2)
    with pytest.raises(InvalidResourcesError, match="from 1 to 2"):
        alloc.allocate("t", "slots=3")
    with pytest.raises(InvalidArgumentError, match="max_task_slots"):
        Allocator(max_task_slots=0)


def test_require_labels(alloc: Allocator) -> None:
    assert alloc.allocate("g", "gpu=1", require={"gpu"}).runner == "c"
    assert alloc.allocate("s", require="ssd").runner in {"b", "c"}
    with pytest.raises(UnschedulableError, match="missing label nvme"):
        alloc.allocate("n", require=["nvme"])


def test_insufficient_capacity_message_and_structure() -> None:
    alloc = Allocator(
        [Runner.parse(f"r{i}", "cpu=2,slots=2") for i in range(3)], strategy=MaxPackingStrategy()
    )
    alloc.allocate("big0", "cpu=2")
    alloc.allocate("big1", "cpu=2")
    alloc.allocate("s1", "slots=2")  # r2 is now out of slots, with cpu 2 free
    before = alloc.snapshot()
    with pytest.raises(InsufficientCapacityError) as info:
        alloc.allocate("t7", "cpu=1")
    error = info.value
    assert str(error) == "0/3 runners can take task 't7': 2 insufficient cpu, 1 insufficient slots"
    assert error.reasons == {"insufficient cpu": 2, "insufficient slots": 1}
    # r2 offers 2000m cpu and r0/r1 offer 1 slot, but no runner offers both at once.
    assert error.shortfalls == (Shortfall("cpu", 1000, 2000), Shortfall("slots", 1, 1))
    assert error.task_id == "t7"
    assert error.runners_total == 3
    assert isinstance(error, AllocationError)
    assert isinstance(error, RuntimeAllocError)
    assert alloc.snapshot() == before
    assert alloc.try_allocate("t7", "cpu=1") is None
    assert alloc.metrics().failures == {"insufficient_capacity": 2}


def test_unschedulable_when_no_runner_could_ever_hold_it(alloc: Allocator) -> None:
    with pytest.raises(UnschedulableError) as info:
        alloc.allocate("huge", "cpu=9")
    assert info.value.reasons == {"insufficient cpu": 3}
    assert info.value.shortfalls == (Shortfall("cpu", 9000, 8000),)
    assert "unschedulable" in str(info.value)
    with pytest.raises(UnschedulableError, match="insufficient tpu"):
        alloc.allocate("tpu", "tpu=1")
    assert alloc.try_allocate("huge", "cpu=9") is None


def test_draining_runners_take_nothing_new_but_keep_reservations(alloc: Allocator) -> None:
    held = alloc.allocate("t", "cpu=1", require="gpu")
    alloc.drain_runner("c")
    with pytest.raises(InsufficientCapacityError) as info:  # c could hold it when undrained
        alloc.allocate("g", "gpu=1")
    assert info.value.reasons == {"insufficient gpu": 2, "draining": 1}
    assert alloc.get_reservation("t") == held
    assert [s.draining for s in alloc.snapshot().runners] == [False, False, True]
    alloc.undrain_runner("c")
    assert alloc.allocate("g", "gpu=1").runner == "c"
    with pytest.raises(UnknownRunnerError, match="'zz'"):
        alloc.drain_runner("zz")


def test_release_restores_exactly(alloc: Allocator) -> None:
    before = alloc.snapshot()
    res = alloc.allocate("t", "cpu=1.5,memory=1Gi,gpu=1")
    assert alloc.release("t", state="failed") == res
    assert alloc.snapshot() == before
    assert alloc.metrics().releases == {"failed": 1}
    with pytest.raises(UnknownTaskError, match="'t'"):
        alloc.release("t")
    with pytest.raises(KeyError):
        alloc.release("t")


def test_duplicate_task(alloc: Allocator) -> None:
    alloc.allocate("t")
    before = alloc.snapshot()
    with pytest.raises(DuplicateTaskError, match="already holds"):
        alloc.allocate("t")
    assert alloc.snapshot() == before


@pytest.mark.parametrize("task_id", ["", None, 7, "x" * 300])
def test_bad_task_ids(alloc: Allocator, task_id) -> None:
    with pytest.raises(InvalidArgumentError, match="task_id must be"):
        alloc.allocate(task_id)


def test_fleet_management(alloc: Allocator) -> None:
    with pytest.raises(DuplicateRunnerError):
        alloc.add_runner(Runner.parse("a", "cpu=1"))
    with pytest.raises(DuplicateRunnerError):
        Allocator([Runner.parse("x", "cpu=1"), Runner.parse("x", "cpu=2")])
    with pytest.raises(InvalidArgumentError, match="must be a Runner"):
        alloc.add_runner("d")  # type: ignore[arg-type]
    r1 = alloc.allocate("t1", require="gpu")
    r2 = alloc.allocate("t2", require="gpu")
    before = alloc.snapshot()
    with pytest.raises(RunnerBusyError) as info:
        alloc.remove_runner("c")
    assert info.value.reservations == (r1, r2)
    assert alloc.snapshot() == before
    assert alloc.remove_runner("c", force=True) == (r1, r2)
    assert [s.name for s in alloc.snapshot().runners] == ["a", "b"]
    assert len(alloc) == 0
    assert alloc.metrics().evictions == 2
    assert alloc.remove_runner("a") == ()
    with pytest.raises(UnknownRunnerError):
        alloc.remove_runner("a")


def test_allocate_many_matches_sequential_allocate() -> None:
    items = [(f"t{i}", "cpu=1,slots=1" if i % 3 else "cpu=3") for i in range(12)]
    one = Allocator(fleet(), strategy=EvenSpreadStrategy())
    sequential: list[Reservation | AllocationError] = []
    for task_id, request in items:
        try:
            sequential.append(one.allocate(task_id, request))
        except AllocationError as error:
            sequential.append(error)
    many = Allocator(fleet(), strategy=EvenSpreadStrategy())
    batch = many.allocate_many(items)
    assert batch == sequential
    assert any(isinstance(x, AllocationError) for x in batch)
    assert many.snapshot() == one.snapshot()


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ([("t1", None), ("t1", None)], DuplicateTaskError),
        ([("t1", None), ("t2", "cpu=lots")], InvalidResourcesError),
        ([("t1", None), ("", None)], InvalidArgumentError),
        ([("t1", None), "t2"], InvalidArgumentError),
        ([("t1", None), ("t2", None, ["gpu"], 4)], InvalidArgumentError),
        ([("held", None)], DuplicateTaskError),
    ],
)
def test_allocate_many_validates_everything_first(alloc: Allocator, items, error) -> None:
    alloc.allocate("held")
    before = alloc.snapshot()
    with pytest.raises(error):
        alloc.allocate_many(items)
    assert alloc.snapshot() == before
    assert alloc.metrics().allocations == 1


def test_allocate_many_with_require(alloc: Allocator) -> None:
    out = alloc.allocate_many([("t1", "gpu=1", ["gpu"]), ("t2", None, "ssd")])
    assert isinstance(out[0], Reservation)
    assert out[0].runner == "c"


def test_snapshot_round_trip_through_json(alloc: Allocator) -> None:
    alloc.allocate("t1", "cpu=1,gpu=1")
    alloc.allocate("t2", "memory=1Gi")
    alloc.drain_runner("b")
    snap = alloc.snapshot()
    text = json.dumps(snap.to_dict())
    restored = Allocator.from_snapshot(json.loads(text), strategy=EvenSpreadStrategy())
    assert restored.snapshot() == snap
    assert Allocator.from_snapshot(snap).snapshot() == snap
    assert FleetSnapshot.from_dict(snap.to_dict()) == snap
    assert hash(snap) == hash(restored.snapshot())
    # the restored allocator decides as the original does
    assert restored.allocate("t3").runner == alloc.allocate("t3").runner


def test_snapshot_states(alloc: Allocator) -> None:
    alloc.allocate("t1", "cpu=1", require="gpu")
    state = alloc.snapshot().runners[2]
    assert state.reserved == Resources(1000, 0, 1)
    assert state.free == Resources(7000, 16 * 2**30, 7, {"gpu": 2})
    assert not state.draining
    assert alloc.snapshot().reservations["t1"].runner == "c"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(schema_version=99), "schema_version"),
        (lambda d: d["reservations"][0].update(runner="zz"), "unknown runner 'zz'"),
        (lambda d: d["runners"][0]["reserved"].update(millicpu=5), "add up to"),
        (lambda d: d["reservations"].append(d["reservations"][0]), "more than once"),
        (lambda d: d["runners"].append(d["runners"][0]), "twice"),
        (lambda d: d["runners"][0].update(draining="yes"), "draining must be"),
        (lambda d: d["runners"][0].pop("capacity"), "malformed"),
        (lambda d: d["runners"][0]["capacity"].update(slots=-1), "invalid value"),
        (lambda d: d.pop("reservations"), "malformed"),
    ],
)
def test_bad_snapshots_are_rejected(alloc: Allocator, mutate, fragment) -> None:
    alloc.allocate("t1", "cpu=1")
    data = alloc.snapshot().to_dict()
    mutate(data)
    with pytest.raises(InvalidSnapshotError) as info:
        Allocator.from_snapshot(data)
    assert fragment in str(info.value)


def test_over_committed_snapshot_is_rejected() -> None:
    runner = Runner.parse("r", "cpu=1")
    from runtime_alloc import RunnerState

    res = Reservation("t", "r", Resources(2000, 0, 1))
    snap = FleetSnapshot((RunnerState(runner, res.resources),), {"t": res})
    with pytest.raises(InvalidSnapshotError, match="over-committed"):
        Allocator.from_snapshot(snap)


def test_explain_is_read_only_and_agrees_with_allocate(alloc: Allocator) -> None:
    alloc.allocate("t1", "cpu=1")
    before = alloc.snapshot()
    explanation = alloc.explain("cpu=3,gpu=1", require="ssd")
    assert alloc.snapshot() == before
    verdicts = {v.runner: v for v in explanation.runners}
    assert not verdicts["a"].feasible
    assert verdicts["a"].missing_labels == frozenset({"ssd"})
    assert verdicts["b"].reason == "insufficient gpu"
    assert verdicts["b"].shortfalls == (Shortfall("gpu", 1, 0),)
    assert verdicts["c"].feasible
    assert verdicts["c"].score is not None
    assert explanation.chosen == "c"
    assert "* c" in str(explanation)
    assert json.loads(json.dumps(explanation.to_dict()))["chosen"] == "c"
    assert alloc.allocate("t2", "cpu=3,gpu=1", require="ssd").runner == explanation.chosen


def test_metrics(alloc: Allocator) -> None:
    alloc.allocate("t1", "cpu=1,gpu=1")
    alloc.allocate("t2", "cpu=1")
    alloc.release("t2", "upstream_failed")
    alloc.try_allocate("t3", "cpu=100")
    alloc.drain_runner("a")
    m = alloc.metrics()
    assert m.allocations == 2
    assert m.failures == {"unschedulable": 1}
    assert m.releases == {"upstream_failed": 1}
    assert m.tasks_running == 1
    assert m.runners == 3
    assert m.runners_in_use == 1
    assert m.runners_draining == 1
    assert m.fleet["cpu"].reserved == 1000
    assert m.fleet["cpu"].capacity == 14000
    assert m.fleet["gpu"].utilization == 0.5
    assert [r.tasks for r in m.per_runner] == [0, 0, 1]
    assert m.per_runner[2].usage["gpu"].utilization == 0.5
    assert json.loads(json.dumps(m.to_dict()))["counters"]["allocations"] == 2


def test_backend_argument() -> None:
    assert Allocator(backend="python").backend == "python"
    assert Allocator(backend="auto").backend in {"python", "numpy"}
    with pytest.raises(InvalidArgumentError, match="backend must be one of"):
        Allocator(backend="gpu")


def test_bad_state_on_release(alloc: Allocator) -> None:
    alloc.allocate("t")
    with pytest.raises(InvalidArgumentError, match="state must be"):
        alloc.release("t", state="")
    assert len(alloc) == 1


def test_repr(alloc: Allocator) -> None:
    assert "3 runners" in repr(alloc)


def test_allocate_or_error_returns_the_reason_in_one_call() -> None:
    # issue #14 item 11: try_allocate hides why; allocate_or_error returns it
    from runtime_alloc import InsufficientCapacityError, UnschedulableError

    alloc = Allocator([Runner.parse("a", "cpu=2")], backend="python")
    never = alloc.allocate_or_error("t1", "cpu=4")
    assert isinstance(never, UnschedulableError)
    assert never.task_id == "t1"
    assert alloc.allocate_or_error("t2", "cpu=2").runner == "a"
    before = alloc.snapshot()
    later = alloc.allocate_or_error("t3", "cpu=1")
    assert isinstance(later, InsufficientCapacityError)
    assert str(later) == "0/1 runners can take task 't3': 1 insufficient cpu"
    assert alloc.snapshot() == before
    assert alloc.metrics().failures == {"unschedulable": 1, "insufficient_capacity": 1}
    with pytest.raises(InvalidResourcesError):
        alloc.allocate_or_error("t4", "cpu=-1")


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_a_repeated_spec_places_as_its_parsed_resources(backend: str) -> None:
    # text and dict specs are parsed once and remembered; every later use of
    # the same spec must place, fail and raise exactly as the parsed Resources
    specs = ["cpu=1,memory=1Gi", {"cpu": "500m", "memory": "512Mi", "slots": 2}, "slots=1"]
    by_spec = Allocator(fleet(), strategy=MaxPackingStrategy(), backend=backend)
    by_value = Allocator(fleet(), strategy=MaxPackingStrategy(), backend=backend)
    for i in range(12):
        spec = specs[i % len(specs)]
        parsed = Resources.parse(spec)
        if parsed.slots == 0:
            parsed = Resources(parsed.millicpu, parsed.memory_bytes, 1, parsed.extended)
        got = by_spec.allocate_or_error(f"t{i}", spec)
        want = by_value.allocate_or_error(f"t{i}", parsed)
        assert type(got) is type(want)
        if isinstance(want, Reservation):
            assert got == want
        else:
            assert str(got) == str(want)
    assert by_spec.snapshot() == by_value.snapshot()
    # a remembered spec still gets the task id checks, and a failed call changes nothing
    before = by_spec.snapshot()
    with pytest.raises(DuplicateTaskError, match="already holds"):
        by_spec.allocate("t0", specs[0])
    with pytest.raises(InvalidArgumentError, match="task_id must be"):
        by_spec.allocate("", specs[1])
    assert by_spec.snapshot() == before


def test_a_spec_with_too_many_slots_fails_every_time() -> None:
    alloc = Allocator(fleet(), max_task_slots=2)
    for _ in range(2):  # an invalid spec is never remembered
        with pytest.raises(InvalidResourcesError, match="slots must be from 1 to 2"):
            alloc.allocate("t", {"slots": 3})
    assert alloc.snapshot().reservations == {}
