"""The fill experiment (FGD paper method) on a hand-sized fleet, and on the real openb trace."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

np = pytest.importorskip("numpy")

from runtime_alloc.simulation.fill import MAX_COPIES, FillState, fill_order, run_fill  # noqa: E402
from runtime_alloc.simulation.fill_strategies import (  # noqa: E402
    Fragmentation,
    fill_strategy,
    typical_pods,
)
from runtime_alloc.traces.errors import InputFileError  # noqa: E402
from runtime_alloc.traces.openb_devices import read_device_fleet, read_device_pods  # noqa: E402

OPENB = Path("/work/shared/traces/alibaba-gpu-v2023-openb")

NODES = """sn,cpu_milli,memory_mib,gpu,model
n0,4000,1000,2,A
n1,4000,1000,1,B
"""
PODS = """name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec
p0,1000,10,1,600,
p1,1000,10,1,600,
p2,1000,10,2,1000,
p3,1000,10,1,500,B
p4,0,10,1,300,
"""


@pytest.fixture
def small(tmp_path):
    nodes, pods = tmp_path / "nodes.csv", tmp_path / "pods.csv"
    nodes.write_text(NODES)
    pods.write_text(PODS)
    return read_device_fleet(nodes), read_device_pods(pods)


def test_bestfit_by_hand(small):
    fleet, pods = small
    # p0: n0 scores .5*3000/4000 + .5*1400/2000 = .725, n1 .375 + .5*400/2000 = .475 -> n1
    # p1: only n0 (n1 has 400 left) -> n0 device 0.  p2: no node has 2 whole GPUs free: fails.
    # p3: gpu_spec B -> n1 only, 400 < 500: fails.  p4: n1 (.375 + .05) beats n0 (.65).
    result = run_fill(fleet, pods, np.arange(5), fill_strategy("bestfit", pods))
    assert result.allocated.tolist() == [600, 1200, 1200, 1200, 1500]
    assert result.arrived.tolist() == [600, 1200, 3200, 3700, 4000]
    assert (result.first_failure, result.failed, result.capacity) == (2, 2, 3000)
    assert result.first_failure_share == pytest.approx(40.0)
    assert result.end_share == pytest.approx(50.0)


def test_fragmentation_by_hand(small):
    fleet, pods = small
    typical = typical_pods(pods)
    # p0 and p1 are one shape: four shapes, the most popular first
    assert typical.p == pytest.approx([0.4, 0.2, 0.2, 0.2])
    assert typical.milli[0] == 600
    strategy = Fragmentation(typical)
    state = FillState(fleet)
    strategy.start(state)
    # n0 (model A, 2 free GPUs): only p3 (asks model B) cannot use it -> 0.2 * 2000.
    # n1 (model B, 1 free GPU): only p2 (2 GPUs) cannot -> 0.2 * 1000.
    # (p = 0.4 for the shape of p0/p1, 0.2 for p2, p3, p4.)
    assert strategy.frag.tolist() == pytest.approx([400.0, 200.0])
    # p0 on n0 leaves [400, 1000]: p0's shape fits on device 1 (400 on device 0 too small)
    # -> 0.4 * 400; p2 and p3 cannot -> 0.2 * 1400 each; p4 fits with no device below
    # 300 -> 0: F = 160 + 280 + 280 = 720.  On n1 it leaves [400]: only p4 fits ->
    # 0.4 * 400 + 0.2 * 400 + 0.2 * 400 = 320.  Gains -320 and -120,
    # scores int(100 * sigmoid(-0.32)) = 42 and int(100 * sigmoid(-0.12)) = 47 -> n1.
    node, devices = strategy.choose(state, np.arange(2), (1000, 10, 1, 600))
    assert (node, devices) == (1, [0])
    state.place(node, 1000, 10, devices, 600)
    strategy.placed(state, node)
    assert strategy.frag.tolist() == pytest.approx([400.0, 320.0])


@pytest.mark.parametrize("name", ["fgd", "fgd-tight", "fgd-plus"])
def test_incremental_fragmentation_equals_a_fresh_count(small, name):
    fleet, pods = small
    strategy = fill_strategy(name, pods)
    order = fill_order(pods, fleet.gpu_milli, 3.0, seed=7)
    result = run_fill(fleet, pods, order, strategy)
    assert result.allocated[-1] > 0
    fresh = type(strategy)(strategy.typical)
    fresh.start(strategy.state)  # counts the final state from scratch
    assert strategy.frag.tolist() == pytest.approx(fresh.frag.tolist())
    assert strategy.cnt.tolist() == fresh.cnt.tolist()
    assert strategy.small.tolist() == fresh.small.tolist()


def test_fill_order_inflates_and_trims(small):
    fleet, pods = small
    gpu = pods.gpu_milli
    order = fill_order(pods, fleet.gpu_milli, 3.0, seed=1)  # the list asks 4000 < 9000
    assert sorted(order[:5].tolist()) == [0, 1, 2, 3, 4]
    assert 9000 - int(gpu.max()) < int(gpu[order].sum()) <= 9000 or len(order) > 5
    assert int(gpu[order].sum()) <= 9000
    trimmed = fill_order(pods, fleet.gpu_milli, 1.0, seed=1)  # asks 4000 > 3000: trim
    assert int(gpu[trimmed].sum()) <= 3000
    assert len(set(trimmed.tolist())) == len(trimmed)
    assert fill_order(pods, fleet.gpu_milli, 3.0, seed=1).tolist() == order.tolist()


def test_inflation_is_bounded(small):
    fleet, pods = small
    no_gpu = attrs.evolve(pods, count=pods.count * 0)
    with pytest.raises(ValueError, match="asks no GPU"):
        fill_order(no_gpu, fleet.gpu_milli, 1.3, seed=1)
    # a list of 1-milli pods would need ~3.9 million copies to reach 1.3 x 3000: capped
    tiny = attrs.evolve(pods, count=pods.count * 0 + 1, milli=pods.milli * 0 + 1)
    order = fill_order(tiny, fleet.gpu_milli, 1.3, seed=1)
    assert len(order) == 5 + MAX_COPIES * 5


def test_a_share_above_one_gpu_is_a_clear_error(tmp_path):
    pods = tmp_path / "pods.csv"
    pods.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,1500\n")
    with pytest.raises(InputFileError, match="gpu_milli"):
        read_device_pods(pods)


@pytest.mark.skipif(not OPENB.is_dir(), reason="openb trace folder absent")
@pytest.mark.timeout(300)
def test_openb_default_two_seeds_end_to_end():
    fleet = read_device_fleet(OPENB / "openb_node_list_gpu_node.csv")
    pods = read_device_pods(OPENB / "openb_pod_list_default.csv")
    assert (len(fleet.names), fleet.gpu_milli) == (1213, 6_212_000)
    for seed in (42, 43):
        order = fill_order(pods, fleet.gpu_milli, 1.3, seed)
        asked = int(pods.gpu_milli[order].sum())
        assert 1.3 * fleet.gpu_milli - 8000 < asked <= 1.3 * fleet.gpu_milli
        bestfit = run_fill(fleet, pods, order, fill_strategy("bestfit", pods))
        fgd = run_fill(fleet, pods, order, fill_strategy("fgd", pods))
        # The published means are 93.08 (BestFit) and 95.39 (FGD); one seed varies by ~0.3.
        assert 92.0 < bestfit.end_share < fgd.end_share
        assert 94.5 < fgd.end_share <= 100.0
        assert fgd.first_failure is not None
        assert fgd.first_failure_share <= fgd.end_share
