"""RuntimeAllocExecutor driven directly: hand-built workloads, a driven engine, no database."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("airflow", reason="the Airflow tests need the extra airflow (docs/airflow.md)")

from airflow.utils.state import TaskInstanceState

from runtime_alloc import EvenSpreadStrategy, MaxPackingStrategy, Runner
from runtime_alloc.executor import TaskState
from runtime_alloc.integrations.airflow import RuntimeAllocExecutor
from runtime_alloc.integrations.airflow.config import ExecutorSettings
from tests.integrations.airflow.conftest import DrivenEngine, make_workload, request

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(60)]

FLEET = [
    Runner.parse("small", "cpu=2,memory=4GB,slots=4"),
    Runner.parse("big", "cpu=8,memory=32GB,slots=16"),
]


def executor(
    runners=FLEET, strategy=None, *, online=None, parallelism=32, max_retries=1
) -> tuple[RuntimeAllocExecutor, DrivenEngine]:
    settings = ExecutorSettings(
        tuple(runners), strategy or MaxPackingStrategy(), "celery", max_retries
    )
    engine = DrivenEngine(list(runners if online is None else online))
    ex = RuntimeAllocExecutor(parallelism=parallelism, settings=settings, engine=engine)
    ex.start()
    return ex, engine


def queue(ex: RuntimeAllocExecutor, *workloads) -> list:
    for workload in workloads:
        ex.queue_workload(workload, session=None)
    ex.heartbeat()
    return [w.ti.key for w in workloads]


def task_of(ex: RuntimeAllocExecutor, key):
    return ex.core.task(ex._ids[key])


def test_places_by_request_and_runs_on_the_runner_queue() -> None:
    ex, engine = executor()
    big, small = queue(
        ex,
        make_workload("big", request(cpu="6", memory="16GB", slots="2")),
        make_workload("small", request(cpu="500m", memory="1024MB")),
    )
    # MaxPacking puts the small task on the fullest runner that fits: "big" after the first
    assert task_of(ex, big).runner == "big"
    assert task_of(ex, small).runner == "big"
    assert str(task_of(ex, big).request) == "cpu=6,memory=16Gi,slots=2"
    assert str(task_of(ex, small).request) == "cpu=500m,memory=1Gi,slots=1"
    assert ex.running == {big, small}
    assert ex.queued_tasks == {}
    # the Celery payload is the runtime_alloc task with the workload's JSON
    payload = engine.started[ex._ids[big]][2]
    assert payload.task == "runtime_alloc.execute_workload"
    assert json.loads(payload.args[0])["ti"]["task_id"] == "big"


def test_default_request_and_even_spread() -> None:
    ex, _ = executor(strategy=EvenSpreadStrategy())
    keys = queue(ex, *(make_workload(f"t{i}") for i in range(4)))
    runners = [task_of(ex, k).runner for k in keys]
    assert all(str(task_of(ex, k).request) == "cpu=0,memory=0,slots=1" for k in keys)
    # slot utilization after placement: big 1/16, 2/16, 3/16, then 4/16 ties small's 1/4 and the
    # runner registered first wins
    assert runners == ["big", "big", "big", "small"]


def test_a_task_that_does_not_fit_now_stays_queued_until_capacity_frees() -> None:
    ex, engine = executor()
    first, second = queue(
        ex,
        make_workload("first", request(cpu="8"), priority=10),
        make_workload("second", request(cpu="8"), priority=1),
    )
    assert task_of(ex, first).state is TaskState.PLACED
    assert task_of(ex, second).state is TaskState.PENDING
    assert second in ex.queued_tasks  # queued in Airflow's sense
    assert ex.running == {first}
    ex.heartbeat()  # offered again: not submitted twice
    assert ex.core.metrics().submitted == 2
    engine.finish(ex._ids[first])
    ex.heartbeat()
    assert ex.get_event_buffer()[first][0] == TaskInstanceState.SUCCESS
    assert task_of(ex, second).runner == "big"
    assert second not in ex.queued_tasks
    assert ex.running == {second}


def test_priority_weight_orders_the_queue() -> None:
    ex, engine = executor()
    blocker, low, high = queue(
        ex,
        make_workload("blocker", request(cpu="8"), priority=100),
        make_workload("low", request(cpu="8"), priority=1),
        make_workload("high", request(cpu="8"), priority=5),
    )
    assert [t.task_id for t in ex.core.pending()] == [ex._ids[high], ex._ids[low]]
    engine.finish(ex._ids[blocker])
    ex.heartbeat()
    assert task_of(ex, high).state is TaskState.PLACED
    assert task_of(ex, low).state is TaskState.PENDING


def test_unschedulable_task_fails_at_once_with_the_reason(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path))
    ex, engine = executor()
    workload = make_workload("huge", request(cpu="1", memory="64GB"))
    (key,) = queue(ex, workload)
    state, info = ex.get_event_buffer()[key]
    assert state == TaskInstanceState.FAILED
    assert "0/2 runners can take task 'dag.huge#1." in info
    assert "2 insufficient memory" in info
    assert key not in ex.queued_tasks
    assert key not in ex.running
    assert engine.started == {}
    assert "insufficient memory" in ex.failures[key]
    # the reason is in the task's log file and its event log
    line = json.loads((tmp_path / workload.log_path).read_text().splitlines()[-1])
    assert "insufficient memory" in line["event"]
    assert line["level"] == "error"
    assert any("insufficient memory" in event.extra for event in ex._task_event_logs)


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (request(cpu="lots"), "executor_config['runtime_alloc']: cpu must be"),
        (request(memory="1 TB please"), "executor_config['runtime_alloc']: memory"),
        ({"runtime_alloc": "cpu=1"}, "executor_config['runtime_alloc'] must be a mapping"),
        (request(cpu="1", slots="64"), "slots"),
    ],
)
def test_a_bad_request_fails_that_task_only(config, fragment) -> None:
    ex, _ = executor()
    bad, good = queue(ex, make_workload("bad", config), make_workload("good", request(cpu="1")))
    events = ex.get_event_buffer()
    assert events[bad][0] == TaskInstanceState.FAILED
    assert fragment in events[bad][1], events[bad][1]
    assert good not in events
    assert task_of(ex, good).state is TaskState.PLACED


def test_success_and_failure_release_their_reservation() -> None:
    ex, engine = executor()
    ok, bad = queue(
        ex,
        make_workload("ok", request(cpu="2", memory="1GB")),
        make_workload("bad", request(cpu="2", memory="1GB")),
    )
    assert ex.core.allocator.metrics().tasks_running == 2
    ran_on = task_of(ex, ok).runner
    engine.finish(ex._ids[ok])
    engine.finish(ex._ids[bad], "failed", error="the Airflow task process exited with code 1")
    ex.heartbeat()
    events = ex.get_event_buffer()
    assert events[ok] == (TaskInstanceState.SUCCESS, f"runtime_alloc: ran on runner {ran_on!r}")
    assert events[bad][0] == TaskInstanceState.FAILED
    assert "exited with code 1" in events[bad][1]
    metrics = ex.metrics()
    assert metrics.allocator.tasks_running == 0
    assert dict(metrics.allocator.releases) == {"failed": 1, "success": 1}
    assert ex.running == set()
    ex.core._check()


def test_retry_after_a_lost_runner() -> None:
    ex, engine = executor(max_retries=1)
    (key,) = queue(ex, make_workload("moved", request(cpu="1")))
    first = task_of(ex, key).runner
    engine.lose(first)
    ex.heartbeat()
    task = task_of(ex, key)
    other = ({"small", "big"} - {first}).pop()
    assert task.runner == other
    assert task.attempt == 2
    assert ex.metrics().retries == 1
    engine.finish(task.task_id)
    ex.heartbeat()
    assert ex.get_event_buffer()[key][0] == TaskInstanceState.SUCCESS
    ex.core._check()


def test_lost_beyond_retries_fails_the_task() -> None:
    ex, engine = executor(runners=FLEET[:1], max_retries=0)
    (key,) = queue(ex, make_workload("gone", request(cpu="1")))
    engine.lose("small")
    ex.heartbeat()
    state, info = ex.get_event_buffer()[key]
    assert state == TaskInstanceState.FAILED
    assert "lost" in info


def test_waits_for_a_declared_runner_that_is_not_online() -> None:
    ex, engine = executor(online=FLEET[:1])  # "big" has not joined yet
    (key,) = queue(ex, make_workload("needs-big", request(cpu="6")))
    assert key in ex.queued_tasks
    assert ex.get_event_buffer() == {}
    engine.join(FLEET[1])
    ex.heartbeat()
    assert task_of(ex, key).runner == "big"
    assert key in ex.running


def test_revoke_and_terminate_cancel_on_the_engine() -> None:
    ex, engine = executor()
    a, b = queue(ex, make_workload("a", request(cpu="1")), make_workload("b", request(cpu="1")))
    task_a, task_b = ex._ids[a], ex._ids[b]

    class TI:
        key = a

    ex.revoke_task(ti=TI())
    assert engine.cancelled == [task_a]
    assert a not in ex.running
    assert ex.get_event_buffer() == {}
    ex.terminate()
    assert engine.cancelled == [task_a, task_b]
    assert ex.get_event_buffer()[b][0] == TaskInstanceState.FAILED
    assert engine.sink is None


def test_metrics_go_to_airflow_stats(monkeypatch) -> None:
    from airflow.observability import stats as stats_module

    seen: dict[str, float] = {}
    monkeypatch.setattr(
        stats_module.Stats, "gauge", lambda stat, value, *a, **k: seen.__setitem__(stat, value)
    )
    counts: list[str] = []
    monkeypatch.setattr(stats_module.Stats, "incr", lambda stat, *a, **k: counts.append(stat))
    ex, engine = executor()
    (key,) = queue(ex, make_workload("m", request(cpu="4", memory="8GB")))
    ex.heartbeat()
    assert seen["runtime_alloc.tasks_running"] == 1
    assert seen["runtime_alloc.reserved.cpu"] == 4000
    assert seen["runtime_alloc.capacity.cpu"] == 10000
    assert seen["runtime_alloc.runner.big.utilization.cpu"] == 0.5
    engine.finish(ex._ids[key])
    ex.heartbeat()
    assert "runtime_alloc.tasks.success" in counts


def test_settings_from_the_runtime_alloc_section(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__RUNTIME_ALLOC__RUNNERS", "r1:cpu=4,slots=8;r2:cpu=2")
    monkeypatch.setenv("AIRFLOW__RUNTIME_ALLOC__STRATEGY", "MaxPackingStrategy")
    monkeypatch.delenv("RUNTIME_ALLOC_RUNNERS", raising=False)
    monkeypatch.delenv("ALLOCATOR_STRATEGY", raising=False)
    ex = RuntimeAllocExecutor(parallelism=4)
    assert [r.name for r in ex.settings.runners] == ["r1", "r2"]
    assert ex.settings.strategy.name == "MaxPackingStrategy"
    monkeypatch.setenv("ALLOCATOR_STRATEGY", "EvenSpreadStrategy")  # the environment wins
    assert RuntimeAllocExecutor(parallelism=4).settings.strategy.name == "EvenSpreadStrategy"


@pytest.mark.timeout(180)
def test_local_mode_runs_the_workload_in_a_process_and_reports_its_failure() -> None:
    # no API server: the task process cannot reach it and exits non-zero
    settings = ExecutorSettings(
        (Runner.parse("here", "cpu=1,slots=2"),), EvenSpreadStrategy(), "local", 0
    )
    ex = RuntimeAllocExecutor(parallelism=2, settings=settings)
    ex.start()
    try:
        (key,) = queue(ex, make_workload("local", request(cpu="1")))
        assert task_of(ex, key).runner == "here"
        ex.end()
        state, info = ex.get_event_buffer()[key]
    finally:
        ex.core.close()
    assert state == TaskInstanceState.FAILED
    assert "exited with code" in info
