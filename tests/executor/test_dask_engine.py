"""DaskEngine end to end: a real Dask scheduler and one real worker process per runner."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the extra runtime_alloc[dask] is not installed")

from distributed import Client

from runtime_alloc import Allocator, MaxPackingStrategy, Runner
from runtime_alloc.executor import Executor, TaskState
from runtime_alloc.executor.engines import DaskEngine
from runtime_alloc.executor.engines.dask_relay import KEY_PREFIX
from tests.executor import payloads
from tests.executor.servers import DaskScheduler, DaskWorker, run_on_engine, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RUNNERS = {
    "d1": Runner.parse("d1", "cpu=2,slots=2"),
    "d2": Runner.parse("d2", "cpu=4,slots=2"),
    "d3": Runner.parse("d3", "cpu=2,slots=2"),
}


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.scheduler = DaskScheduler(tmp)
        self.workers: dict[str, DaskWorker] = {}

    def start(self, name: str) -> DaskWorker:
        worker = DaskWorker(self.scheduler.address, name, RUNNERS[name].capacity.slots, self.tmp)
        self.workers[name] = worker
        return worker

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.scheduler.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(tmp_path)
    yield made
    made.close()


def open_executor(cluster: Cluster, report_starts: bool = True, **options: object) -> Executor:
    engine = DaskEngine(cluster.scheduler.address, RUNNERS.values(), report_starts=report_starts)
    return Executor(engine, Allocator(strategy=MaxPackingStrategy()), **options).open()  # type: ignore[arg-type]


def runners_of(ex: Executor) -> list[str]:
    return sorted(s.name for s in ex.allocator.snapshot().runners)


@pytest.mark.parametrize("report_starts", [True, False])
def test_results_keep_their_value_and_type_whether_relayed_or_fetched(
    cluster, report_starts: bool
) -> None:
    # small scalars come with the worker's relayed completion; anything else is gathered
    values = {
        "int": 7,
        "big-int": 2**70,
        "float": 1.5,
        "none": None,
        "bool": True,
        "str": "x" * 10,
        "long-str": "y" * 5000,
        "bytes": b"ab",
        "tuple": (1, "a"),
        "dict": {"a": [1, 2]},
        "set": {3},
    }
    cluster.start("d1")
    ex = open_executor(cluster, report_starts=report_starts)
    try:
        wait_until(lambda: runners_of(ex) == ["d1"], 60, "the worker joined")
        handles = {
            name: ex.submit(name, functools.partial(payloads.value, result), "cpu=1")
            for name, result in values.items()
        }
        assert ex.wait(60)
        for name, result in values.items():
            assert handles[name].state is TaskState.SUCCESS, name
            assert handles[name].result == result, name
            assert type(handles[name].result) is type(result), name
        assert ex.allocator.metrics().releases == {"success": len(values)}
        ex._check()
    finally:
        ex.close()


def test_placement_matches_the_allocator_and_completions_are_released_once(cluster) -> None:
    cluster.start("d1")
    cluster.start("d2")
    ex = open_executor(cluster)
    try:
        wait_until(lambda: runners_of(ex) == ["d1", "d2"], 60, "both workers joined")
        reference = Allocator.from_snapshot(ex.allocator.snapshot(), strategy=MaxPackingStrategy())
        ok = ex.submit("ok", functools.partial(payloads.pid_after, 0.2), "cpu=3")
        bad = ex.submit("bad", functools.partial(payloads.fail, "no input"), "cpu=1")
        assert ok.runner == reference.allocate("ok", "cpu=3").runner == "d2"
        assert bad.runner == reference.allocate("bad", "cpu=1").runner
        assert ex.wait(60)
        assert ok.state is TaskState.SUCCESS
        assert ok.result == cluster.workers["d2"].process.pid  # it ran on d2's worker
        assert TaskState.RUNNING in [m.state for m in ok.history]
        assert bad.state is TaskState.FAILED
        assert bad.error == "ValueError('no input')"
        assert dict(ex.allocator.metrics().releases) == {"failed": 1, "success": 1}
        ex._check()
    finally:
        ex.close()


def test_queue_when_full_drains_as_tasks_finish(cluster) -> None:
    cluster.start("d1")
    ex = open_executor(cluster, report_starts=False)
    try:
        wait_until(lambda: runners_of(ex) == ["d1"], 60, "the worker joined")
        handles = [
            ex.submit(f"t{i}", functools.partial(payloads.pid_after, 0.3), "cpu=1")
            for i in range(6)
        ]
        assert ex.metrics().queue_length == 4
        assert ex.wait(90)
        assert all(h.state is TaskState.SUCCESS for h in handles)
        assert all(TaskState.RUNNING not in [m.state for m in h.history] for h in handles)
        metrics = ex.metrics()
        assert metrics.wait.count == 6
        assert metrics.wait.max >= 0.3
        assert dict(metrics.allocator.releases) == {"success": 6}
        assert len(ex.allocator) == 0
    finally:
        ex.close()


@pytest.mark.parametrize("max_retries", [1, 0])
def test_worker_killed_mid_task_resubmits_elsewhere_or_loses(
    cluster, tmp_path: Path, max_retries: int
) -> None:
    cluster.start("d1")
    cluster.start("d3")
    ex = open_executor(cluster, max_retries=max_retries)
    try:
        wait_until(lambda: runners_of(ex) == ["d1", "d3"], 60, "both workers joined")
        task = ex.submit(
            "victim", functools.partial(payloads.interval, str(tmp_path), "victim", 3.0), "cpu=2"
        )
        first = task.runner
        marker = tmp_path / "victim.start"
        wait_until(marker.exists, 60, "the task started")
        assert int(marker.read_text()) == cluster.workers[first].process.pid
        cluster.workers[first].kill()
        if max_retries:
            assert task.wait(90) is TaskState.SUCCESS
            assert task.attempt == 2
            assert task.runner != first
        else:
            assert task.wait(90) is TaskState.LOST
            assert f"runner {first!r} died: worker removed" in (task.error or "")
        metrics = ex.metrics()
        assert metrics.runners_lost == 1
        assert metrics.allocator.evictions == 1
        assert len(ex.allocator) == 0
        ex._check()
        # the dead attempt's future was cancelled (from the client's event loop, where the
        # relayed RunnerLeft was handled): its pinned key does not wait in no-worker forever
        wait_until(lambda: not engine_keys(ex), 30, "every key released")
    finally:
        ex.close()


def engine_keys(ex: Executor) -> list[str]:
    """The keys of the executor's engine that the scheduler still holds."""

    def keys(dask_scheduler: Any, prefix: str) -> list[str]:
        return [str(k) for k in dask_scheduler.tasks if str(k).startswith(prefix)]

    engine = ex.engine
    return engine.client.run_on_scheduler(keys, prefix=engine._prefix)  # type: ignore[attr-defined,no-any-return]


def test_a_worker_restarted_by_its_nanny_under_a_new_address_gets_the_retry(
    cluster, tmp_path: Path
) -> None:
    """The pinned task must follow the runner's name to the new address, not wait in no-worker."""
    worker = DaskWorker(cluster.scheduler.address, "d1", 2, tmp_path, nanny=True)
    cluster.workers["d1"] = worker
    ex = open_executor(cluster, max_retries=2)
    try:
        wait_until(lambda: runners_of(ex) == ["d1"], 60, "the worker joined")
        engine = ex.engine
        first_address = engine._addresses["d1"]
        task = ex.submit(
            "victim", functools.partial(payloads.interval, str(tmp_path), "victim", 3.0), "cpu=1"
        )
        marker = tmp_path / "victim.start"
        wait_until(marker.exists, 60, "the task started")
        old_pid = int(marker.read_text())
        assert old_pid != worker.process.pid  # the worker runs in a child of the nanny
        os.kill(old_pid, signal.SIGKILL)  # the nanny restarts it under a new address
        assert task.wait(120) is TaskState.SUCCESS
        assert task.attempt == 2
        assert task.runner == "d1"
        assert task.result not in (old_pid, worker.process.pid)
        assert engine._addresses["d1"] != first_address
        metrics = ex.metrics()
        assert metrics.runners_lost == 1
        assert metrics.runners_joined == 2
        assert len(ex.allocator) == 0
        ex._check()
    finally:
        ex.close()


def test_a_worker_joining_mid_run_receives_work(cluster) -> None:
    cluster.start("d1")
    ex = open_executor(cluster)
    try:
        wait_until(lambda: runners_of(ex) == ["d1"], 60, "the worker joined")
        handles = [
            ex.submit(f"t{i}", functools.partial(payloads.pid_after, 1.0), "cpu=1")
            for i in range(8)
        ]
        cluster.start("d3")
        assert ex.wait(120)
        assert {h.runner for h in handles} == {"d1", "d3"}
        assert all(h.state is TaskState.SUCCESS for h in handles)
    finally:
        ex.close()


def test_runtime_alloc_run_on_dask(cluster, tmp_path: Path, capsys) -> None:
    for k in (1, 2):
        worker = DaskWorker(cluster.scheduler.address, f"r{k:04d}", 4, tmp_path)
        cluster.workers[worker.name] = worker
    run_on_engine(
        ["--engine", "dask", "--scheduler", cluster.scheduler.address],
        tmp_path / "run.json",
        capsys,
    )


def held_counter(prefix: str) -> Any:
    """A worker plugin (sent by value) that records the most keys of ``prefix`` held at once.

    A key is held from the moment the worker has it to run (``waiting``, ``ready``,
    ``constrained``) until it leaves ``executing``: what runs or waits on the worker.
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class HeldCounter(WorkerPlugin):  # type: ignore[misc]
        name = "test-held-counter"

        def setup(self, worker: Any) -> None:
            self.held: set[str] = set()
            self.most = 0

        def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
            if not (isinstance(key, str) and key.startswith(prefix)):
                return
            if finish in ("waiting", "ready", "constrained", "executing", "long-running"):
                self.held.add(key)
            else:
                self.held.discard(key)
            self.most = max(self.most, len(self.held))

    return HeldCounter()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("slots", [2, 4])
def test_no_over_commit_with_the_intervals_at_zero_and_close_leaves_nothing_behind(
    cluster, slots: int
) -> None:
    """Workers of 2 threads; runners of 2 slots, or of 4 (two tasks then wait on the worker)."""
    cluster.start("d1")
    cluster.start("d3")
    client = Client(cluster.scheduler.address, set_as_default=False)
    try:
        wait_until(lambda: len(client.scheduler_info()["workers"]) == 2, 60, "both workers")
        client.register_plugin(held_counter(KEY_PREFIX))
        runners = [Runner.parse(name, f"cpu={slots},slots={slots}") for name in ("d1", "d3")]
        engine = DaskEngine(client, runners, comm_interval=0)
        ex = Executor(engine, Allocator(strategy=MaxPackingStrategy())).open()
        try:
            wait_until(lambda: runners_of(ex) == ["d1", "d3"], 60, "both workers joined")
            handles = [
                ex.submit(f"t{i}", functools.partial(payloads.pid_after, 0.002), "cpu=1")
                for i in range(80)
            ]
            bad = ex.submit("bad", functools.partial(payloads.fail, "no input"), "cpu=1")
            assert ex.wait(60)
            pids = {name: worker.process.pid for name, worker in cluster.workers.items()}
            assert all(h.state is TaskState.SUCCESS for h in handles)
            assert all(h.result == pids[str(h.runner)] for h in handles)  # ran where placed
            assert {h.runner for h in handles} == {"d1", "d3"}
            assert bad.state is TaskState.FAILED
            assert bad.error == "ValueError('no input')"
            assert dict(ex.allocator.metrics().releases) == {"success": 80, "failed": 1}
            ex._check()
            most = client.run(lambda dask_worker: dask_worker.plugins["test-held-counter"].most)
            assert sorted(most.values()) == [slots, slots]  # never more than a runner's slots
        finally:
            ex.close()

        def left(dask_scheduler: Any) -> dict[str, list[str]]:
            return {
                "plugins": [n for n in dask_scheduler.plugins if n.startswith("runtime-alloc")],
                "worker_plugins": [
                    n for n in dask_scheduler.worker_plugins if n.startswith("runtime-alloc")
                ],
                "keys": [k for k in dask_scheduler.tasks if str(k).startswith(KEY_PREFIX)],
            }

        wait_until(lambda: not client.run_on_scheduler(left)["keys"], 30, "the keys released")
        assert client.run_on_scheduler(left) == {"plugins": [], "worker_plugins": [], "keys": []}
        held = client.run(
            lambda dask_worker: [n for n in dask_worker.plugins if n.startswith("runtime-alloc")]
        )
        assert list(held.values()) == [[], []]
    finally:
        client.close()
