"""Strategy tests: tables whose comments show the arithmetic."""

from __future__ import annotations

import pytest

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    InvalidArgumentError,
    MaxPackingStrategy,
    Resources,
    Runner,
    RunnerState,
    Strategy,
    UnknownStrategyError,
    strategy_from_env,
    strategy_from_name,
)
from runtime_alloc.strategies import utilization_score


def rv(**kw: int) -> Resources:
    return Resources(**kw)


SCORES = [
    # (capacity, reserved, request, weights, expected score)
    # Kubernetes' worked case, node 1: cpu 3000/4000 = 0.75, mem 5000/10000 = 0.5 -> (0.75+0.5)/2 = 0.625
    (rv(millicpu=4000, memory_bytes=10000), rv(), rv(millicpu=3000, memory_bytes=5000), {}, 0.625),
    # node 2: cpu 3000/6000 = 0.5, mem 5000/10000 = 0.5 -> 0.5
    (rv(millicpu=6000, memory_bytes=10000), rv(), rv(millicpu=3000, memory_bytes=5000), {}, 0.5),
    # reserved counts: cpu (1000+1000)/4000 = 0.5, slots (3+1)/16 = 0.25, memory cap 0 not scored -> 0.375
    (
        rv(millicpu=4000, slots=16),
        rv(millicpu=1000, slots=3),
        rv(millicpu=1000, slots=1),
        {},
        0.375,
    ),
    # weights: cpu*3: 3*2000/4000 = 1.5, slots 1*1/4 = 0.25 -> 1.75 / (3+1) = 0.4375
    (rv(millicpu=4000, slots=4), rv(), rv(millicpu=2000, slots=1), {"cpu": 3}, 0.4375),
    # weight 0 leaves cpu out: only slots 2/4 = 0.5
    (rv(millicpu=4000, slots=4), rv(), rv(millicpu=4000, slots=2), {"cpu": 0}, 0.5),
    # extended dims scored only when requested: cpu 1000/4000 = 0.25, slots 1/4 = 0.25, gpu 1/2 = 0.5 -> 1.0/3
    (
        rv(millicpu=4000, slots=4, extended={"gpu": 2}),
        rv(),
        rv(millicpu=1000, slots=1, extended={"gpu": 1}),
        {},
        1.0 / 3,
    ),
    # ... and not scored when not requested: cpu 0.25, slots 0.25 -> 0.25
    (
        rv(millicpu=4000, slots=4, extended={"gpu": 2}),
        rv(extended={"gpu": 2}),
        rv(millicpu=1000, slots=1),
        {},
        0.25,
    ),
    # nothing scored (all weights 0) -> 0.0
    (rv(millicpu=4000, slots=4), rv(), rv(slots=1), {"cpu": 0, "slots": 0}, 0.0),
]


@pytest.mark.parametrize(("cap", "res", "req", "weights", "expected"), SCORES)
def test_utilization_score(cap, res, req, weights, expected) -> None:
    assert utilization_score(cap, res, req, weights) == pytest.approx(expected, abs=0, rel=1e-15)


def test_score_is_summed_left_to_right_in_float64() -> None:
    # cpu 1/3, memory 1/3, slots 1/3: ((1/3 + 1/3) + 1/3) / 3, bit for bit.
    cap = rv(millicpu=3, memory_bytes=3, slots=3)
    req = rv(millicpu=1, memory_bytes=1, slots=1)
    expected = ((0.0 + 1 / 3) + 1 / 3 + 1 / 3) / 3.0
    assert utilization_score(cap, rv(), req, {}) == expected


def kube_fleet() -> list[Runner]:
    return [
        Runner("node1", rv(millicpu=4000, memory_bytes=10000, slots=16)),
        Runner("node2", rv(millicpu=6000, memory_bytes=10000, slots=16)),
    ]


POD = rv(millicpu=3000, memory_bytes=5000, slots=1)

DECISIONS = [
    # (strategy, expected runner) for Kubernetes' pod of 3000m / 5000:
    # node1: cpu 0.75, mem 0.5, slots 1/16 -> 1.3125/3 = 0.4375; node2: 0.5, 0.5, 1/16 -> 1.0625/3 = 0.354
    (EvenSpreadStrategy(), "node2"),  # lowest score, as LeastAllocated
    (MaxPackingStrategy(), "node1"),  # highest score, as MostAllocated
    # with slots weighted 0 the scores are exactly Kubernetes' 0.625 vs 0.5
    (EvenSpreadStrategy({"slots": 0}), "node2"),
    (MaxPackingStrategy({"slots": 0}), "node1"),
]


@pytest.mark.parametrize(("strategy", "expected"), DECISIONS)
def test_kubernetes_worked_case(strategy, expected) -> None:
    alloc = Allocator(kube_fleet(), strategy=strategy)
    explanation = alloc.explain(POD)
    assert explanation.chosen == expected
    if strategy.weight("slots") == 0:
        assert [v.score for v in explanation.runners] == [0.625, 0.5]
    assert alloc.allocate("pod", POD).runner == expected


def identical(n: int) -> list[Runner]:
    return [Runner.parse(f"r{i}", "cpu=4,memory=8Gi,slots=4") for i in range(n)]


def test_even_spread_goes_round_robin_on_identical_runners() -> None:
    alloc = Allocator(identical(3), strategy=EvenSpreadStrategy())
    # all empty: equal scores, first registered wins; then the placed runner scores higher.
    assert [alloc.allocate(f"t{i}").runner for i in range(7)] == [
        "r0", "r1", "r2", "r0", "r1", "r2", "r0",
    ]  # fmt: skip


def test_max_packing_fills_one_runner_first() -> None:
    alloc = Allocator(identical(3), strategy=MaxPackingStrategy())
    # slots 4 per runner: r0 fills (1/4, 2/4, 3/4, 4/4), then r1.
    assert [alloc.allocate(f"t{i}").runner for i in range(6)] == ["r0"] * 4 + ["r1"] * 2


def test_ties_go_to_the_runner_registered_first_and_readded_is_newest() -> None:
    alloc = Allocator(identical(3), strategy=MaxPackingStrategy())
    alloc.remove_runner("r0")
    alloc.add_runner(Runner.parse("r0", "cpu=4,memory=8Gi,slots=4"))
    # order is now r1, r2, r0: all empty, so r1 wins the tie.
    assert alloc.allocate("t").runner == "r1"
    alloc2 = Allocator(identical(3), strategy=EvenSpreadStrategy())
    alloc2.remove_runner("r0")
    alloc2.add_runner(Runner.parse("r0", "cpu=4,memory=8Gi,slots=4"))
    assert [alloc2.allocate(f"t{i}").runner for i in range(3)] == ["r1", "r2", "r0"]


def test_max_packing_prefers_the_fuller_runner() -> None:
    fleet = identical(2)
    alloc = Allocator(fleet, strategy=MaxPackingStrategy())
    alloc.allocate("a", "cpu=2", require=())
    alloc.allocate("b", "cpu=3")  # r0 has 2/4 cpu: 3 more do not fit -> r1
    # r0: cpu (2+1)/4=0.75, mem 0, slots 2/4=0.5 -> 1.25/3; r1: (3+1)/4=1.0, 0, 2/4 -> 1.5/3: r1 wins
    assert alloc.allocate("c", "cpu=1").runner == "r1"


def test_weights_change_the_decision() -> None:
    fleet = [
        Runner.parse("cpu-heavy", "cpu=16,memory=4Gi"),
        Runner.parse("mem-heavy", "cpu=4,memory=64Gi"),
    ]
    request = "cpu=2,memory=2Gi"
    # unweighted EvenSpread: cpu-heavy (2/16 + 2/4 + 1/16)/3 = 0.229; mem-heavy (2/4 + 2/64 + 1/16)/3 = 0.198
    assert Allocator(fleet, strategy=EvenSpreadStrategy()).explain(request).chosen == "mem-heavy"
    # memory weighted 0: cpu-heavy (0.125 + 0.0625)/2 = 0.094; mem-heavy (0.5 + 0.0625)/2 = 0.281
    chosen = Allocator(fleet, strategy=EvenSpreadStrategy({"memory": 0})).explain(request).chosen
    assert chosen == "cpu-heavy"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, EvenSpreadStrategy),
        ({"ALLOCATOR_STRATEGY": ""}, EvenSpreadStrategy),
        ({"ALLOCATOR_STRATEGY": "EvenSpreadStrategy"}, EvenSpreadStrategy),
        ({"ALLOCATOR_STRATEGY": "MaxPackingStrategy"}, MaxPackingStrategy),
        ({"ALLOCATOR_STRATEGY": "even-spread"}, EvenSpreadStrategy),
        ({"ALLOCATOR_STRATEGY": "max-packing"}, MaxPackingStrategy),
    ],
)
def test_strategy_from_env(env, expected) -> None:
    assert type(strategy_from_env(env)) is expected


@pytest.mark.parametrize("value", ["binpack", "maxpacking", "MaxPacking", "spread"])
def test_strategy_from_env_rejects_unknown_names_listing_valid_ones(value: str) -> None:
    with pytest.raises(UnknownStrategyError) as info:
        strategy_from_env({"ALLOCATOR_STRATEGY": value})
    message = str(info.value)
    assert "ALLOCATOR_STRATEGY" in message
    assert repr(value) in message
    for name in ("EvenSpreadStrategy", "MaxPackingStrategy", "even-spread", "max-packing"):
        assert name in message


def test_allocator_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOCATOR_STRATEGY", "max-packing")
    assert isinstance(Allocator().strategy, MaxPackingStrategy)
    monkeypatch.setenv("ALLOCATOR_STRATEGY", "nonsense")
    with pytest.raises(UnknownStrategyError):
        Allocator()


def test_strategy_from_name_and_class_names() -> None:
    assert strategy_from_name("EvenSpreadStrategy").name == "EvenSpreadStrategy"
    assert MaxPackingStrategy.name == "MaxPackingStrategy"
    with pytest.raises(UnknownStrategyError, match="EvenSpreadStrategy"):
        strategy_from_name("nope")


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [
        ({"cpu": -1}, "weights['cpu']"),
        ({"cpu": 1.5}, "weights['cpu']"),
        ({"cpu": True}, "weights['cpu']"),
        ({"cpu": 1001}, "from 0 to 1000"),
        ({"": 1}, "weights key"),
        ({"a b": 1}, "weights key"),
        ([("cpu", 1)], "weights must be a mapping"),
    ],
)
def test_bad_weights(weights, fragment) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        EvenSpreadStrategy(weights)
    assert fragment in str(info.value)


def test_strategies_are_values() -> None:
    assert EvenSpreadStrategy({"cpu": 2}) == EvenSpreadStrategy({"cpu": 2})
    assert hash(EvenSpreadStrategy({"cpu": 2})) == hash(EvenSpreadStrategy({"cpu": 2}))
    assert EvenSpreadStrategy() != MaxPackingStrategy()
    assert EvenSpreadStrategy({"gpu": 1}).to_dict() == {
        "name": "EvenSpreadStrategy",
        "weights": {"gpu": 1},
    }


class FewestTasks:
    """A user strategy: the runner with the fewest reserved slots wins."""

    name = "FewestTasks"
    maximize = False

    def score(self, state: RunnerState, request: Resources) -> float:
        return float(state.reserved.slots)


def test_custom_strategy_protocol() -> None:
    assert isinstance(FewestTasks(), Strategy)
    fleet = [Runner.parse("big", "cpu=64,slots=64"), Runner.parse("small", "cpu=1,slots=2")]
    alloc = Allocator(fleet, strategy=FewestTasks())
    assert [alloc.allocate(f"t{i}").runner for i in range(4)] == ["big", "small", "big", "small"]
    # the allocator still filters feasibility: small is full now
    assert alloc.allocate("t4").runner == "big"


def test_a_non_strategy_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="strategy must have"):
        Allocator(strategy="MaxPackingStrategy")  # type: ignore[arg-type]
