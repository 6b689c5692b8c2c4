"""The dispatcher loop of an engine with a thread of its own: queued events to the sink."""

from __future__ import annotations

import queue
from collections.abc import Callable

from runtime_alloc.executor.engine import EventSink
from runtime_alloc.executor.events import Event

__all__ = ["dispatch"]


def dispatch(
    events: queue.SimpleQueue[Event | None],
    sink: Callable[[], EventSink | None],
    after: Callable[[], None] | None = None,
) -> None:
    """Deliver ``events`` until a None arrives, each time all that piled up as one list.

    One list is one call of the sink: the executor handles it under one lock
    acquisition with one scan of its queue, instead of one of each per event.
    ``sink()`` gives the current sink (None once the engine closed: the batch
    is dropped). ``after()`` runs after each delivery (the engine sends the tasks
    the executor started during it). Runs on the engine's one dispatcher thread
    (the only reader).

    Runtime complexity: O(1) per event.
    """
    while True:
        item = events.get()
        batch: list[Event] = []
        while item is not None:
            batch.append(item)
            if events.empty():
                break
            item = events.get()
        target = sink()
        if batch and target is not None:
            target(batch)
            if after is not None:
                after()
        if item is None:
            return
