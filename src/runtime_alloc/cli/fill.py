"""``runtime-alloc fill``: the FGD paper's fill experiment on an openb pod list, per GPU device."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runtime_alloc.cli._common import (
    UsageError,
    ascii_float,
    ascii_int,
    check_output_path,
    check_plot_path,
    input_file,
    show,
    writing,
)
from runtime_alloc.simulation.fill_strategies import FILL_STRATEGIES

if TYPE_CHECKING:
    from runtime_alloc.simulation.fill import FillRun

__all__ = ["DESCRIPTION", "HELP", "MAX_FACTOR", "MAX_SEEDS", "add_arguments", "parse_seeds", "run"]

#: The largest inflation factor accepted (the paper uses 1.3).
MAX_FACTOR = 10.0
#: The most seeds one command runs.
MAX_SEEDS = 1000
_DEFAULT_STRATEGIES = ("fgd", "fgd-plus")


def parse_seeds(text: str) -> list[int]:
    """``42-51``, ``42,45`` or ``42`` as a list of seeds (at most :data:`MAX_SEEDS`).

    Runtime complexity: O(len(text) + seeds), the seeds at most :data:`MAX_SEEDS`.

    Raises:
        UsageError: naming ``--seeds`` and the value.

    >>> parse_seeds("42-44"), parse_seeds("1,5")
    ([42, 43, 44], [1, 5])
    """
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.partition("-")
        a, b = ascii_int(low), ascii_int(high) if dash else ascii_int(low)
        if a is None or b is None or a < 0 or b < a or len(seeds) + b - a + 1 > MAX_SEEDS:
            msg = (
                f"--seeds must be seeds >= 0 as N, N-M or a comma list, at most {MAX_SEEDS:,} "
                f"of them, got {show(text)}"
            )
            raise UsageError(msg)
        seeds.extend(range(a, b + 1))
    return seeds


#: The one-line help of ``runtime-alloc fill`` in the command list.
HELP = "the FGD paper's fill experiment: GPU allocated as an inflated pod list arrives"

#: The description ``runtime-alloc fill --help`` shows.
DESCRIPTION = (
    "Offer an openb pod list, sorted by name, shuffled by each seed and inflated to "
    "FACTOR times the fleet's GPU capacity, once to the GPU nodes, per device; report "
    "GPU allocated / capacity at the first failure and at the end."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``fill`` options to the parser :func:`runtime_alloc.cli.build_parser` made.

    Runtime complexity: O(1): a fixed set of options.
    """
    parser.add_argument(
        "--pods", type=input_file, required=True, metavar="FILE", help="openb_pod_list_*.csv"
    )
    parser.add_argument(
        "--nodes",
        type=input_file,
        required=True,
        metavar="FILE",
        help="openb_node_list_gpu_node.csv",
    )
    parser.add_argument(
        "--factor", default="1.3", help=f"inflation factor, > 1 and at most {MAX_FACTOR:g}"
    )
    parser.add_argument("--seeds", default="42-51", help="seeds: N, N-M or a list (default 42-51)")
    parser.add_argument(
        "--strategy",
        action="append",
        choices=FILL_STRATEGIES,
        help=f"a strategy; repeat for several (default: {' and '.join(_DEFAULT_STRATEGIES)})",
    )
    parser.add_argument(
        "--popularity",
        default="0.95",
        help="share of pods the typical pod shapes cover, in (0, 1] (default 0.95)",
    )
    parser.add_argument("--json", metavar="PATH", help="write a JSON report ('-' for stdout)")
    parser.add_argument(
        "--plot", metavar="FILE", help="draw GPU allocated vs arrived (.png, .pdf or .svg)"
    )


def _ratio(option: str, text: str, low: float, high: float, *, open_low: bool) -> float:
    value = ascii_float(text)
    if value is None or value > high or value < low or (open_low and value == low):
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        msg = f"{option} must be a number {bound} and at most {high:g}, got {show(text)}"
        raise UsageError(msg)
    return value


def run(args: argparse.Namespace) -> int:
    """Check every argument, then run every strategy on every seed and report.

    Runtime complexity: seeds x strategies x O(P * N * D * T) (T typical pods).
    """
    factor = _ratio("--factor", args.factor, 1.0, MAX_FACTOR, open_low=True)
    popularity = _ratio("--popularity", args.popularity, 0.0, 1.0, open_low=True)
    seeds = parse_seeds(args.seeds)
    check_output_path("--json", args.json)
    if args.plot is not None:
        check_plot_path(args.plot)
    from runtime_alloc.simulation.fill import fill_order, run_fill  # noqa: PLC0415
    from runtime_alloc.simulation.fill_strategies import fill_strategy  # noqa: PLC0415
    from runtime_alloc.traces.openb_devices import read_device_fleet, read_device_pods  # noqa: PLC0415

    fleet = read_device_fleet(args.nodes)
    if fleet.gpu_milli == 0:
        raise UsageError(f"--nodes {show(args.nodes)}: the fleet has no GPU")
    pods = read_device_pods(args.pods)
    if not pods.gpu_milli.any():
        raise UsageError(f"--pods {show(args.pods)}: no pod asks a GPU; nothing to fill")
    names = list(dict.fromkeys(args.strategy or _DEFAULT_STRATEGIES))
    runs: dict[str, list[FillRun]] = {name: [] for name in names}
    seconds: dict[str, float] = dict.fromkeys(names, 0.0)
    for seed in seeds:
        order = fill_order(pods, fleet.gpu_milli, factor, seed)
        for name in names:
            start = time.perf_counter()
            runs[name].append(
                run_fill(fleet, pods, order, fill_strategy(name, pods, popularity), seed)
            )
            seconds[name] += time.perf_counter() - start
    if args.json is not None:
        _write_json(args, runs, seconds, factor, popularity, seeds)
    if args.plot is not None:
        from runtime_alloc.cli.reports.fill_plot import write_fill_plot  # noqa: PLC0415

        with writing("--plot", args.plot):
            write_fill_plot(runs, Path(args.pods).stem, args.plot)
    if args.json != "-":
        _print_table(runs, seconds, Path(args.pods).stem, sys.stdout)
    return 0


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _summary(runs: list[FillRun], seconds: float) -> dict[str, Any]:
    return {
        "strategy": runs[0].strategy,
        "end_share_mean": round(_mean([r.end_share for r in runs]), 4),
        "first_failure_share_mean": round(_mean([r.first_failure_share for r in runs]), 4),
        "seconds": round(seconds, 3),
        "seeds": [
            {
                "seed": r.seed,
                "pods": len(r.arrived),
                "failed": r.failed,
                "end_share": round(r.end_share, 4),
                "first_failure_share": round(r.first_failure_share, 4),
            }
            for r in runs
        ],
    }


def _write_json(  # noqa: PLR0917 (one private call site)
    args: argparse.Namespace,
    runs: dict[str, list[FillRun]],
    seconds: dict[str, float],
    factor: float,
    popularity: float,
    seeds: list[int],
) -> None:
    from runtime_alloc.cli.reports.json_report import build_report, write_json  # noqa: PLC0415

    parameters = {
        "pods": args.pods,
        "nodes": args.nodes,
        "factor": factor,
        "popularity": popularity,
        "seeds": seeds,
        "strategies": list(runs),
    }
    report = build_report(
        "fill", parameters, results=[_summary(r, seconds[name]) for name, r in runs.items()]
    )
    with writing("--json", args.json):
        write_json(report, args.json)


def _print_table(
    runs: dict[str, list[FillRun]], seconds: dict[str, float], title: str, out: TextIO
) -> None:
    seeds = len(next(iter(runs.values())))
    out.write(f"{title}: GPU allocated / capacity, mean of {seeds} seed(s)\n")
    out.write(f"{'strategy':<20} {'first failure %':>16} {'end %':>8} {'seconds':>8}\n")
    for name, group in runs.items():
        first = _mean([r.first_failure_share for r in group])
        end = _mean([r.end_share for r in group])
        out.write(f"{name:<20} {first:>16.2f} {end:>8.2f} {seconds[name]:>8.1f}\n")
