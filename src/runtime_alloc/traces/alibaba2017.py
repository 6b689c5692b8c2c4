"""Read the Alibaba cluster trace v2017 batch tasks and machine events.

Mapping (see ``docs/benchmarks.md``):

* ``batch_task.csv`` (columns by position: create time, end time, job id, task
  id, instances, status, plan_cpu, plan_mem; a header row is skipped when
  present): only ``Terminated`` rows have a finish time and are read (rows with an
  empty plan are skipped). Each row
  becomes ``min(instances, instances_cap)`` identical tasks with submit =
  ``max(create, 0)``, duration = ``end - create``, cpu = ``plan_cpu / 100``
  cores, memory = ``plan_mem`` (a fraction of the largest machine's RAM) times
  :data:`NOTIONAL_MACHINE_MEMORY`, 1 slot.
* ``server_event.csv`` (no header): the first ``add`` event of each machine is
  a runner ``m<id>`` with its cores and normalized memory times the same
  notional size, and ``runner_slots`` slots. Error events are not modelled.

The notional size only turns fractions into bytes; every reported metric is a
ratio, so it does not change a result.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path

from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner
from runtime_alloc.simulation.tasks import SimTask
from runtime_alloc.traces._csvio import ascii_text, cell, non_negative_int, rows
from runtime_alloc.traces.errors import InputFileError
from runtime_alloc.traces.openb import KUBERNETES_MAX_PODS

__all__ = ["NOTIONAL_MACHINE_MEMORY", "read_alibaba2017_machines", "read_alibaba2017_tasks"]

#: Bytes that a normalized memory of 1.0 (the largest machine) stands for.
NOTIONAL_MACHINE_MEMORY = 256 * 2**30


def _time(text: str) -> Decimal:
    return _finite(text, "a number of seconds", non_negative=False)


def _decimal(text: str) -> Decimal:
    return _finite(text, "a number", non_negative=True)


def _finite(text: str, what: str, *, non_negative: bool) -> Decimal:
    """Read ``text`` as an exact finite Decimal (at least 0 when ``non_negative``)."""
    try:
        value = Decimal(ascii_text(text))
    except InvalidOperation:
        msg = f"must be {what}, got {text!r}"
        raise ValueError(msg) from None
    if not value.is_finite() or (non_negative and value < 0):
        bound = " >= 0" if non_negative else ""
        msg = f"must be a finite {what.removeprefix('a ')}{bound}, got {text!r}"
        raise ValueError(msg)
    return value


def read_alibaba2017_tasks(path: str | Path, *, instances_cap: int = 1) -> tuple[SimTask, ...]:
    """Read ``batch_task.csv``: Terminated tasks, each as up to ``instances_cap`` instances.

    Raises:
        InputFileError: naming the file, the line, the column and the value.

    Runtime complexity: O(rows * instances_cap).
    """
    tasks: list[SimTask] = []
    for line, values in rows(path):
        if len(values) != 8:
            raise InputFileError(path, line, f"has {len(values)} cells, expected 8")
        if line == 1 and not values[0].lstrip("-").replace(".", "", 1).isdigit():
            continue  # the header row added by the re-hoster
        if values[5] != "Terminated" or not values[6] or not values[7]:
            continue  # no finish time, or no plan (10 Terminated rows lack one)
        create = cell(path, line, "task_create_time", values[0], _time)
        end = cell(path, line, "task_end_time", values[1], _time)
        if end < create:
            raise InputFileError(
                path, line, f"task_end_time {end} is before task_create_time {create}"
            )
        instances = cell(path, line, "number_of_instances", values[4], non_negative_int)
        cpu = cell(path, line, "plan_cpu", values[6], _decimal)
        mem = cell(path, line, "plan_mem", values[7], _decimal)
        request = Resources(
            millicpu=int(cpu * 10), memory_bytes=int(mem * NOTIONAL_MACHINE_MEMORY), slots=1
        )
        submit = float(max(create, Decimal(0)))
        duration = float(end - create)
        tasks.extend(
            SimTask(f"j{values[2]}-t{values[3]}-i{k}", submit, duration, request)
            for k in range(min(instances, instances_cap))
        )
    return tuple(tasks)


def read_alibaba2017_machines(
    path: str | Path, *, runner_slots: int = KUBERNETES_MAX_PODS
) -> tuple[Runner, ...]:
    """Read ``server_event.csv``: one runner per machine's first ``add`` event.

    Raises:
        InputFileError: naming the file, the line, the column and the value.

    Runtime complexity: O(rows).
    """
    runners: dict[str, Runner] = {}
    for line, values in rows(path):
        if len(values) != 7:
            raise InputFileError(path, line, f"has {len(values)} cells, expected 7")
        if values[2] != "add" or f"m{values[1]}" in runners:
            continue
        cores = cell(path, line, "cpus", values[4], _decimal)
        mem = cell(path, line, "memory", values[5], _decimal)
        capacity = Resources(
            millicpu=int(cores * 1000),
            memory_bytes=int(mem * NOTIONAL_MACHINE_MEMORY),
            slots=runner_slots,
        )
        name = f"m{values[1]}"
        runners[name] = cell(path, line, "machine_id", name, partial(Runner, capacity=capacity))
    if not runners:
        raise InputFileError(path, None, "has no 'add' events, so no machines")
    return tuple(runners.values())
