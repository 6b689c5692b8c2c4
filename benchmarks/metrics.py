"""Time ``Allocator.metrics()`` on large fleets (issue #14 item 22: at most 1 s at 1M runners).

Usage (from the repository root, numpy installed)::

    python benchmarks/metrics.py --runners 100000 1000000 --rounds 7

For each fleet size it builds one numpy-backend allocator of identical
``cpu=4,memory=16Gi`` runners (every tenth with ``gpu=1``), places one task on
every hundredth runner and drains every thousandth, then times ``metrics()``
``--rounds`` times and prints the median and the range, with the machine,
date and versions. Reading ``per_runner`` (computed when first read) is timed
separately: it is O(N * dimensions) by nature.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import statistics
import sys
import time

import numpy as np

import runtime_alloc as ra


def build(n: int) -> ra.Allocator:
    fleet = [
        ra.Runner.parse(f"r{i}", "cpu=4,memory=16Gi,gpu=1" if i % 10 == 0 else "cpu=4,memory=16Gi")
        for i in range(n)
    ]
    alloc = ra.Allocator(fleet, backend="numpy")
    alloc.allocate_many([(f"t{i}", "cpu=1") for i in range(n // 100)])
    for i in range(0, n, 1000):
        alloc.drain_runner(f"r{i}")
    return alloc


def timed(fn: object, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    print(
        f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"runtime_alloc {ra.__version__} ({ra.__file__})"
    )
    print("runners    metrics() median [min-max] s    per_runner read once s")
    for n in args.runners:
        alloc = build(n)
        m = alloc.metrics()
        assert m.runners == n, m.runners
        assert m.tasks_running == n // 100, m.tasks_running
        t = timed(alloc.metrics, args.rounds)
        view = alloc.metrics().per_runner
        per = timed(view.__iter__().__next__, 1)[0]  # the first read builds every item
        print(
            f"{n:>9,}  {statistics.median(t):.4f} [{min(t):.4f}-{max(t):.4f}]"
            f"                 {per:.2f}"
        )
        del alloc
        sys.stdout.flush()


if __name__ == "__main__":
    main()
