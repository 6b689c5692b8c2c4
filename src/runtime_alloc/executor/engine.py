"""The :class:`Engine` protocol: what an executor needs from a real task runner.

An engine runs a payload on a named runner and reports back. It needs four
methods; everything else (queueing, placement, retries, bookkeeping) is the
executor's.

Threading rules:

* The executor calls :meth:`Engine.open`, :meth:`Engine.start`,
  :meth:`Engine.cancel` and :meth:`Engine.close` while holding its lock, so they
  must return promptly and must not wait for an event to be handled.
* ``sink`` (the callable given to ``open``) may be called from any thread, at
  any time, also from inside ``start`` or ``cancel`` on the calling thread
  (the executor queues such re-entrant events and handles them after the call).
* ``sink`` takes one event, or a ``list`` of events that it handles in order as
  one batch (one lock acquisition and one scan of the queue for all of them): an
  engine that collects completions on a thread of its own delivers what has
  piled up in one call.
* ``sink`` never raises for a late, duplicate or unknown event; it raises
  :class:`~runtime_alloc.errors.InvalidArgumentError` for a value that is not an
  event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from runtime_alloc.executor.events import Event

__all__ = ["Engine", "EventSink"]

EventSink = Callable[[Event | list[Event]], None]
"""Where an engine sends its events, one or a list at a time (the executor's ``deliver``)."""


@runtime_checkable
class Engine(Protocol):
    """Runs attempts of tasks on runners and reports what happens."""

    def open(self, sink: EventSink) -> None:
        """Connect, then report every runner already online with ``RunnerJoined``.

        Cost: the executor calls it under its lock, so an implementation should return within its
        connection timeout (Celery waits up to 30 s for its event receiver) and deliver the joins
        through ``sink``, from any thread: O(runners online) events.
        """

    def start(self, task_id: str, attempt: int, runner: str, payload: Any) -> bool | None:  # noqa: ANN401
        """Start ``payload`` as attempt ``attempt`` of ``task_id`` on ``runner``.

        Cost: the executor calls it under its lock once per attempt, so an implementation must not
        block on the task: one queue put, one publish or one submit, O(1) on the calling thread.

        Report ``TaskStarted`` (optional) and exactly one ``TaskFinished`` for the
        attempt later. Returning True instead of a ``TaskStarted`` says the
        attempt is running as the call returns (the executor records the move
        to ``running`` at once, without an event); None or False says nothing.
        Raising means the attempt could not be started: the executor fails the
        task with the exception's text.
        """

    def cancel(self, task_id: str, attempt: int, runner: str) -> None:
        """Stop the attempt if it still runs (best effort); no event is needed.

        Cost: called under the executor's lock; an implementation should be non-blocking, O(1) plus
        one message (a revoke or a cancel request) on the calling thread.
        """

    def close(self) -> None:
        """Release the engine's resources; no event is delivered afterwards.

        Cost: called under the executor's lock; an implementation should return promptly (about a
        second to join its threads), O(1) work on the calling thread.
        """
