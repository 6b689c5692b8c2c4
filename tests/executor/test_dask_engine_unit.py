"""DaskEngine without a cluster: how it pickles and sends tasks, and the order of its reports."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("distributed", reason="the extra runtime_alloc[dask] is not installed")

import asyncio
import functools
import operator
import pickle
import subprocess
import sys

import cloudpickle

from runtime_alloc.executor import TaskFinished, TaskStarted
from runtime_alloc.executor.engines import DaskEngine
from runtime_alloc.executor.engines.dask import _cancel
from runtime_alloc.executor.engines.dask_relay import CALL, completion_relay


class FakeFuture:
    def __init__(self, key: str) -> None:
        self.key = key
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def add_callback(self, callback: Any) -> None:
        self.callbacks.append(callback)


class FakeClient:
    """Records what the engine sends instead of sending it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], list[str]]] = []  # (call, keys, workers)
        self.during: Any = None  # called inside a send, with its keys (a relay arriving then)
        self.loop = FakeLoop()

    def submit(self, func: Any, payload: Any, *, key: str, workers: list[str], **kw: Any) -> Any:
        self.sent.append(("submit", [key], workers))
        return FakeFuture(key)

    def map(
        self, func: Any, payloads: list[Any], *, key: list[str], workers: list[str], **kw: Any
    ) -> Any:
        assert kw == {"allow_other_workers": False, "pure": False}
        self.sent.append(("map", list(key), workers))
        if self.during is not None:
            self.during(key)
        return [FakeFuture(k) for k in key]


def engine_with(client: FakeClient, *, dispatching: bool = False) -> DaskEngine:
    """An engine on ``client``; ``dispatching``: this thread acts as its dispatcher."""
    engine = DaskEngine("tcp://127.0.0.1:1", [])
    engine.client = client  # type: ignore[assignment]
    engine._addresses = {"r1": "tcp://w1", "r2": "tcp://w2"}
    if dispatching:
        engine._collecting.on = True
    return engine


def test_the_task_function_pickles_by_reference_in_a_few_bytes_also_after_a_round_trip() -> None:
    # the scheduler unpickles each task and pickles it again for the worker: the function
    # must stay plain-picklable there (a closure went by value, ~50 us per task, each time)
    sent = pickle.dumps(CALL)
    assert len(sent) < 100
    back = pickle.loads(sent)  # noqa: S301 (our own bytes) as the scheduler has it...
    assert pickle.dumps(back) == sent  # ...and pickles it again for the worker: by reference
    assert back(functools.partial(operator.add, 1, 1)) == 2


class FakeTask:
    def __init__(self, nbytes: int | None, exception_text: str = "") -> None:
        self.nbytes = nbytes
        self.exception_text = exception_text


class FakeWorker:
    """What the completion relay reads on a worker: its tasks, its data, log_event."""

    def __init__(self) -> None:
        self.state = type("State", (), {"tasks": {}})()
        self.data: dict[str, Any] = {}
        self.logged: list[tuple[str, dict[str, Any]]] = []

    def log_event(self, topic: str, message: dict[str, Any]) -> None:
        self.logged.append((topic, message))

    def finish(self, key: str, value: Any, nbytes: int) -> None:
        self.state.tasks[key] = FakeTask(nbytes)
        self.data[key] = value


def test_the_completion_relay_travels_by_value_and_relays_each_end_once() -> None:
    sent = cloudpickle.dumps(completion_relay("ends", "topic", "p~"))
    blocked = (  # a worker without runtime_alloc: any import of it fails
        "import sys, pickle; sys.modules['runtime_alloc'] = None; "
        f"print(type(pickle.loads({sent!r})).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "CompletionRelay"
    plugin = cloudpickle.loads(sent)
    worker = FakeWorker()
    plugin.transition("p~a", "executing", "memory")  # before setup: nothing to relay with
    plugin.setup(worker)
    values = {"int": 7, "none": None, "str": "x" * 10, "big-int": 2**70, "tuple": (1,)}
    for name, value in values.items():
        worker.finish(f"p~{name}", value, 40)
        plugin.transition(f"p~{name}", "executing", "memory")
    worker.finish("p~long", "y" * 5000, 5049)
    plugin.transition("p~long", "long-running", "memory")
    worker.state.tasks["p~bad"] = FakeTask(None, "ValueError('no input')")
    plugin.transition("p~bad", "executing", "error")
    worker.finish("other~x", 1, 28)
    plugin.transition("other~x", "executing", "memory")  # another engine's key
    plugin.transition("p~int", "memory", "released")  # not an end
    plugin.transition("p~int", "ready", "executing")  # a start
    assert [topic for topic, _ in worker.logged] == ["topic"] * 7
    assert [m for _, m in worker.logged] == [
        {"op": "done", "key": "p~int", "result": 7},
        {"op": "done", "key": "p~none", "result": None},
        {"op": "done", "key": "p~str", "result": "x" * 10},
        {"op": "fetch", "key": "p~big-int"},
        {"op": "fetch", "key": "p~tuple"},
        {"op": "fetch", "key": "p~long"},  # too large: never read from the worker's data
        {"op": "failed", "key": "p~bad", "error": "ValueError('no input')"},
    ]
    plugin.teardown(worker)
    plugin.transition("p~int", "executing", "memory")
    assert len(worker.logged) == 7


def test_starts_during_a_delivery_go_out_after_it_in_one_map_per_worker() -> None:
    client = FakeClient()
    engine = engine_with(client)
    engine.start("a", 1, "r1", print)  # another thread than the dispatcher's: sent at once
    assert [(call, workers) for call, _, workers in client.sent] == [("submit", ["tcp://w1"])]
    engine._collecting.on = True  # now as the dispatcher (or the loop) delivering events
    for task, runner in (("b", "r1"), ("c", "r2"), ("d", "r1"), ("e", "r1")):
        engine.start(task, 1, runner, print)
    engine.cancel("e", 1, "r1")  # cancelled before it was sent: never sent
    assert len(client.sent) == 1
    engine._send_starts()
    sent = sorted(
        (workers[0], [key.split("~")[2] for key in keys]) for _, keys, workers in client.sent[1:]
    )
    assert [call for call, _, _ in client.sent[1:]] == ["map", "map"]
    assert sent == [("tcp://w1", ["b", "d"]), ("tcp://w2", ["c"])]
    assert sorted(engine._futures) == sorted(engine._attempts)  # each sent attempt kept
    assert len(engine._futures) == 4


def test_an_end_relayed_before_its_future_is_kept_is_reported_once() -> None:
    client = FakeClient()
    engine = engine_with(client, dispatching=True)
    engine.start("a", 1, "r1", print)
    engine.start("b", 1, "r1", print)
    key_a, key_b = engine._keys[("a", 1)], engine._keys[("b", 1)]

    def relayed(keys: list[str]) -> None:  # the worker ran both before the map call returned
        assert keys == [key_a, key_b]
        engine._on_relay((0.0, {"op": "done", "key": key_a, "result": 5}))
        engine._on_relay((0.0, {"op": "failed", "key": key_b, "error": "ValueError()"}))

    client.during = relayed
    engine._send_starts()
    assert engine._inbox == [  # delivered on the client's event loop, by one flush
        TaskFinished("a", 1, "success", result=5),
        TaskFinished("b", 1, "failed", error="ValueError()"),
    ]
    assert client.loop.callbacks == [engine._flush]
    assert not engine._futures
    assert not engine._ended
    engine._on_relay((0.0, {"op": "done", "key": key_a, "result": 5}))  # a duplicate
    assert len(engine._inbox) == 2
    assert engine._events.empty()


def test_a_map_that_raises_fails_its_attempts_as_a_start_that_raised() -> None:
    client = FakeClient()
    engine = engine_with(client, dispatching=True)
    engine.start("a", 1, "r1", print)
    engine.start("b", 2, "r1", print)

    def broken(keys: list[str]) -> None:
        raise OSError("scheduler gone")

    client.during = broken
    engine._send_starts()  # on the dispatcher thread: must not raise
    events = []
    while not engine._events.empty():
        events.append(engine._events.get())
    reason = "engine could not start the task: OSError('scheduler gone')"
    assert events == [
        TaskFinished("a", 1, "failed", error=reason),
        TaskFinished("b", 2, "failed", error=reason),
    ]
    assert not engine._attempts
    assert not engine._keys


def test_a_flush_delivers_the_relays_as_one_batch_then_sends_its_starts_in_one_map() -> None:
    client = FakeClient()
    engine = engine_with(client)
    engine.start("a", 1, "r1", print)  # not in a delivery: sent at once
    engine.start("b", 1, "r1", print)
    key_a, key_b = engine._keys[("a", 1)], engine._keys[("b", 1)]
    delivered: list[Any] = []

    def sink(batch: Any) -> None:  # the executor places two tasks on r1 as it handles them
        delivered.append(batch)
        engine.start("c", 1, "r1", print)
        engine.start("d", 1, "r1", print)
        assert len(client.sent) == 2  # not yet: after the delivery

    engine._sink = sink
    engine._on_relay((0.0, {"op": "done", "key": key_a, "result": 1}))
    engine._on_relay((0.0, {"op": "processing", "key": key_b}))
    assert client.loop.callbacks == [engine._flush]  # one flush for both
    engine._flush()
    assert delivered == [[TaskFinished("a", 1, "success", result=1), TaskStarted("b", 1)]]
    assert client.sent[2][0] == "map"
    assert [key.split("~")[2] for key in client.sent[2][1]] == ["c", "d"]
    assert not getattr(engine._collecting, "on", False)
    engine._sink = None  # closed: a late relay is dropped, nothing is sent
    engine._on_relay((0.0, {"op": "done", "key": key_b, "result": 2}))
    engine._flush()
    assert len(delivered) == 1
    assert len(client.sent) == 3


def test_a_cancel_on_the_clients_event_loop_runs_the_cancel_coroutine() -> None:
    # there Future.cancel() returns Client.cancel's coroutine instead of running it
    cancelled: list[str] = []

    class LoopFuture:
        def __init__(self, key: str) -> None:
            self.key = key

        def cancel(self) -> Any:
            async def cancelling() -> None:
                cancelled.append(self.key)

            return cancelling()

    async def on_the_loop() -> None:
        _cancel([LoopFuture("a"), LoopFuture("b")])
        await asyncio.sleep(0)

    asyncio.run(on_the_loop())
    assert cancelled == ["a", "b"]
    plain = FakeFuture("c")  # elsewhere it cancels as it returns
    _cancel([plain])
    assert plain.cancelled
