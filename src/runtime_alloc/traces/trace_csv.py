"""Read a workload from the generic trace CSV (``task_id,submit,duration,cpu,memory,slots``).

Format: a header row, then one task per row. ``task_id``, ``submit`` and
``duration`` (seconds) are required. ``cpu``, ``memory`` and ``slots`` use the
parser syntax (``"1.5"``, ``"500m"``, ``"2Gi"``); an empty cell means not
requested (0, or 1 slot). An optional ``require`` column lists labels separated
by ``;``. Any other column is an extended resource with an integer count.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from runtime_alloc._units import parse_count, parse_cpu, parse_memory
from runtime_alloc.resources import BUILTIN_DIMENSIONS, Resources
from runtime_alloc.runners import to_labels
from runtime_alloc.simulation.tasks import SimTask
from runtime_alloc.traces._csvio import cell, number, rows, sized
from runtime_alloc.traces._csvio import header as read_header
from runtime_alloc.traces.errors import InputFileError

__all__ = ["MAX_TASK_SLOTS", "read_trace_csv"]

#: The most slots one task may take (the Allocator's default ``max_task_slots``).
MAX_TASK_SLOTS = 16

_REQUIRED = ("task_id", "submit", "duration")


def _slots(text: str) -> int:
    value = parse_count(text, field="slots") if text else 1
    if not 1 <= value <= MAX_TASK_SLOTS:
        msg = f"slots must be from 1 to {MAX_TASK_SLOTS} for a task, got {text!r}"
        raise ValueError(msg)
    return value


def read_trace_csv(path: str | Path) -> tuple[SimTask, ...]:
    """Read the tasks of a generic trace CSV.

    Raises:
        InputFileError: naming the file, the line, the column and the value.

    Runtime complexity: O(rows * columns).
    """
    records = rows(path)
    known = {*_REQUIRED, *BUILTIN_DIMENSIONS, "require"}
    _, header = read_header(
        path, records, required=_REQUIRED, known=known, example=",".join(_REQUIRED)
    )
    tasks: list[SimTask] = []
    seen: set[str] = set()
    for line, values in sized(path, records, header):
        row = dict(zip(header, values, strict=True))
        task_id = row["task_id"]
        if not task_id:
            raise InputFileError(path, line, "column 'task_id' is empty")
        if task_id in seen:
            raise InputFileError(path, line, f"task_id {task_id!r} appears twice")
        seen.add(task_id)
        extended = {
            name: cell(path, line, name, text, partial(parse_count, field=name))
            for name, text in row.items()
            if name not in known and text
        }
        request = Resources(
            millicpu=cell(
                path, line, "cpu", row.get("cpu", ""), lambda t: parse_cpu(t) if t else 0
            ),
            memory_bytes=cell(
                path, line, "memory", row.get("memory", ""), lambda t: parse_memory(t) if t else 0
            ),
            slots=cell(path, line, "slots", row.get("slots", ""), _slots),
            extended=extended,
        )
        require = cell(
            path,
            line,
            "require",
            row.get("require", ""),
            lambda t: to_labels([p.strip() for p in t.split(";") if p.strip()], field="require"),
        )
        tasks.append(
            SimTask(
                task_id,
                cell(path, line, "submit", row["submit"], number),
                cell(path, line, "duration", row["duration"], number),
                request,
                require,
            )
        )
    return tuple(tasks)
