"""Decisions/s with GPU device requests against the same fleet without them (issue #10).

Fleet: N runners (default 100,000) of 16-64 cpu / 64-256 GiB / 110 slots; a quarter also
have 8 GPU devices (``devices={"gpu": 8}``). Warm start: every runner holds one cpu task.
Workloads (seeded, alternating allocate and release of a random held task):

* ``cpu``: cpu/memory requests only;
* ``gpu30``: the same, 30 % of requests also ask GPU (70 % of those a share of
  100m-1000m, 30 % 1 or 2 whole GPUs, as in the openb trace);
* ``pooled30``: as ``gpu30`` but on a fleet whose GPUs are a pooled ``gpu=8000`` capacity
  (the behaviour before devices, for the cost of the device test itself).

Every round runs the three in turn (interleaved, in slices of ``--slice`` decisions, so a
burst of load from other jobs hits all three alike) for ``--decisions`` allocate calls each;
the report gives the median decisions/s over the rounds and the ratios to ``cpu``, by wall
time and by this process's CPU time (the latter less sensitive to other jobs on a shared
machine).

Run: ``python benchmarks/devices.py --runners 100000 --rounds 5 --decisions 400``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from datetime import datetime, timezone

import numpy as np

import runtime_alloc
from runtime_alloc import Allocator, EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner

GI = 1 << 30


def fleet(n: int, *, devices: bool, seed: int = 0) -> list[Runner]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cap = Resources(rng.choice((16, 32, 64)) * 1000, rng.choice((64, 128, 256)) * GI, 110)
        if i % 4 == 0:
            if devices:
                out.append(Runner(f"r{i}", cap, (), {"gpu": 8}))
            else:
                extended = {"gpu": 8000}
                out.append(
                    Runner(f"r{i}", Resources(cap.millicpu, cap.memory_bytes, 110, extended))
                )
        else:
            out.append(Runner(f"r{i}", cap))
    return out


def request(rng: random.Random, gpu_share: float) -> Resources:
    cpu, mem = rng.randint(250, 4000), rng.randint(1, 16) * GI
    if rng.random() >= gpu_share:
        return Resources(cpu, mem, 1)
    gpu = (
        rng.choice((100, 250, 300, 500, 500, 700, 1000))
        if rng.random() < 0.7
        else (rng.choice((1000, 2000)))
    )
    return Resources(cpu, mem, 1, {"gpu": gpu})


class Run:
    """One allocator and its seeded workload, advanced ``count`` decisions at a time."""

    def __init__(self, n: int, *, devices: bool, gpu_share: float, strategy: object) -> None:
        self.alloc = Allocator(fleet(n, devices=devices), strategy=strategy, backend="numpy")
        self.rng = random.Random(7)
        self.gpu_share = gpu_share
        self.held: list[str] = []
        self.next = 0
        self.cpu_seconds = 0.0  # CPU time of the last step
        warm = [(f"w{i}", Resources(1000, GI, 1)) for i in range(n)]
        self.held.extend(r.task_id for r in self.alloc.allocate_many(warm) if hasattr(r, "task_id"))

    def step(self, count: int) -> float:
        """Seconds for ``count`` allocate calls (with a release between each)."""
        alloc, rng, held = self.alloc, self.rng, self.held
        requests = [request(rng, self.gpu_share) for _ in range(count)]
        picks = [rng.random() for _ in range(count)]
        started = time.perf_counter()
        cpu_started = time.process_time()
        for req, pick in zip(requests, picks, strict=True):
            task = f"t{self.next}"
            self.next += 1
            if alloc.try_allocate(task, req) is not None:
                held.append(task)
            i = int(pick * len(held))
            held[i], held[-1] = held[-1], held[i]
            alloc.release(held.pop())
        elapsed = time.perf_counter() - started
        self.cpu_seconds = time.process_time() - cpu_started
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=400)
    parser.add_argument("--strategy", choices=("even", "packing"), default="even")
    parser.add_argument("--slice", type=int, default=50, help="decisions per interleaved slice")
    args = parser.parse_args()
    if not 0 < args.slice <= args.decisions:
        parser.error(f"--slice must be from 1 to --decisions, got {args.slice}")
    strategy = EvenSpreadStrategy() if args.strategy == "even" else MaxPackingStrategy()
    runs = {
        "cpu": Run(args.runners, devices=True, gpu_share=0.0, strategy=strategy),
        "gpu30": Run(args.runners, devices=True, gpu_share=0.3, strategy=strategy),
        "pooled30": Run(args.runners, devices=False, gpu_share=0.3, strategy=strategy),
    }
    for run in runs.values():
        run.step(20)  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in runs}
    cpu_rates: dict[str, list[float]] = {name: [] for name in runs}
    slices = [args.slice] * (args.decisions // args.slice)
    if args.decisions % args.slice:
        slices.append(args.decisions % args.slice)
    for _ in range(args.rounds):
        wall = dict.fromkeys(runs, 0.0)
        cpu = dict.fromkeys(runs, 0.0)
        for count in slices:
            for name, run in runs.items():
                wall[name] += run.step(count)
                cpu[name] += run.cpu_seconds
        for name in runs:
            rates[name].append(args.decisions / wall[name])
            cpu_rates[name].append(args.decisions / max(cpu[name], 1e-9))
    print(
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}, runtime_alloc "
        f"{runtime_alloc.__version__}; {args.runners} runners (1/4 with 8 gpus), "
        f"{type(strategy).__name__}[numpy], {args.rounds} interleaved rounds x {args.decisions}"
    )
    base = statistics.median(rates["cpu"])
    cpu_base = statistics.median(cpu_rates["cpu"])
    print(
        f"{'workload':<10} {'decisions/s (median)':>22} {'min':>9} {'max':>9} {'vs cpu':>7}"
        f" {'per CPU s':>10} {'vs cpu':>7}"
    )
    for name, values in rates.items():
        med = statistics.median(values)
        cpu_med = statistics.median(cpu_rates[name])
        print(
            f"{name:<10} {med:>22,.0f} {min(values):>9,.0f} {max(values):>9,.0f} {med / base:>7.2f}"
            f" {cpu_med:>10,.0f} {cpu_med / cpu_base:>7.2f}"
        )
    print(f"# load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
