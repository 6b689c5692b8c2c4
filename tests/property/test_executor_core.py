"""Property tests of the executor core against a fake engine that reorders, duplicates and drops events.

The fake engine is only the test's stand-in for the workers (the engines themselves are tested
for real in tests/executor/). Checked after every step:

- nothing is over-committed and reservations agree with task states (``Executor._check``);
- every release the allocator counted is one move of a task from placed/running to
  success/failed/cancelled: exactly once per completion, whatever the delivery;
- the backfill bound: counted independently here, a pending task is overtaken by tasks
  behind it at most ``max_overtakes`` times;
- at the end, once every attempt's completion is delivered and capacity exists, every task is
  terminal and no reservation is left.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import Allocator, Runner
from runtime_alloc.executor import (
    Executor,
    RunnerJoined,
    RunnerLeft,
    TaskFinished,
    TaskHandle,
    TaskStarted,
    TaskState,
)

ACTIVE = {TaskState.PLACED, TaskState.RUNNING}
RELEASED_FROM_ACTIVE = {TaskState.SUCCESS, TaskState.FAILED, TaskState.CANCELLED}


def _key(task: TaskHandle) -> tuple[int, int]:
    return (-task.priority, task.seq)


class FakeEngine:
    """Records starts; the test decides which events reach the executor, and how."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int, str]] = []
        self.cancelled: list[tuple[str, int, str]] = []
        self.handles: dict[str, TaskHandle] = {}
        self.executor: Executor | None = None
        self.overtaken: dict[str, int] = {}
        self.sink: Any = None

    def open(self, sink: Any) -> None:
        self.sink = sink

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> None:
        self.started.append((task_id, attempt, runner))
        assert self.executor is not None
        placed = self.executor.task(task_id)
        for other in self.executor.tasks():  # independent count of backfill overtakes
            if other.state is TaskState.PENDING and _key(other) < _key(placed):
                self.overtaken[other.task_id] = self.overtaken.get(other.task_id, 0) + 1

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:
        self.cancelled.append((task_id, attempt, runner))

    def close(self) -> None:
        pass


def released_by_history(executor: Executor) -> int:
    count = 0
    for task in executor.tasks():
        for before, after in zip(task.history, task.history[1:], strict=False):
            if before.state in ACTIVE and after.state in RELEASED_FROM_ACTIVE:
                count += 1
    return count


def check(executor: Executor, engine: FakeEngine, max_overtakes: int) -> None:
    executor._check()
    assert sum(executor.allocator.metrics().releases.values()) == released_by_history(executor)
    assert all(n <= max_overtakes for n in engine.overtaken.values()), engine.overtaken
    for task in executor.tasks():
        assert engine.overtaken.get(task.task_id, 0) == task.overtakes


@settings(max_examples=150, deadline=None)
@given(data=st.data(), max_overtakes=st.integers(0, 4), max_retries=st.integers(0, 2))
def test_executor_core_survives_reordered_duplicated_and_dropped_events(
    data: st.DataObject, max_overtakes: int, max_retries: int
) -> None:
    engine = FakeEngine()
    runners = [Runner.parse(f"r{i}", f"cpu={data.draw(st.integers(2, 6))}") for i in range(2)]
    executor = Executor(
        engine, Allocator(runners), max_retries=max_retries, max_overtakes=max_overtakes
    )
    engine.executor = executor.open()
    outbox: list[Any] = []  # events "in flight" from the workers
    next_task = 0
    next_runner = 2
    steps = data.draw(st.integers(5, 60))
    for _ in range(steps):
        action = data.draw(
            st.sampled_from(
                ["submit", "submit", "complete", "complete", "deliver", "leave", "join", "cancel"]
            )
        )
        if action == "submit":
            task_id = f"t{next_task}"
            next_task += 1
            cpu = data.draw(st.integers(1, 7))  # 7 fits no runner: unschedulable
            handle = executor.submit(
                task_id, None, f"cpu={cpu}", priority=data.draw(st.integers(0, 2))
            )
            engine.handles[task_id] = handle
        elif action == "complete" and engine.started:
            # the worker finishes an attempt (possibly an old one): its events go in flight
            task_id, attempt, _ = data.draw(st.sampled_from(engine.started))
            if data.draw(st.booleans()):
                outbox.append(TaskStarted(task_id, attempt))
            state = data.draw(st.sampled_from(["success", "failed"]))
            outbox.append(TaskFinished(task_id, attempt, state, error="boom"))
        elif action == "deliver" and outbox:
            # deliver a random subset in random order, some twice; the rest are dropped
            batch = data.draw(st.permutations(outbox))
            outbox.clear()
            for event in batch:
                fate = data.draw(st.sampled_from(["once", "twice", "drop", "later"]))
                if fate == "later":
                    outbox.append(event)
                    continue
                for _ in range({"once": 1, "twice": 2, "drop": 0}[fate]):
                    task = executor.task(event.task_id)
                    before = (task.state, task.attempt, task.history)
                    executor.deliver(event)
                    if event.attempt != before[1] or before[0] not in ACTIVE:
                        # late (an older attempt) or duplicate (already ended): nothing changes
                        assert (task.state, task.attempt, task.history) == before
        elif action == "leave":
            names = [s.name for s in executor.allocator.snapshot().runners]
            if names:
                name = data.draw(st.sampled_from(names))
                executor.deliver(RunnerLeft(name, lost=data.draw(st.booleans())))
                executor.deliver(RunnerLeft(name, lost=True))  # a duplicate changes nothing
        elif action == "join":
            runner = Runner.parse(f"r{next_runner}", f"cpu={data.draw(st.integers(2, 6))}")
            next_runner += 1
            executor.deliver(RunnerJoined(runner))
            executor.deliver(RunnerJoined(runner))  # a repeated announcement changes nothing
        elif action == "cancel" and engine.handles:
            executor.cancel(data.draw(st.sampled_from(sorted(engine.handles))))
        check(executor, engine, max_overtakes)

    # The end: a runner that fits everything joins; every current attempt's completion is
    # delivered (a late duplicate of each too). Everything must end, and nothing stay reserved.
    executor.deliver(RunnerJoined(Runner.parse("big", "cpu=6")))
    for _ in range(10 * (next_task + 1)):
        active = [t for t in executor.tasks() if t.state in ACTIVE]
        if not active:
            break
        for task in active:
            event = TaskFinished(task.task_id, task.attempt, "success")
            executor.deliver(event)
            executor.deliver(event)
        check(executor, engine, max_overtakes)
    assert all(t.done() for t in executor.tasks()), executor.pending()
    for task in executor.tasks():
        if task.request.millicpu == 7000 and task.state is not TaskState.CANCELLED:
            assert task.state is TaskState.FAILED
            assert "insufficient cpu" in (task.error or ""), task.error
            assert "unschedulable" in (task.error or ""), task.error
    assert len(executor.allocator) == 0
    check(executor, engine, max_overtakes)
    metrics = executor.metrics()
    assert metrics.queue_length == 0
    assert sum(metrics.tasks.values()) == next_task
    assert metrics.wait.count == len(engine.started)


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 1)), min_size=1, max_size=40),
    max_overtakes=st.integers(0, 3),
    finish_order=st.randoms(use_true_random=False),
)
def test_backfill_bound_and_order_hold_under_load(
    sizes: list[tuple[int, int]], max_overtakes: int, finish_order: Any
) -> None:
    """Many small tasks behind a big one: the big one is overtaken at most max_overtakes times."""
    engine = FakeEngine()
    executor = Executor(
        engine, Allocator([Runner.parse("r", "cpu=4")]), max_overtakes=max_overtakes
    )
    engine.executor = executor.open()
    for index, (cpu, priority) in enumerate(sizes):
        engine.handles[f"t{index}"] = executor.submit(
            f"t{index}", None, f"cpu={cpu}", priority=priority
        )
        check(executor, engine, max_overtakes)
    while True:
        active = [t for t in executor.tasks() if t.state in ACTIVE]
        if not active:
            break
        task = finish_order.choice(active)
        executor.deliver(TaskFinished(task.task_id, task.attempt, "success"))
        check(executor, engine, max_overtakes)
    assert all(t.state is TaskState.SUCCESS for t in executor.tasks())
