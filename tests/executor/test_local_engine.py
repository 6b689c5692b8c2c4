"""LocalEngine, for real: process pools, real payloads, a worker killed with SIGKILL."""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from runtime_alloc import Allocator, MaxPackingStrategy, Runner
from runtime_alloc.executor import Executor, TaskFinished, TaskState
from runtime_alloc.executor.engines import LocalEngine, _local_pool, local
from runtime_alloc.executor.engines._local_pool import Pool, Worker
from tests.executor import payloads

pytestmark = pytest.mark.timeout(120)


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def submit_intervals(ex: Executor, tmp_path: Path, count: int, seconds: float) -> list:
    """Submit tasks t0.. of one cpu each that record their run in ``tmp_path``."""
    return [
        ex.submit(
            f"t{i}", functools.partial(payloads.interval, str(tmp_path), f"t{i}", seconds), "cpu=1"
        )
        for i in range(count)
    ]


def test_placement_matches_the_allocator_and_states_are_released_once() -> None:
    runners = [Runner.parse("a", "cpu=2,slots=2"), Runner.parse("b", "cpu=4,slots=2")]
    engine = LocalEngine(runners)
    reference = Allocator(runners, strategy=MaxPackingStrategy())
    with Executor(engine, Allocator(strategy=MaxPackingStrategy())) as ex:
        ok = ex.submit("ok", payloads.pid_after, "cpu=1")
        bad = ex.submit("bad", functools.partial(payloads.fail, "no input"), "cpu=2")
        assert ok.runner == reference.allocate("ok", "cpu=1").runner
        assert bad.runner == reference.allocate("bad", "cpu=2").runner
        assert ex.wait(60)
        assert ok.state is TaskState.SUCCESS
        assert ok.result in engine.pids(ok.runner)  # it ran in that runner's pool
        assert bad.state is TaskState.FAILED
        assert bad.error == "ValueError('no input')"
        assert [m.state for m in ok.history] == [
            TaskState.PENDING,
            TaskState.PLACED,
            TaskState.RUNNING,
            TaskState.SUCCESS,
        ]
        assert dict(ex.allocator.metrics().releases) == {"failed": 1, "success": 1}
        ex._check()


def test_queue_when_full_drains_as_tasks_finish(tmp_path: Path) -> None:
    engine = LocalEngine([Runner.parse("a", "cpu=2,slots=2"), Runner.parse("b", "cpu=1,slots=1")])
    with Executor(engine) as ex:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 2)
        handles = submit_intervals(ex, tmp_path, 9, 0.3)
        assert ex.metrics().queue_length == 6  # 3 cpu for 9 tasks of 1 cpu
        assert ex.wait(60)
        assert all(h.state is TaskState.SUCCESS for h in handles)
        assert payloads.most_overlapping(str(tmp_path)) <= 3
        metrics = ex.metrics()
        assert metrics.queue_length == 0
        assert metrics.wait.count == 9
        assert metrics.wait.max >= 0.3  # the last ones waited for two rounds
        assert len(ex.allocator) == 0


def test_worker_killed_mid_task_is_resubmitted_elsewhere(tmp_path: Path) -> None:
    engine = LocalEngine([Runner.parse("a", "cpu=1,slots=1"), Runner.parse("b", "cpu=1,slots=1")])
    with Executor(engine, max_retries=1) as ex:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 2)
        task = ex.submit(
            "victim", functools.partial(payloads.interval, str(tmp_path), "victim", 1.0), "cpu=1"
        )
        first = task.runner
        started = tmp_path / "victim.start"
        wait_until(started.exists)
        os.kill(int(started.read_text()), signal.SIGKILL)
        assert task.wait(60) is TaskState.SUCCESS
        assert task.attempt == 2
        assert task.runner != first
        assert task.retries == 1
        metrics = ex.metrics()
        assert metrics.runners_lost == 1
        assert metrics.allocator.evictions == 1
        assert len(ex.allocator) == 0  # no leaked reservation
        assert [s.name for s in ex.allocator.snapshot().runners] == [task.runner]
        ex._check()


def test_lost_after_max_retries_and_a_restarted_runner_joins_again(tmp_path: Path) -> None:
    engine = LocalEngine([Runner.parse("a", "cpu=1,slots=1")], restart_lost=True)
    with Executor(engine, max_retries=0) as ex:
        task = ex.submit(
            "victim", functools.partial(payloads.interval, str(tmp_path), "victim", 5.0), "cpu=1"
        )
        wait_until((tmp_path / "victim.start").exists)
        os.kill(int((tmp_path / "victim.start").read_text()), signal.SIGKILL)
        assert task.wait(60) is TaskState.LOST
        assert "runner 'a' died: a worker process died" in (task.error or "")
        wait_until(lambda: ex.metrics().runners_joined == 2)  # the fresh pool joined
        after = ex.submit("after", payloads.pid_after, "cpu=1")
        assert after.wait(60) is TaskState.SUCCESS
        assert len(ex.allocator) == 0


def test_a_runner_joining_mid_run_receives_work(tmp_path: Path) -> None:
    engine = LocalEngine([Runner.parse("a", "cpu=1,slots=1")])
    with Executor(engine) as ex:
        handles = submit_intervals(ex, tmp_path, 4, 0.5)
        engine.add_runner(Runner.parse("late", "cpu=1,slots=1"))
        assert ex.wait(60)
        assert {h.runner for h in handles} == {"a", "late"}
        engine.remove_runner("late")
        wait_until(lambda: ex.metrics().runners_left == 1)
        assert [s.name for s in ex.allocator.snapshot().runners] == ["a"]


def test_a_completion_that_places_many_tasks_hands_them_over_in_bounded_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The completion of "big" is delivered on the engine's reader thread and frees room for
    # 40 queued tasks on the same runner: they go in batches (its tasks were short), never more
    # than 2 x processes batches held by the workers, and each comes back with its own result.
    engine = LocalEngine([Runner.parse("a", "cpu=64,slots=64")], processes=2)
    sizes: list[tuple[int, int]] = []  # (tasks in the batch, batches held by the workers)
    hand = engine._hand

    def counting(pool: Pool, worker: Worker, batch: local.Batch) -> list[object]:
        sizes.append((len(batch), pool.items))
        return hand(pool, worker, batch)

    monkeypatch.setattr(engine, "_hand", counting)
    with Executor(engine) as ex:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 1)
        assert ex.submit("warm", functools.partial(payloads.value, 0), "cpu=1").wait(60)
        big = ex.submit("big", functools.partial(payloads.pid_after, 0.5), "cpu=64")
        small = [
            ex.submit(f"s{i}", functools.partial(payloads.value, i), "cpu=1") for i in range(40)
        ]
        small.append(ex.submit("bad", functools.partial(payloads.fail, "own error"), "cpu=1"))
        assert ex.metrics().queue_length == 41
        assert ex.wait(60)
        assert big.state is TaskState.SUCCESS
        assert [(h.state, h.result, h.runner) for h in small[:-1]] == [
            (TaskState.SUCCESS, i, "a") for i in range(40)
        ]
        assert (small[-1].state, small[-1].error) == (TaskState.FAILED, "ValueError('own error')")
        assert max(items for _, items in sizes) <= 4
        assert sum(n for n, _ in sizes) == 43
        assert len(sizes) < 43 - 10  # batched: fewer work items than tasks
        assert len(ex.allocator) == 0
        ex._check()


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_a_task_cancelled_in_a_batch_its_worker_did_not_reach_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # One process for 8 slots: "first" runs, "second" waits in the pool, t1-t4 are kept; when
    # "first" ends they go as one batch (BATCH_SECONDS made large), behind "second", where a
    # pool can no longer cancel them; the cancel slot makes the worker skip t2.
    monkeypatch.setattr(_local_pool, "BATCH_SECONDS", 1000.0)
    engine = LocalEngine([Runner.parse("a", "cpu=8,slots=8")], processes=1, pool=kind)
    with Executor(engine) as ex:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 1)

        def sleeper(name: str, seconds: float) -> functools.partial[int]:
            return functools.partial(payloads.interval, str(tmp_path), name, seconds)

        first = ex.submit("first", sleeper("first", 0.3), "cpu=1")
        second = ex.submit("second", sleeper("second", 1.0), "cpu=1")
        handles = [ex.submit(f"t{i}", sleeper(f"t{i}", 0.0), "cpu=1") for i in range(1, 5)]
        pool = engine._pools["a"]
        assert list(pool.deferred) == [(f"t{i}", 1) for i in range(1, 5)]
        wait_until(lambda: len(pool.handed) == 5)  # second + one batch of t1-t4
        assert first.state is TaskState.SUCCESS
        assert not (tmp_path / "second.start").exists() or second.state is TaskState.RUNNING
        assert ex.cancel("t2")
        assert ex.wait(60)
        assert [h.state for h in handles] == [
            TaskState.SUCCESS,
            TaskState.CANCELLED,
            TaskState.SUCCESS,
            TaskState.SUCCESS,
        ]
        assert not (tmp_path / "t2.start").exists()  # skipped by its worker
        assert (tmp_path / "t3.start").exists()
        assert len(ex.allocator) == 0
        assert not pool.handed
        assert len(pool.free) == len(pool.flags)
        assert not any(pool.flags)  # every slot back, cleared
        ex._check()


@pytest.mark.parametrize(
    "bad_payload",
    [lambda: 1, threading.Lock],  # a payload that cannot be pickled; a result that cannot
    ids=["payload", "result"],
)
def test_what_cannot_be_pickled_fails_only_its_own_task_in_a_batch(
    monkeypatch: pytest.MonkeyPatch, bad_payload: object
) -> None:
    # A lambda cannot be pickled for a worker process, a lock cannot come back from it: in a
    # batch either would fail its neighbours; only its own task fails.
    monkeypatch.setattr(_local_pool, "BATCH_SECONDS", 1000.0)
    engine = LocalEngine([Runner.parse("a", "cpu=8,slots=8")], processes=1)
    with Executor(engine) as ex:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 1)
        ex.submit("first", functools.partial(payloads.pid_after, 0.3), "cpu=1")
        ex.submit("second", functools.partial(payloads.pid_after, 0.3), "cpu=1")
        good = ex.submit("good", functools.partial(payloads.value, 7), "cpu=1")
        bad = ex.submit("bad", bad_payload, "cpu=1")
        also = ex.submit("also", functools.partial(payloads.value, 8), "cpu=1")
        assert list(engine._pools["a"].deferred) == [("good", 1), ("bad", 1), ("also", 1)]
        assert ex.wait(60)
        assert (good.state, good.result, also.state, also.result) == (
            TaskState.SUCCESS,
            7,
            TaskState.SUCCESS,
            8,
        )
        assert bad.state is TaskState.FAILED
        assert "pickle" in (bad.error or "").lower()
        assert len(ex.allocator) == 0
        ex._check()


def test_tasks_placed_while_every_worker_is_busy_wait_for_a_completion_and_can_be_cancelled(
    tmp_path: Path,
) -> None:
    # One process for 4 slots: from the third task on, the main thread's placements are kept by
    # the engine and submitted by the pool's next completion, on the pool's own thread.
    engine = LocalEngine([Runner.parse("a", "cpu=4,slots=4")], processes=1)
    with Executor(engine) as ex:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 1)
        handles = submit_intervals(ex, tmp_path, 4, 0.2)
        pool = engine._pools["a"]
        assert set(pool.deferred) == {("t2", 1), ("t3", 1)}
        assert ex.cancel("t3")  # never handed to the pool: it never runs
        assert set(pool.deferred) == {("t2", 1)}
        assert ex.wait(60)
        assert [h.state for h in handles] == [TaskState.SUCCESS] * 3 + [TaskState.CANCELLED]
        assert not (tmp_path / "t3.start").exists()
        assert payloads.most_overlapping(str(tmp_path)) == 1
        assert len(ex.allocator) == 0
        ex._check()


def count_finished(
    monkeypatch: pytest.MonkeyPatch, engine: LocalEngine
) -> Counter[tuple[str, int]]:
    """Count the ``TaskFinished`` events the engine delivers, per (task, attempt)."""
    counts: Counter[tuple[str, int]] = Counter()
    open_engine = engine.open

    def opening(sink):
        def counting(event):
            for one in event if isinstance(event, list) else [event]:
                if isinstance(one, TaskFinished):
                    counts[(one.task_id, one.attempt)] += 1
            sink(event)

        open_engine(counting)

    monkeypatch.setattr(engine, "open", opening)
    return counts


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_many_short_tasks_through_two_slots_complete_exactly_once_each(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    runners = [Runner.parse("a", "cpu=2,slots=2"), Runner.parse("b", "cpu=2,slots=2")]
    engine = LocalEngine(runners, pool=kind)
    counts = count_finished(monkeypatch, engine)
    with Executor(engine) as ex:
        handles = [
            ex.submit(f"t{i}", functools.partial(payloads.value, i), "cpu=1") for i in range(3000)
        ]
        assert ex.wait(120)
        assert [(h.state, h.result) for h in handles] == [
            (TaskState.SUCCESS, i) for i in range(3000)
        ]
        assert counts == Counter({(f"t{i}", 1): 1 for i in range(3000)})
        assert {h.runner for h in handles} == {"a", "b"}
        pools = list(engine._pools.values())
        assert all(len(pool.workers) == 2 for pool in pools)  # one per slot, no more
        assert all(not pool.deferred and not pool.handed and pool.items == 0 for pool in pools)
        assert len(ex.allocator) == 0
        ex._check()


def test_a_worker_killed_with_sigkill_loses_its_runner_and_every_process_of_it(
    tmp_path: Path,
) -> None:
    # Two slots a runner: the runner of the killed worker is lost at once (its sentinel), its
    # other process is stopped too, and both of its tasks run again on the other runner.
    runners = [Runner.parse("a", "cpu=2,slots=2"), Runner.parse("b", "cpu=2,slots=2")]
    engine = LocalEngine(runners)
    with Executor(engine, max_retries=1) as ex:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 2)
        handles = submit_intervals(ex, tmp_path, 4, 1.5)
        wait_until(lambda: all((tmp_path / f"t{i}.start").exists() for i in range(4)))
        victim = next(h for h in handles if h.runner == "a")
        siblings = engine.pids("a")
        assert len(siblings) == 2
        os.kill(int((tmp_path / f"{victim.task_id}.start").read_text()), signal.SIGKILL)
        wait_until(lambda: ex.metrics().runners_lost == 1, timeout=5)
        assert engine.pids("a") == ()
        wait_until(lambda: all(gone(pid) for pid in siblings))  # stopped and joined
        assert ex.wait(60)
        assert [h.state for h in handles] == [TaskState.SUCCESS] * 4
        assert sorted(h.attempt for h in handles) == [1, 1, 2, 2]
        assert {h.runner for h in handles} == {"b"}
        assert len(ex.allocator) == 0
        ex._check()


def test_a_large_payload_for_a_busy_worker_waits_in_the_engine_not_in_its_pipe() -> None:
    # A batch larger than QUEUED_BYTES is not written to a worker running another (the write
    # could block while the worker writes a large result back): it is sent as the worker frees.
    big = b"x" * (4 * _local_pool.QUEUED_BYTES)
    engine = LocalEngine([Runner.parse("a", "cpu=2,slots=2")], processes=1)
    with Executor(engine) as ex:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 1)
        handles = [ex.submit("t0", functools.partial(payloads.pid_after, 0.3), "cpu=1")]
        handles.append(ex.submit("t1", functools.partial(payloads.value, big), "cpu=1"))
        (worker,) = engine._pools["a"].workers
        assert worker.held is not None
        assert len(worker.batches) == 2
        handles += [
            ex.submit(f"t{i}", functools.partial(payloads.value, big), "cpu=1") for i in range(2, 9)
        ]
        assert ex.wait(60)
        assert [h.state for h in handles] == [TaskState.SUCCESS] * 9
        assert all(h.result == big for h in handles[1:])
        assert worker.held is None


def test_close_and_remove_runner_stop_and_join_every_process_and_thread() -> None:
    runners = [Runner.parse("a", "cpu=2,slots=2"), Runner.parse("b", "cpu=2,slots=2")]
    engine = LocalEngine(runners)
    with Executor(engine) as ex:
        handles = [
            ex.submit(f"t{i}", functools.partial(payloads.value, i), "cpu=1") for i in range(20)
        ]
        assert ex.wait(60)
        pids = engine.pids("a") + engine.pids("b")
        assert len(pids) == 4
        removed = engine.pids("b")
        engine.remove_runner("b")
        wait_until(lambda: all(gone(pid) for pid in removed))  # joined by the reader thread
        assert engine.pids("b") == ()
        assert [h.state for h in handles] == [TaskState.SUCCESS] * 20
        reader = engine._reader
        assert reader is not None
        assert reader.thread.is_alive()
    assert all(gone(pid) for pid in pids)  # close() joined them: none left, none a zombie
    assert not reader.thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("runtime-alloc")]
    assert not multiprocessing.active_children()


def test_close_joins_the_worker_threads_of_a_thread_pool() -> None:
    engine = LocalEngine([Runner.parse("a", "cpu=4,slots=4")], pool="thread")
    with Executor(engine) as ex:
        for i in range(8):
            ex.submit(f"t{i}", functools.partial(payloads.pid_after, 0.05), "cpu=1")
        assert ex.wait(60)
        threads = [w.thread for w in engine._pools["a"].workers]  # type: ignore[attr-defined]
        assert len(threads) == 4
        assert all(t.is_alive() for t in threads)
    assert not any(t.is_alive() for t in threads)


def test_a_result_that_cannot_be_unpickled_by_the_engine_fails_its_task_and_nothing_else() -> None:
    engine = LocalEngine([Runner.parse("a", "cpu=1,slots=1")])
    with Executor(engine) as ex:
        bad = ex.submit("bad", payloads.Unloadable, "cpu=1")
        assert bad.wait(60) is TaskState.FAILED
        assert bad.error == "ValueError('cannot load')"
        after = ex.submit("after", functools.partial(payloads.value, 5), "cpu=1")
        assert after.wait(60) is TaskState.SUCCESS
        assert after.result == 5
        assert ex.metrics().runners_lost == 0


def test_a_worker_that_cannot_be_started_fails_its_task_and_keeps_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = LocalEngine([Runner.parse("a", "cpu=1,slots=1")])
    start_worker = engine._new_worker

    def refuse(pool: Pool) -> Worker:
        raise OSError("too many open files")

    monkeypatch.setattr(engine, "_new_worker", refuse)
    with Executor(engine) as ex:
        task = ex.submit("t", functools.partial(payloads.value, 1), "cpu=1")
        assert task.wait(60) is TaskState.FAILED
        assert "too many open files" in (task.error or "")
        pool = engine._pools["a"]
        assert not pool.deferred
        assert not pool.workers
        pool.new_worker = start_worker
        after = ex.submit("after", functools.partial(payloads.value, 2), "cpu=1")
        assert after.wait(60) is TaskState.SUCCESS
        assert after.result == 2
        assert len(ex.allocator) == 0


def test_close_called_from_a_completion_ends_the_reader_quietly() -> None:
    # The sink closes the engine on the first completion, on the reader thread, while the
    # other tasks' outcomes may be ready in the same round: the reader stops without
    # touching the closed workers (no error on its thread) and every process is joined.
    engine = LocalEngine([Runner.parse("a", "cpu=4,slots=4")])
    errors: list[object] = []
    hook = threading.excepthook
    threading.excepthook = errors.append
    closed = threading.Event()

    def sink(event: object) -> None:
        for item in event if isinstance(event, list) else [event]:
            if isinstance(item, TaskFinished) and not closed.is_set():
                closed.set()
                engine.close()

    try:
        engine.open(sink)
        for i in range(4):  # four workers started, then four tasks ending at about one time
            engine.start(f"w{i}", 1, "a", functools.partial(payloads.pid_after, 0.3))
        pids = engine.pids("a")
        assert len(pids) == 4
        assert closed.wait(30)
        wait_until(lambda: all(gone(pid) for pid in pids))
        wait_until(
            lambda: not [t for t in threading.enumerate() if t.name == "runtime-alloc-local"]
        )
    finally:
        threading.excepthook = hook
    assert errors == []
