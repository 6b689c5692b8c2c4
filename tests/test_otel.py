"""OpenTelemetry observable instruments, collected by the real SDK's in-memory reader."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk.metrics", reason="opentelemetry-sdk is not installed")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from runtime_alloc import Allocator, InvalidArgumentError, Runner
from runtime_alloc.executor import Executor, TaskFinished
from runtime_alloc.otel import register_metrics


class Null:
    def open(self, sink): ...
    def start(self, task_id, attempt, runner, payload): ...
    def cancel(self, task_id, attempt, runner): ...
    def close(self): ...


def collect(reader: InMemoryMetricReader) -> dict[tuple[str, tuple], float]:
    data = reader.get_metrics_data()
    out = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    out[(metric.name, tuple(sorted(point.attributes.items())))] = point.value
    return out


def test_executor_metrics_as_observable_instruments(monkeypatch) -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    ex = Executor(Null(), Allocator([Runner.parse("w1", "cpu=2,memory=1Gi")])).open()
    calls = []
    original = ex.metrics
    monkeypatch.setattr(ex, "metrics", lambda: calls.append(1) or original())
    register_metrics(meter, ex)
    ex.submit("a", None, "cpu=2")
    ex.submit("b", None, "cpu=1")
    values = collect(reader)
    assert len(calls) == 1  # metrics() once per collection
    assert values[("runtime_alloc.executor.queue_length", ())] == 1
    assert values[("runtime_alloc.executor.tasks", (("state", "pending"),))] == 1
    assert values[("runtime_alloc.reserved", (("dimension", "cpu"),))] == 2.0  # cores
    assert values[("runtime_alloc.capacity", (("dimension", "memory"),))] == 2**30  # bytes
    assert values[("runtime_alloc.utilization", (("dimension", "cpu"),))] == 1.0
    ex.deliver(TaskFinished("a", 1, "success"))
    values = collect(reader)
    assert len(calls) == 2
    assert values[("runtime_alloc.releases", (("state", "success"),))] == 1
    assert values[("runtime_alloc.allocations", ())] == 2
    assert values[("runtime_alloc.executor.submitted", ())] == 2
    assert values[("runtime_alloc.executor.waits", ())] == 2
    assert values[("runtime_alloc.runners", (("status", "in_use"),))] == 1


def test_allocator_source_and_bad_source() -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    alloc = Allocator([Runner.parse("w1", "cpu=4")])
    alloc.allocate("t", "cpu=1")
    register_metrics(meter, alloc)
    assert collect(reader)[("runtime_alloc.tasks_running", ())] == 1
    with pytest.raises(InvalidArgumentError, match="source must be an Allocator or an Executor"):
        register_metrics(meter, object())
