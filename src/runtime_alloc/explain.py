"""Explanations: why each runner can or cannot take a request, and which one wins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from runtime_alloc._placement import is_feasible, shortfalls
from runtime_alloc.errors import Shortfall

if TYPE_CHECKING:
    from runtime_alloc.resources import Resources
    from runtime_alloc.runners import RunnerState
    from runtime_alloc.strategies import Strategy

__all__ = ["Explanation", "RunnerVerdict", "explain"]


@attrs.frozen
class RunnerVerdict:
    """One runner's answer to a request.

    Attributes:
        runner: the runner's name.
        feasible: True when it could take the request now.
        draining: True when it takes no new placements.
        missing_labels: required labels it lacks.
        shortfalls: dimensions where the request exceeds its free capacity.
        score: the strategy's score when feasible, else None.
    """

    runner: str
    feasible: bool
    draining: bool
    missing_labels: frozenset[str]
    shortfalls: tuple[Shortfall, ...]
    score: float | None

    @property
    def reason(self) -> str:
        """A short text: ``fits``, ``draining``, ``missing label gpu`` or ``insufficient cpu``."""
        if self.feasible:
            return "fits"
        parts = []
        if self.draining:
            parts.append("draining")
        if self.missing_labels:
            parts.append("missing label " + ",".join(sorted(self.missing_labels)))
        if self.shortfalls:
            parts.append("insufficient " + ", ".join(s.dimension for s in self.shortfalls))
        return "; ".join(parts)


@attrs.frozen
class Explanation:
    """The result of :meth:`runtime_alloc.Allocator.explain`.

    Attributes:
        request: the normalized request.
        require: the required labels.
        strategy: the strategy's name.
        maximize: True when the highest score wins.
        chosen: the runner that would be chosen, or None.
        runners: one verdict per runner, in registration order.
    """

    request: Resources
    require: frozenset[str]
    strategy: str
    maximize: bool
    chosen: str | None
    runners: tuple[RunnerVerdict, ...]

    def __str__(self) -> str:
        rule = "highest" if self.maximize else "lowest"
        lines = [
            f"request {self.request}"
            + (f" require {','.join(sorted(self.require))}" if self.require else ""),
            f"strategy {self.strategy} ({rule} score wins, ties to the runner registered first)",
        ]
        for v in self.runners:
            score = "-" if v.score is None else f"{v.score:.6f}"
            mark = "*" if v.runner == self.chosen else " "
            lines.append(f"{mark} {v.runner:<20} {score:>10}  {v.reason}")
        lines.append(f"chosen: {self.chosen}" if self.chosen else "chosen: none")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "request": self.request.to_dict(),
            "require": sorted(self.require),
            "strategy": self.strategy,
            "maximize": self.maximize,
            "chosen": self.chosen,
            "runners": [
                {
                    "runner": v.runner,
                    "feasible": v.feasible,
                    "draining": v.draining,
                    "missing_labels": sorted(v.missing_labels),
                    "shortfalls": [attrs.asdict(s) for s in v.shortfalls],
                    "score": v.score,
                    "reason": v.reason,
                }
                for v in self.runners
            ],
        }


def explain(
    states: Sequence[RunnerState],
    strategy: Strategy,
    request: Resources,
    require: frozenset[str],
) -> Explanation:
    """Score every runner for ``request`` without changing anything. O(N)."""
    verdicts = []
    best: str | None = None
    best_score = 0.0
    for state in states:
        feasible = is_feasible(state, request, require)
        score = strategy.score(state, request) if feasible else None
        if score is not None and (
            best is None or (score > best_score if strategy.maximize else score < best_score)
        ):
            best, best_score = state.name, score
        verdicts.append(
            RunnerVerdict(
                runner=state.name,
                feasible=feasible,
                draining=state.draining,
                missing_labels=require - state.runner.labels,
                shortfalls=tuple(Shortfall(*s) for s in shortfalls(request, state.free)),
                score=score,
            )
        )
    return Explanation(request, require, strategy.name, strategy.maximize, best, tuple(verdicts))
