"""BalancedPackingStrategy: pack tightly, count the device pool, and do not strand devices.

MaxPacking made aware of stranding, with two changes: the runner's pool of devices of
``kind`` (``gpu`` by default) always counts among the utilizations, with weight
``device_weight`` (2), also for a request that asks no device (plain MaxPacking counts
it, with weight 1, only for requests that ask it, so nothing keeps cpu-only tasks off
runners whose GPUs are free); and the score adds ``strand_weight`` (0.5) times the
increase of the runner's *stranding* S = max(0, g - min(c, m)), the share of its
device pool left free beyond its free share of cpu or memory (GPUs that no task can
use because the cpu or memory next to them is gone). The **lowest** score wins::

    score = -(u_cpu + u_memory + u_slots + Σ u_x + w_d · u_d) / (n + w_d)
            + w_s · (S_after - S_before)
    u     = the utilization after placement, (reserved + request) / capacity
    S     = max(0, g - min(c, m)),  g, c, m = the free shares of the device pool,
            cpu and memory (after or before placement)

where the sum runs over cpu, memory and slots with capacity > 0 and the request's other
extended resources (weight 1 each, as MaxPacking scores them; n counts these terms),
and ``w_d`` is ``device_weight`` on a runner with devices of ``kind`` (0 on a runner
without, whose S is 0). The formula lives here only (:func:`balanced_packing_score`);
the fill experiment's ``maxpacking-balanced`` runs this strategy
(:mod:`runtime_alloc.simulation.fill_packing`). Device feasibility and device choice are
the allocator's, as for every strategy (:func:`runtime_alloc.devices.pick`: best fit for
a share, lowest free indexes for whole devices); ties go to the runner registered first.

Worked example: runners A (cpu=8, memory=8Gi, 1 GPU) and B (cpu=16, memory=8Gi, no
device), empty, 16 slots each; a request of cpu=4, memory=1Gi and one slot, no GPU:

* A: u_cpu = 4/8 = 0.5, u_memory = 1/8, u_slots = 1/16, u_gpu = 0 (weight 2), so the
  packing term is -(0.5 + 0.125 + 0.0625 + 2 · 0) / 5 = -0.1375; S before =
  max(0, 1 - min(1, 1)) = 0, after = max(0, 1 - min(0.5, 0.875)) = 0.5: score =
  -0.1375 + 0.5 · 0.5 = 0.1125.
* B: -(4/16 + 1/8 + 1/16) / 3 = -0.145833 (no devices, no stranding).

B wins. MaxPacking takes A ((0.5 + 0.125 + 0.0625) / 3 = 0.229 against B's 0.146: it
ignores A's GPU for a cpu-only request) and leaves half of A's GPU stranded.

```pycon
>>> from runtime_alloc import Allocator, MaxPackingStrategy, Runner
>>> fleet = [Runner.parse("A", "cpu=8,memory=8Gi", devices={"gpu": 1}),
...          Runner.parse("B", "cpu=16,memory=8Gi")]
>>> balanced = Allocator(fleet, strategy=BalancedPackingStrategy())
>>> [round(balanced.strategy.score(s, Resources(4000, 2**30, 1)), 6)
...  for s in balanced.snapshot().runners]
[0.1125, -0.145833]
>>> balanced.allocate("t", "cpu=4,memory=1Gi").runner
'B'
>>> Allocator(fleet, strategy=MaxPackingStrategy()).allocate("t", "cpu=4,memory=1Gi").runner
'A'

```

Runtime complexity: O(dimensions) per runner scored. The strategy has no
:class:`~runtime_alloc.strategies.LinearScore` (its score is not a weighted mean
utilization), so every backend runs it on the python scan: O(N · dimensions) per
decision for N feasible runners.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs

from runtime_alloc._units import _show
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState

__all__ = ["BalancedPackingStrategy", "balanced_packing_score"]

#: The default weight of the device pool's utilization (cpu, memory and slots weigh 1).
DEVICE_WEIGHT = 2.0
#: The default weight of the increase of stranding.
STRAND_WEIGHT = 0.5
#: The largest device or stranding weight accepted (keeps every score finite and small).
MAX_BALANCE_WEIGHT = 1000.0


def balanced_packing_score(
    capacity: Resources,
    reserved: Resources,
    request: Resources,
    *,
    kind: str = "gpu",
    device_weight: float = DEVICE_WEIGHT,
    strand_weight: float = STRAND_WEIGHT,
) -> float:
    """The balanced packing score of a runner for ``request`` (see the module docstring).

    The float operations run in a fixed order (the fill experiment's figures depend on
    it): free shares ``free / capacity``, their value after placement ``share - ask /
    capacity``, cpu and memory utilizations ``1 - share after``, slots and the other
    extended resources ``(reserved + ask) / capacity``, summed left to right.

    Runtime complexity: O(dimensions).

    >>> cap = Resources(8000, 8, 0, {"gpu": 1000})
    >>> balanced_packing_score(cap, Resources(), Resources(4000, 1, 0))
    0.09375
    """
    used = 0.0
    terms = 0
    shares: list[float] = []
    for cap, res, ask in (
        (capacity.millicpu, reserved.millicpu, request.millicpu),
        (capacity.memory_bytes, reserved.memory_bytes, request.memory_bytes),
    ):
        if cap > 0:
            cap_f = float(cap)
            share = (cap - res) / cap_f
            left = share - ask / cap_f
            used += 1 - left
            terms += 1
            shares.append(share)
            shares.append(left)
    if capacity.slots > 0:
        used += (reserved.slots + request.slots) / float(capacity.slots)
        terms += 1
    cap_ext, res_ext = capacity.extended, reserved.extended
    for dim, ask in request.extended.items():
        cap = cap_ext.get(dim, 0)
        if dim != kind and cap > 0:
            used += (res_ext.get(dim, 0) + ask) / float(cap)
            terms += 1
    pool = cap_ext.get(kind, 0)
    if pool <= 0:
        return -(used / float(terms)) if terms else 0.0
    pool_f = float(pool)
    free = (pool - res_ext.get(kind, 0)) / pool_f
    left = free - request.extended.get(kind, 0) / pool_f
    packing = (used + device_weight * (1 - left)) / (terms + device_weight)
    before_floor = min(shares[0::2]) if shares else 1.0
    after_floor = min(shares[1::2]) if shares else 1.0
    before = max(0.0, free - before_floor)
    after = max(0.0, left - after_floor)
    return -packing + strand_weight * (after - before)


def _check_weight(field: str, value: object) -> float:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not 0 <= value <= MAX_BALANCE_WEIGHT:  # type: ignore[arg-type,operator]
        msg = f"{field} must be a number from 0 to {MAX_BALANCE_WEIGHT:g}, got {_show(value)}"
        raise InvalidArgumentError(msg)
    return float(value)  # type: ignore[arg-type]


def _device_weight(value: object) -> float:
    return _check_weight("device_weight", value)


def _strand_weight(value: object) -> float:
    return _check_weight("strand_weight", value)


def _check_kind(value: object) -> str:
    if not isinstance(value, str) or not value:
        msg = f"kind must be a device kind name like 'gpu', got {_show(value)}"
        raise InvalidArgumentError(msg)
    return value


@attrs.frozen
class BalancedPackingStrategy:
    """Balanced packing: the feasible runner with the **lowest** score wins.

    See the module docstring for the formula, the worked example and the cost.

    Attributes:
        kind: the device kind whose pool always counts and whose stranding is penalized.
        device_weight: the weight of the device pool's utilization (cpu, memory and
            slots weigh 1), from 0 to 1000.
        strand_weight: the weight of the increase of stranding, from 0 to 1000.

    Raises:
        InvalidArgumentError: naming the argument and its value.
    """

    name: ClassVar[str] = "BalancedPackingStrategy"
    maximize: ClassVar[bool] = False

    kind: str = attrs.field(default="gpu", converter=_check_kind)
    device_weight: float = attrs.field(default=DEVICE_WEIGHT, converter=_device_weight)
    strand_weight: float = attrs.field(default=STRAND_WEIGHT, converter=_strand_weight)

    def score(self, state: RunnerState, request: Resources) -> float:
        """The score of placing ``request`` on ``state`` (lower is better). O(dimensions)."""
        return balanced_packing_score(
            state.runner.capacity,
            state.reserved,
            request,
            kind=self.kind,
            device_weight=self.device_weight,
            strand_weight=self.strand_weight,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"name": ..., "weights": {}}`` (the snapshot form of a strategy). O(1)."""
        return {"name": self.name, "weights": {}}
