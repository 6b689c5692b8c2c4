"""Property: no strategy of the fill experiment places a pod that its devices cannot hold."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from runtime_alloc.simulation.fill import fill_order, run_fill  # noqa: E402
from runtime_alloc.simulation.fill_base import FillStrategy  # noqa: E402
from runtime_alloc.simulation.fill_strategies import (  # noqa: E402
    FILL_STRATEGIES,
    fill_strategy,
)
from runtime_alloc.traces.openb import KUBERNETES_MAX_PODS  # noqa: E402
from runtime_alloc.traces.openb_devices import DEVICE_MILLI, DeviceFleet, DevicePods  # noqa: E402

MODELS = ("A", "B")
node = st.tuples(
    st.integers(1, 8000), st.integers(1, 1000), st.integers(0, 4), st.sampled_from(MODELS)
)
pod = st.tuples(
    st.integers(0, 4000),
    st.integers(0, 500),
    st.sampled_from([0, 1, 1, 1, 2, 4]),
    st.integers(1, 1000),
    st.sampled_from(["", "A", "B", "A|B"]),
)


def _fleet(nodes: list[tuple[int, int, int, str]]) -> DeviceFleet:
    return DeviceFleet(
        names=tuple(f"n{i}" for i in range(len(nodes))),
        cpu=np.array([n[0] for n in nodes], dtype=np.int64),
        memory=np.array([n[1] for n in nodes], dtype=np.int64),
        devices=np.array([n[2] for n in nodes], dtype=np.int64),
        model=np.array([MODELS.index(n[3]) if n[2] else -1 for n in nodes], dtype=np.int64),
        models=MODELS,
    )


def _pods(rows: list[tuple[int, int, int, int, str]]) -> DevicePods:
    return DevicePods(
        names=tuple(f"p{i:03d}" for i in range(len(rows))),
        cpu=np.array([r[0] for r in rows], dtype=np.int64),
        memory=np.array([r[1] for r in rows], dtype=np.int64),
        count=np.array([r[2] for r in rows], dtype=np.int64),
        milli=np.array(
            [(r[3] if r[2] == 1 else 1000) if r[2] else 0 for r in rows], dtype=np.int64
        ),
        spec=tuple(r[4] if r[2] else "" for r in rows),
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(node, min_size=1, max_size=6).filter(lambda ns: any(n[2] for n in ns)),
    st.lists(pod, min_size=1, max_size=30),
    st.sampled_from(FILL_STRATEGIES),
    st.integers(0, 3),
)
def test_every_placement_fits_its_devices(nodes, rows, name, seed):
    fleet, pods = _fleet(nodes), _pods(rows)
    assume(pods.gpu_milli.any())
    strategy = fill_strategy(name, pods)
    order = fill_order(pods, fleet.gpu_milli, 1.5, seed)
    result = run_fill(fleet, pods, order, strategy)
    state = strategy.state
    present = np.arange(state.dev.shape[1])[None, :] < fleet.devices[:, None]
    # every device keeps 0..1000 free, absent devices stay absent, cpu/memory never go negative
    assert ((state.dev >= 0) & (state.dev <= 1000) | ~present).all()
    assert (state.dev[~present] == -1).all()
    assert (state.cpu >= 0).all()
    assert (state.memory >= 0).all()
    used = int((1000 - state.dev[present]).sum())
    assert used == (int(result.allocated[-1]) if len(order) else 0)
    assert 0.0 <= result.first_failure_share <= result.end_share <= 100.0


class _FormerBalancedPacking(FillStrategy):
    """The fill's former numpy ``maxpacking-balanced`` (before it ran the library strategy).

    Kept here as a second implementation: the library's BalancedPackingStrategy, run
    through an Allocator, must make the same decisions (the published figures rest on it).
    """

    def node_score(self, state, nodes, ask):
        cpu, memory, gpu = ask
        fleet = state.fleet
        cap_cpu = fleet.cpu[nodes].astype(np.float64)
        cap_mem = fleet.memory[nodes].astype(np.float64)
        cap_gpu = (fleet.devices[nodes] * DEVICE_MILLI).astype(np.float64)
        has_gpu = cap_gpu > 0
        cap_gpu[~has_gpu] = 1.0
        free_cpu, free_mem = state.cpu[nodes] / cap_cpu, state.memory[nodes] / cap_mem
        free_gpu = np.maximum(state.dev[nodes], 0).sum(axis=1) / cap_gpu
        cpu_left, mem_left = free_cpu - cpu / cap_cpu, free_mem - memory / cap_mem
        gpu_left = free_gpu - gpu / cap_gpu
        weight = np.where(has_gpu, 2.0, 0.0)
        slots = (KUBERNETES_MAX_PODS + 1 - state.slots[nodes]) / float(KUBERNETES_MAX_PODS)
        used = (1 - cpu_left) + (1 - mem_left) + slots
        packing = (used + weight * (1 - gpu_left)) / (3.0 + weight)
        before = np.maximum(0.0, free_gpu - np.minimum(free_cpu, free_mem))
        after = np.maximum(0.0, gpu_left - np.minimum(cpu_left, mem_left))
        return -packing + 0.5 * (after - before)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(node, min_size=1, max_size=8).filter(lambda ns: any(n[2] for n in ns)),
    st.lists(pod, min_size=1, max_size=40),
    st.integers(0, 3),
)
def test_balanced_packing_library_equals_the_former_fill_formula(nodes, rows, seed):
    fleet, pods = _fleet(nodes), _pods(rows)
    assume(pods.gpu_milli.any())
    order = fill_order(pods, fleet.gpu_milli, 1.5, seed)
    strategy, reference = fill_strategy("maxpacking-balanced", pods), _FormerBalancedPacking()
    library = run_fill(fleet, pods, order, strategy)
    former = run_fill(fleet, pods, order, reference)
    assert library.allocated.tolist() == former.allocated.tolist()
    assert (library.first_failure, library.failed) == (former.first_failure, former.failed)
    # the same pods on the same nodes and devices: every node ends in the same state
    for column in ("dev", "cpu", "memory", "slots"):
        assert getattr(strategy.state, column).tolist() == getattr(reference.state, column).tolist()
