"""Executor overhead over the bare allocator, and end-to-end tasks/s on real engines.

Usage (from the repository root)::

    python benchmarks/executor.py                        # overhead + local engine
    python benchmarks/executor.py --engines local celery dask   # needs redis-server, the extras

1. Overhead: per task, ``Executor.submit`` + the engine's ``TaskFinished`` (an engine that does
   nothing) against ``Allocator.allocate`` + ``release`` of the same tasks on the same fleet.
   Rounds alternate between the two in one process; the median of the per-round ratios is printed.
   Then the same with a queue: 2,000 tasks on 2 runners of 4 slots, so all but 8 wait and each
   completion places the next (the path of an end-to-end run), against the bare allocator's
   allocate + release on 2 runners with room for all.
2. End to end, per engine, with trivial tasks: tasks/s through the executor, against the engine's
   own pinned submit of the same tasks (same task function, same workers) on the same runners
   as the executor placed them in that round, measured in the same run. Rounds interleave: on
   even rounds the executor runs first, on odd rounds the references run first (with the
   previous round's pinning). Two references: "all sent at once" (every task handed to the
   engine at once, which queues them: ``ProcessPoolExecutor.submit`` to the runner's pool
   with the same forkserver start method and processes per runner as ``LocalEngine``; raw
   ``apply_async(task_id=..., queue=runner)`` with the completions counted from the same event
   stream the engine reads; ``client.submit(workers=[address], allow_other_workers=False)``
   then one ``gather``), and "N in flight/runner" (the same calls, but at most the runner's
   slots in flight per runner, the next sent from the completion of one: the executor's own
   concurrency, so the like-for-like reference when slots are few). Both sides start timing
   after a warm-up with the workers up, send every task, and stop when all of them have
   completed (the reference fails if any did not). Printed: the medians of each side, the
   median (min-max) of the per-round ratios executor/reference, and the CPU time of the
   benchmark's process per task (all its threads: the part of the cost that the executor and
   its engine add, and the one figure that the machine's load hardly moves). With slots =
   worker threads a completion must come back before the next task starts, so against the
   all-at-once reference those rows measure that round trip; the wide rows (more slots than
   threads, the tasks wait in the engine's queue as in the reference) measure the executor's
   cost.
3. Dask rows: the executor with Dask's batching intervals ("default engine"), with
   ``DaskEngine(comm_interval=x)`` for each ``--comm-interval`` (default 0) and with
   ``DaskEngine(comm_interval=x, comm_streams="client")`` ("client streams": only the engine's
   client's two streams at x, the workers' at Dask's), against both
   references measured with Dask's intervals and with x (set and restored around the reference
   as the engine does, docs/executor.md); "strictest" is the tuned executor over the round's
   faster of the two all-at-once references. After each configuration every interval is checked
   back at Dask's.
"""

# ruff: noqa: E402, PLC0415 (the repository root goes on sys.path first; engines import lazily)
from __future__ import annotations

import argparse
import functools
import importlib.metadata
import multiprocessing
import operator
import os
import platform
import shutil
import statistics
import subprocess
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
from runtime_alloc.executor import Executor, TaskFinished, TaskStarted
from runtime_alloc.executor.engines import LocalEngine

TRIVIAL = functools.partial(operator.add, 1, 1)
COMM_INTERVAL = 0.0
"""The DaskEngine comm_interval of the tuned Dask rows (see docs/performance.md)."""


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


def queued_round(tasks: int) -> float:
    """Submit + TaskStarted + TaskFinished per task on 2 runners of 4 slots: all but 8 queue."""
    ex = Executor(NullEngine(), Allocator(fleet(2, 4), backend="python")).open()
    start = time.perf_counter()
    for i in range(tasks):
        ex.submit(f"t{i}", None, "cpu=1")
    for i in range(tasks):  # each completion places the next queued task
        ex.deliver(TaskStarted(f"t{i}", 1))
        ex.deliver(TaskFinished(f"t{i}", 1, "success"))
    elapsed = time.perf_counter() - start
    assert ex.metrics().tasks["success"] == tasks
    return elapsed


def queued_overhead(rounds: int, tasks: int) -> None:
    fleet_ = fleet(2, 4096)
    queued_round(tasks)  # warm-up
    bare, executor = [], []
    for _ in range(rounds):
        bare.append(bare_round(fleet_, tasks))
        executor.append(queued_round(tasks))
    ratio = statistics.median(e / b for e, b in zip(executor, bare, strict=True))
    print(
        f"overhead with a queue: {tasks} tasks on 2 runners of 4 slots, {rounds} interleaved rounds"
    )
    print(
        f"  bare allocator  allocate+release           {statistics.median(bare) / tasks * 1e6:8.1f} us/task (median)"
    )
    print(
        f"  executor        submit+started+finished    {statistics.median(executor) / tasks * 1e6:8.1f} us/task (median)"
    )
    print(f"  ratio executor/bare: median {ratio:.2f}")


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

Round = tuple[float, float, list[str]]  # seconds, CPU seconds of this process, where tasks ran
Timing = tuple[float, float]  # seconds, CPU seconds of this process


def through_executor(
    engine: Any, tasks: int, payload: Callable[[int], Any], timeout: float = 300
) -> Round:
    """Seconds for ``tasks`` trivial tasks through an executor, and where they ran."""
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
        cpu, start = time.process_time(), time.perf_counter()
        handles = [ex.submit(f"t{i}", payload(i), "cpu=1") for i in range(tasks)]
        if not ex.wait(timeout):
            raise RuntimeError("tasks did not finish")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert ex.metrics().tasks["success"] == tasks + 20
        return elapsed, cpu, [str(h.runner) for h in handles]
    finally:
        ex.close()


def local_reference(
    runners: list[Runner], pinning: list[str], processes: int, slots: int | None = None
) -> Timing:
    """ProcessPoolExecutor.submit of the same tasks to the pools the executor chose.

    With ``slots``, at most that many per runner are in the pool at once (a done callback
    submits the runner's next task), as the executor keeps them; else all are sent at once.
    """
    context = multiprocessing.get_context("forkserver")
    pools = {r.name: ProcessPoolExecutor(processes, mp_context=context) for r in runners}
    try:
        for pool in pools.values():  # start the processes outside the timing, as the warm-up
            wait([pool.submit(TRIVIAL) for _ in range(processes * 10)])
        cpu, start = time.process_time(), time.perf_counter()
        futures = send_all(pinning, slots, lambda _, runner: pools[runner].submit(TRIVIAL))
        done, not_done = wait(futures, timeout=300)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        if not_done or any(f.result() != 2 for f in done) or len(done) != len(pinning):
            raise RuntimeError("reference tasks did not all finish")
        return elapsed, cpu
    finally:
        for pool in pools.values():
            pool.shutdown()


def end_to_end(
    name: str,
    executor: Callable[[], Round] | dict[str, Callable[[], Round]],
    references: dict[str, Callable[[list[str]], Timing]],
    rounds: int,
    tasks: int,
    *,
    strictest: dict[str, list[str]] | None = None,
) -> None:
    """Interleaved rounds: executors then references on even rounds, references first on odd ones.

    ``executor`` is one executor run or several by label (their order alternates from round to
    round too). An odd round's references use the previous round's pinning (the executor's
    order of placement is the same from round to round, up to the order completions arrive in).
    ``strictest`` maps an executor label to reference labels: its ratio to the fastest of them
    in each round is printed too.
    """
    executors = executor if isinstance(executor, dict) else {"executor": executor}
    strictest = strictest or {}
    exe: dict[str, list[float]] = {label: [] for label in executors}
    exe_cpu: dict[str, list[float]] = {label: [] for label in executors}
    ref: dict[str, list[float]] = {label: [] for label in references}
    ref_cpu: dict[str, list[float]] = {label: [] for label in references}
    ratios: dict[tuple[str, str], list[float]] = {(e, r): [] for e in executors for r in references}
    strict: dict[str, list[float]] = {label: [] for label in strictest}
    pinning: list[str] = []

    def run_references() -> dict[str, float]:
        seconds = {}
        for label, reference in references.items():
            ref_seconds, ref_cpu_seconds = reference(pinning)
            seconds[label] = ref_seconds
            ref[label].append(tasks / ref_seconds)
            ref_cpu[label].append(ref_cpu_seconds / tasks * 1e6)
        return seconds

    for index in range(rounds):
        first = run_references() if index % 2 and pinning else None
        order = list(executors) if index % 2 == 0 else list(reversed(executors))
        exe_seconds = {}
        for label in order:
            seconds, cpu, pinning = executors[label]()
            exe_seconds[label] = seconds
            exe[label].append(tasks / seconds)
            exe_cpu[label].append(cpu / tasks * 1e6)
        ref_seconds = first or run_references()
        for (e, r), values in ratios.items():
            values.append(ref_seconds[r] / exe_seconds[e])
        for e, labels in strictest.items():
            strict[e].append(min(ref_seconds[r] for r in labels) / exe_seconds[e])
    print(
        f"{name}: {tasks} trivial tasks per round, {rounds} interleaved rounds "
        "(executor first on even rounds, the references first on odd rounds)"
    )
    width = max(22, *(len(label) for label in (*executors, *references)))
    for label in executors:
        print(
            f"  {'through the ' + label if len(executors) == 1 else label:{width + 11}s} "
            f"{statistics.median(exe[label]):9.0f} tasks/s "
            f"(median; rounds {', '.join(f'{x:.0f}' for x in exe[label])}); "
            f"CPU of this process {statistics.median(exe_cpu[label]):.0f} us/task"
        )
    for label in references:
        print(
            f"  reference: {label:{width}s} {statistics.median(ref[label]):9.0f} tasks/s "
            f"(median; rounds {', '.join(f'{x:.0f}' for x in ref[label])}); "
            f"CPU {statistics.median(ref_cpu[label]):.0f} us/task"
        )
        for e in executors:
            values = ratios[(e, label)]
            print(
                f"    ratio {e}/reference: median {statistics.median(values):.2f} "
                f"(rounds {min(values):.2f}-{max(values):.2f}); target >= 0.8"
            )
    for e, values in strict.items():
        print(
            f"  strictest: {e} / the round's fastest of {' | '.join(strictest[e])}: "
            f"median {statistics.median(values):.2f} "
            f"(rounds {min(values):.2f}-{max(values):.2f}); target >= 0.8"
        )


def send_all(
    pinning: list[str], slots: int | None, submit: Callable[[int, str], Any], timeout: float = 300.0
) -> list[Any]:
    """Send every task of ``pinning`` with ``submit(index, runner) -> future``; the futures, in order.

    Without ``slots`` all are sent at once and this returns at once. With ``slots`` at most
    that many per runner are in flight (a done callback sends the runner's next one, see
    :func:`bounded`) and this returns once every task has completed (RuntimeError after
    ``timeout`` seconds).
    """
    futures: list[Any] = [None] * len(pinning)
    if slots is None:
        for index, runner in enumerate(pinning):
            futures[index] = submit(index, runner)
        return futures
    finished = threading.Event()
    left = [len(pinning)]
    count_lock = threading.Lock()

    def send(index: int, runner: str) -> None:
        future = submit(index, runner)
        futures[index] = future
        future.add_done_callback(lambda _, runner=runner: on_done(runner))

    def on_done(runner: str) -> None:
        with count_lock:
            left[0] -= 1
            if not left[0]:
                finished.set()
        refill(runner)

    begin, refill = bounded(pinning, slots, send)
    begin()
    if not finished.wait(timeout):
        raise RuntimeError("reference tasks did not all finish")
    return futures


def bounded(
    pinning: list[str], slots: int, send: Callable[[int, str], Any]
) -> tuple[Callable[[], None], Callable[[str], None]]:
    """Refill logic of a reference that keeps at most ``slots`` tasks in flight per runner.

    ``send(i, runner)`` sends task i. Returns ``start()`` (sends the first ``slots`` of each
    runner) and ``done(runner)`` (a task of that runner completed: send its next one).
    """
    queues: dict[str, list[int]] = {}
    for index, runner in enumerate(pinning):
        queues.setdefault(runner, []).append(index)
    for waiting in queues.values():
        waiting.reverse()  # pop() from the end gives submit order
    lock = threading.Lock()

    def start() -> None:
        for runner, waiting in queues.items():
            for _ in range(slots):
                with lock:  # a completion may already be refilling from another thread
                    index = waiting.pop() if waiting else None
                if index is None:
                    break
                send(index, runner)

    def done(runner: str) -> None:
        with lock:
            waiting = queues[runner]
            index = waiting.pop() if waiting else None
        if index is not None:
            send(index, runner)

    return start, done


def local_bench(rounds: int, tasks: int) -> None:
    for slots in (2, 256):
        runners = fleet(2, slots)
        end_to_end(
            f"local (2 runners of {slots} slots, 2 processes each)",
            lambda runners=runners: through_executor(
                LocalEngine(runners, processes=2), tasks, lambda _: TRIVIAL
            ),
            {
                "all sent at once": lambda pinning, runners=runners: local_reference(
                    runners, pinning, 2
                ),
                f"{slots} in flight/runner": lambda pinning, runners=runners, slots=slots: (
                    local_reference(runners, pinning, 2, slots)
                ),
            },
            rounds,
            tasks,
        )


class CeleryCompletions:
    """Counts ``task-succeeded`` events of expected ids from the broker's event stream."""

    def __init__(self, app: Any) -> None:
        self.ids: set[str] = set()
        self.seen = 0
        self.done, ready = threading.Event(), threading.Event()
        self.receiver: Any = None
        self.on_done: Callable[[str], None] | None = None  # called with each expected id seen
        counter = self

        class Receiver(app.events.Receiver):  # type: ignore[misc,name-defined]
            def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:
                super().on_consume_ready(*args, **kwargs)
                ready.set()

        def on_event(event: dict[str, Any]) -> None:
            if event.get("type") == "task-succeeded" and event.get("uuid") in counter.ids:
                counter.seen += 1
                if counter.on_done is not None:
                    counter.on_done(event["uuid"])
                if counter.seen == len(counter.ids):
                    counter.done.set()

        def run() -> None:
            with app.connection_for_read() as connection:
                counter.receiver = Receiver(connection, handlers={"*": on_event})
                counter.receiver.capture(limit=None, timeout=None, wakeup=True)

        threading.Thread(target=run, daemon=True).start()
        if not ready.wait(30):
            raise RuntimeError("the event receiver did not start")

    def expect(self, ids: set[str]) -> None:
        """Count these ids from now on (none of them may have been sent yet)."""
        self.done.clear()
        self.seen = 0
        self.ids = ids

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.should_stop = True  # ends at the next event (a heartbeat at the latest)


def celery_bench(rounds: int, tasks: int) -> None:
    from tests.executor import celery_app
    from tests.executor.servers import CeleryWorker, Redis

    from runtime_alloc.executor.engines import CeleryEngine

    tmp = Path(tempfile.mkdtemp(prefix="bench-celery-"))
    redis = Redis(tmp)
    app = celery_app.app
    app.conf.broker_url = redis.url
    workers = [CeleryWorker(redis.url, f"r{i}", 4, tmp) for i in range(2)]
    counter = [0]

    def reference(pinning: list[str], slots: int | None = None) -> Timing:
        """Raw apply_async of the same tasks; with ``slots``, at most that many per runner at once."""
        counter[0] += 1
        ids = [f"ref-{counter[0]}-{i}" for i in range(len(pinning))]
        completions = CeleryCompletions(app)
        signature = celery_app.pid_after.s()
        try:
            for probe in range(60):  # warm-up: until the stream delivers (its queue binds late)
                completions.expect({f"ref-{counter[0]}-probe{probe}"})
                signature.apply_async(task_id=f"ref-{counter[0]}-probe{probe}", queue=pinning[0])
                if completions.done.wait(1.0):
                    break
            else:
                raise RuntimeError("the event stream delivered no completion")
            completions.expect(set(ids))

            def send(index: int, runner: str) -> None:
                signature.apply_async(task_id=ids[index], queue=runner)

            cpu, start = time.process_time(), time.perf_counter()
            if slots is None:
                for index, runner in enumerate(pinning):
                    send(index, runner)
            else:
                begin, refill = bounded(pinning, slots, send)
                completions.on_done = lambda task_id: refill(
                    pinning[int(task_id.rsplit("-", 1)[1])]
                )
                begin()
            if not completions.done.wait(300):
                raise RuntimeError("reference tasks did not all finish")
            return time.perf_counter() - start, time.process_time() - cpu
        finally:
            completions.close()

    try:
        for slots in (4, 128):
            runners = fleet(2, slots)
            end_to_end(
                f"celery (2 runners of {slots} slots; workers of 4 threads)",
                lambda runners=runners: through_executor(
                    CeleryEngine(app, runners), tasks, lambda _: celery_app.pid_after.s()
                ),
                {
                    "all sent at once": reference,
                    f"{slots} in flight/runner": functools.partial(reference, slots=slots),
                },
                rounds,
                tasks,
            )
    finally:
        for worker in workers:
            worker.close()
        redis.close()


def dask_bench(rounds: int, tasks: int, comm_intervals: list[float]) -> None:
    """Per slots, the executor with Dask's intervals and with each ``comm_interval``, against
    the references on the cluster with Dask's intervals and with each of those intervals
    (set and restored around the reference the way the engine does it)."""
    import uuid

    from distributed import Client
    from tests.executor.servers import DaskScheduler, DaskWorker, wait_until

    from runtime_alloc.executor.engines import DaskEngine
    from runtime_alloc.executor.engines.dask_comms import CommIntervals

    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    scheduler = DaskScheduler(tmp)
    workers = [DaskWorker(scheduler.address, f"r{i}", 4, tmp) for i in range(2)]
    client = Client(scheduler.address, set_as_default=False)
    try:
        wait_until(lambda: len(client.scheduler_info()["workers"]) == 2, 60, "dask workers")
        address = {
            str(info["name"]): worker for worker, info in client.scheduler_info()["workers"].items()
        }
        defaults = dask_intervals(client)
        counter = [0]

        def reference(
            pinning: list[str], slots: int | None = None, interval: float | None = None
        ) -> Timing:
            """client.submit pinned as the executor did, then one gather of every result.

            With ``slots``, at most that many per runner at once (a done callback submits
            the runner's next task); else all are submitted at once. With ``interval``, the
            four streams' interval is set to it for the run and restored after.
            """
            counter[0] += 1

            def submit(index: int, runner: str) -> Any:
                return client.submit(
                    TRIVIAL,
                    key=f"ref-{counter[0]}-{index}",
                    workers=[address[runner]],
                    allow_other_workers=False,
                    pure=False,
                )

            tuning = None
            if interval is not None:
                tuning = CommIntervals(interval, f"bench-{uuid.uuid4().hex[:8]}")
                tuning.apply(client)
            try:
                cpu, start = time.process_time(), time.perf_counter()
                futures = send_all(pinning, slots, submit)
                results = client.gather(futures)
                elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            finally:
                if tuning is not None:
                    tuning.restore(client)
            if results != [2] * len(pinning):
                raise RuntimeError("reference tasks did not all finish")
            return elapsed, cpu

        for slots in (4, 128):
            runners = fleet(2, slots)

            def executor(
                runners: list[Runner] = runners, interval: float | None = None, streams: str = "all"
            ) -> Round:
                engine = DaskEngine(client, runners, comm_interval=interval, comm_streams=streams)
                return through_executor(engine, tasks, lambda _: TRIVIAL)

            executors = {"default engine": executor}
            references = {
                "all sent at once (Dask's)": reference,
                f"{slots} in flight/runner (Dask's)": functools.partial(reference, slots=slots),
            }
            strictest = {}
            for interval in comm_intervals:
                label = f"comm_interval={interval:g}"
                executors[label] = functools.partial(executor, interval=interval)
                executors[f"{label}, client streams"] = functools.partial(
                    executor, interval=interval, streams="client"
                )
                at_once = f"all sent at once ({interval:g} s)"
                references[at_once] = functools.partial(reference, interval=interval)
                references[f"{slots} in flight/runner ({interval:g} s)"] = functools.partial(
                    reference, slots=slots, interval=interval
                )
                strictest[label] = ["all sent at once (Dask's)", at_once]
            name = f"dask (2 runners of {slots} slots, workers of 4 threads)"
            end_to_end(name, executors, references, rounds, tasks, strictest=strictest)
            if dask_intervals(client) != defaults:  # every change was undone
                raise RuntimeError(f"intervals not restored: {dask_intervals(client)}")
    finally:
        client.close()
        for worker in workers:
            worker.close()
        scheduler.close()


def dask_intervals(client: Any) -> list[float]:
    """The batching intervals of the client's, the scheduler's and the workers' streams."""

    def on_scheduler(dask_scheduler: Any, client_id: str) -> list[float]:
        streams = [dask_scheduler.client_comms[client_id], *dask_scheduler.stream_comms.values()]
        return [stream.interval for stream in streams]

    def on_worker(dask_worker: Any) -> float:
        return float(dask_worker.batched_stream.interval)

    on_workers = sorted(client.run(on_worker).values())
    return [
        client.scheduler_comm.interval,
        *client.run_on_scheduler(on_scheduler, client_id=client.id),
        *on_workers,
    ]


def machine() -> str:
    """CPU model and count, load, OS, Python and the engines' versions."""
    model = "unknown CPU"
    with Path("/proc/cpuinfo").open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = []
    for package in ("celery", "kombu", "redis", "distributed"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:  # noqa: PERF203 (four packages)
            versions.append(f"{package} not installed")
    server = shutil.which("redis-server")
    if server:
        out = subprocess.run([server, "--version"], capture_output=True, text=True, check=False)
        words = [w for w in out.stdout.split() if w.startswith("v=")]
        versions.append(f"redis-server {words[0][2:] if words else '?'}")
    load = os.getloadavg()
    return (
        f"runtime_alloc {__version__}, Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()} {platform.machine()}, {model} x {os.cpu_count()} "
        f"(load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}); {', '.join(versions)}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engines", nargs="*", default=["local"], choices=["local", "celery", "dask"]
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per overhead round")
    parser.add_argument("--e2e-tasks", type=int, default=2000, help="tasks per end-to-end round")
    parser.add_argument("--no-overhead", action="store_true", help="skip the overhead part")
    parser.add_argument(
        "--comm-interval",
        nargs="+",
        type=float,
        default=[COMM_INTERVAL],
        help=f"DaskEngine comm_interval values (seconds) to compare (default {COMM_INTERVAL:g})",
    )
    args = parser.parse_args()
    if not all(0 <= value <= 1 for value in args.comm_interval):
        parser.error(f"--comm-interval values must be from 0 to 1, got {args.comm_interval}")
    for name, value in (
        ("--rounds", args.rounds),
        ("--tasks", args.tasks),
        ("--e2e-tasks", args.e2e_tasks),
    ):
        if not 1 <= value <= 1_000_000:
            parser.error(f"{name} must be from 1 to 1000000, got {value}")
    print(machine())
    print(f"command: {' '.join(['python', 'benchmarks/executor.py', *sys.argv[1:]])}")
    if not args.no_overhead:
        overhead(args.rounds * 4, args.tasks, 200)
        queued_overhead(args.rounds * 2, args.tasks)
    if "local" in args.engines:
        local_bench(args.rounds, args.e2e_tasks)
    if "celery" in args.engines:
        celery_bench(args.rounds, args.e2e_tasks)
    if "dask" in args.engines:
        dask_bench(args.rounds, args.e2e_tasks, args.comm_interval)


if __name__ == "__main__":
    main()
