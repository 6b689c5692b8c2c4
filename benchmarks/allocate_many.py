"""Time ``allocate_many`` of two source trees (e.g. main and a branch) in interleaved rounds.

Usage (from the repository root, numpy installed)::

    mkdir -p /tmp/base && git archive main src | tar -x -C /tmp/base
    python benchmarks/allocate_many.py /tmp/base/src src
    python benchmarks/allocate_many.py src src          # A/A: shows the noise

Issue 11's case: ``allocate_many`` of ``--tasks`` identical ``slots=1`` tasks on
a fresh fleet of ``--runners`` runners (the issue-3 mix of ``_workload.py``),
``--backend`` (``numpy`` by default, or ``compiled`` for the numba index),
each strategy. Each tree runs in its own long-lived worker
process (see ``ab_trees.py``); per round both time one call on a fresh
allocator (built untimed; the call includes the backend's lazy indexing, as a
user's first call does), in alternating order (A B, B A, ...). Printed: the
median seconds of each, their ratio, the median of the per-round ratios, and
whether both placed every task on the same runner.

``--built`` builds the backend's index before the timer starts (one
``allocate`` and ``release`` on the fresh allocator, untimed): the call
without the lazy first build, to see how much of the first call that is.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ab_trees import Worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="the src folder of tree A (the base)")
    parser.add_argument("b", type=Path, help="the src folder of tree B")
    parser.add_argument("--runners", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--strategies", nargs="+", default=["EvenSpreadStrategy", "MaxPackingStrategy"]
    )
    parser.add_argument(
        "--built", action="store_true", help="build the backend's index before timing"
    )
    parser.add_argument(
        "--backend",
        default="numpy",
        help="the Allocator's backend: numpy (default), compiled (the numba index), python, ...",
    )
    args = parser.parse_args(argv)
    built = (" built" if args.built else "") + f" backend={args.backend}"
    print(
        f"allocate_many of {args.tasks:,} x slots=1 on {args.runners:,} runners,"
        f" backend={args.backend!r}" + (", index built before the timer" if args.built else "")
    )
    print("| strategy | A median s | B median s | B / A | median of per-round B / A | same |")
    print("|---|---:|---:|---:|---:|---|")
    for strategy in args.strategies:
        workers = (Worker(args.a.resolve()), Worker(args.b.resolve()))
        try:
            for label, w in zip("AB", workers, strict=True):
                print(f"<!-- {label}: {w.file} -->", flush=True)
            times: tuple[list[float], list[float]] = ([], [])
            digests: list[set[str]] = [set(), set()]
            for r in range(args.rounds):
                for i in (0, 1) if r % 2 == 0 else (1, 0):
                    elapsed, digest = (
                        workers[i]
                        .ask(f"many {args.runners} {strategy} {args.tasks}{built}")
                        .split()
                    )
                    times[i].append(float(elapsed))
                    digests[i].add(digest)
        finally:
            for w in workers:
                w.close()
        ma, mb = statistics.median(times[0]), statistics.median(times[1])
        pair = statistics.median(b / a for a, b in zip(*times, strict=True))
        same = "yes" if digests[0] == digests[1] and len(digests[0]) == 1 else "NO"
        print(f"| {strategy} | {ma:.3f} | {mb:.3f} | {mb / ma:.3f} | {pair:.3f} | {same} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
