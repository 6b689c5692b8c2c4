"""The allocator knows the extended resources its runners declare (issue #14 items 8 and 12)."""

from __future__ import annotations

import warnings

import pytest

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    InvalidResourcesError,
    MaxPackingStrategy,
    Runner,
    UndeclaredWeightWarning,
    UnschedulableError,
)


def fleet() -> list[Runner]:
    return [Runner.parse("a", "cpu=4,gpu=2"), Runner.parse("b", "cpu=4,nvidia.com/mig=1")]


@pytest.mark.parametrize("backend", ["python", "numpy"])
@pytest.mark.parametrize(
    ("request_", "meant"),
    [
        ({"CPU": 1}, "cpu"),
        ({"Memory": 1}, "memory"),
        ("gpus=1", "gpu"),
        ("GPU=1", "gpu"),
        ("nvidia.com/migs=1", "nvidia.com/mig"),
    ],
)
def test_a_typo_is_rejected_with_the_close_match(
    backend: str, request_: object, meant: str
) -> None:
    if backend == "numpy":
        pytest.importorskip("numpy")
    alloc = Allocator(fleet(), backend=backend)
    alloc.allocate("t0", "cpu=1")
    before = alloc.snapshot(), alloc.metrics()
    with pytest.raises(InvalidResourcesError, match=rf"did you mean {meant!r}\?"):
        alloc.allocate("t1", request_)  # type: ignore[arg-type]
    with pytest.raises(InvalidResourcesError, match="unknown resource"):
        alloc.allocate_many([("t2", "cpu=1"), ("t3", request_)])  # type: ignore[list-item]
    assert (alloc.snapshot(), alloc.metrics()) == before


def test_the_message() -> None:
    with pytest.raises(InvalidResourcesError) as info:
        Allocator(fleet()).allocate("t", {"CPU": 1})
    assert str(info.value) == (
        "unknown resource 'CPU'; did you mean 'cpu'? "
        "(extended resources the runners declare: gpu, nvidia.com/mig)"
    )


def test_a_name_no_runner_declares_without_a_close_match_stays_unschedulable() -> None:
    alloc = Allocator(fleet())
    with pytest.raises(UnschedulableError, match="insufficient tpu"):
        alloc.allocate("t", "tpu=1")
    assert alloc.metrics().failures == {"unschedulable": 1}


def test_declared_names_follow_the_fleet() -> None:
    alloc = Allocator([Runner.parse("a", "cpu=4")])
    # no runner declares gpu: gpus is no typo of anything known
    with pytest.raises(UnschedulableError):
        alloc.allocate("t0", "gpus=1")
    alloc.add_runner(Runner.parse("g", "cpu=4,gpu=1"))
    with pytest.raises(InvalidResourcesError, match="did you mean 'gpu'"):
        alloc.allocate("t1", "gpus=1")
    alloc.drain_runner("g")  # a draining runner still declares gpu
    with pytest.raises(InvalidResourcesError, match="did you mean 'gpu'"):
        alloc.allocate("t1", "gpus=1")
    alloc.remove_runner("g")
    with pytest.raises(UnschedulableError):
        alloc.allocate("t1", "gpus=1")


def test_a_weight_no_runner_declares_warns() -> None:
    with pytest.warns(UndeclaredWeightWarning, match=r"weighs 'disk', which no runner declares"):
        Allocator(fleet(), strategy=EvenSpreadStrategy({"disk": 1, "gpu": 2}))
    with pytest.warns(UndeclaredWeightWarning, match="runners declare: gpu, nvidia.com/mig"):
        Allocator(fleet(), strategy=MaxPackingStrategy({"tpu": 1}))


def test_no_warning_for_declared_weights_or_an_empty_fleet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Allocator(fleet(), strategy=EvenSpreadStrategy({"gpu": 2, "cpu": 1, "disk": 0}))
        Allocator([], strategy=EvenSpreadStrategy({"disk": 1}))
