"""Request normalization: the memo of parsed request specs (issue 11)."""

from __future__ import annotations

import pytest

from runtime_alloc import Allocator, Resources, Runner
from runtime_alloc._requests import MEMO_SIZE, memo_key, normalize
from runtime_alloc.errors import DuplicateTaskError, InvalidArgumentError, InvalidResourcesError

DEFAULT = Resources(slots=1)


def test_a_spec_is_parsed_once_and_the_value_reused():
    memo: dict[object, Resources] = {}
    first = normalize({"cpu": "500m", "memory": "1Gi"}, DEFAULT, 16, memo=memo)
    again = normalize({"cpu": "500m", "memory": "1Gi"}, DEFAULT, 16, memo=memo)
    assert again is first
    assert first == Resources.parse("cpu=500m,memory=1Gi,slots=1")
    assert normalize("cpu=2", DEFAULT, 16, memo=memo) is normalize("cpu=2", DEFAULT, 16, memo=memo)
    assert len(memo) == 2


@pytest.mark.parametrize(
    ("request_a", "request_b"),
    [
        ({"cpu": 1}, {"cpu": True}),  # equal and same hash, different types
        ({"cpu": 1}, {"cpu": 1.0}),
        ({"slots": 2}, {"slots": "2"}),
    ],
)
def test_values_of_different_types_never_share_a_key(request_a, request_b):
    assert memo_key(request_a) != memo_key(request_b) or memo_key(request_b) is None


def test_an_invalid_spec_is_not_remembered_and_raises_every_time():
    memo: dict[object, Resources] = {}
    for _ in range(2):
        with pytest.raises(InvalidResourcesError, match="slots must be from 1 to 4"):
            normalize({"cpu": "1", "slots": 8}, DEFAULT, 4, memo=memo)
        with pytest.raises(InvalidResourcesError):
            normalize({"cpu": "1.5.5"}, DEFAULT, 4, memo=memo)
    assert memo == {}


def test_the_memo_is_cleared_when_full():
    memo: dict[object, Resources] = {}
    for i in range(MEMO_SIZE + 1):
        normalize(f"cpu={i + 1}m", DEFAULT, 16, memo=memo)
    assert len(memo) == 1


def test_an_allocator_remembers_dict_requests_and_decides_as_before():
    fleet = [Runner.parse("a", "cpu=4"), Runner.parse("b", "cpu=8")]
    alloc = Allocator(fleet, backend="python")
    reference = Allocator(fleet, backend="python")
    spec = {"cpu": "1", "slots": 2}
    placed = [alloc.allocate(f"t{i}", spec) for i in range(6)]
    expected = [reference.allocate(f"t{i}", Resources(1000, 0, 2)).runner for i in range(6)]
    assert [p.runner for p in placed] == expected
    assert len(set(expected)) == 2
    assert placed[0].resources is placed[1].resources  # parsed once
    with pytest.raises(InvalidResourcesError, match="slots"):
        alloc.allocate("bad", {"cpu": "1", "slots": 0})
    alloc._check()


class Label(str):
    """A str subclass: check_name accepts it, the batch's quick task-id check does not."""

    __slots__ = ()


@pytest.mark.parametrize(
    ("task_id", "error", "message"),
    [
        (7, InvalidArgumentError, "task_id must be a non-empty string"),
        ("", InvalidArgumentError, "task_id must be a non-empty string"),
        ("x" * 254, InvalidArgumentError, "task_id must be a non-empty string"),
        ("held", DuplicateTaskError, "task 'held' already holds a reservation on runner 'a'"),
        ("t1", DuplicateTaskError, "task 't1' appears twice in the batch"),
    ],
)
def test_allocate_many_checks_the_task_id_of_every_repeated_request(task_id, error, message):
    # items repeating a request reuse its parse: their task ids must still be checked alike
    alloc = Allocator([Runner.parse("a", "cpu=8")], backend="python")
    alloc.allocate("held", "cpu=1")
    before = alloc.snapshot(), alloc.metrics()
    items = [("t1", "cpu=1"), ("t2", "cpu=1", ()), (task_id, "cpu=1")]
    with pytest.raises(error, match=message):
        alloc.allocate_many(items)
    assert (alloc.snapshot(), alloc.metrics()) == before


def test_allocate_many_of_repeated_requests_equals_one_by_one():
    fleet = [Runner.parse(f"r{i}", "cpu=4,memory=4Gi") for i in range(5)]
    items = [(f"t{i}", spec) for i, spec in enumerate(["cpu=1", "cpu=1", "memory=1Gi"] * 4)]
    items += [(Label("s"), "cpu=1"), ("u", "cpu=1", ("x",)), ("v", {"cpu": "1"})]
    batch = Allocator(fleet, backend="numpy")
    one = Allocator(fleet, backend="python")
    results = batch.allocate_many(items)
    expected = [
        one.allocate_or_error(*item[:2], require=item[2] if len(item) > 2 else ()) for item in items
    ]
    assert [str(r) for r in results] == [str(r) for r in expected]
    assert batch.snapshot() == one.snapshot()
