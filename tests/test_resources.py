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
