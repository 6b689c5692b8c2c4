"""The packing family of the fill experiment: node scores in closed form, lower is better.

* ``bestfit`` — the FGD artifact's BestFit: the node left with the least
  ``0.5 * cpu_free / max_cpu + 0.5 * gpu_free / max_gpu`` after placement (ties: first
  node); a share goes on the device it fits best (smallest remainder, lowest index),
  whole GPUs on the lowest free indexes.
* ``maxpacking`` — runtime_alloc's MaxPacking score (mean utilization after placement
  over cpu, memory, slots and, for a GPU pod, the node's GPU pool) restricted to nodes
  where a device can hold the pod; device choice as ``bestfit``.
* ``maxpacking-balanced`` — the library's
  :class:`~runtime_alloc.strategies.BalancedPackingStrategy` run through an
  :class:`~runtime_alloc.Allocator` (:class:`.fill_base.LibraryStrategy`): MaxPacking
  made aware of stranding (the GPU pool always counts, with weight 2, and the score adds
  half the increase of the node's stranding S = max(0, g - min(c, m)), the share of its
  GPU left free beyond its free share of cpu or memory). Lower is better::

      score = -(u_cpu + u_mem + u_slots + 2 · u_gpu) / 5 + 0.5 · (S_after - S_before)

  The formula and a worked example are in :mod:`runtime_alloc.strategies.balanced_packing`
  only; device choice and feasibility are the allocator's; ties go to the first node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime_alloc.simulation.fill_base import FillStrategy, LibraryStrategy
from runtime_alloc.traces.openb import KUBERNETES_MAX_PODS
from runtime_alloc.traces.openb_devices import DEVICE_MILLI

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from runtime_alloc import Strategy
    from runtime_alloc.simulation.fill import FillState

__all__ = ["BalancedPacking", "BestFit", "MaxPacking"]


def _capacities(
    state: FillState, nodes: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The cpu and memory capacities of ``nodes``, as floats. O(N)."""
    import numpy as np  # noqa: PLC0415

    fleet = state.fleet
    return fleet.cpu[nodes].astype(np.float64), fleet.memory[nodes].astype(np.float64)


def _slots_used_after(state: FillState, nodes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The share of each node's 110 pod slots in use once the pod is placed. O(N)."""
    return (KUBERNETES_MAX_PODS + 1 - state.slots[nodes]) / float(KUBERNETES_MAX_PODS)


def _gpu_free(state: FillState, nodes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The free GPU milli of each node, summed over its devices. O(N * D)."""
    import numpy as np  # noqa: PLC0415

    return np.maximum(state.dev[nodes], 0).sum(axis=1)  # type: ignore[no-any-return]


class BestFit(FillStrategy):
    """The artifact's BestFit: least weighted free cpu + GPU left on the node."""

    name = "bestfit"

    def node_score(
        self, state: FillState, nodes: npt.NDArray[np.int64], ask: tuple[int, int, int]
    ) -> npt.NDArray[np.float64]:
        """The weighted free cpu and GPU left on each node. O(N * D)."""
        cpu, _, gpu = ask
        gpu_free = _gpu_free(state, nodes)
        cpu_left = (state.cpu[nodes] - cpu) / self.max_cpu * 0.5
        return cpu_left + (gpu_free - gpu) / self.max_gpu * 0.5  # type: ignore[no-any-return]


class MaxPacking(FillStrategy):
    """runtime_alloc's MaxPacking score with device feasibility."""

    name = "maxpacking"

    def node_score(
        self, state: FillState, nodes: npt.NDArray[np.int64], ask: tuple[int, int, int]
    ) -> npt.NDArray[np.float64]:
        """Minus the mean utilization after placement. O(N * D)."""
        import numpy as np  # noqa: PLC0415

        cpu, memory, gpu = ask
        cap_cpu, cap_mem = _capacities(state, nodes)
        score = (cap_cpu - state.cpu[nodes] + cpu) / cap_cpu
        score = score + (cap_mem - state.memory[nodes] + memory) / cap_mem
        score = score + _slots_used_after(state, nodes)
        dims = 3.0
        if gpu:
            cap_gpu = (state.fleet.devices[nodes] * DEVICE_MILLI).astype(np.float64)
            free = _gpu_free(state, nodes)
            score = score + (cap_gpu - free + gpu) / cap_gpu
            dims = 4.0
        return -(score / dims)  # type: ignore[no-any-return]


class BalancedPacking(LibraryStrategy):
    """``maxpacking-balanced``: the library's BalancedPackingStrategy through an Allocator.

    See the module docstring; the formula is :func:`.strategies.balanced_packing_score`.
    """

    name = "maxpacking-balanced"

    def library_strategy(self) -> Strategy:
        """The library's BalancedPackingStrategy with its default weights. O(1)."""
        from runtime_alloc.strategies import BalancedPackingStrategy  # noqa: PLC0415

        return BalancedPackingStrategy()
