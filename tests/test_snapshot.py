"""FleetSnapshot: reading JSON and dicts, and checking hand-built snapshots (issue #14, 17-19)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import (
    Allocator,
    FleetSnapshot,
    InvalidSnapshotError,
    Reservation,
    Resources,
    Runner,
    RunnerState,
)


@pytest.fixture
def data() -> dict[str, Any]:
    """A good snapshot's dict: two runners, one reservation on ``a``."""
    alloc = Allocator([Runner.parse("a", "cpu=4", labels=["gpu"]), Runner.parse("b", "cpu=2")])
    alloc.allocate("t1", "cpu=1")
    alloc.drain_runner("b")
    return alloc.snapshot().to_dict()


def test_json_round_trip(data: dict[str, Any]) -> None:
    snap = FleetSnapshot.from_dict(data)
    assert FleetSnapshot.from_json(snap.to_json()) == snap
    assert FleetSnapshot.from_json(snap.to_json(indent=2).encode()) == snap
    assert FleetSnapshot.from_json(b"\xef\xbb\xbf" + snap.to_json().encode()) == snap
    assert json.loads(snap.to_json()) == data
    assert Allocator.from_snapshot(FleetSnapshot.from_json(json.dumps(data))).snapshot() == snap


def _set(path: str, value: object) -> Any:
    """Return a mutation that sets ``data[path...] = value`` (path like ``runners.0.name``)."""

    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            d = d[int(key)] if isinstance(d, list) else d[key]
        if isinstance(d, list):
            d[int(last)] = value
        else:
            d[last] = value

    return mutate


BAD = [
    # (mutation, a fragment of the message that names the field path and the value)
    (_set("schema_version", value=True), "schema_version must be 1 or 2, got True"),
    (_set("schema_version", 1.0), "schema_version must be 1 or 2, got 1.0"),
    (_set("schema_version", "1"), "schema_version must be 1 or 2, got '1'"),
    (_set("runners", None), "runners must be a list, got None"),
    (_set("runners", {"a": 1}), "runners must be a list, got {'a': 1}"),
    (_set("reservations", 5), "reservations must be a list, got 5"),
    (_set("runners.0", "a"), "runners[0] must be a mapping, got 'a'"),
    (_set("runners.0.name", None), "runners[0].name must be a non-empty string"),
    (_set("runners.0.name", ""), "runners[0].name must be a non-empty string"),
    (_set("runners.1.labels", "gpu"), "runners[1].labels must be a list of strings, got 'gpu'"),
    (_set("runners.1.labels", [1]), "runners[1].label must be a non-empty string"),
    (_set("runners.0.capacity", None), "runners[0].capacity must be a mapping"),
    (_set("runners.0.capacity.millicpu", "4000"), "runners[0].capacity.millicpu must be an int"),
    (_set("runners.0.capacity.millicpu", -1), "runners[0].capacity.millicpu must be non-neg"),
    (_set("runners.0.capacity.slots", 0), "runners[0].capacity.slots must be at least 1, got 0"),
    (_set("runners.0.capacity.extended", {"gpu": "1"}), "capacity.extended['gpu'] must be an int"),
    (_set("runners.0.reserved", []), "runners[0].reserved must be a mapping"),
    (_set("runners.0.draining", "no"), "runners[0].draining must be true or false, got 'no'"),
    (_set("reservations.0", None), "reservations[0] must be a mapping, got None"),
    (_set("reservations.0.task_id", None), "reservations[0].task_id must be a non-empty string"),
    (_set("reservations.0.task_id", 7), "reservations[0].task_id must be a non-empty string"),
    (_set("reservations.0.task_id", ""), "reservations[0].task_id must be a non-empty string"),
    (_set("reservations.0.runner", ["a"]), "reservations[0].runner must be a non-empty string"),
    (_set("reservations.0.runner", None), "reservations[0].runner must be a non-empty string"),
    (_set("reservations.0.resources", "cpu=1"), "reservations[0].resources must be a mapping"),
    (lambda d: d["runners"][0].pop("name"), "runners[0] has no 'name'"),
    (lambda d: d["reservations"][0].pop("runner"), "reservations[0] has no 'runner'"),
    (lambda d: d.pop("runners"), "it has no 'runners' list"),
]


@pytest.mark.parametrize(("mutate", "fragment"), BAD)
def test_bad_snapshot_names_the_field_and_value(data, mutate, fragment: str) -> None:
    mutate(data)
    with pytest.raises(InvalidSnapshotError) as info:
        FleetSnapshot.from_dict(data)
    assert fragment in str(info.value)
    with pytest.raises(InvalidSnapshotError) as again:
        FleetSnapshot.from_json(json.dumps(data))
    assert str(again.value) == str(info.value)


def test_zero_slot_reservation_is_rejected(data) -> None:
    data["reservations"][0]["resources"]["slots"] = 0
    data["runners"][0]["reserved"]["slots"] = 0
    with pytest.raises(InvalidSnapshotError, match=r"\['t1'\].resources.slots must be at least 1"):
        FleetSnapshot.from_dict(data)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
        ('{"schema_version": 1, "runners": [' * 50_000, "nests too deeply"),
        (b"\xff\xfe garbage", "not UTF-8 text: byte 0 is 0xff"),
        ("", "not valid JSON: Expecting value at line 1 column 1"),
        ('{"schema_version": NaN}', "NaN is not a JSON number"),
        ("[1, 2]", "snapshot must be a mapping, got [1, 2]"),
        ('{"schema_version": ' + "9" * 5001 + "}", "got an integer of 5001 digits"),
    ],
)
def test_bad_json_raises_the_snapshot_error(text: str | bytes, fragment: str) -> None:
    with pytest.raises(InvalidSnapshotError) as info:
        FleetSnapshot.from_json(text)
    assert fragment in str(info.value)


def test_long_integer_is_named_where_it_stands(data) -> None:
    text = json.dumps(data).replace('"millicpu": 4000', '"millicpu": ' + "4" * 5001, 1)
    with pytest.raises(InvalidSnapshotError) as info:
        FleetSnapshot.from_json(text)
    message = str(info.value)
    assert "runners[0].capacity.millicpu must be at most 2**53" in message
    assert "got an integer of 5001 digits" in message
    text = json.dumps(data).replace('"slots": 16', '"slots": -' + "1" * 5001, 1)
    with pytest.raises(InvalidSnapshotError, match="got a negative integer of 5001 digits"):
        FleetSnapshot.from_json(text)


def test_huge_integer_in_a_dict_is_named_where_it_stands(data) -> None:
    data["reservations"][0]["task_id"] = 10**5000
    with pytest.raises(InvalidSnapshotError, match=r"task_id must be .* got an integer of 5001"):
        FleetSnapshot.from_dict(data)


def test_deep_python_value_is_named_without_recursion(data) -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    data["runners"][0]["labels"] = deep
    with pytest.raises(
        InvalidSnapshotError,
        match=r"runners\[0\].labels must be .* got a list that cannot be shown",
    ):
        FleetSnapshot.from_dict(data)


# Item 18: hand-built snapshots holding wrong types raise the library's error.

GOOD_RUNNER = Runner.parse("a", "cpu=4")
GOOD_RES = Reservation("t1", "a", Resources(1000, 0, 1))


@pytest.mark.parametrize(
    ("runners", "reservations", "fragment"),
    [
        (5, {}, "runners must be a sequence of RunnerState, got 5"),
        ("ab", {}, "runners must be a sequence of RunnerState, got 'ab'"),
        ((RunnerState(GOOD_RUNNER),), [GOOD_RES], "reservations must be a mapping"),
    ],
)
def test_hand_built_snapshot_of_wrong_containers(runners, reservations, fragment) -> None:
    with pytest.raises(InvalidSnapshotError, match=fragment):
        FleetSnapshot(runners, reservations)


def _state(reserved: Resources = GOOD_RES.resources) -> RunnerState:
    return RunnerState(GOOD_RUNNER, reserved)


@pytest.mark.parametrize(
    ("runners", "reservations", "fragment"),
    [
        (("a",), {}, "runners[0] must be a RunnerState, got 'a'"),
        ((_state(), None), {"t1": GOOD_RES}, "runners[1] must be a RunnerState, got None"),
        ((RunnerState("a", Resources()),), {}, "runners[0].runner must be a Runner, got 'a'"),  # type: ignore[arg-type]
        ((RunnerState(GOOD_RUNNER, {"slots": 1}),), {}, "runners[0].reserved must be a Resources"),  # type: ignore[arg-type]
        ((RunnerState(GOOD_RUNNER, Resources(), 1),), {}, "runners[0].draining must be True or"),  # type: ignore[arg-type]
        ((_state(),), {"t1": "a"}, "reservations['t1'] must be a Reservation, got 'a'"),
        ((RunnerState(GOOD_RUNNER, Resources(), object()),), {}, "runners[0].draining must be"),  # type: ignore[arg-type]
        ((_state(),), {7: GOOD_RES}, "reservations key (a task id) must be a non-empty string"),
        ((_state(),), {"t1": Reservation("t1", ["a"], GOOD_RES.resources)}, "['t1'].runner must"),  # type: ignore[arg-type]
        ((_state(),), {"t1": Reservation("t1", "a", {"slots": 1})}, "['t1'].resources must be"),  # type: ignore[arg-type]
        ((_state(),), {"t1": Reservation(None, "a", GOOD_RES.resources)}, "['t1'].task_id must"),  # type: ignore[arg-type]
    ],
)
def test_hand_built_snapshot_of_wrong_types(runners, reservations, fragment) -> None:
    snap = FleetSnapshot(runners, reservations)
    with pytest.raises(InvalidSnapshotError) as info:
        snap.check()
    assert fragment in str(info.value)
    with pytest.raises(InvalidSnapshotError):
        Allocator.from_snapshot(snap)
    # Writing raises the snapshot error or writes what reading rejects or checks: never a
    # TypeError or AttributeError (a bad dict key is not written, so the rest may be fine).
    try:
        text = snap.to_json()
    except InvalidSnapshotError:
        return
    with contextlib.suppress(InvalidSnapshotError):
        FleetSnapshot.from_json(text).check()


# Fuzzing: any value anywhere in a good snapshot gives a snapshot or the snapshot error.

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(4301, 5000).map(lambda d: 10**d)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path (keys and indices) into a JSON value, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _good() -> dict[str, Any]:
    alloc = Allocator([Runner.parse("a", "cpu=4,gpu=2", labels=["x"]), Runner.parse("b", "cpu=2")])
    alloc.allocate("t1", "cpu=1,gpu=1")
    alloc.allocate("t2", "cpu=1")
    return alloc.snapshot().to_dict()


@settings(max_examples=300)
@given(data=st.data(), value=JSON_VALUES)
def test_any_value_anywhere_gives_a_snapshot_or_the_snapshot_error(data, value) -> None:
    snapshot = _good()
    path = data.draw(st.sampled_from(_paths(snapshot)))
    if path:
        parent = snapshot
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
    else:
        snapshot = value
    try:
        restored = FleetSnapshot.from_dict(snapshot)
    except InvalidSnapshotError as exc:
        message = str(exc)
    else:
        restored.check()
        assert FleetSnapshot.from_json(restored.to_json()) == restored
        return
    assert message.startswith("snapshot "), message
    try:
        text = json.dumps(snapshot)
    except ValueError:  # a huge int: json.dumps cannot write it either
        return
    with pytest.raises(InvalidSnapshotError):
        FleetSnapshot.from_json(text)


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_bytes_or_text_gives_the_snapshot_error(blob: bytes | str) -> None:
    with contextlib.suppress(InvalidSnapshotError):
        FleetSnapshot.from_json(blob)


@pytest.mark.parametrize("value", [2**63, 10**4301, -1], ids=["2**63", "10**4301", "-1"])
def test_a_counter_out_of_the_64_bit_range_is_refused_by_name(value):
    # 10**4301 used to load, then to_json raised ValueError (found by the property test above).
    data = Allocator([Runner.parse("r1", "cpu=1")]).snapshot().to_dict()
    data["counters"]["evictions"] = value
    with pytest.raises(
        InvalidSnapshotError, match=r"counters\.evictions must be an integer from 0"
    ):
        FleetSnapshot.from_dict(data)
    data["counters"]["evictions"] = 2**63 - 1
    assert FleetSnapshot.from_dict(data).to_json()
