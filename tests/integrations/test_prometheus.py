"""The Prometheus collector reports what Allocator.metrics() says, in base units."""

from __future__ import annotations

import subprocess
import sys

from prometheus_client import CollectorRegistry, generate_latest

from runtime_alloc import Allocator, EvenSpreadStrategy, Runner
from runtime_alloc.integrations.prometheus import AllocatorCollector


def make() -> tuple[Allocator, CollectorRegistry]:
    alloc = Allocator(
        [Runner.parse("w1", "cpu=4,memory=8Gi,gpu=2"), Runner.parse("w2", "cpu=4,memory=8Gi")],
        strategy=EvenSpreadStrategy(),
    )
    registry = CollectorRegistry()
    registry.register(AllocatorCollector(alloc, const_labels={"pool": "etl"}))
    return alloc, registry


def test_counters_and_gauges_follow_the_allocator() -> None:
    alloc, registry = make()
    alloc.allocate("a", "cpu=1.5,memory=1Gi,gpu=1")
    alloc.allocate("b", "cpu=500m")
    alloc.release("b", state="upstream_failed")
    alloc.try_allocate("c", "cpu=64")
    alloc.drain_runner("w2")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"pool": "etl", **labels})

    assert value("runtime_alloc_allocations_total") == 2
    assert value("runtime_alloc_allocation_failures_total", reason="unschedulable") == 1
    assert value("runtime_alloc_releases_total", state="upstream_failed") == 1
    assert value("runtime_alloc_tasks_running") == 1
    assert value("runtime_alloc_runners") == 2
    assert value("runtime_alloc_runners_in_use") == 1
    assert value("runtime_alloc_runners_draining") == 1
    # base units: cpu in cores, memory in bytes
    assert value("runtime_alloc_reserved", dimension="cpu") == 1.5
    assert value("runtime_alloc_capacity", dimension="cpu") == 8.0
    assert value("runtime_alloc_reserved", dimension="memory") == 2**30
    assert value("runtime_alloc_utilization", dimension="gpu") == 0.5
    assert value("runtime_alloc_runner_tasks", runner="w1") == 1
    assert value("runtime_alloc_runner_reserved", runner="w1", dimension="gpu") == 1
    assert value("runtime_alloc_runner_utilization", runner="w1", dimension="cpu") == 1.5 / 4
    # a second scrape sees a later state
    alloc.release("a")
    assert value("runtime_alloc_tasks_running") == 0
    assert value("runtime_alloc_releases_total", state="success") == 1


def test_exposition_text_and_per_runner_switch() -> None:
    alloc, registry = make()
    alloc.allocate("a")
    text = generate_latest(registry).decode()
    assert "# TYPE runtime_alloc_allocations_total counter" in text
    assert 'runtime_alloc_runner_tasks{pool="etl",runner="w1"} 1.0' in text
    small = CollectorRegistry()
    small.register(AllocatorCollector(alloc, per_runner=False, namespace="pool"))
    text = generate_latest(small).decode()
    assert "pool_tasks_running 1.0" in text
    assert "runner_" not in text


def test_missing_extra_gives_a_clear_import_error() -> None:
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "try:\n    import runtime_alloc.prometheus\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'runtime_alloc[prometheus]'" in out.stdout


def test_old_import_path_is_the_same_collector() -> None:
    import runtime_alloc.prometheus as old
    from runtime_alloc.integrations import prometheus as new

    assert old.AllocatorCollector is new.AllocatorCollector
    assert old.__all__ == new.__all__ == ["AllocatorCollector"]
