"""Print the issue-3 table: decisions/s per backend and strategy, allocate_many, memory, crossover.

Usage (from the repository root, numpy installed)::

    python benchmarks/decisions.py                 # 10k and 100k runners
    python benchmarks/decisions.py --sizes 10000 100000 1000000 --steps 2000
    python benchmarks/decisions.py --memory 1000000  # peak RSS in a fresh process

Method: each configuration is warmed with one task per runner (restored from a
snapshot, untimed), then ``--warmup`` untimed churn steps, then ``--repeats``
timed runs of ``--steps`` steps; a step is one allocate (the decision) and one
release. The median decisions/s over the repeats is printed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _workload
from _workload import STRATEGIES, Churn, fleet, warm_allocator
from runtime_alloc import Allocator, EvenSpreadStrategy, Runner


def rate(  # noqa: PLR0917
    n: int,
    strategy: str,
    backend: str,
    steps: int,
    warmup: int,
    repeats: int,
    seed: int,
    index: str = "auto",
) -> float:
    alloc = warm_allocator(n, strategy, backend, seed)
    if backend == "numpy" and index != "auto":
        from runtime_alloc.backends.numpy import NumpyBackend  # noqa: PLC0415

        alloc._backend = NumpyBackend(alloc._states, alloc.strategy, index=index)
    churn = Churn(alloc, seed)
    churn.rate(warmup)
    return statistics.median(churn.rate(steps) for _ in range(repeats))


def many(n: int, strategy: str, tasks: int, seed: int) -> float:
    alloc = Allocator(fleet(n, seed), strategy=STRATEGIES[strategy](), backend="numpy")
    items = [(f"m{i}", "slots=1") for i in range(tasks)]
    start = time.perf_counter()
    alloc.allocate_many(items)
    return time.perf_counter() - start


def memory(n: int) -> None:
    """Peak and final RSS of fresh processes holding an allocator of ``n`` runners.

    Two states, each in its own process: the empty fleet with one task placed,
    and the warmed benchmark state (one task per runner, restored from a
    snapshot that is dropped once the allocator holds it; the peak includes
    that snapshot while restoring). Reads ``VmHWM``/``VmRSS`` from /proc (the
    peak of the new program only; ``ru_maxrss`` would carry over the parent's
    peak across fork and exec).
    """
    builds = {
        "empty fleet, one task": (
            f"a = Allocator(fleet({n}), backend='numpy'); a.allocate('t', 'cpu=1')\n"
        ),
        "one task per runner": (
            f"a = warm_allocator({n}, 'EvenSpreadStrategy', 'numpy'); gc.collect()\n"
            "a.allocate('t', 'cpu=1')\n"
        ),
    }
    for label, build in builds.items():
        code = (
            "import gc, sys; sys.path.insert(0, 'benchmarks')\n"
            "def kib(key):\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith(key): return int(line.split()[1])\n"
            "from _workload import fleet, warm_allocator\n"
            "from runtime_alloc import Allocator\n"
            "import numpy\n"
            "base = kib('VmRSS')\n"
            f"{build}"
            "peak, now = kib('VmHWM'), kib('VmRSS')\n"
            f"print(peak * 1024, now * 1024, (peak - base) * 1024 / {n}, (now - base) * 1024 / {n})\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        peak, now, per_peak, per_now = out.split()
        print(
            f"RSS with {n:,} runners (numpy backend, {label}): peak {int(peak) / 2**30:.2f} GiB, "
            f"after {int(now) / 2**30:.2f} GiB; {float(per_peak):.0f} / {float(per_now):.0f} "
            "bytes per runner above the interpreter baseline (peak / after)"
        )


def crossover(seed: int) -> None:
    print("\ncrossover (EvenSpreadStrategy, decisions/s):")
    print(f"{'runners':>8} {'python':>10} {'numpy':>10}")
    for n in (4, 8, 16, 32, 64, 128, 256, 1024):
        py = rate(n, "EvenSpreadStrategy", "python", 400, 100, 3, seed)
        nu = rate(n, "EvenSpreadStrategy", "numpy", 400, 100, 3, seed)
        print(f"{n:>8} {py:>10.0f} {nu:>10.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--python-steps", type=int, default=50)
    parser.add_argument(
        "--python-max", type=int, default=100_000, help="largest fleet to time on python"
    )
    parser.add_argument("--no-many", action="store_true", help="skip the allocate_many timing")
    parser.add_argument(
        "--shapes", type=int, default=0, help="use this many random runner capacities instead"
    )
    parser.add_argument("--memory", type=int, default=0, help="measure peak RSS at this fleet size")
    parser.add_argument("--crossover", action="store_true")
    parser.add_argument(
        "--index",
        choices=("auto", "classes", "blocks"),
        default="auto",
        help="numpy index to time: blocks is what fleets of more than 32 runner shapes get",
    )
    args = parser.parse_args(argv)
    if args.shapes:
        _workload.CAPACITIES = _workload.many_shapes(args.shapes, args.seed)
    import numpy as np  # noqa: PLC0415

    print(
        f"{time.strftime('%Y-%m-%d %H:%M')} | {platform.platform()} | Python {platform.python_version()} | numpy {np.__version__}"
    )
    print(
        f"seed {args.seed}, warm-up {args.warmup} steps, median of {args.repeats} x {args.steps} steps\n"
    )
    print(f"{'strategy':<20} {'runners':>9} {'numpy dec/s':>12} {'python dec/s':>13} {'ratio':>7}")
    for strategy in STRATEGIES:
        for n in args.sizes:
            nu = rate(
                n, strategy, "numpy", args.steps, args.warmup, args.repeats, args.seed, args.index
            )
            if n <= args.python_max:
                py = rate(n, strategy, "python", args.python_steps, 5, 1, args.seed)
                py_text, ratio = f"{py:.0f}", f"{nu / py:.1f}x"
            else:
                py_text, ratio = "-", "-"  # not timed (--python-max)
            print(f"{strategy:<20} {n:>9,} {nu:>12.0f} {py_text:>13} {ratio:>7}", flush=True)
    for strategy in () if args.no_many else STRATEGIES:
        times = [many(10_000, strategy, 100_000, args.seed) for _ in range(args.repeats)]
        print(
            f"allocate_many 100,000 x 1 slot on 10,000 runners, {strategy}: {statistics.median(times):.3f} s"
        )
    if args.memory:
        memory(args.memory)
    if args.crossover:
        crossover(args.seed)
    _ = EvenSpreadStrategy, Runner
    return 0


if __name__ == "__main__":
    sys.exit(main())
