"""Task states and the :class:`TaskHandle` an executor returns from ``submit``.

A task moves ``pending -> placed -> running -> success | failed | cancelled | lost``.
An eviction (its runner left or died) sends a placed or running task back to
``pending`` until it has been retried ``max_retries`` times, then to ``lost``.
Every move is recorded with its timestamp in :attr:`TaskHandle.history`.
"""

from __future__ import annotations

import enum
import threading
from typing import Any

import attrs

from runtime_alloc.resources import Resources

__all__ = ["TERMINAL_STATES", "Submission", "TaskHandle", "TaskState", "Transition"]


class TaskState(str, enum.Enum):
    """Where a task is in its life cycle."""

    PENDING = "pending"
    PLACED = "placed"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    def __str__(self) -> str:
        return self.value


TERMINAL_STATES = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.CANCELLED, TaskState.LOST}
)
"""The states a task never leaves."""

ACTIVE_STATES = frozenset({TaskState.PLACED, TaskState.RUNNING})
"""The states in which a task holds a reservation."""

_WAITERS = threading.Lock()  # guards the lazily made events of TaskHandle.wait


@attrs.frozen
class Transition:
    """One move of a task: the state it entered, when, and on which runner.

    Attributes:
        state: the state entered.
        at: the executor clock's time of the move (``time.time()`` by default).
        runner: the runner for ``placed`` / ``running`` / completion moves, else None.
        attempt: the attempt number (1 for the first placement) or 0 before any.
    """

    state: TaskState
    at: float
    runner: str | None = None
    attempt: int = 0


@attrs.define(eq=False)
class Submission:
    """What ``submit`` was given, the fields a :class:`TaskHandle` and a snapshot's task share.

    Attributes:
        task_id: the id given to ``submit`` (also the allocator's reservation id).
        payload: what the engine runs; the executor never looks inside.
        request: the normalized request.
        require: the labels a runner must have.
        priority: higher runs first; ties by submit order.
        seq: the submit order (the queue's tie-breaker).
    """

    task_id: str
    payload: Any
    request: Resources
    require: frozenset[str]
    priority: int
    seq: int


@attrs.define(eq=False)
class TaskHandle(Submission):
    """A submitted task, as the executor sees it; read it from any thread.

    Only the executor changes a handle (under its lock); each attribute is
    replaced whole, so a reader never sees a half-made value. :meth:`wait`
    blocks until the task reaches a terminal state.

    Attributes:
        task_id, payload, request, require, priority, seq: as submitted (:class:`Submission`).
        state: the current :class:`TaskState`.
        runner: the runner of the current or last placement.
        attempt: the number of placements so far.
        retries: how many times an eviction sent it back to the queue.
        overtakes: how many later tasks were placed while it waited (backfill).
        error: the failure or loss reason, else None.
        result: what the engine reported on success, else None.
        history: every move, oldest first.
    """

    state: TaskState = TaskState.PENDING
    runner: str | None = None
    attempt: int = 0
    retries: int = 0
    overtakes: int = 0
    error: str | None = None
    result: Any = None
    history: tuple[Transition, ...] = ()
    _finished: threading.Event | None = attrs.field(default=None, repr=False)
    _shape: Any = attrs.field(default=None, init=False, repr=False)  # the queue's Shape

    def done(self) -> bool:
        """Whether the task reached a terminal state. O(1)."""
        return self.state in TERMINAL_STATES

    def wait(self, timeout: float | None = None) -> TaskState:
        """Block until the task is terminal or ``timeout`` seconds pass; return its state. O(1)."""
        state = self.state
        if state in TERMINAL_STATES:
            return state  # no event needed: a terminal state never changes
        with _WAITERS:  # the event is made on first wait: most handles are never waited on
            if self._finished is None:
                self._finished = threading.Event()
                if self.done():
                    self._finished.set()
            finished = self._finished
        finished.wait(timeout)
        return self.state

    def time_of(self, state: TaskState | str) -> float | None:
        """The time the task last entered ``state``, or None. O(len(history))."""
        wanted = TaskState(state)
        for move in reversed(self.history):
            if move.state is wanted:
                return move.at
        return None

    def _move(self, state: TaskState, at: float, runner: str | None = None) -> None:
        self.state = state
        self.history = (*self.history, Transition(state, at, runner, self.attempt))
        if state in TERMINAL_STATES:
            # No lock: wait() sets _finished before it reads state, this sets state before it
            # reads _finished, so at least one of the two sees the other's write.
            finished = self._finished
            if finished is not None:
                finished.set()
