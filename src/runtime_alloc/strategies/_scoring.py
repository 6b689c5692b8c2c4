"""The scoring core shared by the built-in strategies.

For a runner and a request, the scored dimensions are ``cpu``, ``memory`` and
``slots`` where the runner's capacity and the weight are > 0, then the
extended dimensions in name order that the request asks for (> 0) with
capacity > 0 and weight > 0. The score is the weighted mean utilization after
placement::

    score = (w1*(reserved1+request1))/cap1 + (w2*(reserved2+request2))/cap2 + ...
            ---------------------------------------------------------------------
                                  w1 + w2 + ...

summed left to right in float64, each numerator an exact integer converted to
float64 and divided by the capacity converted to float64 (0.0 when no
dimension is scored). This is kube-scheduler's LeastAllocated/MostAllocated
score without the flooring to integers, so ties are rarer and exact.

Worked example (Kubernetes' own): a pod asking 3000m cpu / 5000 memory on a
node of 4000m / 10000 scores (3000/4000 + 5000/10000) / 2 = (0.75 + 0.5) / 2 =
0.625; on a node of 6000m / 10000 it scores (0.5 + 0.5) / 2 = 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._units import _show
from runtime_alloc.dimensions import check_weight_name
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState

__all__ = ["MAX_WEIGHT", "UtilizationStrategy", "utilization_score"]

#: The largest weight accepted: with quantities <= 2**53 every numerator
#: ``weight * (reserved + request)`` stays below 2**63 and fits an int64.
MAX_WEIGHT = 1000


def _to_weights(value: Mapping[str, int] | None) -> FrozenMap[str, int]:
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping):
        msg = f"weights must be a mapping of dimension name to integer, got {_show(value)}"
        raise InvalidArgumentError(msg)
    items = []
    for name in sorted(value, key=str):
        check_weight_name(name, field="weights key")
        weight = value[name]
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            msg = (
                f"weights[{name!r}] must be an integer from 0 to {MAX_WEIGHT}, got {_show(weight)}"
            )
            raise InvalidArgumentError(msg)
        items.append((name, weight))
    return FrozenMap(items)


def utilization_score(
    capacity: Resources,
    reserved: Resources,
    request: Resources,
    weights: Mapping[str, int],
) -> float:
    """Return the weighted mean utilization of a runner after placing ``request``.

    See the module docstring for the exact formula and order of operations.

    Runtime complexity: O(number of dimensions).

    >>> cap = Resources(4000, 10000, 0)
    >>> utilization_score(cap, Resources(), Resources(3000, 5000, 0), {})
    0.625
    """
    total = 0.0
    weight_sum = 0
    for cap, res, req, dim in (
        (capacity.millicpu, reserved.millicpu, request.millicpu, "cpu"),
        (capacity.memory_bytes, reserved.memory_bytes, request.memory_bytes, "memory"),
        (capacity.slots, reserved.slots, request.slots, "slots"),
    ):
        weight = weights.get(dim, 1)
        if cap > 0 and weight:
            total += float(weight * (res + req)) / float(cap)
            weight_sum += weight
    if request.extended:
        cap_ext = capacity.extended
        res_ext = reserved.extended
        for dim, req in request.extended.items():
            cap = cap_ext.get(dim, 0)
            weight = weights.get(dim, 1)
            if cap and weight:
                total += float(weight * (res_ext.get(dim, 0) + req)) / float(cap)
                weight_sum += weight
    return total / float(weight_sum) if weight_sum else 0.0


@attrs.frozen
class UtilizationStrategy:
    """Base of the built-in strategies: a utilization score and a direction.

    Attributes:
        weights: dimension name -> weight from 0 to 1000 (missing means 1;
            0 leaves the dimension out of the score but still enforces it).
    """

    name: ClassVar[str] = "UtilizationStrategy"
    #: True when the highest score wins, False when the lowest does.
    maximize: ClassVar[bool] = False

    weights: FrozenMap[str, int] = attrs.field(
        default=None,
        converter=_to_weights,
    )

    def weight(self, dimension: str) -> int:
        """Return the weight of ``dimension`` (1 unless set)."""
        return self.weights.get(dimension, 1) or 0

    def score(self, state: RunnerState, request: Resources) -> float:
        """Return the runner's utilization after placing ``request`` (see the module docstring).

        Runtime complexity: O(number of dimensions).
        """
        return utilization_score(state.runner.capacity, state.reserved, request, self.weights)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"name": ..., "weights": {...}}``."""
        return {"name": self.name, "weights": dict(self.weights)}
