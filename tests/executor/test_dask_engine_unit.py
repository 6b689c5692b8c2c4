"""DaskEngine without a cluster: how it pickles and sends tasks, and the order of its reports."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("distributed", reason="the extra runtime_alloc[dask] is not installed")

import threading

import cloudpickle
from distributed.protocol import pickle as dask_pickle

from runtime_alloc.executor import TaskFinished
from runtime_alloc.executor.engines import DaskEngine


class FakeFuture:
    def __init__(self, key: str) -> None:
        self.key = key
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClient:
    """Records what the engine sends instead of sending it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], list[str]]] = []  # (call, keys, workers)
        self.during: Any = None  # called inside a send, with its keys (a relay arriving then)

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
        engine._thread = threading.current_thread()
    return engine


def test_the_relaying_function_is_pickled_once_and_comes_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = DaskEngine("tcp://127.0.0.1:1", [])._run  # no connection before open()
    calls: list[Any] = []
    dumps = cloudpickle.dumps

    def counting(obj: Any, *args: Any, **kwargs: Any) -> bytes:
        calls.append(obj)
        return dumps(obj, *args, **kwargs)

    monkeypatch.setattr(cloudpickle, "dumps", counting)
    sent = [dask_pickle.dumps(run) for _ in range(3)]  # as Dask pickles it at each submit
    assert calls == []  # its code, closure and globals were pickled once, when it was made
    assert len(sent[0]) < 2 * len(run.pickled)
    back = dask_pickle.loads(sent[0])  # what a worker gets: the plain function
    assert back.__code__.co_code == run.function.__code__.co_code
    assert [c.cell_contents for c in back.__closure__] == [
        c.cell_contents for c in run.function.__closure__
    ]


def test_starts_during_a_delivery_go_out_after_it_in_one_map_per_worker() -> None:
    client = FakeClient()
    engine = engine_with(client)
    engine.start("a", 1, "r1", print)  # another thread than the dispatcher's: sent at once
    assert [(call, workers) for call, _, workers in client.sent] == [("submit", ["tcp://w1"])]
    engine._thread = threading.current_thread()  # now as the dispatcher delivering events
    for task, runner in (("b", "r1"), ("c", "r2"), ("d", "r1"), ("e", "r1")):
        engine.start(task, 1, runner, print)
    engine.cancel("e", 1, "r1")  # cancelled before it was sent: never sent
    assert len(client.sent) == 1
    engine._send_starts()
    sent = sorted(
        (workers[0], [key.split("~")[1] for key in keys]) for _, keys, workers in client.sent[1:]
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
    events = []
    while not engine._events.empty():
        events.append(engine._events.get())
    assert events == [
        TaskFinished("a", 1, "success", result=5),
        TaskFinished("b", 1, "failed", error="ValueError()"),
    ]
    assert not engine._futures
    assert not engine._ended
    engine._on_relay((0.0, {"op": "done", "key": key_a, "result": 5}))  # a duplicate
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
