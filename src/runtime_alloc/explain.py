"""Explanations: why each runner can or cannot take a request, and which one wins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from runtime_alloc._placement import is_feasible, shortfalls
from runtime_alloc.devices import device_shortfalls, format_request, shortfall_text
from runtime_alloc.errors import Shortfall
from runtime_alloc.labels import any_labels

if TYPE_CHECKING:
    from runtime_alloc.resources import Resources
    from runtime_alloc.runners import RunnerState
    from runtime_alloc.strategies import Strategy

__all__ = ["Explanation", "RunnerVerdict", "explain"]

_NONE: frozenset[str] = frozenset()


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
        missing_any: the ``require_any`` labels, when it has none of them.
        device_shortfalls: per device kind where its devices cannot take the
            request, ``Shortfall("gpu", requested, available)`` with available the
            largest free share (a share) or 1000 x the wholly free devices (whole
            devices), in milli (:func:`runtime_alloc.devices.device_shortfalls`).
    """

    runner: str
    feasible: bool
    draining: bool
    missing_labels: frozenset[str]
    shortfalls: tuple[Shortfall, ...]
    score: float | None
    missing_any: frozenset[str] = frozenset()
    device_shortfalls: tuple[Shortfall, ...] = ()

    @property
    def reason(self) -> str:
        """A short text: ``fits``, ``draining``, ``missing label gpu`` or ``insufficient cpu``.

        Runtime complexity: O(L log L + D) for L missing labels and D short dimensions or device
        kinds.
        """
        if self.feasible:
            return "fits"
        parts = []
        if self.draining:
            parts.append("draining")
        if self.missing_labels:
            parts.append("missing label " + ",".join(sorted(self.missing_labels)))
        if self.missing_any:
            parts.append("missing any label of " + ",".join(sorted(self.missing_any)))
        if self.shortfalls:
            parts.append("insufficient " + ", ".join(s.dimension for s in self.shortfalls))
        parts.extend(shortfall_text(*attrs.astuple(s)) for s in self.device_shortfalls)
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
        device_kinds: the kinds some runner has as devices (shown in milli,
            ``gpu=500m``; see :mod:`runtime_alloc.devices`).
    """

    request: Resources
    require: frozenset[str]
    strategy: str
    maximize: bool
    chosen: str | None
    runners: tuple[RunnerVerdict, ...]
    device_kinds: frozenset[str] = frozenset()

    def __str__(self) -> str:
        rule = "highest" if self.maximize else "lowest"
        any_of: frozenset[str] = any_labels(self.require)
        lines = [
            f"request {format_request(self.request, self.device_kinds)}"
            + (f" require {','.join(sorted(self.require))}" if len(self.require) else "")
            + (f" require_any {','.join(sorted(any_of))}" if any_of else ""),
            f"strategy {self.strategy} ({rule} score wins, ties to the runner registered first)",
        ]
        for v in self.runners:
            score = "-" if v.score is None else f"{v.score:.6f}"
            mark = "*" if v.runner == self.chosen else " "
            lines.append(f"{mark} {v.runner:<20} {score:>10}  {v.reason}")
        lines.append(f"chosen: {self.chosen}" if self.chosen else "chosen: none")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict. O(N * (D + L log L)) over N runners, D dimensions, L labels."""
        return {
            "request": self.request.to_dict(),
            "require": sorted(self.require),
            "require_any": sorted(any_labels(self.require)),
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
                    "missing_any": sorted(v.missing_any),
                    "device_shortfalls": [attrs.asdict(s) for s in v.device_shortfalls],
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
    any_of: frozenset[str] = any_labels(require)
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
                missing_labels=frozenset(require) - state.runner.labels,
                shortfalls=tuple(Shortfall(*s) for s in shortfalls(request, state.free)),
                score=score,
                missing_any=any_of if any_of and any_of.isdisjoint(state.runner.labels) else _NONE,
                device_shortfalls=tuple(
                    Shortfall(*s) for s in device_shortfalls(state.devices, request)
                ),
            )
        )
    kinds = frozenset(kind for s in states for kind in s.devices)
    return Explanation(
        request, require, strategy.name, strategy.maximize, best, tuple(verdicts), kinds
    )
