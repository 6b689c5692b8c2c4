"""Print the issue-11 table: decisions/s against the Python floor and a naive numpy scan.

Usage (from the repository root, numpy installed)::

    python benchmarks/decisions.py                        # 1k, 10k, 100k runners
    python benchmarks/decisions.py --sizes 1000 10000 100000 1000000
    python benchmarks/decisions.py --memory 1000000       # peak RSS in fresh processes
    python benchmarks/decisions.py --crossover            # python vs numpy on small fleets

Method: per fleet size and strategy, every subject starts from the same warm
state (one random task per runner, untimed) and runs ``--warmup`` untimed
churn steps; then ``--rounds`` rounds, in each of which every subject runs
``--steps`` steps, in an order that rotates from round to round (so all see
the same machine load). A step is one ``try_allocate`` (the decision) and one
``release`` of a random held task. Printed: the median decisions/s of each
subject and the median over rounds of the per-round ratio to the floor (time
per decision / the floor's) and to the naive scan. Subjects:

* ``floor``: one attrs object + a dict insert/delete under a lock (no decision);
* ``naive``: a numpy full scan per decision, same decisions (``_baselines.py``);
* ``numpy`` / ``auto``: ``Allocator(backend=...)`` with random ``Resources``;
* ``numpy pool`` / ``numpy dicts``: the same allocator with requests drawn from
  ``--pool`` distinct specs, as ``Resources`` and as the equal dicts.

Before the timing, ``numpy`` and ``naive`` run the same 1,000 steps from the
same state on separate copies and must place every task alike (sizes up to
``--check-max``).
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _workload
from _baselines import Floor, NaiveScan
from _workload import STRATEGIES, Churn, fleet, request_pool, warm_allocator
from runtime_alloc import Allocator


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

        alloc._backend = NumpyBackend(alloc._ledger.states, alloc.strategy, index=index)
    churn = Churn(alloc, seed)
    churn.rate(warmup)
    return statistics.median(churn.rate(steps) for _ in range(repeats))


def many(n: int, strategy: str, tasks: int, seed: int) -> float:
    alloc = Allocator(fleet(n, seed), strategy=STRATEGIES[strategy](), backend="numpy")
    items = [(f"m{i}", "slots=1") for i in range(tasks)]
    start = time.perf_counter()
    alloc.allocate_many(items)
    return time.perf_counter() - start


def memory(n: int, index: str = "auto") -> None:
    """Peak and final RSS of fresh processes holding an allocator of ``n`` runners.

    Three states, each in its own process: the empty fleet with one task
    placed; one task per runner (a random request each, the benchmark's warm
    state) reserved one by one through the path ``from_snapshot`` replays
    (``Ledger.reserve``), with no snapshot alive; and the same state restored
    by ``Allocator.from_snapshot`` (the peak then includes the snapshot,
    dropped once the allocator holds it). The ``Runner`` objects of the fleet
    are counted. ``index`` other than auto: the numpy backend with that index
    (registered in the child as the backend "numpy-<index>"). Reads ``VmHWM``/``VmRSS`` from /proc (the peak of the new
    program only; ``ru_maxrss`` would carry over the parent's peak across fork
    and exec).
    """
    builds = {
        "empty fleet, one task": (
            f"a = Allocator(fleet({n}), backend='numpy'); a.allocate('t', 'cpu=1')\n"
        ),
        "one task per runner, reserved one by one": (
            f"a = Allocator(fleet({n}), backend='numpy'); a.allocate('t', 'cpu=1')\n"
            "a.release('t'); rng = random.Random(1); ledger = a._ledger\n"
            "for r in ledger.runners:\n"
            "    ledger.reserve(Reservation('w-' + r.name, r.name, random_request(rng)))\n"
            "a.allocate('t', 'cpu=1')\n"
        ),
        "one task per runner, from_snapshot": (
            f"a = warm_allocator({n}, 'EvenSpreadStrategy', 'numpy'); gc.collect()\n"
            "a.allocate('t', 'cpu=1')\n"
        ),
    }
    name = "numpy" if index == "auto" else f"numpy-{index}"
    register = (
        ""
        if index == "auto"
        else (
            "from runtime_alloc.backends import register_backend\n"
            "from runtime_alloc.backends.numpy import NumpyBackend\n"
            f"register_backend({name!r}, lambda states, strategy: "
            f"NumpyBackend(states, strategy, index={index!r}))\n"
        )
    )
    for label, build in builds.items():
        build = build.replace("'numpy'", repr(name))  # noqa: PLW2901
        code = (
            "import gc, sys; sys.path.insert(0, 'benchmarks')\n"
            "def kib(key):\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith(key): return int(line.split()[1])\n"
            "import random\n"
            "from _workload import fleet, random_request, warm_allocator\n"
            "from runtime_alloc import Allocator\n"
            "from runtime_alloc.reservations import Reservation\n"
            "import numpy\n"
            f"{register}"
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
            f"RSS with {n:,} runners ({name} backend, {label}): peak {int(peak) / 2**30:.3f} GiB, "
            f"after {int(now) / 2**30:.3f} GiB; {float(per_peak):.0f} / {float(per_now):.0f} "
            "bytes per runner above the interpreter baseline (peak / after)"
        )


def crossover(seed: int) -> None:
    print("\ncrossover (EvenSpreadStrategy, decisions/s):")
    print(f"{'runners':>8} {'python':>10} {'numpy':>10}")
    for n in (4, 8, 16, 32, 64, 128, 256, 1024):
        py = rate(n, "EvenSpreadStrategy", "python", 400, 100, 3, seed)
        nu = rate(n, "EvenSpreadStrategy", "numpy", 400, 100, 3, seed)
        print(f"{n:>8} {py:>10.0f} {nu:>10.0f}")


#: the numpy index to time (--index)
INDEX = "auto"
#: a second numpy index timed beside it as the subject "numpy <index>" (--compare)
COMPARE = ""


def ratios(  # noqa: PLR0917
    n: int,
    strategy: str,
    rounds: int,
    steps: int,
    warmup: int,
    seed: int,
    pool_size: int,
    check_max: int,
) -> None:
    """Print one block of the issue-11 table (see the module docstring)."""
    snap = _workload.warm_snapshot(n, seed)
    runners = [s.runner for s in snap.runners]
    maximize = strategy == "MaxPackingStrategy"
    if n <= check_max:
        same_decisions(snap, strategy, seed)

    scan = NaiveScan(runners, maximize=maximize)
    scan.load(snap.reservations)
    floor = Floor(runners)
    floor._reservations.update(snap.reservations)
    numpy_alloc = Allocator.from_snapshot(snap, strategy=STRATEGIES[strategy](), backend="numpy")
    if INDEX != "auto":
        from runtime_alloc.backends.numpy import NumpyBackend  # noqa: PLC0415

        numpy_alloc._backend = NumpyBackend(
            numpy_alloc._ledger.states, numpy_alloc.strategy, index=INDEX
        )
    pool, dicts = request_pool(pool_size, seed)
    subjects: dict[str, tuple[Churn, Any]] = {
        "floor": (Churn(floor, seed), None),
        "naive": (Churn(scan, seed), None),
        "numpy": (Churn(numpy_alloc, seed), None),
    }
    if COMPARE:
        from runtime_alloc.backends.numpy import NumpyBackend  # noqa: PLC0415

        other = Allocator.from_snapshot(snap, strategy=STRATEGIES[strategy](), backend="numpy")
        other._backend = NumpyBackend(other._ledger.states, other.strategy, index=COMPARE)
        subjects[f"numpy {COMPARE}"] = (Churn(other, seed), None)
    if n <= 10_000:
        auto = Allocator.from_snapshot(snap, strategy=STRATEGIES[strategy](), backend="auto")
        subjects["auto"] = (Churn(auto, seed), None)
    del snap
    shared = subjects["numpy"][0]
    subjects["numpy pool"] = (shared, pool)
    subjects["numpy dicts"] = (shared, dicts)
    for churn, p in subjects.values():
        churn.rate(warmup, p)
    gc.collect()
    names = list(subjects)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            churn, p = subjects[name]
            rates[name].append(churn.rate(steps, p))
    for churn, _ in subjects.values():
        if isinstance(churn.allocator, Allocator):
            churn.allocator._check()
    base = rates["floor"]
    print(f"\n{strategy}, {n:,} runners (median of {rounds} rounds x {steps} steps)")
    print(f"numpy index: {INDEX}" + (f"; numpy {COMPARE}: index {COMPARE}" if COMPARE else ""))
    print(f"{'subject':<16} {'decisions/s':>12} {'us/decision':>12} {'x floor':>8} {'x naive':>8}")
    for name in names:
        mine = rates[name]
        vs_floor = statistics.median(f / m for f, m in zip(base, mine, strict=True))
        vs_naive = statistics.median(v / m for v, m in zip(rates["naive"], mine, strict=True))
        med = statistics.median(mine)
        print(
            f"{name:<16} {med:>12,.0f} {1e6 / med:>12.1f} {vs_floor:>8.2f} {vs_naive:>8.2f}",
            flush=True,
        )
    dict_cost = statistics.median(
        p / d for p, d in zip(rates["numpy pool"], rates["numpy dicts"], strict=True)
    )
    print(f"dicts / Resources time per decision (same {pool_size} specs): {dict_cost:.3f}")


def same_decisions(snap: Any, strategy: str, seed: int, steps: int = 1000) -> None:
    """Assert that the numpy backend and the naive scan place 1,000 churn steps alike."""
    runners = [s.runner for s in snap.runners]
    scan = NaiveScan(runners, maximize=strategy == "MaxPackingStrategy")
    scan.load(snap.reservations)
    alloc = Allocator.from_snapshot(snap, strategy=STRATEGIES[strategy](), backend="numpy")
    a, b = Churn(alloc, seed), Churn(scan, seed)
    a.rate(steps)
    b.rate(steps)
    assert a.held == b.held, "the allocator and the naive scan hold different tasks"
    placed = {t: alloc.get_reservation(t).runner for t in a.held}
    assert placed == {t: scan.runner_of(t) for t in b.held}, "different runners chosen"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--strategies", nargs="+", choices=tuple(STRATEGIES), default=list(STRATEGIES)
    )
    parser.add_argument("--steps", type=int, default=1000, help="churn steps per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool", type=int, default=64, help="distinct specs of the dict rows")
    parser.add_argument("--check-max", type=int, default=100_000, help="largest fleet to check")
    parser.add_argument("--no-many", action="store_true", help="skip the allocate_many timing")
    parser.add_argument("--memory", type=int, default=0, help="measure peak RSS at this fleet size")
    parser.add_argument("--crossover", action="store_true")
    parser.add_argument(
        "--shapes", type=int, default=0, help="use this many random runner capacities instead"
    )
    parser.add_argument(
        "--index",
        choices=("auto", "classes", "blocks", "compiled"),
        default="auto",
        help="numpy index to time: blocks is what fleets of more than 400 runner shapes get; "
        "compiled needs numba (the fast extra)",
    )
    parser.add_argument(
        "--compare",
        choices=("", "auto", "classes", "blocks", "compiled"),
        default="",
        help="time this numpy index too, in the same rounds, as the subject 'numpy <index>'",
    )
    args = parser.parse_args(argv)
    if args.shapes:
        _workload.CAPACITIES = _workload.many_shapes(args.shapes, args.seed)
    global INDEX  # noqa: PLW0603 (one setting for the whole run)
    INDEX = args.index
    global COMPARE  # noqa: PLW0603
    COMPARE = args.compare
    import numpy as np  # noqa: PLC0415

    print(
        f"{time.strftime('%Y-%m-%d %H:%M')} UTC | {platform.platform()} | "
        f"Python {platform.python_version()} | numpy {np.__version__} | attrs {attrs.__version__}"
    )
    print(f"seed {args.seed}, warm-up {args.warmup} steps")
    for n in args.sizes:
        for strategy in args.strategies:
            ratios(
                n, strategy, args.rounds, args.steps, args.warmup, args.seed, args.pool,
                args.check_max,
            )  # fmt: skip
    for strategy in () if args.no_many else args.strategies:
        times = [many(10_000, strategy, 100_000, args.seed) for _ in range(5)]
        print(
            f"allocate_many 100,000 x 1 slot on 10,000 runners, {strategy}: "
            f"median {statistics.median(times):.3f} s (min {min(times):.3f})"
        )
    if args.memory:
        memory(args.memory, args.index)
    if args.crossover:
        crossover(args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
