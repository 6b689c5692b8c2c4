"""The pending queue: priority, then submit order, with bounded backfill.

The rule (docs/executor.md, "Queue and backfill"):

1. Pending tasks are ordered by ``priority`` (higher first), then by submit
   order (``seq``; a task evicted from a lost runner keeps its original place).
2. A scan walks the queue in that order and tries to place each task.
3. A task that does not fit is *blocked*; later tasks may still be placed
   (backfill). Each such placement counts one *overtake* for every blocked
   task ahead of it.
4. A blocked task whose overtakes reached ``max_overtakes`` *holds its place*:
   the scan stops at it, so nothing behind it is placed until it is.

Hence the bound: a task is overtaken by tasks behind it at most
``max_overtakes`` times (tasks of higher priority, which are ahead of it, never
count). ``max_overtakes=0`` is strict order without backfill. The property test
``tests/property/test_executor_core.py`` checks the bound on random workloads.

A new task is admitted without a scan: between scans every queued task is
blocked or behind a holder (capacity grows only by a release, a join or an
undrain, and each triggers a scan), so only the new task needs trying, unless
a holder is ahead of it.

Within one scan, and between scans, free capacity only shrinks, so a request
that did not fit is not tried again until the next scan (the queue remembers
each (request, labels) pair that failed, its *misfits*), and a scan stops once
every (request, labels) pair still queued failed: a scan costs O(tasks scanned
+ distinct requests x cost of one decision), not O(Q) per release.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable, Iterator, Sequence

from runtime_alloc.executor.tasks import TaskHandle

__all__ = ["Outcome", "PendingQueue"]


class Outcome(enum.Enum):
    """What trying to place one task gave."""

    PLACED = "placed"  # it holds a reservation now; leave the queue
    BLOCKED = "blocked"  # it may fit later; stay
    DROPPED = "dropped"  # it failed for good (unschedulable); leave the queue


def _key(task: TaskHandle) -> tuple[int, int]:
    return (-task.priority, task.seq)


class Shape:
    """What decides whether a task fits: its request and its required labels.

    Interned by the queue (equal pairs are one object while the intern table
    holds them), so the sets and counters of a scan hash it by identity
    instead of hashing the request's fields at every look-up.
    """

    __slots__ = ("request", "require")

    def __init__(self, request: object, require: frozenset[str]) -> None:
        self.request = request
        self.require = require

    def __repr__(self) -> str:
        return f"Shape({self.request!r}, {sorted(self.require)!r})"


INTERNED = 65_536
"""The most distinct shapes interned at once; the table starts afresh past it.

A task keeps its shape object, so after a fresh start two objects may stand
for one pair: the queue then tries that pair once more than needed, never less.
"""


class PendingQueue:
    """Pending tasks in placement order; not thread-safe (the executor's lock guards it).

    Besides the order, the queue keeps how many queued tasks have each shape
    (request and labels) and the *misfits*: the shapes tried without success
    since the last scan. Capacity only shrinks between scans (every growth
    triggers one), so a misfit is not tried again until the next scan, and a
    scan ends as soon as every shape still queued is a misfit (the tasks
    after that point could only be skipped).

    Args:
        max_overtakes: the most later tasks that may be placed ahead of a
            blocked task before it holds its place (>= 0).
    """

    def __init__(self, max_overtakes: int) -> None:
        self.max_overtakes = max_overtakes
        self._keys: list[tuple[int, int]] = []
        self._tasks: dict[tuple[int, int], TaskHandle] = {}
        self._holders: list[tuple[int, int]] = []  # keys of tasks with overtakes >= max_overtakes
        self._shapes: dict[Shape, int] = {}  # queued tasks per shape
        self._misfits: set[Shape] = set()  # shapes that did not fit since the last scan
        self._interned: dict[tuple[object, frozenset[str]], Shape] = {}
        self._last: Shape | None = None  # the shape interned last

    def shape(self, task: TaskHandle) -> Shape:
        """The task's interned :class:`Shape` (made on first use, then kept on the task). O(1)."""
        shape: Shape | None = task._shape  # noqa: SLF001
        if shape is None:
            request, require = task.request, task.require
            last = self._last  # tasks of one request text share one parsed object: no hashing
            if last is not None and last.request is request and last.require is require:
                shape = last
            else:
                pair = (request, require)
                shape = self._interned.get(pair)
                if shape is None:
                    if len(self._interned) >= INTERNED:
                        self._interned.clear()
                    shape = self._interned[pair] = Shape(request, require)
                self._last = shape
            task._shape = shape  # noqa: SLF001
        return shape

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[TaskHandle]:
        """The pending tasks in placement order."""
        return (self._tasks[key] for key in self._keys)

    def __contains__(self, task: TaskHandle) -> bool:
        return self._tasks.get(_key(task)) is task

    def push(self, task: TaskHandle) -> None:
        """Insert a task at its place, without trying it. O(Q) (a list insert)."""
        key = _key(task)
        bisect.insort(self._keys, key)
        self._tasks[key] = task
        shape = self.shape(task)
        self._shapes[shape] = self._shapes.get(shape, 0) + 1
        if task.overtakes >= self.max_overtakes:
            bisect.insort(self._holders, key)

    def remove(self, task: TaskHandle) -> None:
        """Take a task out (cancelled). O(Q)."""
        key = _key(task)
        del self._keys[bisect.bisect_left(self._keys, key)]
        self._forget(key, task)
        if task.overtakes >= self.max_overtakes:
            del self._holders[bisect.bisect_left(self._holders, key)]

    def _forget(self, key: tuple[int, int], task: TaskHandle) -> None:
        del self._tasks[key]
        shape = self.shape(task)
        left = self._shapes[shape] - 1
        if left:
            self._shapes[shape] = left
        else:
            del self._shapes[shape]

    def admit(self, task: TaskHandle, attempt: Callable[[TaskHandle], Outcome]) -> Outcome:
        """Try a new task by the rule without scanning the queue; queue it when blocked.

        Valid between scans (see the module docstring). The task is tried
        unless a holder is ahead of it or its shape did not fit since the last
        scan; when it is placed, every queued task ahead of it counts one overtake.

        Runtime complexity: O(log Q) plus one decision when the queue holds no
        task ahead of it; O(Q) when it is queued or overtakes.
        """
        key = _key(task)
        shape = self.shape(task)
        if (self._holders and self._holders[0] < key) or shape in self._misfits:
            self.push(task)
            return Outcome.BLOCKED
        outcome = attempt(task)
        if outcome is Outcome.BLOCKED:
            self._misfits.add(shape)
            self.push(task)
        elif outcome is Outcome.PLACED:
            limit = self.max_overtakes
            for ahead_key in self._keys[: bisect.bisect_left(self._keys, key)]:
                ahead = self._tasks[ahead_key]
                ahead.overtakes += 1
                if ahead.overtakes == limit:
                    bisect.insort(self._holders, ahead_key)
        return outcome

    def scan(
        self, attempt: Callable[[TaskHandle], Outcome], freed: Sequence[object] | None = None
    ) -> int:
        """Try to place pending tasks by the backfill rule; return how many were placed.

        ``attempt`` places one task (or finds it blocked or failed); the queue
        calls it in placement order and keeps the overtake counts. Call it
        whenever capacity grew, also on an empty queue.

        Args:
            attempt: places one task.
            freed: what changed since the last scan: None for anything (a
                runner joined, left, was drained or undrained: every misfit is
                tried again, also for a verdict of unschedulable), else the
                requests of the tasks released since (empty when nothing grew).
                When every one of the k releases was of a misfit's own request,
                the misfit is a misfit again once placed k times: it did not fit
                anywhere before, the releases added capacity only where they
                happened, and k placements of the same request take it all back.
                Any other release (a larger request frees room for a smaller one)
                lifts that bound: the misfit is tried until it is blocked.

        Runtime complexity: O(tasks scanned + distinct requests tried x one decision +
        placed x blocked); the scan stops at a holder or once every shape still
        queued did not fit, so a release behind a queue of one shape costs O(1)
        tasks and one decision, not O(Q).
        """
        old, self._misfits = self._misfits, set()
        keys = self._keys
        if not keys:
            return 0
        shapes = self._shapes
        failed: set[Shape] = set()  # shapes known not to fit now, each with a queued task
        budget: dict[Shape, int] = {}  # misfits that may fit again that many times
        if freed is not None and old:
            # Every release of the same request (compared by identity first: the tasks of
            # one request text share one parsed object)? Then only its misfits get a budget.
            first = freed[0] if freed else None
            alike = first is not None and all(r is first or r == first for r in freed)
            for shape in old:
                if shape in shapes:
                    if first is None:
                        failed.add(shape)  # nothing grew: it still does not fit
                    elif alike and (shape.request is first or shape.request == first):
                        budget[shape] = len(freed)  # only its own request was released
        blocked: list[tuple[tuple[int, int], TaskHandle]] = []
        kept: list[tuple[int, int]] = []
        gone: set[tuple[int, int]] = set()
        reached: list[tuple[int, int]] = []  # keys whose overtakes reached the limit
        placed = 0
        index = 0
        limit = self.max_overtakes
        while index < len(keys) and len(failed) < len(shapes):
            key = keys[index]
            index += 1
            task = self._tasks[key]
            shape = task._shape or self.shape(task)  # noqa: SLF001 (queued: set by push)
            outcome = Outcome.BLOCKED if shape in failed else attempt(task)
            if outcome is Outcome.BLOCKED:
                failed.add(shape)
                kept.append(key)
                blocked.append((key, task))
                if task.overtakes >= limit:
                    break  # it holds its place: nothing behind it is placed
                continue
            self._forget(key, task)
            gone.add(key)
            if outcome is Outcome.PLACED:
                placed += 1
                if shape in budget:
                    budget[shape] -= 1
                    if not budget[shape] and shape in shapes:
                        failed.add(shape)  # the released capacity is taken back
                held = False
                for ahead_key, ahead in blocked:
                    ahead.overtakes += 1
                    if ahead.overtakes == limit:
                        reached.append(ahead_key)
                    held = held or ahead.overtakes >= limit
                if held:
                    break
        self._misfits = failed
        if gone:
            keys[:index] = kept  # one move of the tail, no copy of the queue
        if reached or (gone and self._holders):
            holders = [key for key in self._holders if key not in gone]
            self._holders = sorted(holders + reached)
        return placed
