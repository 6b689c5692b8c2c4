"""The fragmentation family of the fill experiment: FGD and its two variants.

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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime_alloc.simulation.fill_base import FillStrategy, LibraryStrategy
from runtime_alloc.traces.openb_devices import DEVICE_MILLI

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from runtime_alloc import Strategy
    from runtime_alloc.simulation.fill import FillState
    from runtime_alloc.simulation.fill_base import Choice, Nodes, Pod
    from runtime_alloc.simulation.typical_pods import TypicalPods

__all__ = ["Fragmentation", "LibraryFragmentation", "TightFragmentation"]


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
        """Also the typical GPU shapes each node may take and every node's F. O(N * D * T)."""
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
        """Recount ``node``'s device statistics and its F. O(D * T)."""
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

    def choose(self, state: FillState, nodes: Nodes, pod: Pod) -> Choice:
        """The node of best FGD score (ties as :meth:`tight` says) and its devices. O(N * D * T)."""
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


class LibraryFragmentation(LibraryStrategy):
    """``fgd-plus``: the library's :class:`~runtime_alloc.strategies.FragmentationStrategy`.

    The nodes become runners of an :class:`~runtime_alloc.Allocator` (labels: the GPU
    model; devices: the GPUs), the typical pods its target workload, and each pod is
    placed by the allocator (``require_any`` = the pod's ``gpu_spec``): the fill measures
    the shipped strategy itself (its formula: :mod:`.strategies.fragmentation_formula`).
    """

    name = "fgd-plus"

    def __init__(self, typical: TypicalPods, method: str = "plus", backend: str = "auto") -> None:
        super().__init__(backend)
        self.typical = typical
        self.method = method

    def library_strategy(self) -> Strategy:
        """The FragmentationStrategy with the typical pods as its target workload. O(T)."""
        from runtime_alloc import Resources  # noqa: PLC0415
        from runtime_alloc.strategies import FragmentationStrategy  # noqa: PLC0415

        t = self.typical
        shapes: dict[str | Resources, float] = {}
        rows = zip(t.cpu, t.memory, t.count, t.milli, t.p, strict=True)
        for cpu, memory, count, milli, p in rows:
            key = Resources(cpu, memory, 1, {"gpu": count * milli} if count else {})
            shapes[key] = shapes.get(key, 0.0) + p
        return FragmentationStrategy(shapes, method=self.method)
