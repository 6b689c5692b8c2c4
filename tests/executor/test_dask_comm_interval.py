"""DaskEngine(comm_interval=...): the batching interval of Dask's four streams, set and restored.

The unit tests need no cluster; the others (marked ``integration``) run a real scheduler and
real worker processes and read each stream's interval where it lives.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the extra runtime_alloc[dask] is not installed")

import cloudpickle
from distributed import Client

from runtime_alloc import Allocator, MaxPackingStrategy, Runner
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.executor import Executor, TaskState
from runtime_alloc.executor.engines import DaskEngine, dask_comms
from runtime_alloc.executor.engines.dask_comms import (
    CommIntervals,
    SchedulerCommIntervals,
    UnsupportedDaskError,
    worker_comm_intervals,
)
from tests.executor import payloads
from tests.executor.servers import DaskScheduler, DaskWorker, wait_until

RUNNERS = [Runner.parse("d1", "cpu=2,slots=2"), Runner.parse("d3", "cpu=2,slots=2")]
DEFAULTS = {"client": 0.01, "to_workers": 0.005, "to_client": 0.002, "from_workers": 0.002}
"""distributed 2026.8.0's intervals (client.py, scheduler.py, worker.py)."""


# ---------------------------------------------------------------------- without a cluster


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", [-0.001, 1.5, math.nan, math.inf, "0.001", True, [0.001]])
def test_an_invalid_interval_is_refused_naming_the_field_and_value(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="comm_interval") as error:
        DaskEngine("tcp://127.0.0.1:1", RUNNERS, comm_interval=value)
    assert repr(value) in str(error.value)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", [None, 0, 0.0005, 1])
def test_a_valid_interval_is_kept_as_seconds(value: float | None) -> None:
    engine = DaskEngine("tcp://127.0.0.1:1", RUNNERS, comm_interval=value)
    assert engine._comm_interval == (None if value is None else float(value))
    assert engine.client is None  # nothing connects before open()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", ["workers", "", None, 0, ["client"]])
def test_an_unknown_stream_choice_is_refused_naming_the_field_and_value(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="comm_streams") as error:
        DaskEngine("tcp://127.0.0.1:1", RUNNERS, comm_interval=0, comm_streams=value)
    assert repr(value) in str(error.value)


class FakeStream:
    def __init__(self, interval: float) -> None:
        self.interval = interval


class FakeClient:
    """A client whose plugin registrations are recorded (or fail at the ``fail_at``-th)."""

    id = "client-1"
    status = "running"

    def __init__(self, *, stream: bool = True, fail_at: int | None = None) -> None:
        if stream:
            self.scheduler_comm = FakeStream(0.01)
        self.fail_at = fail_at
        self.calls: list[str] = []

    def register_plugin(self, plugin: Any) -> None:
        self.calls.append(f"register {type(plugin).__name__}")
        if len(self.calls) == self.fail_at:
            raise OSError("refused")

    def unregister_worker_plugin(self, name: str) -> None:
        self.calls.append("unregister worker plugin")

    def run_on_scheduler(self, function: Any, names: list[str]) -> None:
        self.calls.append(f"remove {names}")


@pytest.mark.timeout(30)
def test_a_client_without_the_stream_raises_before_changing_anything() -> None:
    client = FakeClient(stream=False)
    with pytest.raises(UnsupportedDaskError, match=r"Client\.scheduler_comm"):
        CommIntervals(0.0, "e").apply(client)  # type: ignore[arg-type]
    assert client.calls == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_failed_registration_undoes_what_was_set(fail_at: int) -> None:
    client = FakeClient(fail_at=fail_at)
    with pytest.raises(OSError, match="refused"):
        CommIntervals(0.0, "e").apply(client)  # type: ignore[arg-type]
    assert client.scheduler_comm.interval == 0.01
    undo = ["remove ['e-comm-intervals']"]
    if fail_at == 2:
        undo.insert(0, "unregister worker plugin")
    assert client.calls[fail_at:] == undo


@pytest.mark.timeout(30)
def test_client_streams_only_register_no_worker_plugin_and_leave_the_workers_alone() -> None:
    client = FakeClient()
    tuning = CommIntervals(0.0, "e", "client")
    tuning.apply(client)  # type: ignore[arg-type]
    assert client.calls == ["register SchedulerCommIntervals"]
    assert client.scheduler_comm.interval == 0.0
    tuning.restore(client)  # type: ignore[arg-type]
    assert client.calls[1:] == ["remove ['e-comm-intervals']"]
    assert client.scheduler_comm.interval == 0.01
    # in the scheduler: the client's stream is set, the workers' are not
    scheduler = type("Scheduler", (), {})()
    scheduler.stream_comms = {"tcp://w1": FakeStream(0.005)}
    scheduler.client_comms = {"client-1": FakeStream(0.002)}
    plugin = SchedulerCommIntervals("p", 0.0, "client-1", workers=False)
    asyncio.run(plugin.start(scheduler))
    plugin.add_worker(scheduler, "tcp://w1")
    assert scheduler.client_comms["client-1"].interval == 0.0
    assert scheduler.stream_comms["tcp://w1"].interval == 0.005
    plugin.restore()
    assert scheduler.client_comms["client-1"].interval == 0.002


@pytest.mark.timeout(30)
def test_the_worker_plugin_travels_by_value_and_restores_on_teardown() -> None:
    plugin = cloudpickle.loads(cloudpickle.dumps(worker_comm_intervals("p", 0.0005)))
    worker = type("Worker", (), {})()
    worker.batched_stream = FakeStream(0.002)
    plugin.setup(worker)
    assert worker.batched_stream.interval == 0.0005
    plugin.teardown(worker)
    assert worker.batched_stream.interval == 0.002
    with pytest.raises(AttributeError, match=r"Worker\.batched_stream"):
        plugin.setup(type("Worker", (), {})())


# ---------------------------------------------------------------------- on a real cluster


def streams(client: Client) -> dict[str, Any]:
    """Each stream's interval, read where it lives; with the plugin names present."""

    def on_scheduler(dask_scheduler: Any, client_id: str) -> dict[str, Any]:
        workers = dask_scheduler.workers
        return {
            "to_workers": {
                str(workers[a].name): s.interval for a, s in dask_scheduler.stream_comms.items()
            },
            "to_client": dask_scheduler.client_comms[client_id].interval,
            "plugins": sorted(n for n in dask_scheduler.plugins if n.startswith("runtime-alloc")),
            "worker_plugins": sorted(
                n for n in dask_scheduler.worker_plugins if n.startswith("runtime-alloc")
            ),
        }

    def on_worker(dask_worker: Any) -> tuple[str, float, list[str]]:
        plugins = sorted(n for n in dask_worker.plugins if n.startswith("runtime-alloc"))
        return str(dask_worker.name), dask_worker.batched_stream.interval, plugins

    read = client.run_on_scheduler(on_scheduler, client_id=client.id)
    answers = client.run(on_worker).values()
    read["from_workers"] = {name: interval for name, interval, _ in answers}
    read["worker_plugins_held"] = sorted({p for _, _, plugins in answers for p in plugins})
    read["client"] = client.scheduler_comm.interval
    return read


def expect(value: float, names: list[str]) -> dict[str, Any]:
    return {
        "client": value,
        "to_client": value,
        "to_workers": dict.fromkeys(names, value),
        "from_workers": dict.fromkeys(names, value),
    }


def intervals(read: dict[str, Any]) -> dict[str, Any]:
    return {k: read[k] for k in ("client", "to_client", "to_workers", "from_workers")}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[DaskScheduler, list[DaskWorker], Client]]:
    scheduler = DaskScheduler(tmp_path)
    workers = [DaskWorker(scheduler.address, "d1", 2, tmp_path)]
    client = Client(scheduler.address, set_as_default=False)
    try:
        wait_until(lambda: len(client.scheduler_info()["workers"]) == 1, 60, "the worker")
        yield scheduler, workers, client
    finally:
        client.close()
        for worker in workers:
            worker.close()
        scheduler.close()


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_every_stream_reads_the_interval_also_for_a_late_worker_and_close_restores(
    cluster: tuple[DaskScheduler, list[DaskWorker], Client], tmp_path: Path
) -> None:
    scheduler, workers, client = cluster
    assert intervals(streams(client)) == expect(0, ["d1"]) | {
        k: (dict.fromkeys(["d1"], v) if k in ("to_workers", "from_workers") else v)
        for k, v in DEFAULTS.items()
    }
    engine = DaskEngine(client, RUNNERS, comm_interval=0.0005)
    ex = Executor(engine, Allocator(strategy=MaxPackingStrategy())).open()
    try:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 1, 60, "d1 joined")
        assert intervals(streams(client)) == expect(0.0005, ["d1"])
        workers.append(DaskWorker(scheduler.address, "d3", 2, tmp_path))  # joins after open
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 2, 60, "d3 joined")
        wait_until(lambda: len(client.scheduler_info()["workers"]) == 2, 60, "d3 registered")
        read = streams(client)
        assert intervals(read) == expect(0.0005, ["d1", "d3"])
        assert len(read["plugins"]) == 2  # the relay and the intervals
        assert len(read["worker_plugins_held"]) == 2  # the intervals and the completion relay
        # tasks still run end to end, where the allocator put them
        handles = [
            ex.submit(f"t{i}", functools.partial(payloads.pid_after, 0.05), "cpu=1")
            for i in range(40)
        ]
        assert ex.wait(60)
        assert all(h.state is TaskState.SUCCESS for h in handles)
        pids = {w.name: w.process.pid for w in workers}
        assert all(h.result == pids[str(h.runner)] for h in handles)
        assert {h.runner for h in handles} == {"d1", "d3"}
    finally:
        ex.close()
    read = streams(client)
    assert read["plugins"] == []  # the relay and the intervals' plugin are gone
    assert read["worker_plugins"] == []
    assert read["worker_plugins_held"] == []
    assert intervals(read) == {
        k: (dict.fromkeys(["d1", "d3"], v) if k in ("to_workers", "from_workers") else v)
        for k, v in DEFAULTS.items()
    }


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_client_streams_only_set_the_engines_client_and_close_restores(
    cluster: tuple[DaskScheduler, list[DaskWorker], Client],
) -> None:
    _, workers, client = cluster
    before = intervals(streams(client))
    ex = Executor(DaskEngine(client, RUNNERS, comm_interval=0, comm_streams="client")).open()
    try:
        wait_until(lambda: len(ex.allocator.snapshot().runners) == 1, 60, "d1 joined")
        read = streams(client)
        assert intervals(read) == before | {"client": 0, "to_client": 0}
        assert len(read["plugins"]) == 2  # the relay and the intervals
        assert len(read["worker_plugins"]) == 1  # the completion relay only
        handles = [ex.submit(f"t{i}", payloads.pid_after, "cpu=1") for i in range(10)]
        assert ex.wait(60)
        assert {h.result for h in handles} == {workers[0].process.pid}
    finally:
        ex.close()
    read = streams(client)
    assert intervals(read) == before
    assert read["plugins"] == read["worker_plugins"] == read["worker_plugins_held"] == []


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_failing_worker_setup_fails_open_and_changes_nothing(
    cluster: tuple[DaskScheduler, list[DaskWorker], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, client = cluster
    before = streams(client)

    def broken(name: str, interval: float) -> Any:
        plugin = worker_comm_intervals(name, interval)
        plugin.setup = lambda worker: worker.no_such_stream  # raises on the worker
        return plugin

    monkeypatch.setattr(dask_comms, "worker_comm_intervals", broken)
    engine = DaskEngine(client, RUNNERS, comm_interval=0)
    with pytest.raises(AttributeError, match="no_such_stream"):
        engine.open(lambda events: None)
    assert streams(client) == before
    assert engine._intervals is None
