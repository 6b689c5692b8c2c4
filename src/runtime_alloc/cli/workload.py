"""Choose the workload and the fleet from the ``simulate`` arguments."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import attrs

from runtime_alloc.cli._common import UsageError, shaped_fleet
from runtime_alloc.runners import Runner
from runtime_alloc.simulation.tasks import SimTask
from runtime_alloc.traces.alibaba2017 import (
    read_alibaba2017_machines,
    read_alibaba2017_tasks,
)
from runtime_alloc.traces.fleet_csv import read_fleet_csv
from runtime_alloc.traces.openb import read_openb_nodes, read_openb_pods
from runtime_alloc.traces.synthetic import default_fleet, default_workload
from runtime_alloc.traces.trace_csv import read_trace_csv

__all__ = ["FORMATS", "Scenario", "load_scenario"]

#: Trace and fleet file formats.
FORMATS = ("csv", "openb", "alibaba2017")

#: Files beside a trace that serve as its fleet when ``--fleet`` is not given.
_SIBLING_FLEET = {"openb": "openb_node_list_all_node.csv", "alibaba2017": "server_event.csv"}


@attrs.frozen
class Scenario:
    """A workload, a fleet, and how they were chosen (for reports).

    Attributes:
        name: a short description for the table title.
        tasks: the workload.
        runners: the fleet.
        parameters: the choices, for the JSON report.
    """

    name: str
    tasks: tuple[SimTask, ...]
    runners: tuple[Runner, ...]
    parameters: dict[str, Any]


def _read_fleet(path: str, fmt: str, runner_slots: int) -> tuple[Runner, ...]:
    if fmt == "openb":
        return read_openb_nodes(path, runner_slots=runner_slots)
    if fmt == "alibaba2017":
        return read_alibaba2017_machines(path, runner_slots=runner_slots)
    return read_fleet_csv(path)


def load_scenario(args: argparse.Namespace) -> Scenario:
    """Read or build the tasks and the fleet named by ``args``.

    Runtime complexity: O(T log T + N) for T tasks and N runners (reading the files, and sorting by
    submit time for ``--limit``).

    Raises:
        UsageError: for contradictory options.
        InputFileError: for a bad file (named with its line).
    """
    if args.fleet is not None and args.runners is not None:
        raise UsageError("give either --fleet FILE or --runners N [--shape SPEC], not both")
    if args.shape is not None and args.runners is None:
        raise UsageError(f"--shape {args.shape!r} needs --runners N")
    if args.trace is None and args.trace_format != "csv":
        raise UsageError(f"--trace-format {args.trace_format} needs --trace FILE")
    if args.trace is None:
        tasks = default_workload(args.seed, args.hours)
        name = f"default synthetic workload (seed {args.seed}, {args.hours:g} h)"
    elif args.trace_format == "openb":
        tasks = read_openb_pods(args.trace)
        name = f"openb trace {Path(args.trace).name}"
    elif args.trace_format == "alibaba2017":
        tasks = read_alibaba2017_tasks(args.trace, instances_cap=args.instances_cap)
        name = f"Alibaba 2017 batch trace {Path(args.trace).name}"
    else:
        tasks = read_trace_csv(args.trace)
        name = f"trace {Path(args.trace).name}"
    if args.limit is not None:
        order = sorted(range(len(tasks)), key=lambda k: (tasks[k].submit, k))[: args.limit]
        tasks = tuple(tasks[k] for k in sorted(order))
    fleet_format = args.fleet_format or (
        args.trace_format if args.trace is not None and args.trace_format != "csv" else "csv"
    )
    fleet_path = args.fleet
    if args.runners is not None:
        runners = shaped_fleet(args.runners, args.shape)
        fleet_name = f"{args.runners} x {runners[0].capacity}"
    else:
        if fleet_path is None and args.trace is not None and fleet_format in _SIBLING_FLEET:
            sibling = Path(args.trace).parent / _SIBLING_FLEET[fleet_format]
            if not sibling.is_file():
                msg = (
                    f"--trace-format {fleet_format} needs --fleet FILE "
                    f"({sibling.name} is not beside the trace)"
                )
                raise UsageError(msg)
            fleet_path = str(sibling)
        if fleet_path is None:
            if args.trace is not None:
                raise UsageError("--trace FILE needs a fleet: --fleet FILE or --runners N")
            runners = default_fleet()
            fleet_name = "default fleet"
        else:
            runners = _read_fleet(fleet_path, fleet_format, args.runner_slots)
            fleet_name = Path(fleet_path).name
    if args.fleet_limit is not None:
        runners = runners[: args.fleet_limit]
    parameters = {
        "workload": "default" if args.trace is None else "trace",
        "trace": args.trace,
        "trace_format": args.trace_format if args.trace is not None else None,
        "fleet": fleet_path,
        "fleet_format": fleet_format if fleet_path is not None else None,
        "runners": len(runners),
        "shape": args.shape if args.runners is not None else None,
        "runner_slots": args.runner_slots,
        "instances_cap": args.instances_cap,
        "limit": args.limit,
        "fleet_limit": args.fleet_limit,
        "seed": args.seed,
        "hours": args.hours,
    }
    title = f"{name}: {len(tasks)} tasks on {len(runners)} runners ({fleet_name})"
    return Scenario(title, tasks, runners, parameters)
