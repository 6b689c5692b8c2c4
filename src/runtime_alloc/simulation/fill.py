"""The FGD paper's fill experiment: offer an inflated pod list once to GPU nodes, per device.

Method (Weng et al., "Beware of Fragmentation", USENIX ATC'23, and its artifact
hkust-adsl/kubernetes-scheduler-simulator):

1. The pods are sorted by name and shuffled with the seed
   (``numpy.random.default_rng(seed).permutation``).
2. Inflation: random copies of the list's pods (drawn with the same generator)
   are appended while the total GPU request stays at most ``factor`` times the
   fleet's GPU capacity; when the list already asks more, random pods are
   removed until it does not.
3. Every pod is offered once, in order; a pod that no node can hold is skipped.
4. The figures are GPU milli allocated / GPU milli of the fleet, at the end and
   just before the first failure, and the curve of allocation against the GPU
   milli arrived so far.

A pod asks either a share of one GPU (``count == 1`` and ``milli < 1000``) or
``count`` whole GPUs; a node holds it when cpu, memory and its 110 pod slots
suffice, its model is in the pod's ``gpu_spec`` (an OR; empty = any), and one
device has the share free (or ``count`` devices are wholly free). The device
choice and the node choice belong to the strategy
(:mod:`runtime_alloc.simulation.fill_strategies`). Needs numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from runtime_alloc.traces.openb import KUBERNETES_MAX_PODS
from runtime_alloc.traces.openb_devices import DEVICE_MILLI, DeviceFleet, DevicePods

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from runtime_alloc.simulation.fill_strategies import FillStrategy

__all__ = ["MAX_COPIES", "FillRun", "FillState", "fill_order", "run_fill"]

#: Inflation appends at most this many copies per pod of the list.
MAX_COPIES = 100


def fill_order(
    pods: DevicePods, capacity_milli: int, factor: float, seed: int
) -> npt.NDArray[np.int64]:
    """The pod indexes offered, in order: sorted by name, shuffled, then inflated.

    At most :data:`MAX_COPIES` times as many copies as the list has pods are appended
    (the inflation stops there even below the target).

    Args:
        pods: the pod list.
        capacity_milli: the fleet's GPU capacity in milli-GPUs.
        factor: the target GPU request as a multiple of the capacity (e.g. 1.3).
        seed: the shuffle and inflation seed.

    Raises:
        ValueError: the list asks no GPU at all (there is nothing to inflate).

    Runtime complexity: O(P log P) for P pods in the result.
    """
    import numpy as np  # noqa: PLC0415

    if not pods.gpu_milli.any():
        msg = "the pod list asks no GPU: the fill experiment needs GPU pods"
        raise ValueError(msg)

    rng = np.random.default_rng(seed)
    by_name = np.array(sorted(range(len(pods.names)), key=pods.names.__getitem__), dtype=np.int64)
    order = by_name[rng.permutation(len(by_name))]
    gpu = pods.gpu_milli
    target = factor * capacity_milli
    total = int(gpu[order].sum())
    if total > target:
        keep = np.ones(len(order), dtype=bool)
        for drop in rng.permutation(len(order)):
            if total <= target:
                break
            keep[drop] = False
            total -= int(gpu[order[drop]])
        return order[keep]
    extra: list[int] = []
    while len(extra) < MAX_COPIES * len(order):
        pick = int(order[rng.integers(len(order))])
        if total + int(gpu[pick]) > target:
            break
        total += int(gpu[pick])
        extra.append(pick)
    return np.concatenate([order, np.array(extra, dtype=np.int64)])


class FillState:
    """Free resources of every node and device while a list is offered.

    Attributes:
        cpu, memory, slots: free amounts per node.
        dev: free milli per (node, device); -1 where a node has no such device.
        model: each node's GPU model index.
    """

    def __init__(self, fleet: DeviceFleet) -> None:
        import numpy as np  # noqa: PLC0415

        self.fleet = fleet
        self.cpu = fleet.cpu.copy()
        self.memory = fleet.memory.copy()
        self.slots = np.full(len(fleet.names), KUBERNETES_MAX_PODS, dtype=np.int64)
        width = max(1, int(fleet.devices.max()))
        present = np.arange(width)[None, :] < fleet.devices[:, None]
        self.dev = np.where(present, DEVICE_MILLI, -1).astype(np.int64)
        self.model = fleet.model
        self._access: dict[str, npt.NDArray[np.bool_]] = {}
        #: the ``gpu_spec`` of the pod last tested (the one being placed)
        self.spec = ""

    def access(self, spec: str) -> npt.NDArray[np.bool_]:
        """Nodes whose GPU model is in ``spec`` (``a|b``; empty = every node). O(N), cached."""
        import numpy as np  # noqa: PLC0415

        mask = self._access.get(spec)
        if mask is None:
            if not spec:
                mask = np.ones(len(self.model), dtype=bool)
            else:
                wanted = [i for i, m in enumerate(self.fleet.models) if m in spec.split("|")]
                mask = np.isin(self.model, wanted)
            self._access[spec] = mask
        return mask

    def feasible(
        self, cpu: int, memory: int, count: int, milli: int, spec: str
    ) -> npt.NDArray[np.bool_]:
        """Which nodes can hold the pod, per device (``spec`` is kept in :attr:`spec`). O(N * D)."""
        self.spec = spec
        ok: npt.NDArray[np.bool_] = (self.cpu >= cpu) & (self.memory >= memory) & (self.slots > 0)
        if count:
            ok &= self.access(spec)
            if milli < DEVICE_MILLI:
                ok &= (self.dev >= milli).any(axis=1)
            else:
                ok &= (self.dev == DEVICE_MILLI).sum(axis=1) >= count
        return ok

    def place(self, node: int, cpu: int, memory: int, devices: list[int], milli: int) -> None:
        """Take the pod's resources on ``node`` and ``devices`` (each ``milli``). O(1)."""
        self.cpu[node] -= cpu
        self.memory[node] -= memory
        self.slots[node] -= 1
        for d in devices:
            if not 0 <= milli <= self.dev[node, d]:
                msg = f"device {d} of node {node} has {self.dev[node, d]} milli free, asked {milli}"
                raise AssertionError(msg)
            self.dev[node, d] -= milli


@attrs.frozen(eq=False)
class FillRun:
    """One strategy on one ordered list.

    Attributes:
        strategy: the strategy's name.
        seed: the order's seed.
        capacity: GPU milli of the fleet.
        arrived: GPU milli asked by pods 0..i (cumulative), one entry per pod offered.
        allocated: GPU milli allocated after pod i.
        first_failure: index of the first pod that found no node (None if none failed).
        failed: number of pods skipped.
    """

    strategy: str
    seed: int
    capacity: int
    arrived: npt.NDArray[np.int64]
    allocated: npt.NDArray[np.int64]
    first_failure: int | None
    failed: int

    @property
    def end_share(self) -> float:
        """GPU allocated / capacity after the last pod (percent; 0 for an empty list). O(1)."""
        return 100.0 * int(self.allocated[-1]) / self.capacity if len(self.allocated) else 0.0

    @property
    def first_failure_share(self) -> float:
        """GPU allocated / capacity just before the first failure (percent; the end if none).

        Runtime complexity: O(1).
        """
        if self.first_failure is None:
            return self.end_share
        before = int(self.allocated[self.first_failure - 1]) if self.first_failure else 0
        return 100.0 * before / self.capacity


def run_fill(
    fleet: DeviceFleet,
    pods: DevicePods,
    order: npt.NDArray[np.int64],
    strategy: FillStrategy,
    seed: int = 0,
) -> FillRun:
    """Offer ``pods[order]`` once each to ``fleet`` with ``strategy``.

    Runtime complexity: O(P * strategy cost); the strategy's choice is O(N * D) for
    the packing strategies and O(N * D * T) for the fragmentation ones (T typical pods).
    """
    import numpy as np  # noqa: PLC0415

    state = FillState(fleet)
    strategy.start(state)
    arrived = np.cumsum(pods.gpu_milli[order])
    allocated = np.zeros(len(order), dtype=np.int64)
    total = 0
    first: int | None = None
    failed = 0
    for step, i in enumerate(order.tolist()):
        cpu, memory = int(pods.cpu[i]), int(pods.memory[i])
        count, milli, spec = int(pods.count[i]), int(pods.milli[i]), pods.spec[i]
        ok = state.feasible(cpu, memory, count, milli, spec)
        nodes = np.flatnonzero(ok)
        if len(nodes) == 0:
            failed += 1
            if first is None:
                first = step
        else:
            node, devices = strategy.choose(state, nodes, (cpu, memory, count, milli))
            state.place(node, cpu, memory, devices, milli)
            strategy.placed(state, node)
            total += count * milli
        allocated[step] = total
    return FillRun(
        strategy=strategy.name,
        seed=seed,
        capacity=fleet.gpu_milli,
        arrived=arrived,
        allocated=allocated,
        first_failure=first,
        failed=failed,
    )
