"""The dispatcher loop the local and Dask engines share: queued events to the sink, in batches."""

from __future__ import annotations

import queue
from collections.abc import Callable

from runtime_alloc.executor.engine import EventSink
from runtime_alloc.executor.events import Event

__all__ = ["dispatch"]


def dispatch(events: queue.SimpleQueue[Event | None], sink: Callable[[], EventSink | None]) -> None:
    """Deliver ``events`` until a None arrives, each time all that piled up as one list.

    One list is one call of the sink: the executor handles it under one lock
    acquisition with one scan of its queue, instead of one of each per event.
    ``sink()`` gives the current sink (None once the engine closed: the batch
    is dropped). Runs on the engine's one dispatcher thread (the only reader).

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
        if item is None:
            return
