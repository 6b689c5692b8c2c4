"""The discrete-event simulator: tasks arrive, wait FIFO, run, and release their reservation.

Events at one instant are handled in this order: completions release their
reservations (with completion state ``success``), arrivals join the tail of the
queue, then the queue is served strictly first-in first-out: the head is offered
to the allocator until it does not fit, and nothing overtakes it (no
backfilling). A task that no runner could ever hold, even empty, is counted
unschedulable on arrival and never queued.

Every metric is exact for the piecewise-constant state between two events; see
``docs/cli.md`` for the definitions.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Sequence

from runtime_alloc.allocator import Allocator
from runtime_alloc.errors import AllocationError, InvalidArgumentError
from runtime_alloc.resources import BUILTIN_DIMENSIONS, Resources
from runtime_alloc.runners import Runner
from runtime_alloc.simulation._fleet import FleetMirror, vector
from runtime_alloc.simulation.accounting import Clock
from runtime_alloc.simulation.result import SimulationResult, Timeline
from runtime_alloc.simulation.tasks import SimTask
from runtime_alloc.strategies import Strategy

__all__ = ["ProgressCallback", "dimensions_of", "simulate"]

#: Called now and then with (tasks arrived so far, tasks in the workload).
ProgressCallback = Callable[[int, int], None]


def dimensions_of(tasks: Sequence[SimTask], runners: Sequence[Runner]) -> tuple[str, ...]:
    """Return cpu, memory, slots and every extended name in the fleet or the requests, sorted.

    Runtime complexity: O(T + N + E log E) for T tasks, N runners and E extended names.
    """
    extended: set[str] = set()
    for runner in runners:
        extended.update(runner.capacity.extended)
    for task in tasks:
        extended.update(task.request.extended)
    return BUILTIN_DIMENSIONS + tuple(sorted(extended))


def _why_unschedulable(allocator: Allocator, task: SimTask) -> str:
    """The allocator's reason why no runner could ever hold ``task`` (kube-scheduler style).

    Asks :meth:`Allocator.allocate`, which raises the diagnosis; the workload check
    already found that no runner could hold the task even when empty. O(N).
    """
    try:
        reservation = allocator.allocate(task.task_id, task.request, require=task.require)
    except AllocationError as exc:
        detail = ", ".join(f"{n} {reason}" for reason, n in exc.reasons.items())
        return f"0/{exc.runners_total} runners: {detail or 'no runners'}"
    allocator.release(reservation.task_id)  # pragma: no cover - the check above rules it out
    msg = f"task {task.task_id!r} was found unschedulable but the allocator placed it"
    raise AssertionError(msg)  # pragma: no cover


class _WaitingMin:
    """Componentwise minimum of the queued requests (a monotonic deque per dimension)."""

    def __init__(self, dims: int) -> None:
        self.queues: list[deque[tuple[int, int]]] = [deque() for _ in range(dims)]

    def push(self, seq: int, vector: Sequence[int]) -> None:
        for q, amount in zip(self.queues, vector, strict=True):
            while q and q[-1][0] >= amount:
                q.pop()
            q.append((amount, seq))

    def pop(self, seq: int) -> None:
        for q in self.queues:
            if q and q[0][1] == seq:
                q.popleft()

    def value(self) -> list[int]:
        return [q[0][0] for q in self.queues]


def simulate(
    tasks: Sequence[SimTask],
    runners: Sequence[Runner],
    strategy: Strategy,
    *,
    backend: str = "auto",
    samples: int = 0,
    progress: ProgressCallback | None = None,
) -> SimulationResult:
    """Run ``tasks`` on ``runners`` with ``strategy`` and measure what happens.

    Args:
        tasks: the workload, in any order (served by submit time, then input order).
        runners: the fleet, in registration order.
        strategy: the placement strategy.
        backend: passed to :class:`~runtime_alloc.Allocator`.
        samples: when > 0, record a :class:`Timeline` with about this many
            evenly spaced per-runner samples (for plots).
        progress: called now and then with (tasks arrived, tasks in total).

    Returns:
        The :class:`SimulationResult`.

    Raises:
        InvalidArgumentError: duplicate task ids, a request the allocator rejects,
            or a bad backend.

    Runtime complexity: O(T * N) allocator work for T tasks on N runners, plus
    O(T * log N) bookkeeping, plus O(in-use runners) per event while tasks wait.

    >>> from runtime_alloc import MaxPackingStrategy, Runner
    >>> tasks = [SimTask(f"t{k}", 0.0, 10.0, Resources(slots=1)) for k in range(3)]
    >>> r = simulate(tasks, [Runner.parse("a", "slots=2"), Runner.parse("b", "slots=2")],
    ...              MaxPackingStrategy())
    >>> r.placed, r.peak_runners_in_use, r.mean_wait_s
    (3, 2, 0.0)
    """
    dims = dimensions_of(tasks, runners)
    extended = dims[3:]
    seen: set[str] = set()
    for task in tasks:
        if task.task_id in seen:
            msg = f"task_id {task.task_id!r} appears twice in the workload"
            raise InvalidArgumentError(msg)
        seen.add(task.task_id)
    allocator = Allocator(runners, strategy=strategy, backend=backend)
    for task in tasks:  # reject what the allocator would refuse before anything runs
        if not 1 <= task.request.slots <= allocator.max_task_slots:
            msg = (
                f"task {task.task_id!r} asks for {task.request.slots} slots; "
                f"a task takes 1 to {allocator.max_task_slots}"
            )
            raise InvalidArgumentError(msg)
    fleet = FleetMirror(runners, dims)
    max_caps = [max((c[d] for c in fleet.caps), default=0) for d in range(len(dims))]
    order = sorted(range(len(tasks)), key=lambda k: (tasks[k].submit, k))
    vectors = [vector(t.request, extended) for t in tasks]
    fits_ever: dict[tuple[Resources, frozenset[str]], bool] = {}
    never_fit: dict[tuple[Resources, frozenset[str]], str] = {}  # the reason, per request
    unschedulable_tasks: list[tuple[str, str]] = []
    span_start = tasks[order[0]].submit if tasks else 0.0
    span_hint = max((t.submit + t.duration for t in tasks), default=0.0) - span_start
    clock = Clock(fleet, max_caps, samples, span_hint)
    waiting = _WaitingMin(len(dims))
    queue: deque[int] = deque()
    running: list[tuple[float, int, int, int]] = []  # (end, seq, task, runner)
    waits: list[float] = []
    unschedulable = decisions = 0
    busy_seconds = 0.0
    now = span_start
    arrived = seq = steps = 0
    total = len(tasks)
    try_allocate = allocator.try_allocate
    release = allocator.release
    perf = time.perf_counter
    while arrived < total or running:
        t_next = min(
            tasks[order[arrived]].submit if arrived < total else math.inf,
            running[0][0] if running else math.inf,
        )
        clock.advance(now, t_next, waiting.value() if queue else None)
        now = t_next
        while running and running[0][0] == now:
            _, _, k, i = heapq.heappop(running)
            release(tasks[k].task_id, "success")
            fleet.change(i, vectors[k], -1)
        while arrived < total and tasks[order[arrived]].submit == now:
            k = order[arrived]
            arrived += 1
            task = tasks[k]
            key = (task.request, task.require)
            ok = fits_ever.get(key)
            if ok is None:
                ok = any(
                    task.require <= r.labels and task.request.fits_within(r.capacity)
                    for r in runners
                )
                fits_ever[key] = ok
            if not ok:
                unschedulable += 1
                reason = never_fit.get(key)
                if reason is None:
                    reason = never_fit[key] = _why_unschedulable(allocator, task)
                unschedulable_tasks.append((task.task_id, reason))
                continue
            queue.append(k)
            waiting.push(k, vectors[k])
        while queue:
            k = queue[0]
            task = tasks[k]
            started = perf()
            reservation = try_allocate(task.task_id, task.request, require=task.require)
            busy_seconds += perf() - started
            decisions += 1
            if reservation is None:
                break
            queue.popleft()
            waiting.pop(k)
            i = fleet.index[reservation.runner]
            fleet.change(i, vectors[k], 1)
            waits.append(now - task.submit)
            seq += 1
            heapq.heappush(running, (now + task.duration, seq, k, i))
        steps += 1
        if progress is not None and steps % 512 == 0:
            progress(arrived, total)
    if queue:  # pragma: no cover - a schedulable head always fits the empty fleet
        msg = f"{len(queue)} tasks were left waiting on an empty fleet"
        raise AssertionError(msg)
    if progress is not None:
        progress(total, total)
    timeline = None
    if clock.record:
        timeline = Timeline(
            times=(*clock.times, now),
            runners_in_use=(*clock.counts, 0),
            utilization={dim: (*clock.utils[d], math.nan) for d, dim in enumerate(dims)},
            sample_times=tuple(clock.sample_times),
            runner_names=tuple(r.name for r in runners),
            runner_share=tuple(clock.shares),
        )
    return clock.result(
        span_start,
        now,
        waits,
        strategy=strategy.name,
        backend=allocator.backend,
        tasks=total,
        unschedulable=unschedulable,
        unschedulable_tasks=tuple(unschedulable_tasks),
        decisions=decisions,
        allocator_seconds=busy_seconds,
        timeline=timeline,
    )
