"""MaxPackingStrategy: fill a runner as far as possible before using another."""

from __future__ import annotations

from typing import ClassVar

import attrs

from runtime_alloc.strategies._scoring import UtilizationStrategy

__all__ = ["MaxPackingStrategy"]


@attrs.frozen
class MaxPackingStrategy(UtilizationStrategy):
    """Pack tasks tightly: the feasible runner with the **highest** score wins.

    The score is the weighted mean utilization after placement (kube-scheduler's
    MostAllocated, unfloored); ties go to the runner registered first, so on
    identical empty runners one runner fills before the next is used.

    Worked example: a 3000m cpu / 5000 memory request on runners of 4000m/10000
    (score 0.625) and 6000m/10000 (score 0.5) goes to the first.

    Examples:
        >>> from runtime_alloc import Allocator, Runner
        >>> fleet = [Runner.parse(name, "cpu=2") for name in ("r1", "r2")]
        >>> placed = Allocator(fleet, strategy=MaxPackingStrategy()).allocate_many(
        ...     [(task, "cpu=1") for task in "abc"])
        >>> [reservation.runner for reservation in placed]
        ['r1', 'r1', 'r2']
    """

    name: ClassVar[str] = "MaxPackingStrategy"
    maximize: ClassVar[bool] = True
