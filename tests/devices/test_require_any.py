"""``require_any``: a label OR beside ``require``'s AND, on both backends."""

from __future__ import annotations

import random

import pytest

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    InvalidArgumentError,
    MaxPackingStrategy,
    Runner,
)
from runtime_alloc.runners import LabelRule, label_rule
from tests.backends.probe import allocator_with, check_index, numpy_with

MODELS = ("V100", "A100", "T4", "P100")


def fleet() -> list[Runner]:
    return [
        Runner.parse("t4", "cpu=8", ["T4", "gpu"], devices={"gpu": 2}),
        Runner.parse("v100", "cpu=4", ["V100", "gpu"], devices={"gpu": 2}),
        Runner.parse("a100", "cpu=2", ["A100"], devices={"gpu": 2}),
    ]


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_require_any_is_an_or_and_require_an_and(backend):
    alloc = Allocator(fleet(), backend=backend)
    assert alloc.allocate("a", "cpu=1", require_any={"V100", "A100"}).runner == "v100"
    # the AND with the OR: gpu and (V100 or A100) leaves v100 only
    assert alloc.allocate("b", "cpu=1", require=["gpu"], require_any=["A100", "V100"]).runner == (
        "v100"
    )
    assert alloc.allocate("c", "cpu=1", require_any="A100").runner == "a100"  # one string
    assert alloc.try_allocate("d", "cpu=1", require=["gpu"], require_any=["A100"]) is None
    explained = alloc.explain("cpu=1", require_any=["A100"])
    assert explained.chosen == "a100"
    assert explained.runners[0].reason == "missing any label of A100"
    assert "require_any A100" in str(explained)
    assert explained.to_dict()["require_any"] == ["A100"]


def test_bad_require_any_names_the_field_and_changes_nothing():
    alloc = Allocator(fleet(), backend="python")
    before = alloc.snapshot()
    with pytest.raises(InvalidArgumentError, match="require_any"):
        alloc.allocate("a", "cpu=1", require_any=[""])
    with pytest.raises(InvalidArgumentError, match="require_any"):
        alloc.allocate("a", "cpu=1", require_any=[3])
    assert alloc.snapshot() == before
    assert alloc.metrics().failures == {}


def test_label_rule_value():
    rule = label_rule(["gpu"], any_of=["A100"])
    assert isinstance(rule, LabelRule)
    assert rule != frozenset({"gpu"})
    assert frozenset({"gpu"}) != rule
    assert label_rule(["gpu"]) == frozenset({"gpu"})
    assert type(label_rule(["gpu"])) is frozenset
    assert bool(label_rule(any_of=["A100"]))
    assert rule.allows(frozenset({"gpu", "A100"}))
    assert not rule.allows(frozenset({"A100"}))
    assert len({rule, label_rule(["gpu"], any_of=["A100"]), frozenset({"gpu"})}) == 2


def test_allocate_many_takes_a_label_rule_as_require():
    alloc = Allocator(fleet(), backend="python")
    rule = label_rule(any_of=["A100", "T4"])
    out = alloc.allocate_many([("a", "cpu=1", rule), ("b", "cpu=1", rule), ("c", "cpu=1")])
    assert [r.runner for r in out[:2]] == ["t4", "t4"]  # (A100 or T4): a100 is the fuller
    assert out[2].runner == "v100"  # no rule: v100 (cpu 1/4) beats t4 (3/8) and a100 (1/2)


@pytest.mark.parametrize("index", ["auto", "blocks", "classes", "scan"])
@pytest.mark.parametrize("seed", range(12))
def test_numpy_equals_python_with_require_any(seed, index):
    # these fleets (at most 30 runners) are scanned under index="auto": each index is forced
    pytest.importorskip("numpy")
    rng = random.Random(seed)
    runners = [
        Runner.parse(
            f"r{i}",
            f"cpu={rng.choice((2, 4, 8))}",
            rng.sample(MODELS, rng.randint(0, 2)),
            devices={"gpu": rng.choice((1, 2, 4))} if rng.random() < 0.7 else None,
        )
        for i in range(rng.randint(1, 30))
    ]
    strategy = rng.choice((EvenSpreadStrategy(), MaxPackingStrategy()))
    ref = Allocator(runners, strategy=strategy, backend="python")
    fast, backend = allocator_with(numpy_with(index=index), runners, strategy=strategy)
    for step in range(120):
        any_of = rng.sample(MODELS, rng.randint(0, 2))
        request = f"cpu={rng.choice(('500m', '1'))}" + (
            f",gpu={rng.choice(('300m', '500m', '1', '2'))}" if rng.random() < 0.6 else ""
        )
        held = sorted(ref.snapshot().reservations)
        if rng.random() < 0.2 and held:
            task = rng.choice(held)
            assert ref.release(task) == fast.release(task)
            continue
        left = ref.allocate_or_error(f"t{step}", request, require_any=any_of)
        right = fast.allocate_or_error(f"t{step}", request, require_any=any_of)
        assert str(left) == str(right)
        assert ref.snapshot() == fast.snapshot()
    check_index(backend)
