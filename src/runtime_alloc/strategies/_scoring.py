"""THE score specification: the one definition every backend takes its arithmetic from.

Which dimensions are scored, in which order, with which weights, and the float
operation order are stated here once. :func:`utilization_score` is the scalar
form; :meth:`LinearScore.vector` is the vector form (whole columns at once) that
the numpy backend's scan, block bounds and batch plan call. The python scan
(:func:`runtime_alloc._placement.choose`) and the class index
(:mod:`runtime_alloc.backends.numpy.shape_classes`) keep unrolled scalar copies
on their hot paths; tests/strategies/test_scoring.py holds every form equal.

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

__all__ = [
    "BASE_DIMENSIONS",
    "MAX_WEIGHT",
    "LinearScore",
    "UtilizationStrategy",
    "linear_score",
    "utilization_score",
]

#: The always-present dimensions, in scoring order; extended dimensions follow
#: in the order of the request's mapping.
BASE_DIMENSIONS = ("cpu", "memory", "slots")

#: The largest weight accepted: with quantities <= 2**53 every numerator
#: ``weight * (reserved + request)`` stays below 2**63 and fits an int64.
MAX_WEIGHT = 1000


def _check_weight(name: object, weight: object) -> tuple[str, int]:
    check_weight_name(name, field="weights key")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
        msg = f"weights[{name!r}] must be an integer from 0 to {MAX_WEIGHT}, got {_show(weight)}"
        raise InvalidArgumentError(msg)
    return name, weight  # type: ignore[return-value]


def _to_weights(value: Mapping[str, int] | None) -> FrozenMap[str, int]:
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping):
        msg = f"weights must be a mapping of dimension name to integer, got {_show(value)}"
        raise InvalidArgumentError(msg)
    return FrozenMap([_check_weight(name, value[name]) for name in sorted(value, key=str)])


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
class LinearScore:
    """The capability the indexed backends check: "weighted mean utilization, these weights".

    A strategy offers it through a ``linear_score`` attribute (see
    :func:`linear_score`); the numpy backend then indexes runners for it
    instead of calling ``score`` on each. Its decisions must equal those of
    ``score``, which is why a subclass that overrides ``score`` loses it.

    Attributes:
        weights: dimension name -> weight (missing means 1).
        maximize: True when the highest score wins.
    """

    weights: Mapping[str, int]
    maximize: bool

    def weight(self, dimension: str) -> int:
        """Return the weight of ``dimension`` (1 unless set)."""
        return self.weights.get(dimension, 1) or 0

    @property
    def base_weights(self) -> tuple[int, int, int]:
        """The weights of cpu, memory and slots, in :data:`BASE_DIMENSIONS` order."""
        return (self.weight("cpu"), self.weight("memory"), self.weight("slots"))

    def scalar(self, capacity: Resources, reserved: Resources, request: Resources) -> float:
        """The score of one runner: :func:`utilization_score`. O(dimensions)."""
        return utilization_score(capacity, reserved, request, self.weights)

    @staticmethod
    def vector(used: Any, capacity_float: Any, weights: Any) -> Any:  # noqa: ANN401
        """The weighted utilization sum of many runners at once, before the division.

        Args:
            used: per scored dimension, an int64 array of ``reserved + request``
                (in :data:`BASE_DIMENSIONS` order, then extended ones).
            capacity_float: per dimension, the float64 capacities (``inf``
                where a dimension is not scored, which adds an exact 0.0).
            weights: per dimension, the weight.

        Returns:
            ``float(w1*used1)/cap1 + float(w2*used2)/cap2 + ...`` summed left to
            right, the numerator of :func:`utilization_score` operation for
            operation; divide by the float weight sum to get the score.

        Runtime complexity: O(len(used) * len(arrays)).
        """
        total: Any = None
        for amount, capacity, weight in zip(used, capacity_float, weights, strict=True):
            if weight > 1:
                amount = amount * weight  # noqa: PLW2901
            term = amount.astype(float) / capacity
            total = term if total is None else total + term
        return total


def linear_score(strategy: object) -> LinearScore | None:
    """Return the strategy's :class:`LinearScore` capability, or None when it has none.

    Runtime complexity: O(1).

    >>> from runtime_alloc import MaxPackingStrategy
    >>> linear_score(MaxPackingStrategy({"memory": 2})).base_weights
    (1, 2, 1)
    >>> linear_score(object()) is None
    True
    """
    spec = getattr(strategy, "linear_score", None)
    return spec if isinstance(spec, LinearScore) else None


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

    #: True in subclasses that override ``score`` (they lose :attr:`linear_score`).
    _custom_score: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "score" in cls.__dict__:
            cls._custom_score = True

    def weight(self, dimension: str) -> int:
        """Return the weight of ``dimension`` (1 unless set)."""
        return self.weights.get(dimension, 1) or 0

    @property
    def linear_score(self) -> LinearScore | None:
        """The indexable form of this strategy's score; None when a subclass overrides ``score``."""
        if self._custom_score or not isinstance(self.maximize, bool):
            return None
        return LinearScore(self.weights, self.maximize)

    def score(self, state: RunnerState, request: Resources) -> float:
        """Return the runner's utilization after placing ``request`` (see the module docstring).

        Runtime complexity: O(number of dimensions).
        """
        return utilization_score(state.runner.capacity, state.reserved, request, self.weights)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"name": ..., "weights": {...}}``."""
        return {"name": self.name, "weights": dict(self.weights)}
