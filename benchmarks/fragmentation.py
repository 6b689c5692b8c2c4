"""Decisions/s of FragmentationStrategy against EvenSpread on the devices fleet (issue #10).

Fleet and workload of benchmarks/devices.py (N runners, a quarter with 8 GPU devices;
every runner warm with one cpu task; 30 % of requests ask GPU; allocate and release
alternate). Every round runs, in turn (interleaved, one process):

* ``even``: EvenSpreadStrategy (numpy backend: the indexed path);
* ``fragmentation``: FragmentationStrategy, learned workload, numpy backend (which
  takes the strategy's class index, :mod:`runtime_alloc.backends.fragmentation_index`);
* ``frag-scan``: the same strategy on the python scan (backend ``python``: what every
  backend ran before the class index);
* ``scan-floor``: a custom strategy whose score is ``0.0`` (numpy backend, which runs
  the python scan for any strategy without a LinearScore): the ceiling of any strategy
  scored runner by runner.

``even`` and ``fragmentation`` make 20 times ``--decisions`` per round, the scans
``--decisions``; ``--warm N`` has them make N decisions first (a class index with more
classes). At the end the class index's number of classes is printed.

The warm start is made once with EvenSpread and restored into each allocator
(``Allocator.from_snapshot``): a warm start through the python scan would be O(N^2).

Run: ``python benchmarks/fragmentation.py --runners 100000 --rounds 7 --decisions 10``.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import runtime_alloc
from runtime_alloc import Allocator, EvenSpreadStrategy, Resources
from runtime_alloc.strategies import FragmentationStrategy

sys.path.insert(0, str(Path(__file__).parent))
import devices
from devices import GI, fleet


class ScanFloor:
    """The cheapest custom strategy: every feasible runner scores 0.0."""

    name = "ScanFloor"
    maximize = False

    def score(self, state: Any, request: Any) -> float:  # noqa: ARG002
        return 0.0


class Run(devices.Run):
    """``devices.Run`` (same workload and step) on an allocator restored from ``snapshot``."""

    def __init__(
        self, snapshot: Any, strategy: Any, gpu_share: float, backend: str = "numpy"
    ) -> None:
        self.alloc = Allocator.from_snapshot(snapshot, strategy=strategy, backend=backend)
        self.rng = random.Random(7)
        self.gpu_share = gpu_share
        self.held = sorted(snapshot.reservations)
        self.next = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=10)
    parser.add_argument(
        "--warm",
        type=int,
        default=0,
        help="decisions made by even and fragmentation before the rounds (more classes)",
    )
    args = parser.parse_args()
    warm = Allocator(fleet(args.runners, devices=True), strategy=EvenSpreadStrategy())
    warm.allocate_many([(f"w{i}", Resources(1000, GI, 1)) for i in range(args.runners)])
    snapshot = warm.snapshot()
    runs = {
        "even": Run(snapshot, EvenSpreadStrategy(), 0.3),
        "fragmentation": Run(snapshot, FragmentationStrategy(), 0.3),
        "frag-scan": Run(snapshot, FragmentationStrategy(), 0.3, backend="python"),
        "scan-floor": Run(snapshot, ScanFloor(), 0.3),
    }
    assert runs["fragmentation"].alloc.backend == "fragmentation-index"
    for run in runs.values():
        run.step(2)  # warm-up
    for name in ("even", "fragmentation"):
        runs[name].step(args.warm)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            count = args.decisions * (20 if name in {"even", "fragmentation"} else 1)
            rates[name].append(count / run.step(count))
    print(
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, runtime_alloc {runtime_alloc.__version__}; {args.runners} "
        f"runners (1/4 with 8 gpus), 30 % gpu requests, backend numpy, {args.rounds} "
        f"interleaved rounds x {args.decisions} decisions (x20 for even and fragmentation), "
        f"{args.warm} decisions before"
    )
    base = statistics.median(rates["even"])
    print(f"{'strategy':<14} {'decisions/s (median)':>22} {'min':>9} {'max':>9} {'vs even':>8}")
    for name, values in rates.items():
        med = statistics.median(values)
        print(
            f"{name:<14} {med:>22,.1f} {min(values):>9,.1f} {max(values):>9,.1f} {med / base:>8.4f}"
        )
    index = runs["fragmentation"].alloc._backend
    print(f"# class index: {len(index.classes):,} classes for {len(index.states):,} runners")


if __name__ == "__main__":
    main()
