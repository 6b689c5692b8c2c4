"""Bad arguments to the allocator get a library error naming the argument and value (issue #14).

Items 16 (a strategy class instead of an instance), 18 (wrong types for names,
fleets and batches) and 21 (a custom score that is not a finite number); each
failed call changes nothing.
"""

from __future__ import annotations

import pytest

from runtime_alloc import Allocator, MaxPackingStrategy, Runner
from runtime_alloc.errors import InvalidArgumentError


def fleet() -> list[Runner]:
    return [Runner.parse("w1", "cpu=2"), Runner.parse("w2", "cpu=4")]


def test_a_strategy_class_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidArgumentError, match=r"pass MaxPackingStrategy\(\) instead"):
        Allocator(fleet(), strategy=MaxPackingStrategy)  # type: ignore[arg-type]


@pytest.mark.parametrize("runners", [None, 5, "w1", {"w1": 1}])
def test_a_fleet_that_is_not_an_iterable_of_runners(runners: object) -> None:
    with pytest.raises(InvalidArgumentError, match="runners must be an iterable of Runner"):
        Allocator(runners)  # type: ignore[arg-type]


def test_a_non_runner_in_the_fleet() -> None:
    with pytest.raises(InvalidArgumentError, match=r"runner must be a Runner.*got 'w3'"):
        Allocator([*fleet(), "w3"])  # type: ignore[list-item]


@pytest.mark.parametrize("method", ["drain_runner", "undrain_runner", "remove_runner"])
@pytest.mark.parametrize("name", [["w1"], 5, None, ""])
def test_runner_names_must_be_strings(method: str, name: object) -> None:
    alloc = Allocator(fleet())
    alloc.allocate("t", "cpu=1")
    before = alloc.snapshot(), alloc.metrics()
    with pytest.raises(InvalidArgumentError, match="name must be a non-empty string"):
        getattr(alloc, method)(name)
    assert (alloc.snapshot(), alloc.metrics()) == before


@pytest.mark.parametrize("items", [None, 5, "t1", {"t1": "cpu=1"}])
def test_allocate_many_needs_an_iterable_of_items(items: object) -> None:
    alloc = Allocator(fleet())
    before = alloc.snapshot(), alloc.metrics()
    with pytest.raises(InvalidArgumentError, match="items must be an iterable"):
        alloc.allocate_many(items)  # type: ignore[arg-type]
    assert (alloc.snapshot(), alloc.metrics()) == before


def test_allocate_many_items_of_one_to_three_fields() -> None:
    # (task_id,) asks for the default request, as allocate(task_id) does
    one, other = Allocator(fleet()), Allocator(fleet())
    placed = one.allocate_many([("t1",), ("t2", "cpu=1"), ("t3", "cpu=1", ())])
    assert placed == [
        other.allocate("t1"),
        other.allocate("t2", "cpu=1"),
        other.allocate("t3", "cpu=1"),
    ]
    before = one.snapshot()
    for item in [(), ("t4", "cpu=1", (), "extra")]:
        with pytest.raises(
            InvalidArgumentError, match=r"must be \(task_id\[, request\[, require\]\]\)"
        ):
            one.allocate_many([item])
    assert one.snapshot() == before


@pytest.mark.parametrize("method", ["allocate", "try_allocate", "explain"])
@pytest.mark.parametrize("argument", ["require", "require_any"])
def test_labels_that_are_not_strings_are_refused_by_argument_name(method, argument) -> None:
    # The message said "requires" / "require_anys", names no argument has.
    alloc = Allocator(fleet())
    alloc.allocate("t", "cpu=1")
    before = alloc.snapshot(), alloc.metrics()
    args = ("cpu=1",) if method == "explain" else ("t2", "cpu=1")
    with pytest.raises(
        InvalidArgumentError,
        match=rf"^{argument} must be a string or an iterable of strings, got 5$",
    ):
        getattr(alloc, method)(*args, **{argument: 5})
    assert (alloc.snapshot(), alloc.metrics()) == before


class Custom:
    """A custom strategy whose score returns a fixed value."""

    name = "Custom"
    maximize = False

    def __init__(self, value: object) -> None:
        self.value = value

    def score(self, state: object, request: object) -> object:
        return self.value


@pytest.mark.parametrize("backend", ["python", "numpy", "auto"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "1", None, True])
def test_a_custom_score_must_be_a_finite_number(backend: str, value: object) -> None:
    if backend == "numpy":
        pytest.importorskip("numpy")
    alloc = Allocator(fleet(), strategy=Custom(value), backend=backend)  # type: ignore[arg-type]
    before = alloc.snapshot(), alloc.metrics()
    with pytest.raises(InvalidArgumentError, match="strategy 'Custom' scored runner 'w1'"):
        alloc.allocate("t", "cpu=1")
    assert (alloc.snapshot(), alloc.metrics()) == before


@pytest.mark.parametrize("value", [1, 2.5, 10**30])
def test_a_custom_score_may_be_any_finite_real(value: object) -> None:
    alloc = Allocator(fleet(), strategy=Custom(value))  # type: ignore[arg-type]
    assert alloc.allocate("t", "cpu=1").runner == "w1"
