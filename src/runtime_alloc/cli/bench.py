"""``runtime-alloc bench``: decision speed of strategies x backends x fleet sizes.

One decision is ``allocate`` followed by ``release`` of a random request on a
fleet pre-filled to about half its slots, so every repeat sees the same state.
A naive hand-written loop (:mod:`runtime_alloc.cli.naive`) runs beside the
allocator, and on a one-dimensional problem (cpu only) the ``binpacking``
package's first-fit-decreasing packing is the quality and speed reference.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from runtime_alloc.allocator import Allocator
from runtime_alloc.cli._common import (
    MAX_RUNNERS,
    UsageError,
    ascii_int,
    bounded_int,
    check_output_path,
    integer,
    make_strategies,
    show,
    writing,
)
from runtime_alloc.cli.naive import NaiveAllocator
from runtime_alloc.errors import RuntimeAllocError
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner, RunnerState
from runtime_alloc.snapshot import FleetSnapshot
from runtime_alloc.strategies import STRATEGIES, strategy_from_name

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "bench_fleet", "bench_requests", "run"]

_GIB = 2**30
_SHAPES = ((4000, 16 * _GIB), (8000, 32 * _GIB), (16000, 64 * _GIB))
_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))

#: The most decisions per repeat ``bench`` takes.
MAX_DECISIONS = 1_000_000

#: The most items of the 1-D packing reference: its online placement is O(items**2) (the fleet
#: grows with the items); 10,000 took 13 s and 20,000 53 s on a shared 2-vCPU machine
#: (2026-11-28), so the former bound of 1,000,000 meant more than a day.
MAX_PACKING_ITEMS = 20_000

#: The most runner-decisions a run takes: the sum of ``--sizes`` times ``--decisions`` times
#: (``--repeats`` + ``--warmup``) times the allocators timed (strategies x (backends + the naive
#: loop)). The defaults are 40 million (about 10 s on that machine), so the bound is minutes.
MAX_WORK = 10**9

#: The most timed (and warm-up) repeats ``bench`` takes.
MAX_REPEATS = 1_000


#: The one-line help of ``runtime-alloc bench`` in the command list.
HELP = "measure decision speed: strategies x backends x fleet sizes"

#: The description ``runtime-alloc bench --help`` shows.
DESCRIPTION = (
    "Decision speed of strategies x backends x fleet sizes. One decision is an"
    " allocate followed by a release of a random request on a fleet pre-filled to"
    " about half its slots, so every repeat sees the same state. A naive hand-written"
    " loop runs beside the allocator, and on a one-dimensional problem (cpu only) the"
    " binpacking package's first-fit-decreasing packing is the quality and speed"
    " reference."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options to the parser :func:`runtime_alloc.cli.build_parser` made.

    Runtime complexity: O(1): a fixed set of options.
    """
    parser.add_argument(
        "--strategy", action="append", choices=list(STRATEGIES), help="repeatable (default: both)"
    )
    parser.add_argument(
        "--backend",
        action="append",
        choices=("python", "numpy"),
        help="repeatable (default: python, and numpy when available)",
    )
    parser.add_argument(
        "--sizes",
        default="100,1000,10000",
        help=f"fleet sizes, each at most {MAX_RUNNERS:,} (default 100,1000,10000)",
    )
    parser.add_argument(
        "--decisions",
        type=bounded_int(1, MAX_DECISIONS),
        default=100,
        help=f"decisions per repeat (default 100, at most {MAX_DECISIONS:,})",
    )
    parser.add_argument(
        "--repeats",
        type=bounded_int(1, MAX_REPEATS),
        default=5,
        help=f"timed repeats (default 5, at most {MAX_REPEATS:,})",
    )
    parser.add_argument(
        "--warmup", type=integer, default=1, help="untimed repeats first (default 1)"
    )
    parser.add_argument(
        "--packing-items",
        type=bounded_int(1, MAX_PACKING_ITEMS),
        default=1000,
        help=f"items of the 1-D packing reference (default 1000, at most {MAX_PACKING_ITEMS:,})",
    )
    parser.add_argument("--seed", type=integer, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--json", metavar="PATH", help="write a JSON report to PATH ('-' for stdout)"
    )


def _sizes(text: str) -> list[int]:
    sizes = [ascii_int(p.strip()) for p in text.split(",")]
    if not sizes or any(s is None or not 1 <= s <= MAX_RUNNERS for s in sizes):
        msg = (
            f"--sizes must be positive integers of at most {MAX_RUNNERS:,} separated by ',', "
            f"got {show(text)}"
        )
        raise UsageError(msg)
    return [s for s in sizes if s is not None]


def bench_fleet(size: int, seed: int) -> tuple[Runner, ...]:
    """A seeded heterogeneous fleet of ``size`` runners (4, 8 or 16 cores; 16 slots). O(size)."""
    rng = random.Random(seed)  # noqa: S311 (simulation, not security)
    return tuple(
        Runner(f"r{k:05d}", Resources(*rng.choice(_SHAPES), slots=16)) for k in range(size)
    )


def bench_requests(count: int, seed: int) -> list[Resources]:
    """Seeded requests: 0.25 to 2 cores, 0.5 to 4 GiB, 1 or 2 slots. O(count)."""
    rng = random.Random(seed)  # noqa: S311 (simulation, not security)
    return [
        Resources(
            millicpu=250 * rng.randint(1, 8),
            memory_bytes=_GIB // 2 * rng.randint(1, 8),
            slots=rng.randint(1, 2),
        )
        for _ in range(count)
    ]


def _time_repeats(
    step: Callable[[], None], repeats: int, warmup: int, decisions: int
) -> list[float]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) / decisions)
    return times


def _prefill(fleet: Sequence[Runner], seed: int) -> dict[str, tuple[str, Resources]]:
    """Two seeded requests per runner (at most half of a 4-core runner), built in O(N)."""
    requests = bench_requests(2 * len(fleet), seed + 7)
    return {f"fill{k}": (fleet[k // 2].name, request) for k, request in enumerate(requests)}


def _measure(
    name: str,
    backend: str,
    fleet: Sequence[Runner],
    requests: list[Resources],
    args: argparse.Namespace,
) -> list[float]:
    reservations = [
        Reservation(task_id, runner, request)
        for task_id, (runner, request) in _prefill(fleet, args.seed).items()
    ]
    reserved: dict[str, Resources] = {}
    for r in reservations:
        reserved[r.runner] = reserved.get(r.runner, Resources()) + r.resources
    snapshot = FleetSnapshot(
        tuple(RunnerState(runner, reserved.get(runner.name, Resources())) for runner in fleet),
        {r.task_id: r for r in reservations},
    )
    allocator = Allocator.from_snapshot(
        snapshot, strategy=strategy_from_name(name), backend=backend
    )
    ids = [f"b{k}" for k in range(len(requests))]

    def step() -> None:
        allocate = allocator.try_allocate
        release = allocator.release
        for task_id, request in zip(ids, requests, strict=True):
            if allocate(task_id, request) is not None:
                release(task_id)

    return _time_repeats(step, args.repeats, args.warmup, len(requests))


def _measure_naive(
    name: str, fleet: Sequence[Runner], requests: list[Resources], args: argparse.Namespace
) -> list[float]:
    naive = NaiveAllocator(fleet, maximize=STRATEGIES[name].maximize)
    boxes = {box.name: box for box in naive.runners}
    for runner, request in _prefill(fleet, args.seed).values():
        box = boxes[runner]
        box.cpu_used += request.millicpu
        box.memory_used += request.memory_bytes
        box.slots_used += request.slots
    ids = [f"b{k}" for k in range(len(requests))]

    def step() -> None:
        for task_id, request in zip(ids, requests, strict=True):
            if naive.allocate(task_id, request) is not None:
                naive.release(task_id)

    return _time_repeats(step, args.repeats, args.warmup, len(requests))


def _stats(times: list[float]) -> dict[str, float]:
    return {
        "median_s": statistics.median(times),
        "mean_s": statistics.fmean(times),
        "stdev_s": statistics.stdev(times) if len(times) > 1 else 0.0,
        "min_s": min(times),
        "max_s": max(times),
    }


def _packing(strategies: list[str], items: int, seed: int) -> list[dict[str, Any]]:
    from binpacking import to_constant_volume  # type: ignore[attr-defined]  # noqa: PLC0415

    rng = random.Random(seed)  # noqa: S311 (simulation, not security)
    cpu = [250 * rng.randint(1, 16) for _ in range(items)]
    bin_cpu = 8000
    need = math.ceil(sum(cpu) / bin_cpu)
    fleet = [Runner(f"p{k:05d}", Resources(millicpu=bin_cpu, slots=items)) for k in range(2 * need)]
    rows = []
    for name in strategies:
        allocator = Allocator(
            fleet, strategy=strategy_from_name(name, {"slots": 0}), backend="python"
        )
        started = time.perf_counter()
        for k, amount in enumerate(cpu):
            allocator.allocate(f"i{k}", Resources(millicpu=amount, slots=1))
        elapsed = time.perf_counter() - started
        used = sum(1 for s in allocator.snapshot().runners if s.reserved.slots)
        rows.append(
            {"packer": f"{name} (online)", "bins": used, "seconds_per_item": elapsed / items}
        )
    started = time.perf_counter()
    bins = to_constant_volume(list(cpu), bin_cpu)
    elapsed = time.perf_counter() - started
    rows.append(
        {
            "packer": "binpacking.to_constant_volume (offline FFD)",
            "bins": len(bins),
            "seconds_per_item": elapsed / items,
        }
    )
    rows.append(
        {"packer": "lower bound ceil(sum / capacity)", "bins": need, "seconds_per_item": None}
    )
    return rows


def _unit(seconds: float) -> tuple[str, float]:
    for unit, scale in reversed(_UNITS):
        if seconds < 1000 * scale:
            return unit, scale
    return "s", 1.0


def _check_work(args: argparse.Namespace, sizes: list[int], passes: int) -> None:
    """Refuse a run of more than :data:`MAX_WORK` runner-decisions. O(len(sizes)).

    Raises:
        UsageError: naming the options whose product is too large.
    """
    work = sum(sizes) * args.decisions * (args.repeats + args.warmup) * passes
    if work > MAX_WORK:
        msg = (
            f"--sizes {show(args.sizes)} x --decisions {args.decisions:,} x (--repeats "
            f"{args.repeats:,} + --warmup {args.warmup:,}) x {passes} allocators (strategies x "
            f"(backends + the naive loop)) is {work:,} runner-decisions, more than {MAX_WORK:,}; "
            "lower one of them"
        )
        raise UsageError(msg)


def run(args: argparse.Namespace) -> int:
    """Measure and report.

    Runtime complexity: O(sum(sizes) * decisions * (repeats + warmup) * allocators) runner-decisions
    at most, which :func:`_check_work` bounds by :data:`MAX_WORK` before the first measurement.
    """
    check_output_path("--json", args.json)
    if not 0 <= args.warmup <= MAX_REPEATS:
        msg = f"--warmup must be >= 0 and at most {MAX_REPEATS:,}, got {args.warmup}"
        raise UsageError(msg)
    sizes = _sizes(args.sizes)
    names = [s.name for s in make_strategies(args.strategy, None)]
    backends = args.backend
    if backends is None:
        backends = ["python"]
        try:
            Allocator(backend="numpy")
            backends.append("numpy")
        except RuntimeAllocError:
            print("bench: numpy backend not available; measuring python only", file=sys.stderr)
    _check_work(args, sizes, len(names) * (len(backends) + 1))  # + 1: the naive loop
    requests = bench_requests(args.decisions, args.seed)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        fleet = bench_fleet(size, args.seed)
        for name in names:
            for backend in backends:
                times = _measure(name, backend, fleet, requests, args)
                rows.append(
                    {
                        "label": f"{name}[{backend}]",
                        "strategy": name,
                        "backend": backend,
                        "runners": size,
                        **_stats(times),
                    }
                )
            times = _measure_naive(name, fleet, requests, args)
            rows.append(
                {
                    "label": f"naive loop ({name.removesuffix('Strategy')})",
                    "strategy": name,
                    "backend": "naive",
                    "runners": size,
                    **_stats(times),
                }
            )
    for size in sizes:
        group = [r for r in rows if r["runners"] == size]
        fastest = min(r["median_s"] for r in group)
        for r in group:
            r["relative"] = r["median_s"] / fastest
    packing = _packing(names, args.packing_items, args.seed)
    if args.json is not None:
        from runtime_alloc.cli.reports.json_report import build_report, write_json  # noqa: PLC0415

        parameters = {
            "strategies": names,
            "backends": backends,
            "sizes": sizes,
            "decisions": args.decisions,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "seed": args.seed,
            "packing_items": args.packing_items,
        }
        report = build_report("bench", parameters, results=rows, packing=packing)
        with writing("--json", args.json):
            write_json(report, args.json)
    if args.json != "-":
        _print(rows, packing, sizes)
    return 0


def _summary(group: list[dict[str, Any]]) -> str:
    ordered = sorted(group, key=lambda r: r["median_s"])
    best = ordered[0]
    parts = []
    for other in ordered[1:]:
        ratio = other["median_s"] / best["median_s"]
        spread = ratio * math.hypot(
            best["stdev_s"] / best["median_s"], other["stdev_s"] / other["median_s"]
        )
        parts.append(f"{ratio:.2f} ± {spread:.2f} times faster than {other['label']}")
    return f"{best['label']} ran " + ("; ".join(parts) if parts else "alone")


def _print(rows: list[dict[str, Any]], packing: list[dict[str, Any]], sizes: list[int]) -> None:
    from rich.console import Console  # noqa: PLC0415 (optional dependency)
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(file=sys.stdout, width=max(110, Console().width))
    unit, scale = _unit(min(r["median_s"] for r in rows))
    table = Table(
        title=f"decision time (allocate + release), median per decision, in {unit}",
        title_justify="left",
    )
    for column in ("runners", "allocator", "median", "± stdev", "min … max", "Relative"):
        table.add_column(column, justify="left" if column == "allocator" else "right")
    for r in rows:
        table.add_row(
            f"{r['runners']:,}",
            escape(r["label"]),
            f"{r['median_s'] / scale:,.1f}",
            f"{r['stdev_s'] / scale:,.1f}",
            f"{r['min_s'] / scale:,.1f} … {r['max_s'] / scale:,.1f}",
            f"{r['relative']:.2f}",
        )
    console.print(table)
    packs = Table(
        title="1-D packing reference (cpu only, identical 8-core runners, no releases)",
        title_justify="left",
    )
    for column in ("packer", "runners / bins used", "time per item"):
        packs.add_column(column, justify="left" if column == "packer" else "right")
    for p in packing:
        t = p["seconds_per_item"]
        packs.add_row(p["packer"], str(p["bins"]), "-" if t is None else f"{t * 1e6:,.1f} µs")
    console.print(packs)
    for size in sizes:
        line = f"At {size:,} runners: " + _summary([r for r in rows if r["runners"] == size])
        console.print(escape(line))
