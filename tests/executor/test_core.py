"""Executor core: the documented behaviours, one by one, against a recording engine."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from runtime_alloc import (
    Allocator,
    DuplicateTaskError,
    InvalidArgumentError,
    InvalidResourcesError,
    InvalidSnapshotError,
    Runner,
    UnknownTaskError,
)
from runtime_alloc.executor import (
    Executor,
    ExecutorSnapshot,
    RunnerJoined,
    RunnerLeft,
    TaskFinished,
    TaskStarted,
    TaskState,
)


class Recorder:
    def __init__(self, runners: tuple[Runner, ...] = ()) -> None:
        self.runners = runners
        self.started: list[tuple[str, int, str, Any]] = []
        self.cancelled: list[tuple[str, int, str]] = []
        self.closed = False

    def open(self, sink: Any) -> None:
        self.sink = sink
        for runner in self.runners:
            sink(RunnerJoined(runner))

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> None:
        if payload == "explode":
            raise RuntimeError("broker down")
        self.started.append((task_id, attempt, runner, payload))

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:
        self.cancelled.append((task_id, attempt, runner))

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(*specs: str, **options: Any) -> tuple[Executor, Recorder]:
    runners = [Runner.parse(f"w{i + 1}", spec) for i, spec in enumerate(specs)]
    engine = Recorder()
    return Executor(engine, Allocator(runners), **options).open(), engine


def test_life_cycle_with_timestamps_and_release_once() -> None:
    clock = Clock()
    ex, engine = make("cpu=2", clock=clock)
    handle = ex.submit("t1", "job", "cpu=1")
    assert engine.started == [("t1", 1, "w1", "job")]
    clock.now = 1001.0
    ex.deliver(TaskStarted("t1", 1))
    clock.now = 1003.5
    ex.deliver(TaskFinished("t1", 1, "success", result=42))
    ex.deliver(TaskFinished("t1", 1, "failed", error="late"))  # duplicate/late: ignored
    assert [(m.state, m.at) for m in handle.history] == [
        (TaskState.PENDING, 1000.0),
        (TaskState.PLACED, 1000.0),
        (TaskState.RUNNING, 1001.0),
        (TaskState.SUCCESS, 1003.5),
    ]
    assert handle.result == 42
    assert handle.wait(0) is TaskState.SUCCESS
    assert dict(ex.allocator.metrics().releases) == {"success": 1}


def test_unschedulable_fails_at_once_with_the_allocators_reason() -> None:
    ex, engine = make("cpu=2", "cpu=4")
    handle = ex.submit("huge", "job", "cpu=16")
    assert handle.state is TaskState.FAILED
    assert handle.error == (
        "0/2 runners can take task 'huge': 2 insufficient cpu "
        "(unschedulable: no runner could hold it even when empty)"
    )
    assert engine.started == []


def test_tasks_wait_while_no_runner_has_joined() -> None:
    engine = Recorder((Runner.parse("late", "cpu=1"),))
    ex = Executor(engine)
    handle = ex.submit("t", "job", "cpu=1")
    assert handle.state is TaskState.PENDING
    ex.open()  # the engine announces its runner; the queue is scanned
    assert handle.state is TaskState.PLACED
    assert handle.runner == "late"


def test_queue_order_is_priority_then_submit_order_and_release_retries() -> None:
    ex, _ = make("cpu=1", max_overtakes=0)
    ex.submit("first", "job", "cpu=1")
    low = ex.submit("low", "job", "cpu=1")
    high = ex.submit("high", "job", "cpu=1", priority=5)
    assert [t.task_id for t in ex.pending()] == ["high", "low"]
    ex.deliver(TaskFinished("first", 1, "success"))
    assert high.state is TaskState.PLACED
    assert low.state is TaskState.PENDING
    ex.deliver(TaskFinished("high", 1, "failed", error="boom"))
    assert high.error == "boom"
    assert low.state is TaskState.PLACED


def test_backfill_lets_small_tasks_pass_then_the_big_one_holds_its_place() -> None:
    ex, _ = make("cpu=4", max_overtakes=2)
    ex.submit("a", "job", "cpu=3")
    big = ex.submit("big", "job", "cpu=4")
    s1 = ex.submit("s1", "job", "cpu=0.5")
    s2 = ex.submit("s2", "job", "cpu=0.5")
    s3 = ex.submit("s3", "job", "cpu=0.1")  # fits, but big was overtaken twice: it waits
    assert (s1.state, s2.state, s3.state) == (TaskState.PLACED, TaskState.PLACED, TaskState.PENDING)
    assert big.overtakes == 2
    for task_id in ("a", "s1", "s2"):
        ex.deliver(TaskFinished(task_id, 1, "success"))
    assert big.state is TaskState.PLACED
    assert s3.state is TaskState.PENDING  # 4 cpu are taken by big now
    ex.deliver(TaskFinished("big", 1, "success"))
    assert s3.state is TaskState.PLACED


def test_runner_death_resubmits_then_loses_after_max_retries() -> None:
    ex, engine = make("cpu=1", "cpu=1", max_retries=1)
    handle = ex.submit("t", "job", "cpu=1")
    first = handle.runner
    ex.deliver(RunnerLeft(first, lost=True, reason="heartbeat expired"))
    assert engine.cancelled == [("t", 1, first)]
    assert handle.state is TaskState.PLACED
    assert handle.attempt == 2
    assert handle.runner != first
    ex.deliver(TaskFinished("t", 1, "success"))  # the dead worker's late report: ignored
    assert handle.state is TaskState.PLACED
    ex.deliver(RunnerLeft(handle.runner, lost=True, reason="killed"))
    assert handle.state is TaskState.LOST
    assert "died: killed" in (handle.error or "")
    assert "max_retries=1" in (handle.error or "")
    metrics = ex.metrics()
    assert metrics.retries == 1
    assert metrics.runners_lost == 2
    assert len(ex.allocator) == 0


def test_runner_joining_and_undrain_retry_the_queue() -> None:
    ex, _ = make("cpu=1")
    ex.submit("a", "job", "cpu=1")
    waiting = ex.submit("b", "job", "cpu=1")
    ex.deliver(RunnerJoined(Runner.parse("w2", "cpu=1")))
    assert waiting.runner == "w2"
    ex.drain_runner("w1")
    ex.deliver(TaskFinished("a", 1, "success"))
    third = ex.submit("c", "job", "cpu=1")
    assert third.state is TaskState.PENDING
    ex.undrain_runner("w1")
    assert third.runner == "w1"


def test_cancel_pending_and_running() -> None:
    ex, engine = make("cpu=1")
    running = ex.submit("a", "job", "cpu=1")
    pending = ex.submit("b", "job", "cpu=1")
    assert ex.cancel("b") is True
    assert pending.state is TaskState.CANCELLED
    assert ex.cancel("a") is True
    assert engine.cancelled == [("a", 1, "w1")]
    assert running.state is TaskState.CANCELLED
    assert ex.cancel("a") is False
    ex.deliver(TaskFinished("a", 1, "success"))  # arrives after the cancel: ignored
    assert dict(ex.allocator.metrics().releases) == {"cancelled": 1}
    with pytest.raises(UnknownTaskError, match="no task was submitted under 'zzz'"):
        ex.cancel("zzz")


def test_engine_failing_to_start_fails_the_task_and_frees_capacity() -> None:
    ex, _ = make("cpu=1")
    handle = ex.submit("t", "explode", "cpu=1")
    assert handle.state is TaskState.FAILED
    assert "broker down" in (handle.error or "")
    assert len(ex.allocator) == 0
    assert ex.submit("u", "job", "cpu=1").state is TaskState.PLACED


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda ex: ex.submit("", "p"), InvalidArgumentError, "task_id"),
        (lambda ex: ex.submit("t", "p", "cpu=lots"), InvalidResourcesError, "cpu"),
        (lambda ex: ex.submit("t", "p", "cpu=1,slots=99"), InvalidResourcesError, "slots"),
        (lambda ex: ex.submit("t", "p", priority=1.5), InvalidArgumentError, "priority"),
        (
            lambda ex: ex.submit("t", "p", priority=2**63),  # its snapshot would not restore
            InvalidArgumentError,
            (
                r"priority must be an integer from -4611686018427387904 to 4611686018427387904, "
                r"got 9223372036854775808"
            ),
        ),
        (lambda ex: ex.submit("t", "p", priority=-(2**62) - 1), InvalidArgumentError, "priority"),
        (lambda ex: ex.submit("a", "p"), DuplicateTaskError, "'a' was already submitted"),
        (lambda ex: ex.deliver("finished"), InvalidArgumentError, "event must be"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(call: Any, error: Any, message: str) -> None:
    ex, _ = make("cpu=1")
    ex.submit("a", "p", "cpu=1")
    ex.submit("b", "p", "cpu=1")
    before = (ex.snapshot(), ex.metrics())
    with pytest.raises(error, match=message):
        call(ex)
    assert (ex.snapshot(), ex.metrics()) == before


@pytest.mark.parametrize("priority", [2**62, -(2**62)])
def test_a_task_of_the_extreme_priorities_survives_its_snapshot(priority: int) -> None:
    # submit took any int above -(2**62); priority=2**63 made a snapshot from_dict refused
    ex, _ = make("cpu=1")
    ex.submit("a", "p", "cpu=1")
    ex.submit("b", "p", "cpu=1", priority=priority)  # pending
    snapshot = ex.snapshot()
    restored = ExecutorSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict())))
    assert restored == snapshot
    assert [t.priority for t in restored.tasks if t.task_id == "b"] == [priority]


def test_bad_options_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="max_retries must be an integer >= 0, got -1"):
        Executor(Recorder(), max_retries=-1)
    with pytest.raises(InvalidArgumentError, match="engine must have open, start"):
        Executor(object())  # type: ignore[arg-type]


@pytest.mark.parametrize("requeue_active", [True, False])
def test_snapshot_keeps_the_queue_and_restores(requeue_active: bool) -> None:
    ex, _ = make("cpu=2", max_overtakes=3)
    ex.submit("run", {"n": 1}, "cpu=2")
    ex.submit("p1", {"n": 2}, "cpu=1", priority=1)
    ex.submit("p2", {"n": 3}, "cpu=2", require=())
    saved = json.loads(json.dumps(ex.snapshot().to_dict()))
    engine = Recorder()
    restored = Executor.from_snapshot(saved, engine, requeue_active=requeue_active)
    assert [t.task_id for t in restored.pending()] == (
        ["p1", "run", "p2"] if requeue_active else ["p1", "p2"]
    )
    restored.open()
    restored._check()
    if requeue_active:  # the engine lost "run" in the restart: it runs again
        assert [s[0] for s in engine.started] == ["p1"]
        assert restored.task("run").state is TaskState.PENDING
        assert dict(restored.allocator.metrics().releases) == {"requeued": 1}
    else:  # the engine still runs "run" and reports it
        assert restored.task("run").state is TaskState.PLACED
        restored.deliver(TaskFinished("run", 1, "success"))
        assert [s[0] for s in engine.started] == ["p1"]
    assert ExecutorSnapshot.from_dict(saved) == ex.snapshot()


def test_snapshot_errors_name_the_problem() -> None:
    ex, _ = make("cpu=2")
    ex.submit("a", "p", "cpu=1")
    ex.submit("b", "p", "cpu=2")
    data = ex.snapshot().to_dict()
    data["tasks"][0]["state"] = "running"  # pending "b" claims to run
    with pytest.raises(InvalidSnapshotError, match="running task 'b' holds no reservation"):
        Executor.from_snapshot(data, Recorder())
    data["tasks"][0]["state"] = "success"
    with pytest.raises(InvalidSnapshotError, match="pending, placed or running"):
        Executor.from_snapshot(data, Recorder())
    del data["tasks"][0]["seq"]
    data["tasks"][0]["state"] = "pending"
    with pytest.raises(InvalidSnapshotError, match="misses the field 'seq'"):
        Executor.from_snapshot(data, Recorder())
    data["tasks"][0]["seq"] = 10**4301  # would load, then fail to write as JSON
    with pytest.raises(InvalidSnapshotError, match="field seq must be a 64-bit integer"):
        Executor.from_snapshot(data, Recorder())


def test_metrics_wait_times_and_states() -> None:
    clock = Clock()
    ex, _ = make("cpu=1", clock=clock)
    ex.submit("a", "p", "cpu=1")
    ex.submit("b", "p", "cpu=1")
    clock.now += 4.0
    ex.deliver(TaskFinished("a", 1, "success"))
    metrics = ex.metrics()
    assert metrics.wait.count == 2
    assert metrics.wait.total == 4.0
    assert metrics.wait.max == 4.0
    assert metrics.wait.p50 == 0.0
    assert metrics.wait.p99 == 4.0
    assert metrics.tasks["success"] == 1
    assert metrics.tasks["placed"] == 1
    assert metrics.queue_length == 0
    data = json.loads(json.dumps(metrics.to_dict()))
    assert data["wait_seconds"]["mean"] == 2.0


def test_events_from_many_threads_keep_every_invariant() -> None:
    ex, _ = make("cpu=4", "cpu=4", "cpu=4")
    for i in range(300):
        ex.submit(f"t{i}", "p", "cpu=1")

    deadline = time.monotonic() + 30

    def worker(offset: int) -> None:
        while time.monotonic() < deadline:
            for task in ex.tasks()[offset::4]:
                if task.state in (TaskState.PLACED, TaskState.RUNNING):
                    ex.deliver(TaskStarted(task.task_id, task.attempt))
                    ex.deliver(TaskFinished(task.task_id, task.attempt, "success"))
            if all(t.done() for t in ex.tasks()):
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ex._check()
    assert ex.wait(5)
    assert dict(ex.allocator.metrics().releases) == {"success": 300}


def test_close_closes_the_engine_once() -> None:
    engine = Recorder()
    with Executor(engine) as ex:
        assert ex.engine is engine
    assert engine.closed


def test_a_parsed_resources_request_without_slots_takes_one_slot_like_allocate() -> None:
    from runtime_alloc import Resources

    ex, engine = make("cpu=4,slots=2")
    handle = ex.submit("t1", "job", Resources.parse("cpu=1"))
    assert handle.state is TaskState.PLACED
    assert ex.allocator.get_reservation("t1").resources.slots == 1
    assert engine.started == [("t1", 1, "w1", "job")]


class StartsAtOnce(Recorder):
    """start() returns True (running at once); payload "quick" also finishes inside start."""

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> bool:
        super().start(task_id, attempt, runner, payload)
        if payload == "quick":
            self.sink(TaskFinished(task_id, attempt, "success", result=7))
        return True


def test_start_returning_true_records_running_at_once_without_an_event() -> None:
    clock = Clock()
    runners = [Runner.parse("w1", "cpu=2")]
    ex = Executor(StartsAtOnce(), Allocator(runners), clock=clock).open()
    handle = ex.submit("t1", "job", "cpu=1")
    assert [(m.state, m.at, m.runner) for m in handle.history] == [
        (TaskState.PENDING, 1000.0, None),
        (TaskState.PLACED, 1000.0, "w1"),
        (TaskState.RUNNING, 1000.0, "w1"),
    ]
    ex.deliver(TaskStarted("t1", 1))  # a TaskStarted as well changes nothing
    assert [m.state for m in handle.history][-1] is TaskState.RUNNING
    assert len(handle.history) == 3
    # A completion delivered from inside start is handled after it: the task ends once.
    quick = ex.submit("t2", "quick", "cpu=1")
    assert [m.state for m in quick.history] == [
        TaskState.PENDING,
        TaskState.PLACED,
        TaskState.RUNNING,
        TaskState.SUCCESS,
    ]
    assert quick.result == 7
    ex._check()


def test_wait_returns_when_the_last_live_task_ends_also_one_submitted_meanwhile() -> None:
    ex, _ = make("cpu=1")
    assert ex.wait(0)  # nothing submitted: idle
    ex.submit("t1", "job", "cpu=1")
    ex.submit("t2", "job", "cpu=1")  # pending
    assert not ex.wait(0.01)
    ex.deliver(TaskFinished("t1", 1, "success"))  # places t2
    assert not ex.wait(0.01)
    done = threading.Event()
    waiter = threading.Thread(target=lambda: done.set() if ex.wait(30) else None)
    waiter.start()
    ex.submit("t3", "job", "cpu=1")  # submitted while the waiter waits: waited for too
    ex.deliver(TaskFinished("t2", 1, "failed", error="x"))
    assert not done.wait(0.05)
    ex.cancel("t3")
    waiter.join(30)
    assert done.is_set()
    assert ex.wait(0)
    ex._check()
