"""Per-device placement strategies for the fill experiment (:mod:`runtime_alloc.simulation.fill`).

Each strategy picks, among the feasible nodes, one node and the devices on it.

* ``bestfit`` — the FGD artifact's BestFit: the node left with the least
  ``0.5 * cpu_free / max_cpu + 0.5 * gpu_free / max_gpu`` after placement (ties: first
  node); a share goes on the device it fits best (smallest remainder, lowest index),
  whole GPUs on the lowest free indexes.
* ``maxpacking`` — runtime_alloc's MaxPacking score (mean utilization after placement
  over cpu, memory, slots and, for a GPU pod, the node's GPU pool) restricted to nodes
  where a device can hold the pod; device choice as ``bestfit``.
* ``fgd`` — FGD as published: F(node) = Σ_m p_m · frag_m(node) over the typical pods m
  (frag_m = the node's free GPU milli on devices too small for m when the node can host
  m, else all its free GPU milli); score ``int(100 · sigmoid((F_before - F_after) / 1000))``,
  the device with the best score on each node, the first node with the best score.
* ``fgd-tight`` — ours: FGD's score, but its many ties (the rounding to an integer makes
  most nodes equal) go to the node left with the least free GPU milli, then the least free
  cpu, then the first node; inside the node, the device with the best score (lowest index
  on ties), as published. The published ties go to the first node, which packs by
  the accident of node order; here the packing is explicit.
* ``fgd-plus`` — ours, the shipped fragmentation-aware strategy: FGD's score and rounding
  over a wider target workload, with ties that depend on the pod's kind:

  - F(node) = Σ_m p_m · frag_m(node), frag_m = free GPU milli on devices smaller than
    m's share when the node can host m, else all its free GPU milli — where "can host"
    checks model, devices, cpu **and memory** (each typical shape carries the lower
    median of its pods' memory; a node whose memory is nearly exhausted strands its
    GPUs, and FGD's measure, which checks cpu only, does not see it);
  - the typical shapes are FGD's (popularity 95 %) **plus every shape asking two GPUs or
    more**, each with its own count (8-GPU pods are rare, but only empty 8-GPU nodes
    with enough cpu and memory can hold them: touching such a node now costs a little);
  - score ``int(100 · sigmoid((F_before - F_after) / 1000))``; its ties go, for a share
    or a cpu-only pod, to the node left with the least free GPU milli (cpu-only pods land
    where the GPUs are already used), then the least capable node (capability = Σ_m p_m
    over the typical GPU shapes the node could hold when empty: a 128-core node that
    alone holds a 120-core 8-GPU pod is kept for it), then the least stranded one
    (``max(0, free GPU share - free cpu share)`` after placement, to 1 %), then the least
    free cpu; for whole GPUs, to the first node, as published (tightest-node ties for
    whole GPUs cost 0.5 points on cpu050).

  Worked example (tests/simulation/test_fill.py): n0 = 2 GPUs, 4 cores, 300 MiB;
  n1 = 1 GPU, 4 cores, 1000 MiB; typical pods {500m: 0.5, 1 GPU: 0.5}, each 1 core and
  200 MiB. A 300m share (1 core, 200 MiB) on n0 leaves [700, 1000] and 100 MiB: no shape
  fits any more, F = 0.5 · 1700 + 0.5 · 1700 = 1700, score int(100 · sigmoid(-1.7)) = 15;
  on n1 it leaves [700]: the 500m shape fits (0), the whole GPU does not (700), F = 350,
  score int(100 · sigmoid(-0.35)) = 41: n1. FGD, blind to memory, scores both 41 and
  takes n0, stranding 1,700 milli.
* ``maxpacking-balanced`` — MaxPacking made aware of stranding, two changes only: the
  node's GPU pool always counts among the utilizations, with weight 2 (plain MaxPacking
  counts it, with weight 1, only for GPU pods, so nothing keeps cpu-only pods off
  nodes whose GPUs are free), and the score subtracts half the increase of the node's stranding
  S = max(0, g - min(c, m)), the share of its GPU left free beyond its free share of cpu
  or memory. Lower is better::

      score = -(u_cpu + u_mem + u_slots + 2 · u_gpu) / 5 + 0.5 · (S_after - S_before)

  with u the utilizations and g, c, m the free shares after (or before) placement; ties
  go to the first node. Worked example in tests/simulation/test_fill.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from runtime_alloc.simulation.typical_pods import POPULARITY, TypicalPods, typical_pods
from runtime_alloc.traces.openb_devices import DEVICE_MILLI, DevicePods

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from runtime_alloc.simulation.fill import FillState

__all__ = ["FILL_STRATEGIES", "FillStrategy", "TypicalPods", "fill_strategy", "typical_pods"]


class FillStrategy:
    """Base: packing device choice; subclasses score nodes."""

    name: ClassVar[str] = ""

    def start(self, state: FillState) -> None:
        """Called once before the first pod. O(N)."""
        self.state = state
        self.max_cpu = float(state.fleet.cpu.max())
        self.max_gpu = float(state.fleet.devices.max() * DEVICE_MILLI) or 1.0

    def placed(self, state: FillState, node: int) -> None:
        """Called after each placement on ``node``. O(1)."""

    @staticmethod
    def devices(state: FillState, node: int, count: int, milli: int) -> list[int]:
        """Best fit for a share (smallest remainder, lowest index); lowest free indexes else."""
        import numpy as np  # noqa: PLC0415

        row = state.dev[node]
        if count == 0:
            return []
        if milli < DEVICE_MILLI:
            left = np.where(row >= milli, row - milli, DEVICE_MILLI + 1)
            return [int(np.argmin(left))]
        return [int(d) for d in np.flatnonzero(row == DEVICE_MILLI)[:count]]

    def node_score(
        self, state: FillState, nodes: npt.NDArray[np.int64], ask: tuple[int, int, int]
    ) -> npt.NDArray[np.float64]:
        """Scores of ``nodes`` for ``ask`` = (cpu, memory, gpu milli); lower is better. O(N)."""
        raise NotImplementedError

    def choose(
        self,
        state: FillState,
        nodes: npt.NDArray[np.int64],
        pod: tuple[int, int, int, int],
    ) -> tuple[int, list[int]]:
        """The node (lowest score, first on ties) and its devices for ``pod``.

        ``pod`` is (cpu, memory, count, milli). O(N * D).
        """
        import numpy as np  # noqa: PLC0415

        cpu, memory, count, milli = pod

        node = int(
            nodes[int(np.argmin(self.node_score(state, nodes, (cpu, memory, count * milli))))]
        )
        return node, self.devices(state, node, count, milli)


class BestFit(FillStrategy):
    """The artifact's BestFit: least weighted free cpu + GPU left on the node."""

    name = "bestfit"

    def node_score(
        self, state: FillState, nodes: npt.NDArray[np.int64], ask: tuple[int, int, int]
    ) -> npt.NDArray[np.float64]:
        import numpy as np  # noqa: PLC0415

        cpu, _, gpu = ask
        gpu_free = np.maximum(state.dev[nodes], 0).sum(axis=1)
        cpu_left = (state.cpu[nodes] - cpu) / self.max_cpu * 0.5
        return cpu_left + (gpu_free - gpu) / self.max_gpu * 0.5  # type: ignore[no-any-return]


class MaxPacking(FillStrategy):
    """runtime_alloc's MaxPacking score with device feasibility."""

    name = "maxpacking"

    def node_score(
        self, state: FillState, nodes: npt.NDArray[np.int64], ask: tuple[int, int, int]
    ) -> npt.NDArray[np.float64]:
        import numpy as np  # noqa: PLC0415

        cpu, memory, gpu = ask
        fleet = state.fleet
        cap_cpu = fleet.cpu[nodes].astype(np.float64)
        cap_mem = fleet.memory[nodes].astype(np.float64)
        score = (cap_cpu - state.cpu[nodes] + cpu) / cap_cpu
        score = score + (cap_mem - state.memory[nodes] + memory) / cap_mem
        score = score + (111 - state.slots[nodes]) / 110.0
        dims = 3.0
        if gpu:
            cap_gpu = (fleet.devices[nodes] * DEVICE_MILLI).astype(np.float64)
            free = np.maximum(state.dev[nodes], 0).sum(axis=1)
            score = score + (cap_gpu - free + gpu) / cap_gpu
            dims = 4.0
        return -(score / dims)  # type: ignore[no-any-return]


class BalancedPacking(FillStrategy):
    """``maxpacking-balanced``: MaxPacking that counts the GPU pool and penalizes stranding.

    See the module docstring for the formula.
    """

    name = "maxpacking-balanced"
    #: Weight of the GPU pool among the utilizations (cpu, memory and slots weigh 1).
    gpu_weight: ClassVar[float] = 2.0
    #: Weight of the increase of stranding.
    strand_weight: ClassVar[float] = 0.5

    def node_score(
        self, state: FillState, nodes: npt.NDArray[np.int64], ask: tuple[int, int, int]
    ) -> npt.NDArray[np.float64]:
        import numpy as np  # noqa: PLC0415

        cpu, memory, gpu = ask
        fleet = state.fleet
        cap_cpu = fleet.cpu[nodes].astype(np.float64)
        cap_mem = fleet.memory[nodes].astype(np.float64)
        cap_gpu = (fleet.devices[nodes] * DEVICE_MILLI).astype(np.float64)
        has_gpu = cap_gpu > 0
        cap_gpu[~has_gpu] = 1.0
        free_cpu, free_mem = state.cpu[nodes] / cap_cpu, state.memory[nodes] / cap_mem
        free_gpu = np.maximum(state.dev[nodes], 0).sum(axis=1) / cap_gpu
        cpu_left, mem_left, gpu_left = (
            free_cpu - cpu / cap_cpu,
            free_mem - memory / cap_mem,
            (free_gpu - gpu / cap_gpu),
        )
        weight = np.where(has_gpu, self.gpu_weight, 0.0)
        used = (1 - cpu_left) + (1 - mem_left) + (111 - state.slots[nodes]) / 110.0
        packing = (used + weight * (1 - gpu_left)) / (3.0 + weight)
        before = np.maximum(0.0, free_gpu - np.minimum(free_cpu, free_mem))
        after = np.maximum(0.0, gpu_left - np.minimum(cpu_left, mem_left))
        return -packing + self.strand_weight * (after - before)  # type: ignore[no-any-return]


class Fragmentation(FillStrategy):
    """FGD's fragmentation gradient (see the module docstring)."""

    name = "fgd"

    def __init__(self, typical: TypicalPods) -> None:
        import numpy as np  # noqa: PLC0415

        self.typical = typical
        self.t_cpu = np.array(typical.cpu, dtype=np.int64)
        self.t_count = np.array(typical.count, dtype=np.int64)
        self.t_milli = np.array(typical.milli, dtype=np.int64)
        self.t_memory = np.array(typical.memory, dtype=np.int64)
        self.t_gpu = self.t_milli > 0
        self.t_p = np.array(typical.p, dtype=np.float64)

    def start(self, state: FillState) -> None:
        import numpy as np  # noqa: PLC0415

        super().start(state)
        self.access = np.stack([state.access(s) for s in self.typical.spec], axis=1)
        self.access &= self.t_gpu[None, :]
        self.cnt, self.small, self.total = self._stats(state.dev)
        self.frag = self._frag(
            state.cpu, state.memory, self.cnt, self.small, self.total, self.access
        )

    def _stats(
        self, dev: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        import numpy as np  # noqa: PLC0415

        big = dev[:, :, None] >= self.t_milli[None, None, :]
        cnt = big.sum(axis=1)
        small = (np.maximum(dev, 0)[:, :, None] * ~big).sum(axis=1)
        return cnt, small, np.maximum(dev, 0).sum(axis=1)

    def _frag(  # noqa: PLR0917 (private; the columns of one node set)
        self,
        cpu: npt.NDArray[np.int64],
        memory: npt.NDArray[np.int64],
        cnt: npt.NDArray[np.int64],
        small: npt.NDArray[np.int64],
        total: npt.NDArray[np.int64],
        access: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        import numpy as np  # noqa: PLC0415

        fits = access & (cpu[:, None] >= self.t_cpu[None, :]) & (cnt >= self.t_count[None, :])
        fits &= memory[:, None] >= self.t_memory[None, :]
        amount = np.where(fits, small, total[:, None])
        return amount @ self.t_p

    def placed(self, state: FillState, node: int) -> None:
        cnt, small, total = self._stats(state.dev[node : node + 1])
        self.cnt[node], self.small[node], self.total[node] = cnt[0], small[0], total[0]
        one = slice(node, node + 1)
        self.frag[node] = self._frag(
            state.cpu[one], state.memory[one], cnt, small, total, self.access[one]
        )[0]

    def tight(self, count: int, milli: int) -> bool:  # noqa: ARG002 (overridden)
        """Whether the ties of this pod go to the tightest node (else to the first). O(1)."""
        return False

    def tie_keys(
        self,
        state: FillState,  # noqa: ARG002
        cand: npt.NDArray[np.int64],  # noqa: ARG002
        total: npt.NDArray[np.int64],
        cpu_left: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[Any], ...]:
        """The tie keys of the tightest node, least significant first (for ``np.lexsort``).

        The least free GPU milli left, then the least free cpu. O(N).
        """
        return (cpu_left, total)

    def choose(
        self,
        state: FillState,
        nodes: npt.NDArray[np.int64],
        pod: tuple[int, int, int, int],
    ) -> tuple[int, list[int]]:
        import numpy as np  # noqa: PLC0415

        cpu, memory, count, milli = pod
        if count == 1 and milli < DEVICE_MILLI:
            rows, devs = np.nonzero(_distinct_fits(state.dev[nodes], milli))
            cand = nodes[rows]
            before = state.dev[cand, devs]
            after = before - milli
            k = 1
        else:
            cand = nodes
            devs = np.zeros(len(nodes), dtype=np.int64)
            before = np.full(len(nodes), DEVICE_MILLI if count else 0, dtype=np.int64)
            after = np.zeros(len(nodes), dtype=np.int64)
            k = count
        t = self.t_milli[None, :]
        b, a = before[:, None], after[:, None]
        cnt = self.cnt[cand] - k * (b >= t) + k * (a >= t)
        small = self.small[cand] - k * b * (b < t) + k * a * (a < t)
        total = self.total[cand] - k * (before - after)
        new = self._frag(
            state.cpu[cand] - cpu, state.memory[cand] - memory, cnt, small, total, self.access[cand]
        )
        gain = self.frag[cand] - new
        score = np.floor(100.0 / (1.0 + np.exp(-gain / 1000.0)))
        if self.tight(count, milli):
            keys = self.tie_keys(state, cand, total, state.cpu[cand] - cpu)
            best = int(np.lexsort((*keys, -score))[0])
        else:
            best = int(np.argmax(score))
        node = int(cand[best])
        if count == 1 and milli < DEVICE_MILLI:
            return node, [int(devs[best])]
        return node, self.devices(state, node, count, milli)


def _distinct_fits(dev: npt.NDArray[np.int64], milli: int) -> npt.NDArray[np.bool_]:
    """Devices that hold ``milli`` and whose free milli no lower device of the node has.

    Two devices of one node with the same free milli give the same score and the
    first is taken on ties, so the others need no scoring: same decisions, fewer
    candidates (an empty 8-GPU node offers one device, not eight). O(N * D^2).
    """
    ok = dev >= milli
    for d in range(1, dev.shape[1]):
        ok[:, d] &= (dev[:, :d] != dev[:, d : d + 1]).all(axis=1)
    return ok


class TightFragmentation(Fragmentation):
    """FGD's score, ties to the tightest node (see the module docstring)."""

    name = "fgd-tight"

    def tight(self, count: int, milli: int) -> bool:  # noqa: ARG002
        """Every pod's ties go to the tightest node. O(1)."""
        return True


class BalancedFragmentation(Fragmentation):
    """``fgd-plus``: FGD over a memory- and multi-GPU-aware workload, ties by pod kind.

    See the module docstring for the formula and a worked example.
    """

    name = "fgd-plus"

    def start(self, state: FillState) -> None:
        """Also each node's capability: the p-weighted typical GPU shapes it holds when empty."""
        super().start(state)
        fleet = state.fleet
        fits = self.access & (fleet.cpu[:, None] >= self.t_cpu[None, :])
        fits &= fleet.memory[:, None] >= self.t_memory[None, :]
        fits &= fleet.devices[:, None] >= self.t_count[None, :]
        self.capability = fits @ self.t_p

    def tight(self, count: int, milli: int) -> bool:
        """Ties of a share or a cpu-only pod go to the tightest node, of whole GPUs to the first."""
        return count == 0 or milli < DEVICE_MILLI

    def tie_keys(
        self,
        state: FillState,
        cand: npt.NDArray[np.int64],
        total: npt.NDArray[np.int64],
        cpu_left: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[Any], ...]:
        """Least free GPU, least capable, least stranded (to 1 %), least free cpu. O(N)."""
        import numpy as np  # noqa: PLC0415

        fleet = state.fleet
        gpu = np.maximum(fleet.devices[cand] * DEVICE_MILLI, 1)
        stranded = np.round(np.maximum(0.0, total / gpu - cpu_left / fleet.cpu[cand]), 2)
        return (cpu_left, stranded, self.capability[cand], total)


#: The strategy names of the fill experiment.
FILL_STRATEGIES = (
    "bestfit",
    "maxpacking",
    "maxpacking-balanced",
    "fgd",
    "fgd-tight",
    "fgd-plus",
)


def fill_strategy(name: str, pods: DevicePods, popularity: float = POPULARITY) -> FillStrategy:
    """A fresh strategy by name, its typical pods drawn from ``pods``.

    Args:
        name: one of :data:`FILL_STRATEGIES`.
        pods: the pod list (the fragmentation strategies' target workload).
        popularity: the share of pods the typical shapes cover.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).

    Runtime complexity: O(P log P) for the fragmentation strategies, O(1) else.
    """
    if name == "bestfit":
        return BestFit()
    if name == "maxpacking":
        return MaxPacking()
    if name == "maxpacking-balanced":
        return BalancedPacking()
    if name == "fgd":
        return Fragmentation(typical_pods(pods, popularity))
    if name == "fgd-tight":
        return TightFragmentation(typical_pods(pods, popularity))
    if name == "fgd-plus":
        return BalancedFragmentation(typical_pods(pods, popularity, memory=True, multi_gpu=True))
    msg = f"fill strategy must be one of {', '.join(FILL_STRATEGIES)}, got {name!r}"
    raise ValueError(msg)
