"""Executor overhead over the bare allocator, and end-to-end tasks/s on real engines.

Usage (from the repository root)::

    python benchmarks/executor.py                        # overhead + local engine
    python benchmarks/executor.py --engines local celery dask   # needs redis-server, the extras

1. Overhead: per task, ``Executor.submit`` + the engine's ``TaskFinished`` (an engine that does
   nothing) against ``Allocator.allocate`` + ``release`` of the same tasks on the same fleet.
   Rounds alternate between the two in one process; the median of the per-round ratios is printed.
2. End to end, per engine, with trivial tasks: tasks/s through the executor, against the engine's
   own pinned submit in the same run (alternating rounds): ``ProcessPoolExecutor.submit`` per
   runner pool (local), ``CeleryEngine.start`` round robin over the runner queues without the
   executor (celery), ``client.submit(workers=[address], allow_other_workers=False)`` (dask).
   The executor never runs more tasks at once than the runners have slots; the reference sends
   everything at once.
"""

# ruff: noqa: E402, PLC0415 (the repository root goes on sys.path first; engines import lazily)
from __future__ import annotations

import argparse
import functools
import operator
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime_alloc import Allocator, Runner, __version__
from runtime_alloc.executor import Executor, TaskFinished
from runtime_alloc.executor.engines import LocalEngine

TRIVIAL = functools.partial(operator.add, 1, 1)


class NullEngine:
    """Starts nothing; the benchmark reports each completion itself."""

    def open(self, sink: Any) -> None:
        self.sink = sink

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> None:
        pass

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:
        pass

    def close(self) -> None:
        pass


def fleet(n: int, slots: int) -> list[Runner]:
    return [Runner.parse(f"r{i}", f"cpu={slots},memory=64Gi,slots={slots}") for i in range(n)]


def bare_round(runners: list[Runner], tasks: int) -> float:
    alloc = Allocator(runners, backend="python")
    start = time.perf_counter()
    for i in range(tasks):
        alloc.allocate(f"t{i}", "cpu=1")
    for i in range(tasks):
        alloc.release(f"t{i}", "success")
    return time.perf_counter() - start


def executor_round(runners: list[Runner], tasks: int) -> float:
    ex = Executor(NullEngine(), Allocator(runners, backend="python")).open()
    start = time.perf_counter()
    for i in range(tasks):
        ex.submit(f"t{i}", None, "cpu=1")
    for i in range(tasks):
        ex.deliver(TaskFinished(f"t{i}", 1, "success"))
    return time.perf_counter() - start


def overhead(rounds: int, tasks: int, runners: int) -> None:
    fleet_ = fleet(runners, 16)
    assert tasks <= runners * 16, "every task must fit at once"
    ratios, bare, executor = [], [], []
    executor_round(fleet_, tasks)  # warm-up
    for _ in range(rounds):
        b = bare_round(fleet_, tasks)
        e = executor_round(fleet_, tasks)
        bare.append(b)
        executor.append(e)
        ratios.append(e / b)
    print(f"overhead: {tasks} tasks on {runners} runners, {rounds} interleaved rounds")
    print(
        f"  bare allocator  allocate+release  {statistics.median(bare) / tasks * 1e6:8.1f} us/task (median)"
    )
    print(
        f"  executor        submit+finished   {statistics.median(executor) / tasks * 1e6:8.1f} us/task (median)"
    )
    print(
        f"  ratio executor/bare: median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); target <= 2"
    )


# ---------------------------------------------------------------------- end to end


def through_executor(
    engine: Any, tasks: int, payload: Callable[[int], Any], timeout: float = 300
) -> float:
    """Seconds for ``tasks`` trivial tasks through an executor on an opened-per-round engine."""
    ex = Executor(engine)
    ex.open()
    try:
        deadline = time.monotonic() + 60
        while not ex.allocator.snapshot().runners:
            if time.monotonic() > deadline:
                raise RuntimeError("no runner joined")
            time.sleep(0.05)
        time.sleep(0.5)  # every runner announced
        for i in range(20):  # warm-up outside the timing (pools start their processes lazily)
            ex.submit(f"warm{i}", payload(i), "cpu=1")
        if not ex.wait(timeout):
            raise RuntimeError("warm-up tasks did not finish")
        start = time.perf_counter()
        for i in range(tasks):
            ex.submit(f"t{i}", payload(i), "cpu=1")
        if not ex.wait(timeout):
            raise RuntimeError("tasks did not finish")
        elapsed = time.perf_counter() - start
        assert ex.metrics().tasks["success"] == tasks + 20
        return elapsed
    finally:
        ex.close()


def local_reference(runners: list[Runner], tasks: int, processes: int) -> float:
    pools = [ProcessPoolExecutor(processes) for r in runners]
    try:
        for pool in pools:  # start the processes outside the timing, as LocalEngine.open does
            wait([pool.submit(TRIVIAL) for _ in range(pool._max_workers)])
        start = time.perf_counter()
        futures = [pools[i % len(pools)].submit(TRIVIAL) for i in range(tasks)]
        wait(futures)
        return time.perf_counter() - start
    finally:
        for pool in pools:
            pool.shutdown()


def local_executor(runners: list[Runner], tasks: int, processes: int) -> float:
    return through_executor(LocalEngine(runners, processes=processes), tasks, lambda _: TRIVIAL)


def end_to_end(
    name: str,
    reference: Callable[[], float],
    executor: Callable[[], float],
    rounds: int,
    tasks: int,
) -> None:
    ref, exe = [], []
    for _ in range(rounds):
        ref.append(tasks / reference())
        exe.append(tasks / executor())
    r, e = statistics.median(ref), statistics.median(exe)
    print(f"{name}: {tasks} trivial tasks, {rounds} alternating rounds")
    print(
        f"  engine's own pinned submit  {r:9.0f} tasks/s (median; rounds {', '.join(f'{x:.0f}' for x in ref)})"
    )
    print(
        f"  through the executor        {e:9.0f} tasks/s (median; rounds {', '.join(f'{x:.0f}' for x in exe)})"
    )
    print(f"  ratio executor/engine: {e / r:.2f}; target >= 0.8")


def celery_bench(rounds: int, tasks: int) -> None:
    from tests.executor import celery_app
    from tests.executor.servers import CeleryWorker, Redis

    from runtime_alloc.executor.engines import CeleryEngine

    tmp = Path(tempfile.mkdtemp(prefix="bench-celery-"))
    redis = Redis(tmp)
    celery_app.app.conf.broker_url = redis.url
    workers = [CeleryWorker(redis.url, f"r{i}", 4, tmp) for i in range(2)]
    try:
        for slots in (4, 128):
            runners = fleet(2, slots)
            celery_round(celery_app, CeleryEngine, runners, rounds=rounds, tasks=tasks, slots=slots)
    finally:
        for worker in workers:
            worker.close()
        redis.close()


def celery_round(
    celery_app: Any,
    engine_class: Any,
    runners: list[Runner],
    *,
    rounds: int,
    tasks: int,
    slots: int,
) -> None:
    def reference() -> float:
        done = threading.Event()
        count = [0]

        def sink(event: Any) -> None:
            if isinstance(event, TaskFinished):
                count[0] += 1
                if count[0] == tasks:
                    done.set()

        engine = engine_class(celery_app.app, runners)
        engine.open(sink)
        time.sleep(0.5)
        start = time.perf_counter()
        for i in range(tasks):
            engine.start(f"t{i}", 1, runners[i % len(runners)].name, celery_app.pid_after.s())
        done.wait(300)
        elapsed = time.perf_counter() - start
        engine.close()
        return elapsed

    def executor() -> float:
        engine = engine_class(celery_app.app, runners)
        return through_executor(engine, tasks, lambda _: celery_app.pid_after.s())

    name = f"celery (2 runners of {slots} slots; workers of 4 threads)"
    end_to_end(name, reference, executor, rounds, tasks)


def dask_bench(rounds: int, tasks: int) -> None:
    from distributed import Client
    from tests.executor.servers import DaskScheduler, DaskWorker, wait_until

    from runtime_alloc.executor.engines import DaskEngine

    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    scheduler = DaskScheduler(tmp)
    workers = [DaskWorker(scheduler.address, f"r{i}", 4, tmp) for i in range(2)]
    client = Client(scheduler.address, set_as_default=False)
    try:
        wait_until(lambda: len(client.scheduler_info()["workers"]) == 2, 60, "dask workers")
        addresses = sorted(client.scheduler_info()["workers"])
        counter = [0]

        def reference() -> float:
            counter[0] += 1
            start = time.perf_counter()
            futures = [
                client.submit(
                    TRIVIAL,
                    key=f"ref-{counter[0]}-{i}",
                    workers=[addresses[i % 2]],
                    allow_other_workers=False,
                    pure=False,
                )
                for i in range(tasks)
            ]
            client.gather(futures)
            return time.perf_counter() - start

        for slots in (4, 128):
            for starts in (True, False):
                runners = fleet(2, slots)

                def executor(runners: list[Runner] = runners, starts: bool = starts) -> float:
                    engine = DaskEngine(client, runners, report_starts=starts)
                    return through_executor(engine, tasks, lambda _: TRIVIAL)

                name = f"dask (2 runners of {slots} slots, workers of 4 threads, report_starts={starts})"
                end_to_end(name, reference, executor, rounds, tasks)
    finally:
        client.close()
        for worker in workers:
            worker.close()
        scheduler.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engines", nargs="*", default=["local"], choices=["local", "celery", "dask"]
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per overhead round")
    parser.add_argument("--e2e-tasks", type=int, default=500, help="tasks per end-to-end round")
    args = parser.parse_args()
    print(
        f"runtime_alloc {__version__}, Python {platform.python_version()}, {platform.machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    overhead(args.rounds * 4, args.tasks, 200)
    if "local" in args.engines:
        for slots in (2, 256):
            runners = fleet(2, slots)
            end_to_end(
                f"local (2 runners of {slots} slots, 2 processes each)",
                lambda runners=runners: local_reference(runners, args.e2e_tasks, 2),
                lambda runners=runners: local_executor(runners, args.e2e_tasks, 2),
                args.rounds,
                args.e2e_tasks,
            )
    if "celery" in args.engines:
        celery_bench(args.rounds, args.e2e_tasks)
    if "dask" in args.engines:
        dask_bench(args.rounds, args.e2e_tasks)


if __name__ == "__main__":
    main()
