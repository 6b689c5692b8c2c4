"""The real-time loop of ``runtime-alloc run``: submit at scaled arrival times, show a live view."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

import attrs

from runtime_alloc.allocator import Allocator
from runtime_alloc.cli._common import UsageError
from runtime_alloc.executor import Executor, TaskHandle
from runtime_alloc.runners import Runner
from runtime_alloc.simulation.tasks import SimTask

__all__ = ["RunOutcome", "drive"]

_TICK_S = 0.25
_SHOWN_RUNNERS = 24


@attrs.frozen
class RunOutcome:
    """What a real run left: tasks and handles in submit order, clock, executor metrics."""

    tasks: tuple[SimTask, ...]
    handles: tuple[TaskHandle, ...]
    start: float
    scale: float
    metrics: dict[str, Any]


def _view(ex: Executor, started: float, submitted: int, total: int) -> Any:  # noqa: ANN401
    from rich.table import Table  # noqa: PLC0415 (optional dependency)

    metrics = ex.metrics()
    tasks = metrics.tasks
    table = Table(
        title=(
            f"{time.time() - started:6.1f} s  submitted {submitted}/{total}  "
            f"queue {metrics.queue_length}  running {tasks['placed'] + tasks['running']}  "
            f"done {tasks['success']}  failed {tasks['failed']}  lost {tasks['lost']}  "
            f"retries {metrics.retries}"
        ),
        title_justify="left",
    )
    table.add_column("runner")
    table.add_column("tasks", justify="right")
    for dimension in ("cpu", "memory", "slots"):
        table.add_column(dimension, justify="right")
    for runner in metrics.allocator.per_runner[:_SHOWN_RUNNERS]:
        cells = []
        for dimension in ("cpu", "memory", "slots"):
            usage = runner.usage.get(dimension)
            cells.append("" if usage is None else f"{usage.utilization:4.0%}")
        table.add_row(runner.name, str(runner.tasks), *cells)
    hidden = len(metrics.allocator.per_runner) - _SHOWN_RUNNERS
    if hidden > 0:
        table.add_row(f"... {hidden} more", "", "", "", "")
    return table


def drive(
    tasks: Sequence[SimTask],
    runners: Sequence[Runner],
    engine: Any,  # noqa: ANN401
    allocator: Allocator,
    payload: Callable[[float], Any],
    *,
    duration: float,
    max_retries: int,
    live: bool,
    join_timeout: float,
    stream: IO[str] | None = None,
) -> RunOutcome:
    """Run ``tasks`` through an executor on ``engine`` in (scaled) real time.

    Raises:
        UsageError: when the engine's runners do not all join within ``join_timeout``.

    Runtime complexity: the workload's scaled span in real time, plus O(N) per view refresh.
    """
    order = sorted(range(len(tasks)), key=lambda k: (tasks[k].submit, k))
    ordered = tuple(tasks[k] for k in order)
    origin = ordered[0].submit if ordered else 0.0
    span = max((t.submit + t.duration for t in ordered), default=0.0) - origin
    scale = duration / span if span > 0 else 1.0
    out = sys.stderr if stream is None else stream
    show = live and bool(getattr(out, "isatty", lambda: False)())
    ex = Executor(engine, allocator, max_retries=max_retries)
    ex.open()
    handles: list[TaskHandle] = []
    try:
        wanted = {r.name for r in runners}
        deadline = time.monotonic() + join_timeout
        while (joined := {s.name for s in ex.allocator.snapshot().runners}) < wanted:
            if time.monotonic() > deadline:
                missing = ", ".join(sorted(wanted - joined)[:10])
                msg = (
                    f"runners did not join the {type(engine).__name__} within {join_timeout:g} s "
                    f"(missing: {missing}); start one worker per runner (docs/executor.md)"
                )
                raise UsageError(msg)
            time.sleep(0.05)
        start = time.time()
        live_view: Any = None
        if show:
            from rich.console import Console  # noqa: PLC0415
            from rich.live import Live  # noqa: PLC0415

            live_view = Live(
                _view(ex, start, 0, len(ordered)), console=Console(file=out), auto_refresh=False
            )
            live_view.start()
        next_view = 0.0
        try:
            for task in ordered:
                due = start + (task.submit - origin) * scale
                while (now := time.time()) < due:
                    time.sleep(min(due - now, _TICK_S))
                    if live_view is not None and now >= next_view:
                        live_view.update(_view(ex, start, len(handles), len(ordered)), refresh=True)
                        next_view = now + _TICK_S
                handles.append(
                    ex.submit(
                        task.task_id,
                        payload(task.duration * scale),
                        task.request,
                        require=task.require,
                    )
                )
            while not ex.wait(_TICK_S):
                if live_view is not None:
                    live_view.update(_view(ex, start, len(handles), len(ordered)), refresh=True)
        finally:
            if live_view is not None:
                live_view.update(_view(ex, start, len(handles), len(ordered)), refresh=True)
                live_view.stop()
        metrics = ex.metrics().to_dict()
    finally:
        ex.close()
    return RunOutcome(ordered, tuple(handles), start, scale, metrics)
