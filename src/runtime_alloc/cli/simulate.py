"""``runtime-alloc simulate``: compare strategies on a workload in a discrete-event simulation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtime_alloc.cli._common import (
    MAX_PLOT_RUNNERS,
    UsageError,
    check_output_path,
    check_plot_path,
    make_strategies,
    parse_weights,
    writing,
)
from runtime_alloc.cli.scenario_options import add_scenario_options, check_hours
from runtime_alloc.cli.workload import load_scenario
from runtime_alloc.simulation.engine import simulate

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

_PLOT_SAMPLES = 240


#: The one-line help of ``runtime-alloc simulate`` in the command list.
HELP = "compare strategies on a workload (default: an embedded synthetic one)"

#: The description ``runtime-alloc simulate --help`` shows.
DESCRIPTION = (
    "Run a discrete-event simulation: tasks arrive, wait first-in first-out while no "
    "runner can take them, run for their duration, then release their reservation. "
    "Without --trace, an embedded seeded synthetic workload runs on a default fleet."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to the parser :func:`runtime_alloc.cli.build_parser` made.

    Runtime complexity: O(1): a fixed set of options.
    """
    add_scenario_options(
        parser,
        strategy_help="a strategy to compare; repeat for several (default: both)",
        several_strategies=True,
    )
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

    Runtime complexity: O(S * T * N) allocator work for S strategies, T tasks and N runners (one
    :func:`simulate` each), plus reading the inputs and writing the outputs.

    Every argument, input file and output path is checked before the first simulation.
    """
    check_hours(args)
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
