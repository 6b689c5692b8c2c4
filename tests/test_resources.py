"""Resources, Runner and Reservation value objects."""

from __future__ import annotations

import pytest

from runtime_alloc import (
    InvalidArgumentError,
    InvalidResourcesError,
    Reservation,
    Resources,
    Runner,
    RunnerState,
)


def test_seed_example_mapping_and_string_agree() -> None:
    a = Resources.parse({"cpu": "1.5", "memory": "1024MB", "slots": "2"})
    b = Resources.parse("cpu=1.5,memory=1024MB,slots=2")
    assert a == b == Resources(1500, 2**30, 2)


def test_extended_resources() -> None:
    r = Resources.parse("cpu=1,gpu=2,nvidia.com/mig=1")
    assert dict(r.extended) == {"gpu": 2, "nvidia.com/mig": 1}
    assert r.get("gpu") == 2
    assert r.get("tpu") == 0
    assert r.dimensions() == ("cpu", "memory", "slots", "gpu", "nvidia.com/mig")


def test_zero_extended_entries_are_dropped() -> None:
    assert Resources(extended={"gpu": 0}) == Resources()
    assert hash(Resources(extended={"gpu": 0})) == hash(Resources())


def test_values_are_frozen_and_hashable() -> None:
    r = Resources(1, 2, 3, {"gpu": 1})
    with pytest.raises(AttributeError):
        r.millicpu = 5  # type: ignore[misc]
    assert {r, Resources(1, 2, 3, {"gpu": 1})} == {r}
    assert len({Runner.parse("a", "cpu=1"), Runner.parse("a", "cpu=1")}) == 1


def test_arithmetic() -> None:
    a = Resources(1000, 10, 1, {"gpu": 1})
    b = Resources(500, 5, 1, {"gpu": 1, "fpga": 2})
    assert a + b == Resources(1500, 15, 2, {"gpu": 2, "fpga": 2})
    assert (a + b) - b == a
    with pytest.raises(InvalidResourcesError, match="must be non-negative"):
        _ = a - b  # fpga would go negative


def test_fits_within_is_a_partial_order() -> None:
    a = Resources(1000, 0, 1)
    b = Resources(0, 100, 1)
    assert not a.fits_within(b)
    assert not b.fits_within(a)
    assert a.fits_within(a + b)
    assert Resources(extended={"gpu": 1}).fits_within(Resources(extended={"gpu": 1}))
    assert not Resources(extended={"gpu": 2}).fits_within(Resources(extended={"gpu": 1}))
    with pytest.raises(TypeError):
        _ = a < b  # type: ignore[operator]


@pytest.mark.parametrize(
    "r",
    [
        Resources(),
        Resources(1, 1, 1),
        Resources(1500, 2**30, 2, {"gpu": 1}),
        Resources(7, 1001, 0, {"a": 3, "b.c/d": 2**53}),
        Resources(2**53, 2**53, 2**53),
    ],
)
def test_canonical_string_round_trip(r: Resources) -> None:
    assert Resources.parse(str(r)) == r
    assert Resources.from_dict(r.to_dict()) == r


def test_canonical_string_is_stable() -> None:
    assert str(Resources.parse("memory=1024MB,cpu=0.5")) == "cpu=500m,memory=1Gi,slots=0"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("cpu", "name=value"),
        ("cpu=1,cpu=2", "twice"),
        ("=1", "name=value"),
        ("cpu=1;memory=2", "cpu must be"),
        ("gpu=1.5", "gpu must be a non-negative integer"),
        ("gpu=-1", "gpu must be"),
        ("g p u=1", "resource name"),
        ({"cpu": "x"}, "cpu must be"),
        ({1: 2}, "resource name"),
        (42, "resources must be a mapping"),
        ("x" * 5000, "at most 4096 characters"),
    ],
)
def test_bad_specs(spec, fragment) -> None:
    with pytest.raises(InvalidResourcesError) as info:
        Resources.parse(spec)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"millicpu": -1}, "millicpu must be non-negative"),
        ({"memory_bytes": 1.5}, "memory_bytes must be an integer"),
        ({"slots": True}, "slots must be an integer"),
        ({"extended": {"cpu": 1}}, "must not be 'cpu'"),
        ({"extended": {"gpu": -1}}, "gpu must be non-negative"),
        ({"extended": [1]}, "extended must be a mapping"),
        ({"millicpu": 2**53 + 1}, "at most 2**53"),
    ],
)
def test_bad_constructor_arguments(kwargs, fragment) -> None:
    with pytest.raises(InvalidResourcesError) as info:
        Resources(**kwargs)
    assert fragment in str(info.value)


def test_runner_defaults_to_16_slots_and_needs_one() -> None:
    assert Runner.parse("r", "cpu=4").capacity.slots == 16
    assert Runner.parse("r", {"cpu": 4, "slots": 2}).capacity.slots == 2
    with pytest.raises(InvalidResourcesError, match="at least 1"):
        Runner.parse("r", "cpu=4,slots=0")


def test_runner_labels_and_names() -> None:
    r = Runner.parse("r", "cpu=1", labels=["gpu", "ssd"])
    assert r.labels == frozenset({"gpu", "ssd"})
    assert Runner.parse("r", "cpu=1", labels="gpu").labels == frozenset({"gpu"})
    with pytest.raises(InvalidArgumentError, match="runner name"):
        Runner.parse("", "cpu=1")
    with pytest.raises(InvalidArgumentError, match="label"):
        Runner.parse("r", "cpu=1", labels=[""])
    assert Runner.from_dict(r.to_dict()) == r


def test_runner_state_free() -> None:
    state = RunnerState(Runner.parse("r", "cpu=4,gpu=2"), Resources(1000, 0, 1, {"gpu": 1}))
    assert state.free == Resources(3000, 0, 15, {"gpu": 1})
    assert state.name == "r"


def test_reservation_round_trip() -> None:
    res = Reservation("t", "r", Resources(1, 2, 3))
    assert Reservation.from_dict(res.to_dict()) == res


# Issue #14 item 7: one rule for slots that are not given (runner 16, task 1).


@pytest.mark.parametrize(
    "spec", ["cpu=16,memory=64Gi", "cpu=1", "", "gpu=2", "cpu=4,slots=3", {"memory": "1Gi"}]
)
def test_runner_reads_parsed_resources_like_the_spec(spec) -> None:
    assert Runner("w", Resources.parse(spec)) == Runner.parse("w", spec)
    assert Runner.parse("w", Resources.parse(spec)) == Runner.parse("w", spec)


def test_runner_from_parsed_resources_has_16_slots() -> None:
    runner = Runner("w", Resources.parse("cpu=16,memory=64Gi"))
    assert runner.capacity == Resources(16000, 64 * 2**30, 16)
    assert Runner("w", Resources(1000, 0, 0, {"gpu": 1})).capacity.slots == 16
    assert Runner("w", Resources(slots=3)).capacity.slots == 3


def test_runner_slots_given_as_zero_are_an_error_that_says_how_to_fix() -> None:
    for spec in ("cpu=4,slots=0", {"cpu": 4, "slots": 0}, {"slots": "0"}):
        with pytest.raises(InvalidResourcesError, match="leave slots out for the default 16"):
            Runner.parse("r", spec)


@pytest.mark.parametrize("spec", ["cpu=1", "", "cpu=1,memory=2Gi,gpu=1", {"cpu": 1}, "slots=3"])
def test_task_request_reads_parsed_resources_like_the_spec(spec) -> None:
    from runtime_alloc.resources import as_task_request

    assert as_task_request(Resources.parse(spec)) == as_task_request(spec)
    assert as_task_request(spec).slots == (3 if "slots" in spec else 1)
    assert as_task_request("cpu=1,slots=0").slots == 0  # given as 0: the caller rejects it


def test_allocate_parsed_resources_takes_one_slot() -> None:
    from runtime_alloc import Allocator

    alloc = Allocator([Runner("w", Resources.parse("cpu=16,memory=64Gi"))])
    assert alloc.allocate("x", Resources.parse("cpu=1")).resources == Resources(1000, 0, 1)


# Issue #14 item 12: a weight key that is a near miss of a built-in dimension.


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("CPU", "cpu"),
        ("Memory", "memory"),
        ("SLOTS", "slots"),
        ("millicpu", "cpu"),
        ("memory_bytes", "memory"),
        ("slot", "slots"),
        ("Slot", "slots"),
    ],
)
def test_weights_reject_near_misses_of_builtin_dimensions(key: str, meant: str) -> None:
    from runtime_alloc import EvenSpreadStrategy, MaxPackingStrategy, strategy_from_name

    for build in (
        EvenSpreadStrategy,
        MaxPackingStrategy,
        lambda w: strategy_from_name("even-spread", w),
    ):
        with pytest.raises(InvalidArgumentError, match=f"did you mean '{meant}'"):
            build({key: 2})


def test_weights_for_extended_resources_are_checked_against_a_fleet() -> None:
    from runtime_alloc import EvenSpreadStrategy
    from runtime_alloc.dimensions import undeclared_dimensions

    strategy = EvenSpreadStrategy({"disk": 1, "gpu": 2, "cpu": 3})  # runners come later
    fleet = [Runner.parse("a", "cpu=1,gpu=1"), Runner.parse("b", "cpu=1")]
    capacities = [r.capacity for r in fleet]
    assert undeclared_dimensions(strategy.weights, capacities) == ("disk",)
    assert undeclared_dimensions(strategy.weights, []) == ("disk", "gpu")
    assert undeclared_dimensions({"cpu": 1, "slots": 0}, []) == ()


# Issue #14 items 15 and 18: messages for huge ints; from_dict names the key path.


def test_constructor_shows_huge_integers_by_their_digits() -> None:
    huge = 10**5000
    for kwargs in ({"millicpu": huge}, {"slots": -huge}, {"extended": {"gpu": huge}}):
        with pytest.raises(InvalidResourcesError, match="integer of 5001 digits"):
            Resources(**kwargs)
    with pytest.raises(
        InvalidArgumentError, match=r"runner name must be .* got an integer of 5001"
    ):
        Runner(huge, Resources(slots=1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reader", "data", "message"),
    [
        (Resources.from_dict, None, "resources must be a mapping"),
        (Resources.from_dict, {"millicpu": "5"}, "resources.millicpu must be an integer, got '5'"),
        (Resources.from_dict, {"cpu": 1}, "resources has unknown key(s) 'cpu'"),
        (Resources.from_dict, {"extended": [1]}, "resources.extended must be a mapping"),
        (
            Resources.from_dict,
            {"extended": {"gpu": -1}},
            "resources.extended['gpu'] must be non-neg",
        ),
        (Resources.from_dict, {"extended": {"": 1}}, "resources.extended key must be letters"),
        (Runner.from_dict, [], "runner must be a mapping"),
        (Runner.from_dict, {"name": "a"}, "runner has no 'capacity'"),
        (Runner.from_dict, {"name": None, "capacity": {"slots": 1}}, "runner.name must be"),
        (
            Runner.from_dict,
            {"name": "a", "capacity": {}},
            "runner.capacity.slots must be at least 1",
        ),
        (
            Runner.from_dict,
            {"name": "a", "capacity": {"slots": 1}, "labels": "gpu"},
            "runner.labels",
        ),
        (Runner.from_dict, {"name": "a", "capacity": {"slots": 1}, "labels": [7]}, "runner.label"),
        (Reservation.from_dict, "t", "reservation must be a mapping"),
        (Reservation.from_dict, {"task_id": "t", "runner": "r"}, "reservation has no 'resources'"),
        (
            Reservation.from_dict,
            {"task_id": 7, "runner": "r", "resources": {}},
            "reservation.task_id",
        ),
        (
            Reservation.from_dict,
            {"task_id": "t", "runner": ["r"], "resources": {}},
            "reservation.runner",
        ),
    ],
)
def test_from_dict_names_the_key_path_and_value(reader, data, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        reader(data)
    assert message in str(info.value)


def test_huge_integer_task_id_is_named_by_its_digits() -> None:
    from runtime_alloc import Allocator

    alloc = Allocator([Runner.parse("r", "cpu=1")])
    before = alloc.snapshot()
    for call in (
        lambda: alloc.allocate(10**5000, "cpu=1"),  # type: ignore[arg-type]
        lambda: alloc.release(10**5000),  # type: ignore[arg-type]
    ):
        with pytest.raises(
            InvalidArgumentError, match=r"task_id must be .* integer of 5001 digits"
        ):
            call()
    assert alloc.snapshot() == before
