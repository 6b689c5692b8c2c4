"""Compare two source trees of runtime_alloc (e.g. main and a refactor) in interleaved rounds.

Usage (from the repository root, numpy installed)::

    git worktree add /tmp/base 4c0cb6d
    python benchmarks/ab_trees.py /tmp/base/src src --runners 10000 100000

Each tree runs in its own long-lived worker process (``PYTHONPATH`` puts that
tree's ``src`` first), built once on the same warm state as ``decisions.py``
(the issue-3 workload of ``_workload.py``). The parent then asks the two
workers for one round of churn steps each, alternately (A B B A ...), so both
see the same machine load; it prints the median decisions/s of each, the ratio
of the medians and the median of the per-round ratios. ``allocate_many`` is
timed the same way on fresh fleets. After the rounds both workers report a
digest of their snapshot: equal digests mean equal decisions. Pass the same
tree twice for an A/A run, which shows the noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import gc, hashlib, json, sys, time
import runtime_alloc
from _workload import STRATEGIES, Churn, fleet, warm_allocator
from runtime_alloc import Allocator
print(runtime_alloc.__file__, flush=True)
churn = None
for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "setup":
        churn = Churn(warm_allocator(int(args[0]), args[1], "numpy"))
        churn.rate(500)
        gc.collect()
        print("ok", flush=True)
    elif cmd == "rate":
        print(churn.rate(int(args[0])), flush=True)
    elif cmd == "many":  # many RUNNERS STRATEGY TASKS [built] [backend=NAME]
        options = args[3:]
        backend = "numpy"
        for option in options:
            if option.startswith("backend="):
                backend = option.split("=", 1)[1]
        alloc = Allocator(fleet(int(args[0])), strategy=STRATEGIES[args[1]](), backend=backend)
        if "built" in options:  # the backend's index built before the timer
            alloc.allocate("warm-up", "slots=1")
            alloc.release("warm-up")
        items = [(f"m{i}", "slots=1") for i in range(int(args[2]))]
        start = time.perf_counter()
        placed = alloc.allocate_many(items)
        elapsed = time.perf_counter() - start
        digest = hashlib.sha256(repr([getattr(p, "runner", None) for p in placed]).encode())
        print(elapsed, digest.hexdigest()[:16], flush=True)
    elif cmd == "digest":
        snap = churn.allocator.snapshot().to_dict()  # placements only (v2 adds config, counters)
        data = json.dumps([snap["runners"], snap["reservations"]], sort_keys=True)
        print(hashlib.sha256(data.encode()).hexdigest()[:16], flush=True)
"""


class Worker:
    def __init__(self, src: Path) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(HERE)]))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.file = self.ask("")

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        if line:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def summary(label: str, a: list[float], b: list[float]) -> str:
    ma, mb = statistics.median(a), statistics.median(b)
    pair = statistics.median(y / x for x, y in zip(a, b, strict=True))
    return f"| {label} | {ma:,.0f} | {mb:,.0f} | {mb / ma:.3f} | {pair:.3f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="the src folder of tree A (the base)")
    parser.add_argument("b", type=Path, help="the src folder of tree B")
    parser.add_argument("--runners", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--strategies", nargs="+", default=["EvenSpreadStrategy", "MaxPackingStrategy"]
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000, help="churn steps per round")
    parser.add_argument(
        "--many", type=int, default=10_000, help="tasks per allocate_many (0: skip)"
    )
    parser.add_argument("--many-rounds", type=int, default=5)
    parser.add_argument(
        "--backend",
        default="numpy",
        help="the backend of the allocate_many rounds (numpy, compiled, ...)",
    )
    args = parser.parse_args(argv)
    print("| configuration | A median | B median | B / A | median of per-round B / A |")
    print("|---|---:|---:|---:|---:|")
    for n in args.runners:
        for strategy in args.strategies:
            workers = (Worker(args.a.resolve()), Worker(args.b.resolve()))
            try:
                for label, w in zip("AB", workers, strict=True):
                    print(f"<!-- {label}: {w.file} -->", flush=True)
                    assert w.ask(f"setup {n} {strategy}") == "ok"
                rates: tuple[list[float], list[float]] = ([], [])
                for r in range(args.rounds):
                    order = (0, 1) if r % 2 == 0 else (1, 0)
                    for i in order:
                        rates[i].append(float(workers[i].ask(f"rate {args.steps}")))
                same = workers[0].ask("digest") == workers[1].ask("digest")
                print(
                    summary(f"decisions/s, {strategy}, {n:,} runners", *rates)
                    + ("" if same else " DIFFERENT DECISIONS"),
                    flush=True,
                )
                if args.many:
                    times: tuple[list[float], list[float]] = ([], [])
                    digests: list[set[str]] = [set(), set()]
                    for r in range(args.many_rounds):
                        order = (0, 1) if r % 2 == 0 else (1, 0)
                        for i in order:
                            elapsed, digest = (
                                workers[i]
                                .ask(f"many {n} {strategy} {args.many} backend={args.backend}")
                                .split()
                            )
                            times[i].append(args.many / float(elapsed))
                            digests[i].add(digest)
                    same = digests[0] == digests[1]
                    print(
                        summary(f"allocate_many tasks/s, {strategy}, {n:,} runners", *times)
                        + ("" if same else " DIFFERENT DECISIONS"),
                        flush=True,
                    )
            finally:
                for w in workers:
                    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
