"""``runtime-alloc run``: run a workload through the executor on a real engine.

The workload and fleet options are those of ``simulate``. Time is scaled so the
workload's span lasts about ``--duration`` real seconds: each task is submitted
at its scaled arrival time and runs a sleep of its scaled duration on the
runner the executor places it on. The summary table and JSON report are those
of ``simulate`` (the metrics are replayed from the real placements and
completions), so a simulated and a real run of one workload compare side by side.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from typing import Any

from runtime_alloc.allocator import Allocator, Request
from runtime_alloc.cli._common import (
    UsageError,
    check_output_path,
    make_strategies,
    parse_weights,
)
from runtime_alloc.cli.scenario_options import add_scenario_options, check_hours
from runtime_alloc.cli.workload import load_scenario
from runtime_alloc.reservations import Reservation
from runtime_alloc.strategies import strategy_from_env

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

ENGINES = ("local", "celery", "dask")
_JOIN_TIMEOUT_S = 60.0
_CONNECT_TIMEOUT_S = 5.0  # the first connection to --broker / --scheduler
_MAX_LOCAL_SLOTS = 4096  # threads the local engine may start in all


#: The one-line help of ``runtime-alloc run`` in the command list.
HELP = "run a workload through the executor on a real engine (local, celery, dask)"

#: The description ``runtime-alloc run --help`` shows.
DESCRIPTION = (
    "Submit each task of the workload at its time-scaled arrival to the executor, which "
    "places it and runs a sleep of its scaled duration on a real engine; then print the "
    "same summary and JSON report as simulate."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``run`` options to the parser :func:`runtime_alloc.cli.build_parser` made.

    Runtime complexity: O(1): a fixed set of options.
    """
    policy = add_scenario_options(
        parser,
        strategy_help="default: ALLOCATOR_STRATEGY or even-spread",
        several_strategies=False,
    )
    policy.add_argument("--max-retries", type=int, default=3, metavar="N")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=ENGINES, default="local")
    engine.add_argument(
        "--broker",
        metavar="URL",
        default="redis://127.0.0.1:6379/0",
        help="celery: the broker of the workers "
        "(celery -A runtime_alloc.executor.engines.celery_app worker -Q NAME -n NAME@%%h -E)",
    )
    engine.add_argument("--scheduler", metavar="ADDRESS", help="dask: the scheduler address")
    engine.add_argument(
        "--duration",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="real seconds the workload's span is scaled to (default 60)",
    )
    output = parser.add_argument_group("output")
    output.add_argument("--json", metavar="PATH", help="write a JSON report to PATH ('-' stdout)")
    output.add_argument("--no-live", action="store_true", help="no live view of runners and queue")


class _TimedAllocator(Allocator):
    """An allocator that adds up the wall time of its decisions (for decisions/s)."""

    seconds = 0.0
    decisions = 0

    def allocate(
        self,
        task_id: str,
        request: Request = None,
        *,
        require: Any = (),  # noqa: ANN401
        require_any: Any = (),  # noqa: ANN401
    ) -> Reservation:
        started = time.perf_counter()
        try:
            return super().allocate(task_id, request, require=require, require_any=require_any)
        finally:
            self.seconds += time.perf_counter() - started
            self.decisions += 1


def _engine(args: argparse.Namespace, runners: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    """Return (engine, payload factory of a duration in real seconds, a client to close or None).

    Raises:
        UsageError: a local fleet with too many slots, or a ``--broker`` or
            ``--scheduler`` that is malformed or does not answer.
    """
    if args.engine == "local":
        from runtime_alloc.executor.engines.local import LocalEngine  # noqa: PLC0415

        slots = sum(max(r.capacity.slots, 1) for r in runners)
        if slots > _MAX_LOCAL_SLOTS:
            msg = (
                f"--engine local would start {slots} threads (one per runner slot), more than "
                f"{_MAX_LOCAL_SLOTS}; use --fleet-limit or --runners/--shape for a smaller fleet"
            )
            raise UsageError(msg)
        return (
            LocalEngine(runners, pool="thread"),
            lambda seconds: functools.partial(time.sleep, seconds),
            None,
        )
    if args.engine == "celery":
        from runtime_alloc.executor.engines import celery_app  # noqa: PLC0415
        from runtime_alloc.executor.engines.celery import CeleryEngine  # noqa: PLC0415

        _check_broker(celery_app.app, args.broker)
        celery_app.app.conf.broker_url = args.broker
        return CeleryEngine(celery_app.app, runners), celery_app.sleep.s, None
    if args.scheduler is None:
        raise UsageError("--engine dask needs --scheduler ADDRESS (tcp://host:8786)")
    from runtime_alloc.executor.engines.dask import DaskEngine  # noqa: PLC0415

    client = _dask_client(args.scheduler)  # the engine leaves a client it was given open
    return (
        DaskEngine(client, runners),
        lambda seconds: functools.partial(time.sleep, seconds),
        client,
    )


def _check_broker(app: Any, url: str) -> None:  # noqa: ANN401 (a celery.Celery)
    """Connect to the Celery broker once, within ``_CONNECT_TIMEOUT_S``.

    Raises:
        UsageError: naming ``--broker`` and the URL, when the URL is malformed
            or the broker cannot be reached.

    Runtime complexity: one connection attempt, at most about ``_CONNECT_TIMEOUT_S``.
    """
    if not url.strip():
        msg = f"--broker needs a URL like redis://127.0.0.1:6379/0, got {url!r}"
        raise UsageError(msg)
    try:
        connection = app.connection_for_write(url, connect_timeout=_CONNECT_TIMEOUT_S)
        try:
            connection.ensure_connection(max_retries=1, timeout=_CONNECT_TIMEOUT_S)
        finally:
            connection.release()
    except Exception as exc:  # noqa: BLE001 (kombu raises many kinds for a bad URL or host)
        msg = f"--broker {url!r}: cannot connect to the broker: {exc}"
        raise UsageError(msg) from None


def _dask_client(address: str) -> Any:  # noqa: ANN401 (distributed.Client, an optional import)
    """A Dask client connected to ``address`` within ``_CONNECT_TIMEOUT_S``.

    Raises:
        UsageError: naming ``--scheduler`` and the address, when it is malformed
            or no scheduler answers there.

    Runtime complexity: one connection attempt, at most about ``_CONNECT_TIMEOUT_S``.
    """
    from distributed import Client  # noqa: PLC0415 (optional dependency)
    from distributed.comm.addressing import parse_address, parse_host_port  # noqa: PLC0415

    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls"):
            host, _ = parse_host_port(location)
            if not host:
                msg = "no host"
                raise ValueError(msg)  # noqa: TRY301
    except (ValueError, TypeError) as exc:
        msg = f"--scheduler {address!r} is not a scheduler address like tcp://host:8786 ({exc})"
        raise UsageError(msg) from None
    try:
        return Client(address, timeout=_CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, ValueError) as exc:
        msg = f"--scheduler {address!r}: cannot connect to the scheduler: {exc}"
        raise UsageError(msg) from None


def run(args: argparse.Namespace) -> int:
    """Run the workload on the engine and report.

    Cost: blocks for about ``--duration`` seconds (at most a day) while the engine runs the T tasks;
    the allocator work is one decision per placement, O(N) on the python backend.
    """
    if not 1 <= args.duration <= 24 * 3600:
        msg = f"--duration must be from 1 to 86400 seconds, got {args.duration!r}"
        raise UsageError(msg)
    if not 0 <= args.max_retries <= 100:
        msg = f"--max-retries must be from 0 to 100, got {args.max_retries!r}"
        raise UsageError(msg)
    check_hours(args)
    check_output_path("--json", args.json)
    name = args.strategy or strategy_from_env().name  # one strategy: the deployment's by default
    strategy = make_strategies([name], parse_weights(args.weights))[0]
    scenario = load_scenario(args)
    runners = tuple(scenario.runners)
    engine, payload, client = _engine(args, runners)
    from runtime_alloc.cli.run_loop import drive  # noqa: PLC0415 (needs rich)

    allocator = _TimedAllocator(strategy=strategy, backend=args.backend)
    try:
        outcome = drive(
            scenario.tasks,
            runners,
            engine,
            allocator,
            payload,
            duration=args.duration,
            max_retries=args.max_retries,
            live=not args.no_live and args.json != "-",
            join_timeout=_JOIN_TIMEOUT_S,
        )
    finally:
        if client is not None:
            client.close()
    from runtime_alloc.cli.run_replay import result_from_run  # noqa: PLC0415

    result = result_from_run(
        outcome.tasks,
        outcome.handles,
        runners,
        strategy=strategy.name,
        backend=allocator.backend,
        start=outcome.start,
        scale=outcome.scale,
        decisions=allocator.decisions,
        allocator_seconds=allocator.seconds,
    )
    title = f"{scenario.name} on {args.engine} ({outcome.scale:.3g} real s per workload s)"
    if args.json is not None:
        from runtime_alloc.cli.reports.json_report import build_report, write_json  # noqa: PLC0415

        parameters = {
            **scenario.parameters,
            "strategies": [strategy.name],
            "weights": parse_weights(args.weights),
            "backend": args.backend,
            "engine": args.engine,
            "duration_s": args.duration,
            "scale": outcome.scale,
            "max_retries": args.max_retries,
        }
        report = build_report(
            "run",
            parameters,
            scenario=scenario.name,
            results=[result.to_dict()],
            executor=outcome.metrics,
        )
        write_json(report, args.json)
    if args.json != "-":
        from runtime_alloc.cli.reports.table import print_table  # noqa: PLC0415

        print_table([result], title, sys.stdout)
    return 0
