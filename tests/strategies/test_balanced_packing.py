"""BalancedPackingStrategy: formula by hand, arguments, registry, harness contract, fill."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import (
    Allocator,
    BalancedPackingStrategy,
    FleetSnapshot,
    MaxPackingStrategy,
    Resources,
    Runner,
)
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.strategies import (
    STRATEGIES,
    linear_score,
    strategy_from_env,
    strategy_from_name,
)
from runtime_alloc.strategies.balanced_packing import balanced_packing_score
from runtime_alloc.testing import StrategyContract
from runtime_alloc.testing.contract import check_deterministic, check_feasible_and_complete

QUICK = settings(max_examples=40, deadline=None)


def worked_example() -> list[Runner]:
    return [
        Runner.parse("A", "cpu=8,memory=8Gi", devices={"gpu": 1}),
        Runner.parse("B", "cpu=16,memory=8Gi"),
    ]


def test_worked_example_of_the_docs():
    # A: -(0.5 + 0.125 + 0.0625 + 2 * 0) / 5 = -0.1375, stranding 0 -> 0.5: +0.25 -> 0.1125
    # B: -(0.25 + 0.125 + 0.0625) / 3 = -0.1458..., no devices -> lowest: B
    alloc = Allocator(worked_example(), strategy=BalancedPackingStrategy())
    request = Resources(4000, 2**30, 1)
    a, b = (alloc.strategy.score(s, request) for s in alloc.snapshot().runners)
    assert a == pytest.approx(0.1125, abs=1e-12)
    assert b == pytest.approx(-(0.25 + 0.125 + 0.0625) / 3, abs=1e-12)
    assert alloc.allocate("t", "cpu=4,memory=1Gi").runner == "B"
    # MaxPacking ignores A's GPU for a cpu-only request and packs A
    packing = Allocator(worked_example(), strategy=MaxPackingStrategy())
    assert packing.allocate("t", "cpu=4,memory=1Gi").runner == "A"


def test_fill_worked_example_by_hand():
    # The fill's hand example (tests/simulation/test_fill.py): a 300m share, 1 core, 200 MiB
    # on n0 (4 cores, 300 MiB, 2 GPUs) or n1 (4 cores, 1000 MiB, 1 GPU), 110 slots.
    #   n0 packing (.25 + .6667 + 1/110 + 2 * .15) / 5 = .245152, stranding .85 - .3333
    #      -> -.245152 + .5 * .51667 = .013182
    #   n1 packing (.25 + .2 + 1/110 + 2 * .3) / 5 = .211818, stranding 0 -> -.211818
    request = Resources(1000, 200, 1, {"gpu": 300})
    n0 = balanced_packing_score(Resources(4000, 300, 110, {"gpu": 2000}), Resources(), request)
    n1 = balanced_packing_score(Resources(4000, 1000, 110, {"gpu": 1000}), Resources(), request)
    assert n0 == pytest.approx(0.013182, abs=1e-6)
    assert n1 == pytest.approx(-0.211818, abs=1e-6)


def test_weights_and_other_dimensions():
    cap = Resources(4000, 1000, 10, {"gpu": 2000, "license": 4})
    used = Resources(2000, 500, 5, {"gpu": 1000, "license": 2})
    # cpu .5 -> .75, memory .5 -> .6, slots 6/10, license 3/4 (asked: weight 1),
    # gpu .5 free -> .25 free (u = .75); stranding before max(0, .5 - .5) = 0,
    # after max(0, .25 - .25) = 0
    request = Resources(1000, 100, 1, {"gpu": 500, "license": 1})
    expected = -((0.75 + 0.6 + 0.6 + 0.75) + 3 * 0.75) / (4 + 3)
    got = balanced_packing_score(cap, used, request, device_weight=3.0, strand_weight=9.0)
    assert got == pytest.approx(expected, abs=1e-12)
    # weight 0: the GPU pool does not count, the stranding neither
    no_gpu = balanced_packing_score(cap, used, request, device_weight=0.0, strand_weight=0.0)
    assert no_gpu == pytest.approx(-(0.75 + 0.6 + 0.6 + 0.75) / 4, abs=1e-12)
    # another device kind: the gpu counts like MaxPacking (asked: weight 1), license is the pool
    other = balanced_packing_score(cap, used, request, kind="license")
    assert other == pytest.approx(-((0.75 + 0.6 + 0.6 + 0.75) + 2 * 0.75) / 6, abs=1e-12)
    # a runner with no scored dimension scores 0.0
    assert balanced_packing_score(Resources(), Resources(), Resources()) == 0.0


def test_stranding_is_penalized():
    # Same utilizations, but one placement strands GPU: free cpu share falls below free GPU.
    cap = Resources(4000, 4000, 0, {"gpu": 4000})
    request = Resources(3000, 0, 0)
    strands = balanced_packing_score(cap, Resources(), request, strand_weight=0.5)
    plain = balanced_packing_score(cap, Resources(), request, strand_weight=0.0)
    # free gpu 1, free cpu .25 after: stranding .75 -> + .5 * .75
    assert strands - plain == pytest.approx(0.375, abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": ""}, "kind must be a device kind name"),
        ({"kind": 3}, "kind must be a device kind name"),
        ({"device_weight": -1}, r"device_weight must be a number from 0 to 1000, got -1"),
        ({"device_weight": float("nan")}, "device_weight must be a number"),
        ({"device_weight": True}, "device_weight must be a number"),
        ({"strand_weight": 1001}, "strand_weight must be a number from 0 to 1000"),
        ({"strand_weight": "0.5"}, "strand_weight must be a number"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        BalancedPackingStrategy(**kwargs)


def test_no_linear_score_so_every_backend_scans():
    assert linear_score(BalancedPackingStrategy()) is None
    assert BalancedPackingStrategy().maximize is False
    assert BalancedPackingStrategy().to_dict() == {
        "name": "BalancedPackingStrategy",
        "weights": {},
    }


def test_registered_names_env_cli_and_snapshot():
    for name in ("BalancedPackingStrategy", "balanced-packing"):
        assert name in STRATEGIES
        assert strategy_from_name(name) == BalancedPackingStrategy()
    chosen = strategy_from_env({"ALLOCATOR_STRATEGY": "balanced-packing"})
    assert isinstance(chosen, BalancedPackingStrategy)
    with pytest.raises(InvalidArgumentError, match="takes no weights"):
        strategy_from_name("balanced-packing", {"cpu": 2})
    from runtime_alloc.cli import main

    args = ["explain", "--request", "cpu=1", "--runners", "2", "--strategy", "balanced-packing"]
    assert main(args) == 0
    alloc = Allocator(worked_example(), strategy=BalancedPackingStrategy())
    alloc.allocate("t", "cpu=4,memory=1Gi")
    restored = Allocator.from_snapshot(FleetSnapshot.from_json(alloc.snapshot().to_json()))
    assert isinstance(restored.strategy, BalancedPackingStrategy)
    assert restored.allocate("u", "cpu=4,memory=1Gi").runner == "B"


@pytest.mark.parametrize("backend", ["numpy", "auto"])
@settings(max_examples=60, deadline=None)
@given(
    fleet=st.lists(
        st.tuples(st.integers(1, 16), st.integers(1, 16), st.integers(0, 4)),
        min_size=1,
        max_size=8,
    ),
    asks=st.lists(
        st.tuples(
            st.integers(0, 8), st.integers(0, 8), st.sampled_from([0, 0, 300, 500, 1000, 2000])
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_decisions_equal_on_every_backend(backend, fleet, asks):
    pytest.importorskip("numpy")
    runners = [
        Runner.parse(f"r{i}", f"cpu={c},memory={m}Gi", devices={"gpu": g} if g else {})
        for i, (c, m, g) in enumerate(fleet)
    ]
    python = Allocator(runners, strategy=BalancedPackingStrategy(), backend="python")
    other = Allocator(runners, strategy=BalancedPackingStrategy(), backend=backend)
    for i, (cpu, memory, gpu) in enumerate(asks):
        request = Resources(cpu * 1000, memory * 2**30, 1, {"gpu": gpu} if gpu else {})
        a, b = python.try_allocate(f"t{i}", request), other.try_allocate(f"t{i}", request)
        assert a == b


def test_deterministic_and_feasible_through_the_harness():
    check_deterministic(BalancedPackingStrategy(), property_settings=QUICK)
    check_feasible_and_complete(BalancedPackingStrategy(), property_settings=QUICK)
    check_feasible_and_complete(
        BalancedPackingStrategy(kind="gpu", device_weight=1.0, strand_weight=3.0),
        backend="auto",
        property_settings=QUICK,
    )


class TestBalancedPackingContract(StrategyContract):
    strategy = BalancedPackingStrategy()
    state_machine_settings = settings(max_examples=40, deadline=None)
    property_settings = QUICK
