"""Per-device placement strategies for the fill experiment (:mod:`runtime_alloc.simulation.fill`).

Each strategy picks, among the feasible nodes, one node and the devices on it
(the base class, :class:`FillStrategy`, is in :mod:`.fill_base`):

* ``bestfit``, ``maxpacking``, ``maxpacking-balanced`` — the packing family
  (:mod:`.fill_packing`): node scores in closed form, except ``maxpacking-balanced``,
  the library's BalancedPackingStrategy run through an Allocator
  (:class:`.fill_base.LibraryStrategy`, as ``fgd-plus``);
* ``fgd``, ``fgd-tight``, ``fgd-plus`` — the fragmentation family: FGD as
  published and our two variants (:mod:`.fill_fragmentation`, formulas and a
  worked example there).

This module names them (:data:`FILL_STRATEGIES`), builds one by name
(:func:`fill_strategy`) and re-exports every class.
"""

from __future__ import annotations

from runtime_alloc.simulation.fill_base import FillStrategy
from runtime_alloc.simulation.fill_fragmentation import (
    Fragmentation,
    LibraryFragmentation,
    TightFragmentation,
)
from runtime_alloc.simulation.fill_packing import BalancedPacking, BestFit, MaxPacking
from runtime_alloc.simulation.typical_pods import POPULARITY, TypicalPods, typical_pods
from runtime_alloc.traces.openb_devices import DevicePods

__all__ = [
    "FILL_STRATEGIES",
    "BalancedPacking",
    "BestFit",
    "FillStrategy",
    "Fragmentation",
    "LibraryFragmentation",
    "MaxPacking",
    "TightFragmentation",
    "TypicalPods",
    "fill_strategy",
    "typical_pods",
]


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
        return LibraryFragmentation(typical_pods(pods, popularity, memory=True, multi_gpu=True))
    msg = f"fill strategy must be one of {', '.join(FILL_STRATEGIES)}, got {name!r}"
    raise ValueError(msg)
