"""The executor submits device requests and label ORs as the allocator reads them."""

from __future__ import annotations

import json

import pytest

from runtime_alloc import Allocator, InvalidResourcesError, Runner
from runtime_alloc.executor import Executor, ExecutorSnapshot, TaskState
from tests.executor.test_core import Recorder


def make() -> tuple[Executor, Recorder]:
    runners = [
        Runner.parse("t4", "cpu=8", ["T4"], devices={"gpu": 2}),
        Runner.parse("a100", "cpu=8", ["A100"], devices={"gpu": 2}),
    ]
    engine = Recorder()
    return Executor(engine, Allocator(runners, backend="python")).open(), engine


def test_submit_reads_device_kinds_in_devices_and_require_any():
    executor, engine = make()
    handle = executor.submit("a", "p", "cpu=1,gpu=500m", require_any=["A100", "V100"])
    assert handle.state is TaskState.PLACED
    assert handle.runner == "a100"
    assert engine.started == [("a", 1, "a100", "p")]
    assert handle.request.extended["gpu"] == 500
    whole = executor.submit("b", "p", {"gpu": "2"})
    assert whole.request.extended["gpu"] == 2000
    with pytest.raises(InvalidResourcesError, match="gpu must be a share of one device"):
        executor.submit("c", "p", "gpu=1.5")


def test_executor_snapshot_keeps_require_any():
    executor, _ = make()
    executor.submit("x", "p", "gpu=2", require_any=["A100"])
    executor.submit("y", "p", "gpu=2", require_any=["A100"])  # waits: a100 is full
    snap = executor.snapshot()
    data = json.loads(json.dumps(snap.to_dict()))
    records = {r["task_id"]: r for r in data["tasks"]}
    assert records["y"]["require_any"] == ["A100"]
    assert ExecutorSnapshot.from_dict(data) == snap
