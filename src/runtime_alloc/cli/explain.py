"""``runtime-alloc explain``: per runner, does a request fit, why not, its score, and the winner."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from runtime_alloc.allocator import BACKENDS, Allocator
from runtime_alloc.cli._common import (
    UsageError,
    add_fleet_options,
    check_output_path,
    input_file,
    make_strategies,
    parse_labels,
    parse_weights,
    shaped_fleet,
    writing,
)
from runtime_alloc.cli.workload import FORMATS
from runtime_alloc.errors import RuntimeAllocError
from runtime_alloc.explain import Explanation
from runtime_alloc.snapshot import FleetSnapshot
from runtime_alloc.strategies import STRATEGIES
from runtime_alloc.traces.alibaba2017 import read_alibaba2017_machines
from runtime_alloc.traces.errors import InputFileError
from runtime_alloc.traces.fleet_csv import read_fleet_csv
from runtime_alloc.traces.openb import KUBERNETES_MAX_PODS, read_openb_nodes

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]


#: The one-line help of ``runtime-alloc explain`` in the command list.
HELP = "show why each runner can or cannot take a request, and which one wins"

#: The description ``runtime-alloc explain --help`` shows.
DESCRIPTION = "Score every runner of a fleet (or a saved snapshot) for one request."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``explain`` options to the parser :func:`runtime_alloc.cli.build_parser` made.

    Runtime complexity: O(1): a fixed set of options.
    """
    fleet = parser.add_argument_group("fleet (one of)")
    fleet.add_argument(
        "--fleet", type=input_file, metavar="FILE", help="a fleet file (see --fleet-format)"
    )
    fleet.add_argument("--fleet-format", choices=FORMATS, default="csv", help="default csv")
    fleet.add_argument(
        "--snapshot",
        type=input_file,
        metavar="JSON",
        help="a FleetSnapshot.to_dict() file (with reservations)",
    )
    add_fleet_options(fleet)
    parser.add_argument(
        "--request",
        metavar="SPEC",
        help='the request, e.g. "cpu=1.5,memory=2GiB,slots=1" (default: 1 slot)',
    )
    parser.add_argument(
        "--require", action="append", metavar="LABEL", help="a required label (repeat)"
    )
    parser.add_argument(
        "--strategy",
        action="append",
        choices=list(STRATEGIES),
        help="strategy to explain; repeat for several (default: both)",
    )
    parser.add_argument("--weights", metavar="SPEC", help='dimension weights, e.g. "cpu=2"')
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="allocator backend")
    parser.add_argument(
        "--json", metavar="PATH", help="write the explanations as JSON ('-' for stdout)"
    )


#: A snapshot file larger than this is refused before it is read (about 4 million reservations).
MAX_SNAPSHOT_BYTES = 1 << 30


def _read_snapshot(path: str) -> FleetSnapshot:
    """Read a snapshot file; every way it can be unreadable becomes an :class:`InputFileError`.

    The bytes go to :meth:`FleetSnapshot.from_json`, the library's one reader.
    """
    try:
        if Path(path).stat().st_size > MAX_SNAPSHOT_BYTES:
            msg = f"is larger than {MAX_SNAPSHOT_BYTES >> 20:,} MiB; not a snapshot this tool reads"
            raise InputFileError(path, None, msg)
        data_bytes = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(path, None, f"cannot be read: {exc.strerror or exc}") from None
    try:
        text = data_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data_bytes.count(b"\n", 0, exc.start) + 1
        msg = f"is not UTF-8 text (byte offset {exc.start}: {exc.reason})"
        raise InputFileError(path, line, msg) from None
    try:
        return FleetSnapshot.from_json(text)
    except RuntimeAllocError as exc:
        try:  # on the error path only: name the line of a JSON syntax error
            json.loads(text)
        except json.JSONDecodeError as syntax:
            raise InputFileError(path, syntax.lineno, f"is not valid JSON: {syntax.msg}") from None
        except (ValueError, RecursionError):
            pass
        raise InputFileError(path, None, str(exc)) from None


def _allocators(args: argparse.Namespace) -> list[Allocator]:
    sources = [args.fleet is not None, args.snapshot is not None, args.runners is not None]
    if sum(sources) != 1:
        raise UsageError("give exactly one of --fleet FILE, --snapshot JSON or --runners N")
    if args.shape is not None and args.runners is None:
        raise UsageError(f"--shape {args.shape!r} needs --runners N")
    strategies = make_strategies(args.strategy, parse_weights(args.weights))
    if args.snapshot is not None:
        data = _read_snapshot(args.snapshot)
        try:
            return [
                Allocator.from_snapshot(data, strategy=s, backend=args.backend) for s in strategies
            ]
        except RuntimeAllocError as exc:
            raise InputFileError(args.snapshot, None, str(exc)) from None
    if args.runners is not None:
        runners = shaped_fleet(args.runners, args.shape)
    elif args.fleet_format == "openb":
        runners = read_openb_nodes(args.fleet, runner_slots=KUBERNETES_MAX_PODS)
    elif args.fleet_format == "alibaba2017":
        runners = read_alibaba2017_machines(args.fleet, runner_slots=KUBERNETES_MAX_PODS)
    else:
        runners = read_fleet_csv(args.fleet)
    return [Allocator(runners, strategy=s, backend=args.backend) for s in strategies]


def _print(explanation: Explanation) -> None:
    from rich.console import Console  # noqa: PLC0415 (optional dependency)
    from rich.table import Table  # noqa: PLC0415

    rule = "highest" if explanation.maximize else "lowest"
    table = Table(
        title=f"{explanation.strategy}: {rule} score wins, ties go to the runner registered first",
        title_justify="left",
    )
    for column in ("runner", "fits", "score", "why not"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for v in explanation.runners:
        mark = " <- chosen" if v.runner == explanation.chosen else ""
        score = "-" if v.score is None else f"{v.score:.6f}"
        table.add_row(
            v.runner + mark, "yes" if v.feasible else "no", score, "" if v.feasible else v.reason
        )
    console = Console(file=sys.stdout, width=max(100, Console().width))
    console.print(table)
    chosen = explanation.chosen
    console.print(
        f"{explanation.strategy} chooses {chosen} for {explanation.request}"
        if chosen
        else f"no runner can take {explanation.request} now"
    )


def run(args: argparse.Namespace) -> int:
    """Explain the request under each strategy.

    Runtime complexity: O(S * N) for S strategies over N runners (one :meth:`Allocator.explain`
    each), after reading the fleet.
    """
    check_output_path("--json", args.json)
    args.require = args.require or []
    require = parse_labels("--require", args.require)
    allocators = _allocators(args)
    try:
        explanations = [a.explain(args.request, require=require) for a in allocators]
    except RuntimeAllocError as exc:
        msg = f"--request {args.request!r} / --require {args.require!r}: {exc}"
        raise UsageError(msg) from None
    if args.json is not None:
        from runtime_alloc.cli.reports.json_report import build_report, write_json  # noqa: PLC0415

        parameters = {
            "request": args.request,
            "require": args.require,
            "fleet": args.fleet,
            "snapshot": args.snapshot,
            "runners": args.runners,
            "shape": args.shape,
            "weights": parse_weights(args.weights),
            "backend": args.backend,
        }
        report = build_report("explain", parameters, results=[e.to_dict() for e in explanations])
        with writing("--json", args.json):
            write_json(report, args.json)
    if args.json != "-":
        for explanation in explanations:
            _print(explanation)
    return 0
