"""Read a fleet from the generic fleet CSV (``name,cpu,memory,slots`` + extended + ``labels``).

Format: a header row, then one runner per row. ``name`` is required; ``cpu``,
``memory`` and ``slots`` use the parser syntax (empty cpu or memory means 0,
empty slots means 16). An optional ``labels`` column lists labels separated by
``;``. Any other column is an extended resource with an integer count.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from runtime_alloc._units import parse_count, parse_cpu, parse_memory
from runtime_alloc.resources import BUILTIN_DIMENSIONS, Resources
from runtime_alloc.runners import DEFAULT_RUNNER_SLOTS, Runner, check_runner_slots
from runtime_alloc.traces._csvio import cell, rows, sized
from runtime_alloc.traces._csvio import header as read_header
from runtime_alloc.traces.errors import InputFileError

__all__ = ["read_fleet_csv"]


def read_fleet_csv(path: str | Path) -> tuple[Runner, ...]:
    """Read the runners of a generic fleet CSV, in file order.

    Raises:
        InputFileError: naming the file, the line, the column and the value.

    Runtime complexity: O(rows * columns).
    """
    records = rows(path)
    known = {"name", "labels", *BUILTIN_DIMENSIONS}
    _, header = read_header(
        path, records, required=("name",), known=known, example="name,cpu,memory,slots"
    )
    runners: list[Runner] = []
    seen: set[str] = set()
    for line, values in sized(path, records, header):
        row = dict(zip(header, values, strict=True))
        name = row["name"]
        if name in seen:
            raise InputFileError(path, line, f"runner name {name!r} appears twice")
        seen.add(name)
        capacity = Resources(
            millicpu=cell(
                path, line, "cpu", row.get("cpu", ""), lambda t: parse_cpu(t) if t else 0
            ),
            memory_bytes=cell(
                path, line, "memory", row.get("memory", ""), lambda t: parse_memory(t) if t else 0
            ),
            slots=cell(
                path,
                line,
                "slots",
                row.get("slots", ""),
                lambda t: (
                    check_runner_slots(parse_count(t, field="slots")) if t else DEFAULT_RUNNER_SLOTS
                ),
            ),
            extended={
                n: cell(path, line, n, t, partial(parse_count, field=n))
                for n, t in row.items()
                if n not in known and t
            },
        )
        labels = [p.strip() for p in row.get("labels", "").split(";") if p.strip()]
        runners.append(
            cell(
                path,
                line,
                "name/labels/slots",
                name,
                partial(Runner, capacity=capacity, labels=labels),
            )
        )
    if not runners:
        raise InputFileError(path, None, "lists no runners")
    return tuple(runners)
