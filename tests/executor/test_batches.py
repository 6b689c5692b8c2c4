"""The executor's fast paths keep its rules: batched events, deliver without waiting, the misfits.

``NaiveQueue`` below is the pending queue as first written (every scan walks the whole queue and
every new task is tried): the executor with the real queue must make exactly its decisions.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import Allocator, InvalidArgumentError, Runner
from runtime_alloc.executor import (
    Executor,
    RunnerJoined,
    RunnerLeft,
    TaskFinished,
    TaskHandle,
    TaskStarted,
    TaskState,
)
from runtime_alloc.executor.queue import Outcome, PendingQueue


def _key(task: TaskHandle) -> tuple[int, int]:
    return (-task.priority, task.seq)


class NaiveQueue(PendingQueue):
    """The rule without shortcuts: admit tries every new task, a scan walks every queued task."""

    def admit(self, task: TaskHandle, attempt: Any) -> Outcome:
        key = _key(task)
        if self._holders and self._holders[0] < key:
            self.push(task)
            return Outcome.BLOCKED
        outcome = attempt(task)
        if outcome is Outcome.BLOCKED:
            self.push(task)
        elif outcome is Outcome.PLACED:
            for ahead_key in self._keys[: bisect.bisect_left(self._keys, key)]:
                ahead = self._tasks[ahead_key]
                ahead.overtakes += 1
                if ahead.overtakes == self.max_overtakes:
                    bisect.insort(self._holders, ahead_key)
        return outcome

    def scan(self, attempt: Any, freed: Any = None) -> int:
        blocked: list[TaskHandle] = []
        kept: list[tuple[int, int]] = []
        placed = 0
        index = 0
        keys = self._keys
        while index < len(keys):
            key = keys[index]
            index += 1
            task = self._tasks[key]
            outcome = attempt(task)  # no memory of what failed: each task is tried
            if outcome is Outcome.BLOCKED:
                kept.append(key)
                blocked.append(task)
                if task.overtakes >= self.max_overtakes:
                    break
                continue
            self._forget(key, task)
            if outcome is Outcome.PLACED:
                placed += 1
                held = False
                for ahead in blocked:
                    ahead.overtakes += 1
                    held = held or ahead.overtakes >= self.max_overtakes
                if held:
                    break
        kept.extend(keys[index:])
        self._keys = kept
        self._holders = [k for k in kept if self._tasks[k].overtakes >= self.max_overtakes]
        return placed


class Recorder:
    def __init__(self) -> None:
        self.started: list[tuple[str, int, str]] = []

    def open(self, sink: Any) -> None:
        self.sink = sink

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> None:
        self.started.append((task_id, attempt, runner))

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:
        pass

    def close(self) -> None:
        pass


def _pair(max_overtakes: int, cpus: list[int]) -> tuple[list[Executor], list[Recorder]]:
    executors, engines = [], []
    for naive in (False, True):
        engine = Recorder()
        runners = [Runner.parse(f"r{i}", f"cpu={cpu}") for i, cpu in enumerate(cpus)]
        executor = Executor(engine, Allocator(runners), max_overtakes=max_overtakes)
        if naive:
            executor._queue = NaiveQueue(max_overtakes)
        executors.append(executor.open())
        engines.append(engine)
    return executors, engines


def _view(executor: Executor) -> list[tuple[str, TaskState, str | None, int, int]]:
    return [(t.task_id, t.state, t.runner, t.attempt, t.overtakes) for t in executor.tasks()]


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    max_overtakes=st.integers(0, 3),
    cpus=st.lists(st.integers(2, 6), min_size=1, max_size=3),
)
def test_the_queue_decides_exactly_as_the_naive_rule(
    data: st.DataObject, max_overtakes: int, cpus: list[int]
) -> None:
    """Misfits, their release budgets and the early end of a scan change no decision."""
    (fast, naive), (fast_engine, naive_engine) = _pair(max_overtakes, cpus)
    submitted = 0
    for _ in range(data.draw(st.integers(5, 60))):
        action = data.draw(
            st.sampled_from(["submit", "submit", "finish", "batch", "join", "leave", "cancel"])
        )
        events: list[Any] = []
        if action == "cancel" and submitted:
            task_id = f"t{data.draw(st.integers(0, submitted - 1))}"
            assert fast.cancel(task_id) == naive.cancel(task_id)
            assert fast_engine.started == naive_engine.started
            assert _view(fast) == _view(naive)
            continue
        if action == "submit":
            request = f"cpu={data.draw(st.integers(1, 7))}"
            priority = data.draw(st.integers(0, 2))
            label = data.draw(st.sampled_from([(), ("gpu",)]))
            for executor in (fast, naive):
                executor.submit(f"t{submitted}", None, request, priority=priority, require=label)
            submitted += 1
            assert fast_engine.started == naive_engine.started
            assert _view(fast) == _view(naive)
            continue
        active = [t for t in fast.tasks() if t.state in (TaskState.PLACED, TaskState.RUNNING)]
        if action in ("finish", "batch") and active:
            chosen = data.draw(st.lists(st.sampled_from(active), min_size=1, max_size=4))
            events = [TaskFinished(t.task_id, t.attempt, "success") for t in chosen]
            if action == "finish":
                events = events[:1]
        elif action == "join":
            labels = data.draw(st.sampled_from([(), ("gpu",)]))
            events = [RunnerJoined(Runner.parse(f"j{submitted}", "cpu=4", labels))]
        elif action == "leave":
            names = sorted(s.name for s in fast.allocator.snapshot().runners)
            if names:
                events = [RunnerLeft(data.draw(st.sampled_from(names)), lost=True)]
        if events:
            for executor in (fast, naive):
                executor.deliver(events)  # a batch: one scan after all of them
            assert fast_engine.started == naive_engine.started
            assert _view(fast) == _view(naive)
        fast._check()
        naive._check()


@pytest.mark.parametrize("max_overtakes", [0, 1, 3])
def test_a_larger_release_frees_room_for_more_than_one_misfit(max_overtakes: int) -> None:
    """Two queued cpu=1 misfits after a cpu=1 and a cpu=2 release: both are placed.

    The queue once bounded a misfit by the releases of its own request (one
    here) and left the second task pending although the cpu=2 release had made
    room for it, until the next event.
    """
    (fast, naive), (fast_engine, naive_engine) = _pair(max_overtakes, [2, 2])
    for i, cpu in enumerate([1, 2, 1, 1, 1]):
        for executor in (fast, naive):
            executor.submit(f"t{i}", None, f"cpu={cpu}")
    assert [t.state for t in fast.tasks()][3:] == [TaskState.PENDING] * 2
    for executor in (fast, naive):
        executor.deliver([TaskFinished("t0", 1, "success"), TaskFinished("t1", 1, "success")])
    assert fast_engine.started == naive_engine.started
    assert [t.state for t in fast.tasks()][3:] == [TaskState.PLACED] * 2


def test_a_batch_of_completions_is_one_scan() -> None:
    engine = Recorder()
    executor = Executor(engine, Allocator([Runner.parse("r", "cpu=2")])).open()
    for i in range(6):
        executor.submit(f"t{i}", None, "cpu=1")
    scans = []
    queue_scan = executor._queue.scan
    executor._queue.scan = lambda *args: scans.append(1) or queue_scan(*args)  # type: ignore[method-assign]
    executor.deliver([TaskFinished("t0", 1, "success"), TaskFinished("t1", 1, "success")])
    assert len(scans) == 1
    assert [t.state for t in executor.tasks()][:4] == [TaskState.SUCCESS] * 2 + [
        TaskState.PLACED
    ] * 2


def test_a_bad_item_in_a_batch_changes_nothing() -> None:
    engine = Recorder()
    executor = Executor(engine, Allocator([Runner.parse("r", "cpu=2")])).open()
    executor.submit("t0", None, "cpu=1")
    with pytest.raises(InvalidArgumentError, match="got 'junk'"):
        executor.deliver([TaskFinished("t0", 1, "success"), "junk"])
    assert executor.task("t0").state is TaskState.PLACED
    assert executor.allocator.metrics().releases == {}


def test_deliver_does_not_wait_for_a_busy_executor_and_nothing_is_stranded() -> None:
    """An engine thread delivering while another thread holds the executor returns at once."""
    entered, go_on = threading.Event(), threading.Event()

    class Slow(Recorder):
        def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> None:
            super().start(task_id, attempt, runner, payload)
            if task_id == "slow":
                entered.set()
                assert go_on.wait(10)

    engine = Slow()
    executor = Executor(engine, Allocator([Runner.parse("r", "cpu=2")])).open()
    executor.submit("t0", None, "cpu=1")
    submitter = threading.Thread(target=executor.submit, args=("slow", None, "cpu=1"))
    submitter.start()
    assert entered.wait(10)  # the submitter holds the executor's lock inside engine.start
    delivered = threading.Event()

    def deliver() -> None:
        executor.deliver([TaskStarted("t0", 1), TaskFinished("t0", 1, "success")])
        delivered.set()

    threading.Thread(target=deliver).start()
    assert delivered.wait(10)  # it returned while the lock was held ...
    assert executor.task("t0").state is TaskState.PLACED  # ... leaving the events to the holder
    go_on.set()
    submitter.join(10)
    assert executor.task("t0").state is TaskState.SUCCESS  # handled before the lock was let go
    assert [m.state for m in executor.task("t0").history][-2:] == [
        TaskState.RUNNING,
        TaskState.SUCCESS,
    ]
    executor._check()


def test_capacity_freed_after_the_queue_emptied_is_seen_by_the_next_submit() -> None:
    """A misfit is forgotten at every release, also when no task is left in the queue."""
    engine = Recorder()
    executor = Executor(engine, Allocator([Runner.parse("r", "cpu=2")])).open()
    executor.submit("a", None, "cpu=2")
    executor.submit("b", None, "cpu=2")  # does not fit now: "cpu=2" is a misfit
    executor.cancel("b")  # the queue is empty
    executor.deliver(TaskFinished("a", 1, "success"))  # capacity frees with nothing queued
    assert executor.submit("c", None, "cpu=2").state is TaskState.PLACED


def test_a_batch_of_k_releases_places_k_tasks_of_that_request() -> None:
    """A misfit whose request was released twice may be placed twice in the next scan."""
    engine = Recorder()
    executor = Executor(engine, Allocator([Runner.parse("r", "cpu=2")])).open()
    for i in range(5):
        executor.submit(f"t{i}", None, "cpu=1")  # t2, t3, t4 wait: "cpu=1" is a misfit
    executor.deliver([TaskFinished("t0", 1, "success"), TaskFinished("t1", 1, "success")])
    assert [t.state for t in executor.tasks()] == [TaskState.SUCCESS] * 2 + [
        TaskState.PLACED
    ] * 2 + [TaskState.PENDING]
    executor.deliver(TaskFinished("t2", 1, "success"))
    assert executor.task("t4").state is TaskState.PLACED
