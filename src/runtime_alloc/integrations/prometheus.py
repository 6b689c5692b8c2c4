"""Expose an allocator's metrics to Prometheus through ``prometheus_client``.

Install the extra ``runtime_alloc[prometheus]`` and register one collector per
allocator; each scrape calls :meth:`runtime_alloc.Allocator.metrics` once::

    from prometheus_client import REGISTRY, start_http_server
    from runtime_alloc.integrations.prometheus import AllocatorCollector

    REGISTRY.register(AllocatorCollector(allocator))
    start_http_server(9100)

Values are in base units, as Prometheus recommends: cpu in cores, memory in
bytes, slots and extended resources as counts.

=============================================  =======  ===========================
metric                                         type     labels
=============================================  =======  ===========================
``runtime_alloc_allocations_total``            counter
``runtime_alloc_allocation_failures_total``    counter  ``reason``
``runtime_alloc_releases_total``               counter  ``state`` (completion state)
``runtime_alloc_evictions_total``              counter
``runtime_alloc_tasks_running``                gauge
``runtime_alloc_runners``                      gauge
``runtime_alloc_runners_in_use``               gauge
``runtime_alloc_runners_draining``             gauge
``runtime_alloc_reserved``                     gauge    ``dimension``
``runtime_alloc_capacity``                     gauge    ``dimension``
``runtime_alloc_utilization``                  gauge    ``dimension``
``runtime_alloc_runner_tasks``                 gauge    ``runner``
``runtime_alloc_runner_reserved``              gauge    ``runner``, ``dimension``
``runtime_alloc_runner_capacity``              gauge    ``runner``, ``dimension``
``runtime_alloc_runner_utilization``           gauge    ``runner``, ``dimension``
=============================================  =======  ===========================

The per-runner families can be turned off with ``per_runner=False`` for very
large fleets (they cost O(N * dimensions) samples per scrape).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as error:  # pragma: no cover - exercised by the missing-extra test
    msg = (
        "runtime_alloc.prometheus needs prometheus_client: pip install 'runtime_alloc[prometheus]'"
    )
    raise ImportError(msg) from error

from runtime_alloc.allocator import Allocator
from runtime_alloc.metrics import DimensionUsage

__all__ = ["AllocatorCollector"]


def _base_unit(dimension: str, amount: int) -> float:
    """Convert millicpu to cores; every other dimension is already in its base unit."""
    return amount / 1000 if dimension == "cpu" else float(amount)


class AllocatorCollector(Collector):
    """A ``prometheus_client`` collector for one :class:`~runtime_alloc.Allocator`.

    Args:
        allocator: the allocator to report.
        namespace: the metric name prefix.
        per_runner: also report per-runner families.
        const_labels: labels added to every sample (for example ``{"pool": "etl"}``).

    Runtime complexity: one ``allocator.metrics()`` call, O(N * dimensions), per scrape.

    >>> from prometheus_client import CollectorRegistry
    >>> from runtime_alloc import Allocator, Runner
    >>> alloc = Allocator([Runner.parse("w1", "cpu=4,memory=8Gi")])
    >>> _ = alloc.allocate("t1", "cpu=1")
    >>> registry = CollectorRegistry()
    >>> registry.register(AllocatorCollector(alloc))
    >>> registry.get_sample_value("runtime_alloc_reserved", {"dimension": "cpu"})
    1.0
    >>> registry.get_sample_value("runtime_alloc_allocations_total")
    1.0
    """

    def __init__(
        self,
        allocator: Allocator,
        *,
        namespace: str = "runtime_alloc",
        per_runner: bool = True,
        const_labels: dict[str, str] | None = None,
    ) -> None:
        self._allocator = allocator
        self._namespace = namespace
        self._per_runner = per_runner
        self._const = dict(const_labels or {})

    def describe(self) -> list[Metric]:
        """Describe nothing up front: families depend on the fleet's dimensions. O(1)."""
        return []

    def _name(self, name: str) -> str:
        return f"{self._namespace}_{name}"

    def _gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(self._name(name), doc, labels=[*self._const, *labels])

    def _counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
        return CounterMetricFamily(self._name(name), doc, labels=[*self._const, *labels])

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families of one ``allocator.metrics()`` call.

        Runtime complexity: one ``allocator.metrics()`` (O(N) under the allocator's lock) plus
        O(dimensions + counter labels) families, and O(N * dimensions) samples when per-runner
        series are on.
        """
        m = self._allocator.metrics()
        const = list(self._const.values())

        allocations = self._counter("allocations", "Successful placements.")
        allocations.add_metric(const, float(m.allocations))
        yield allocations
        failures = self._counter("allocation_failures", "Failed placements.", ("reason",))
        for reason, count in m.failures.items():
            failures.add_metric([*const, reason], float(count))
        yield failures
        releases = self._counter("releases", "Releases by completion state.", ("state",))
        for state, count in m.releases.items():
            releases.add_metric([*const, state], float(count))
        yield releases
        evictions = self._counter("evictions", "Reservations evicted by remove_runner(force).")
        evictions.add_metric(const, float(m.evictions))
        yield evictions

        for name, doc, value in (
            ("tasks_running", "Reservations held now.", m.tasks_running),
            ("runners", "Runners registered.", m.runners),
            ("runners_in_use", "Runners holding at least one reservation.", m.runners_in_use),
            ("runners_draining", "Runners taking no new placements.", m.runners_draining),
        ):
            gauge = self._gauge(name, doc)
            gauge.add_metric(const, float(value))
            yield gauge

        yield from self._usage("", "Fleet-wide", {(): m.fleet})
        if self._per_runner:
            tasks = self._gauge("runner_tasks", "Reservations held by a runner.", ("runner",))
            for runner in m.per_runner:
                tasks.add_metric([*const, runner.name], float(runner.tasks))
            yield tasks
            yield from self._usage(
                "runner_", "Per-runner", {(r.name,): r.usage for r in m.per_runner}
            )

    def _usage(
        self, prefix: str, scope: str, usage: Mapping[tuple[str, ...], Mapping[str, DimensionUsage]]
    ) -> Iterator[Metric]:
        labels = ("runner", "dimension") if prefix else ("dimension",)
        reserved = self._gauge(f"{prefix}reserved", f"{scope} reserved (cpu in cores).", labels)
        capacity = self._gauge(f"{prefix}capacity", f"{scope} capacity (cpu in cores).", labels)
        ratio = self._gauge(f"{prefix}utilization", f"{scope} reserved / capacity.", labels)
        const = list(self._const.values())
        for key, dims in usage.items():
            for dimension, u in dims.items():
                values = [*const, *key, dimension]
                reserved.add_metric(values, _base_unit(dimension, u.reserved))
                capacity.add_metric(values, _base_unit(dimension, u.capacity))
                ratio.add_metric(values, u.utilization)
        yield reserved
        yield capacity
        yield ratio
