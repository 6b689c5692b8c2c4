"""EvenSpreadStrategy: place each task on the least utilized feasible runner."""

from __future__ import annotations

from typing import ClassVar

import attrs

from runtime_alloc.strategies._scoring import UtilizationStrategy

__all__ = ["EvenSpreadStrategy"]


@attrs.frozen
class EvenSpreadStrategy(UtilizationStrategy):
    """Spread tasks evenly: the feasible runner with the **lowest** score wins.

    The score is the weighted mean utilization after placement (kube-scheduler's
    LeastAllocated, unfloored); ties go to the runner registered first, so on
    identical empty runners placement goes round-robin.

    Worked example: a 3000m cpu / 5000 memory request on runners of 4000m/10000
    (score (3000/4000 + 5000/10000)/2 = 0.625) and 6000m/10000 (score
    (3000/6000 + 5000/10000)/2 = 0.5) goes to the second.

    Examples:
        >>> from runtime_alloc import Allocator, Runner
        >>> a = Allocator([Runner.parse("r1", "cpu=4"), Runner.parse("r2", "cpu=4")],
        ...               strategy=EvenSpreadStrategy())
        >>> [a.allocate(t, "cpu=1").runner for t in "abc"]
        ['r1', 'r2', 'r1']
    """

    name: ClassVar[str] = "EvenSpreadStrategy"
    maximize: ClassVar[bool] = False
