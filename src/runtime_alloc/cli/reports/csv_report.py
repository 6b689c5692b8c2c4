"""CSV output of ``simulate``: one row per strategy, nested metrics flattened."""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime_alloc.simulation.result import SimulationResult

__all__ = ["flatten", "write_csv"]


def flatten(result: SimulationResult) -> dict[str, Any]:
    """Return ``result.to_dict()`` with nested keys joined by ``_`` (empty cell for None).

    Runtime complexity: O(size of ``result.to_dict()``), the unschedulable list (O(U)) included.

    The list of unschedulable tasks is left out (their count is the ``unschedulable`` cell;
    the JSON report lists them with their reasons).
    """
    out: dict[str, Any] = {}
    for key, value in result.to_dict().items():
        if key == "unschedulable_tasks":
            continue
        if key == "runners_lower_bound":
            out["runners_lower_bound"] = value["runners"]
            out["runners_lower_bound_at_s"] = value["at_s"]
        elif isinstance(value, dict):
            for sub, item in value.items():
                out[f"{key}_{sub}"] = "" if item is None else item
        else:
            out[key] = value
    return out


def write_csv(results: Sequence[SimulationResult], target: str) -> None:
    """Write one row per result to ``target`` (``-`` for stdout).

    Runtime complexity: O(R * F^2) for R results of F fields (the header is merged in order).
    """
    rows = [flatten(r) for r in results]
    fields = list(rows[0])
    for row in rows[1:]:
        fields.extend(k for k in row if k not in fields)
    if target == "-":
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    with Path(target).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
