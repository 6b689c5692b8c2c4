"""``runtime-alloc simulate``: compare strategies on a workload in a discrete-event simulation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtime_alloc.allocator import BACKENDS
from runtime_alloc.cli._common import (
    MAX_PLOT_RUNNERS,
    UsageError,
    add_fleet_options,
    ascii_float,
    check_output_path,
    check_plot_path,
    integer,
    make_strategies,
    parse_weights,
    positive_int,
    show,
    writing,
)
from runtime_alloc.cli.workload import FORMATS, load_scenario
from runtime_alloc.simulation.engine import simulate
from runtime_alloc.strategies import STRATEGIES
from runtime_alloc.traces.openb import KUBERNETES_MAX_PODS
from runtime_alloc.traces.synthetic import DEFAULT_HOURS, DEFAULT_SEED

__all__ = ["add_parser", "run"]

_PLOT_SAMPLES = 240


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``simulate`` subcommand."""
    parser = commands.add_parser(
        "simulate",
        help="compare strategies on a workload (default: an embedded synthetic one)",
        description=(
            "Run a discrete-event simulation: tasks arrive, wait first-in first-out while no "
            "runner can take them, run for their duration, then release their reservation. "
            "Without --trace, an embedded seeded synthetic workload runs on a default fleet."
        ),
    )
    parser.set_defaults(run=run)
    source = parser.add_argument_group("workload")
    source.add_argument("--trace", metavar="FILE", help="read the tasks from FILE")
    source.add_argument(
        "--trace-format",
        choices=FORMATS,
        default="csv",
        help="csv: task_id,submit,duration,cpu,memory,slots[,require][,<extended>...]; "
        "openb: Alibaba GPU v2023 pod list; alibaba2017: Alibaba 2017 batch_task.csv",
    )
    source.add_argument(
        "--limit", type=positive_int, metavar="N", help="use only the first N tasks by submit time"
    )
    source.add_argument(
        "--instances-cap",
        type=positive_int,
        default=1,
        metavar="N",
        help="alibaba2017: at most N instances per task row (default 1)",
    )
    source.add_argument(
        "--seed",
        type=integer,
        default=DEFAULT_SEED,
        help=f"synthetic workload seed (default {DEFAULT_SEED})",
    )
    source.add_argument(
        "--hours",
        default=str(DEFAULT_HOURS),
        help=f"synthetic workload: hours of arrivals (default {DEFAULT_HOURS:g})",
    )
    fleet = parser.add_argument_group("fleet")
    fleet.add_argument("--fleet", metavar="FILE", help="read the runners from FILE")
    fleet.add_argument(
        "--fleet-format",
        choices=FORMATS,
        help="csv: name,cpu,memory,slots[,labels][,<extended>...]; openb: node list; "
        "alibaba2017: server_event.csv (default: the --trace-format)",
    )
    add_fleet_options(fleet)
    fleet.add_argument(
        "--runner-slots",
        type=positive_int,
        default=KUBERNETES_MAX_PODS,
        metavar="N",
        help="slots of each runner read from an openb/alibaba2017 file "
        f"(default {KUBERNETES_MAX_PODS})",
    )
    fleet.add_argument(
        "--fleet-limit", type=positive_int, metavar="N", help="use only the first N runners"
    )
    policy = parser.add_argument_group("allocation")
    policy.add_argument(
        "--strategy",
        action="append",
        choices=list(STRATEGIES),
        help="a strategy to compare; repeat for several (default: both)",
    )
    policy.add_argument(
        "--weights", metavar="SPEC", help='dimension weights, e.g. "cpu=2,memory=1"'
    )
    policy.add_argument("--backend", choices=BACKENDS, default="auto", help="allocator backend")
    output = parser.add_argument_group("output")
    output.add_argument(
        "--json", metavar="PATH", help="write a JSON report to PATH ('-' for stdout)"
    )
    output.add_argument(
        "--csv", metavar="PATH", help="write one CSV row per strategy to PATH ('-' for stdout)"
    )
    output.add_argument(
        "--plot",
        metavar="FILE",
        help="draw runners in use, utilization and heatmaps to FILE (.png, .pdf or .svg; "
        f"fleets of at most {MAX_PLOT_RUNNERS:,} runners)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the simulation for every strategy and write the requested outputs.

    Every argument, input file and output path is checked before the first simulation.
    """
    hours = ascii_float(args.hours)
    if hours is None or hours <= 0 or hours > 24 * 365:
        msg = f"--hours must be > 0 and at most a year (8760), got {show(args.hours)}"
        raise UsageError(msg)
    args.hours = hours
    for option in ("json", "csv"):
        check_output_path(f"--{option}", getattr(args, option))
    if args.json == "-" and args.csv == "-":
        raise UsageError("--json - and --csv - would mix two formats on stdout; send one to a file")
    named = [p for p in (args.json, args.csv, args.plot) if p and p != "-"]
    files = [Path(p).expanduser().resolve() for p in named]
    if len(set(files)) < len(files):
        raise UsageError("--json, --csv and --plot name the same file; give each its own")
    if args.plot is not None:
        check_plot_path(args.plot)
    weights = parse_weights(args.weights)
    strategies = make_strategies(args.strategy, weights)
    scenario = load_scenario(args)
    if args.plot is not None and len(scenario.runners) > MAX_PLOT_RUNNERS:
        msg = (
            f"--plot draws one heatmap row per runner and takes at most {MAX_PLOT_RUNNERS:,} "
            f"runners, got {len(scenario.runners):,}; leave out --plot or use --fleet-limit"
        )
        raise UsageError(msg)
    samples = _PLOT_SAMPLES if args.plot else 0
    results = []
    from runtime_alloc.cli.progress import DelayedProgress  # noqa: PLC0415 (needs rich)

    for strategy in strategies:
        with DelayedProgress(f"simulating {strategy.name}") as progress:
            results.append(
                simulate(
                    scenario.tasks,
                    scenario.runners,
                    strategy,
                    backend=args.backend,
                    samples=samples,
                    progress=progress,
                )
            )
    if args.json is not None:
        from runtime_alloc.cli.reports.json_report import build_report, write_json  # noqa: PLC0415

        parameters = {
            **scenario.parameters,
            "strategies": [s.name for s in strategies],
            "weights": weights,
            "backend": args.backend,
        }
        report = build_report(
            "simulate",
            parameters,
            scenario=scenario.name,
            results=[r.to_dict() for r in results],
        )
        with writing("--json", args.json):
            write_json(report, args.json)
    if args.csv is not None:
        from runtime_alloc.cli.reports.csv_report import write_csv  # noqa: PLC0415

        with writing("--csv", args.csv):
            write_csv(results, args.csv)
    if args.plot is not None:
        from runtime_alloc.cli.reports.plot import write_plot  # noqa: PLC0415

        with writing("--plot", args.plot):
            write_plot(results, scenario.name, args.plot)
    if args.json != "-" and args.csv != "-":
        from runtime_alloc.cli.reports.table import print_table  # noqa: PLC0415

        print_table(results, scenario.name, sys.stdout)
    return 0
