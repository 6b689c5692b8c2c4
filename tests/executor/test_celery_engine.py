"""CeleryEngine end to end: a real redis-server and one real Celery worker process per runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("celery", reason="the extra runtime_alloc[celery] is not installed")

from runtime_alloc import Allocator, MaxPackingStrategy, Runner
from runtime_alloc.executor import Executor, TaskState
from runtime_alloc.executor.engines import CeleryEngine
from tests.executor import celery_app
from tests.executor.servers import CeleryWorker, Redis, run_on_engine, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RUNNERS = {
    "r1": Runner.parse("r1", "cpu=2,slots=2"),
    "r2": Runner.parse("r2", "cpu=4,slots=2"),
    "r3": Runner.parse("r3", "cpu=2,slots=2"),
}


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(tmp_path_factory.mktemp("redis"))
    celery_app.app.conf.broker_url = server.url
    yield server
    server.close()


@pytest.fixture
def workers(redis: Redis, tmp_path: Path) -> Iterator[dict[str, CeleryWorker]]:
    started: dict[str, CeleryWorker] = {}

    def start(name: str) -> CeleryWorker:
        started[name] = CeleryWorker(redis.url, name, RUNNERS[name].capacity.slots, tmp_path)
        return started[name]

    started["start"] = start  # type: ignore[assignment]
    yield started
    for name, worker in started.items():
        if name != "start":
            worker.close()


def open_executor(**options: object) -> Executor:
    engine = CeleryEngine(celery_app.app, RUNNERS.values())
    return Executor(engine, Allocator(strategy=MaxPackingStrategy()), **options).open()  # type: ignore[arg-type]


def runners_of(ex: Executor) -> list[str]:
    return [s.name for s in ex.allocator.snapshot().runners]


def test_placement_matches_the_allocator_and_completions_are_released_once(workers) -> None:
    workers["start"]("r1")
    workers["start"]("r2")
    ex = open_executor()
    try:
        wait_until(lambda: sorted(runners_of(ex)) == ["r1", "r2"], 60, "both workers joined")
        reference = Allocator.from_snapshot(ex.allocator.snapshot(), strategy=MaxPackingStrategy())
        ok = ex.submit("ok", celery_app.pid_after.s(0.2), "cpu=3")
        bad = ex.submit("bad", celery_app.fail.s("no input"), "cpu=1")
        assert ok.runner == reference.allocate("ok", "cpu=3").runner == "r2"
        assert bad.runner == reference.allocate("bad", "cpu=1").runner
        assert ex.wait(60)
        assert ok.state is TaskState.SUCCESS
        assert int(ok.result) == workers["r2"].process.pid  # it ran in r2's worker
        assert bad.state is TaskState.FAILED
        assert "no input" in (bad.error or "")
        assert TaskState.RUNNING in [m.state for m in ok.history]
        assert dict(ex.allocator.metrics().releases) == {"failed": 1, "success": 1}
        ex._check()
    finally:
        ex.close()


def test_queue_when_full_drains_as_tasks_finish(workers, tmp_path: Path) -> None:
    workers["start"]("r1")
    ex = open_executor()
    try:
        wait_until(lambda: runners_of(ex) == ["r1"], 60, "the worker joined")
        handles = [ex.submit(f"t{i}", celery_app.pid_after.s(0.3), "cpu=1") for i in range(6)]
        assert ex.metrics().queue_length == 4  # 2 cpu for 6 tasks of 1 cpu
        assert ex.wait(90)
        assert all(h.state is TaskState.SUCCESS for h in handles)
        metrics = ex.metrics()
        assert metrics.queue_length == 0
        assert metrics.wait.count == 6
        assert metrics.wait.max >= 0.3
        assert dict(metrics.allocator.releases) == {"success": 6}
        assert len(ex.allocator) == 0
    finally:
        ex.close()


@pytest.mark.parametrize("max_retries", [1, 0])
def test_worker_killed_mid_task_resubmits_elsewhere_or_loses(
    workers, tmp_path: Path, max_retries: int
) -> None:
    workers["start"]("r1")
    workers["start"]("r3")
    ex = open_executor(max_retries=max_retries)
    try:
        wait_until(lambda: sorted(runners_of(ex)) == ["r1", "r3"], 60, "both workers joined")
        marker = tmp_path / "victim.started"
        task = ex.submit("victim", celery_app.pid_after.s(3.0, str(marker)), "cpu=2")
        first = task.runner
        wait_until(marker.exists, 60, "the task started")
        assert int(marker.read_text()) == workers[first].process.pid
        workers[first].kill()  # SIGKILL: no worker-offline event; heartbeats stop
        if max_retries:
            assert task.wait(90) is TaskState.SUCCESS
            assert task.attempt == 2
            assert task.runner != first
        else:
            assert task.wait(90) is TaskState.LOST
            assert f"runner {first!r} died: heartbeats stopped" in (task.error or "")
        metrics = ex.metrics()
        assert metrics.runners_lost == 1
        assert metrics.allocator.evictions == 1
        assert len(ex.allocator) == 0  # no leaked reservation
        ex._check()  # nothing over-committed
    finally:
        ex.close()


def test_a_worker_joining_mid_run_receives_work(workers) -> None:
    workers["start"]("r1")
    ex = open_executor()
    try:
        wait_until(lambda: runners_of(ex) == ["r1"], 60, "the worker joined")
        handles = [ex.submit(f"t{i}", celery_app.pid_after.s(1.0), "cpu=1") for i in range(8)]
        workers["start"]("r3")
        assert ex.wait(120)
        assert {h.runner for h in handles} == {"r1", "r3"}
        assert all(h.state is TaskState.SUCCESS for h in handles)
        workers["r3"].close()  # a clean stop: worker-offline
        wait_until(lambda: runners_of(ex) == ["r1"], 60, "the worker left")
        assert ex.metrics().runners_left == 1
    finally:
        ex.close()


def test_runtime_alloc_run_on_celery(redis, tmp_path: Path, capsys) -> None:
    app = "runtime_alloc.executor.engines.celery_app"
    workers = [CeleryWorker(redis.url, f"r{k:04d}", 4, tmp_path, app=app) for k in (1, 2)]
    try:
        data = run_on_engine(
            ["--engine", "celery", "--broker", redis.url], tmp_path / "run.json", capsys
        )
        assert data["executor"]["counters"]["runners_joined"] == 2
    finally:
        for worker in workers:
            worker.close()
