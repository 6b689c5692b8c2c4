"""Snapshots store the configuration and the counters (issue #14 item 10)."""

from __future__ import annotations

import pytest

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    FleetSnapshot,
    InvalidSnapshotError,
    MaxPackingStrategy,
    Runner,
)


def configured() -> Allocator:
    alloc = Allocator(
        [Runner.parse("a", "cpu=4"), Runner.parse("b", "cpu=2")],
        strategy=MaxPackingStrategy({"cpu": 3, "slots": 0}),
        max_task_slots=4,
        default_request="cpu=1",
        release_states=["preempted"],
        backend="python",
    )
    alloc.allocate("t1")
    alloc.allocate("t2", "cpu=2")
    alloc.try_allocate("t3", "cpu=64")
    alloc.release("t2", "preempted")
    alloc.allocate("t4", "cpu=1")
    alloc.remove_runner(alloc.get_reservation("t4").runner, force=True)
    return alloc


def test_config_and_counters_round_trip_through_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOCATOR_STRATEGY", "even-spread")  # must not override the stored one
    alloc = configured()
    text = alloc.snapshot().to_json()
    restored = Allocator.from_snapshot(FleetSnapshot.from_json(text).to_dict())
    assert restored.strategy == MaxPackingStrategy({"cpu": 3, "slots": 0})
    assert restored.max_task_slots == 4
    assert str(restored.default_request) == str(alloc.default_request)
    assert restored.release_states == alloc.release_states
    before, after = alloc.metrics(), restored.metrics()
    assert (after.allocations, after.failures, after.releases, after.evictions) == (
        before.allocations,
        before.failures,
        before.releases,
        before.evictions,
    )
    assert after == before
    assert restored.snapshot() == alloc.snapshot()


def test_arguments_override_the_stored_configuration() -> None:
    data = configured().snapshot().to_dict()
    restored = Allocator.from_snapshot(
        data,
        strategy=EvenSpreadStrategy(),
        max_task_slots=8,
        default_request="cpu=2",
        release_states=(),
    )
    assert restored.strategy == EvenSpreadStrategy()
    assert restored.max_task_slots == 8
    assert restored.default_request.millicpu == 2000
    assert "preempted" not in restored.release_states


def test_version_1_snapshots_are_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    alloc = configured()
    data = alloc.snapshot().to_dict()
    data["schema_version"] = 1
    data["config"] = "ignored in version 1"
    monkeypatch.setenv("ALLOCATOR_STRATEGY", "max-packing")
    restored = Allocator.from_snapshot(data)
    assert restored.strategy == MaxPackingStrategy()  # no stored strategy: the environment's
    assert restored.max_task_slots == 16
    assert restored.metrics().allocations == 0
    assert restored.snapshot() == alloc.snapshot()


def test_an_unregistered_strategy_must_be_passed() -> None:
    class FewestTasks:
        name = "FewestTasks"
        maximize = False

        def score(self, state: object, request: object) -> float:
            return 0.0

    alloc = Allocator([Runner.parse("a", "cpu=1")], strategy=FewestTasks())
    data = alloc.snapshot().to_dict()
    assert data["config"]["strategy"] == {"name": "FewestTasks", "weights": None}
    with pytest.raises(
        InvalidSnapshotError, match="strategy 'FewestTasks', which is not registered"
    ):
        Allocator.from_snapshot(data)
    assert Allocator.from_snapshot(data, strategy=FewestTasks()).strategy.name == "FewestTasks"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("config", 5, "config must be a mapping, got 5"),
        ("config", {"max_task_slots": "4"}, "config.max_task_slots must be an integer from 0 to"),
        ("config", {"strategy": {"name": 7}}, "config.strategy.name must be a non-empty string"),
        ("counters", {"allocations": -1}, "counters.allocations must be an integer from 0 to"),
        ("counters", {"failures": {"x": True}}, "counters.failures['x'] must be"),
    ],
)
def test_bad_config_or_counters_name_the_field(key: str, value: object, fragment: str) -> None:
    data = configured().snapshot().to_dict()
    data[key] = value
    with pytest.raises(InvalidSnapshotError) as info:
        FleetSnapshot.from_dict(data)
    assert fragment in str(info.value)


def test_config_and_counters_are_not_part_of_equality() -> None:
    alloc = configured()
    before = alloc.snapshot()
    alloc.try_allocate("t9", "cpu=64")  # counted as a failure, changes no placement
    assert alloc.snapshot() == before
    assert alloc.snapshot().counters != before.counters
