"""Expose allocator and executor metrics as OpenTelemetry observable instruments.

Install the extra ``runtime_alloc[otel]`` (``opentelemetry-api`` only; the SDK
and exporter are yours) and register once per allocator or executor::

    from opentelemetry import metrics
    from runtime_alloc.otel import register_metrics

    register_metrics(metrics.get_meter("etl-pool"), executor)

The instruments carry the same figures as the Prometheus collector
(:mod:`runtime_alloc.prometheus`), in base units (cpu in cores, memory in
bytes), plus the executor's when ``source`` is an
:class:`~runtime_alloc.executor.Executor`:

==========================================  =================  ===================
instrument                                  kind               attributes
==========================================  =================  ===================
``runtime_alloc.allocations``               counter
``runtime_alloc.allocation_failures``       counter            ``reason``
``runtime_alloc.releases``                  counter            ``state``
``runtime_alloc.evictions``                 counter
``runtime_alloc.tasks_running``             gauge
``runtime_alloc.runners``                   gauge              ``status`` (all, in_use, draining)
``runtime_alloc.reserved``                  gauge              ``dimension``
``runtime_alloc.capacity``                  gauge              ``dimension``
``runtime_alloc.utilization``               gauge              ``dimension``
``runtime_alloc.executor.submitted``        counter
``runtime_alloc.executor.retries``          counter
``runtime_alloc.executor.runner_changes``   counter            ``change`` (joined, left, lost)
``runtime_alloc.executor.queue_length``     gauge
``runtime_alloc.executor.tasks``            gauge              ``state``
``runtime_alloc.executor.wait``             gauge (seconds)    ``stat`` (max, mean, p50, p90, p99)
``runtime_alloc.executor.waits``            counter            (placements counted in ``wait``)
==========================================  =================  ===================

``metrics()`` is computed once per collection: the first instrument's callback
computes it and the others read that value (a collection runs every callback of
a meter in registration order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

try:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
except ImportError as error:  # pragma: no cover - exercised without the extra
    msg = "runtime_alloc.otel needs opentelemetry-api: pip install 'runtime_alloc[otel]'"
    raise ImportError(msg) from error

from runtime_alloc.allocator import Allocator
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.metrics import Metrics

__all__ = ["register_metrics"]

_Reader = Callable[[Any], Iterable[tuple[float, dict[str, str]]]]


def _base_unit(dimension: str, amount: int) -> float:
    return amount / 1000 if dimension == "cpu" else float(amount)


def _labelled(get: Callable[[], Any], label: str, **fields: str) -> _Reader:
    """One observation per metrics field, labelled ``{label: key}`` (``key=field`` in order)."""
    return lambda _: [(getattr(get(), field), {label: key}) for key, field in fields.items()]


def _allocator_instruments(get: Callable[[], Metrics]) -> list[tuple[str, str, str, _Reader]]:
    def one(value: Callable[[Metrics], float]) -> _Reader:
        return lambda _: [(value(get()), {})]

    def per_dimension(field: str) -> _Reader:
        def read(_: Any) -> list[tuple[float, dict[str, str]]]:  # noqa: ANN401
            out = []
            for dimension, usage in get().fleet.items():
                amount = getattr(usage, field)
                value = amount if field == "utilization" else _base_unit(dimension, amount)
                out.append((float(value), {"dimension": dimension}))
            return out

        return read

    return [
        ("counter", "runtime_alloc.allocations", "placements", one(lambda m: m.allocations)),
        (
            "counter",
            "runtime_alloc.allocation_failures",
            "failed placements by reason",
            lambda _: [(n, {"reason": r}) for r, n in get().failures.items()],
        ),
        (
            "counter",
            "runtime_alloc.releases",
            "releases by completion state",
            lambda _: [(n, {"state": s}) for s, n in get().releases.items()],
        ),
        ("counter", "runtime_alloc.evictions", "evicted reservations", one(lambda m: m.evictions)),
        (
            "gauge",
            "runtime_alloc.tasks_running",
            "reservations held",
            one(lambda m: m.tasks_running),
        ),
        (
            "gauge",
            "runtime_alloc.runners",
            "runners",
            _labelled(
                get, "status", all="runners", in_use="runners_in_use", draining="runners_draining"
            ),
        ),
        ("gauge", "runtime_alloc.reserved", "reserved, fleet-wide", per_dimension("reserved")),
        ("gauge", "runtime_alloc.capacity", "capacity, fleet-wide", per_dimension("capacity")),
        ("gauge", "runtime_alloc.utilization", "reserved / capacity", per_dimension("utilization")),
    ]


def _executor_instruments(get: Callable[[], Any]) -> list[tuple[str, str, str, _Reader]]:
    return [
        (
            "counter",
            "runtime_alloc.executor.submitted",
            "tasks submitted",
            lambda _: [(get().submitted, {})],
        ),
        (
            "counter",
            "runtime_alloc.executor.retries",
            "evicted tasks queued again",
            lambda _: [(get().retries, {})],
        ),
        (
            "counter",
            "runtime_alloc.executor.runner_changes",
            "runners that joined, left or were lost",
            _labelled(
                get, "change", joined="runners_joined", left="runners_left", lost="runners_lost"
            ),
        ),
        (
            "gauge",
            "runtime_alloc.executor.queue_length",
            "pending tasks",
            lambda _: [(get().queue_length, {})],
        ),
        (
            "gauge",
            "runtime_alloc.executor.tasks",
            "tasks by state",
            lambda _: [(n, {"state": s}) for s, n in get().tasks.items()],
        ),
        (
            "gauge",
            "runtime_alloc.executor.wait",
            "queue wait in seconds",
            lambda _: [
                (getattr(get().wait, stat), {"stat": stat})
                for stat in ("max", "mean", "p50", "p90", "p99")
            ],
        ),
        (
            "counter",
            "runtime_alloc.executor.waits",
            "placements with a recorded wait",
            lambda _: [(get().wait.count, {})],
        ),
    ]


def register_metrics(meter: Meter, source: Any) -> list[Any]:  # noqa: ANN401
    """Create observable instruments on ``meter`` that report ``source``.

    Args:
        meter: an OpenTelemetry meter.
        source: an :class:`~runtime_alloc.Allocator` or an
            :class:`~runtime_alloc.executor.Executor`.

    Returns:
        The instruments created.

    Raises:
        InvalidArgumentError: ``source`` is neither.

    Runtime complexity: per collection, one ``metrics()`` call (O(N * dimensions),
    plus O(tasks) for an executor).
    """
    from runtime_alloc.executor import Executor  # noqa: PLC0415

    if not isinstance(source, (Allocator, Executor)):
        msg = f"source must be an Allocator or an Executor, got {source!r}"
        raise InvalidArgumentError(msg)
    cache: dict[str, Any] = {}

    def refresh(_: Any) -> None:  # noqa: ANN401
        cache["metrics"] = source.metrics()

    def current() -> Any:  # noqa: ANN401
        if "metrics" not in cache:
            cache["metrics"] = source.metrics()
        return cache["metrics"]

    if isinstance(source, Executor):
        specs = _allocator_instruments(lambda: current().allocator)
        specs += _executor_instruments(current)
    else:
        specs = _allocator_instruments(current)

    def callback(
        read: _Reader, *, first: bool
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            if first:
                refresh(options)  # a new collection: compute metrics() once
            return [Observation(value, attributes) for value, attributes in read(options)]

        return observe

    instruments = []
    for index, (kind, name, description, read) in enumerate(specs):
        make = (
            meter.create_observable_counter if kind == "counter" else meter.create_observable_gauge
        )
        instruments.append(
            make(name, callbacks=[callback(read, first=index == 0)], description=description)
        )
    return instruments
