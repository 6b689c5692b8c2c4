"""What a ``LocalEngine`` worker runs: batches of payloads, each skipped once cancelled.

Kept apart from the engine so that a worker process imports only this. A worker
process (:func:`serve`) reads one pickled batch at a time from its end of a
duplex pipe, runs it with :func:`run_batch` and writes the outcomes back on the
same pipe; a worker thread calls :func:`run_batch` itself. Each task of a batch
has a *slot* in a byte array shared with the engine, which ``cancel`` sets to 1
so the worker skips the task if it has not started it yet.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, MutableSequence, Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

__all__ = ["SKIPPED", "Outcomes", "run_batch", "serve"]

SKIPPED = 2
"""The outcome code of a task that was cancelled before the worker came to it."""

Outcomes = tuple[list[tuple[int, Any]], float]
"""Per task ``(code, value)`` in the batch's order, and the payloads' running seconds."""


def run_batch(
    items: Sequence[tuple[int, Callable[[], Any]]], flags: MutableSequence[int]
) -> Outcomes:
    """Run each ``(slot, payload)`` in order unless its slot in ``flags`` is set.

    An outcome is ``(1, result)``, ``(0, repr(error))`` for a payload that raised
    (any ``BaseException``), or ``(SKIPPED, None)``. The seconds are the
    payloads' running time.

    Runtime complexity: O(len(items)) plus the payloads.
    """
    outcomes: list[tuple[int, Any]] = []
    start = time.perf_counter()
    for slot, payload in items:
        if flags[slot]:
            outcomes.append((SKIPPED, None))
            continue
        try:
            result = payload()
        except BaseException as error:  # noqa: BLE001 (the payload's failure, reported)
            outcomes.append((0, repr(error)))
        else:
            outcomes.append((1, result))
    return outcomes, time.perf_counter() - start


def encode_outcomes(outcomes: Outcomes) -> bytes | memoryview:
    """Pickle ``outcomes``; a result that cannot be pickled fails its own task only.

    Runtime complexity: O(size of the results); twice that when one fails.
    """
    with contextlib.suppress(Exception):  # else find the culprits: each one fails alone
        return ForkingPickler.dumps(outcomes)
    mended: list[tuple[int, Any]] = []
    for code, value in outcomes[0]:
        if code == 1:
            try:
                ForkingPickler.dumps(value)
            except Exception as error:  # noqa: BLE001
                mended.append((0, repr(error)))
                continue
        mended.append((code, value))
    return ForkingPickler.dumps((mended, outcomes[1]))


def serve(conn: Connection, flags: MutableSequence[int]) -> None:
    """A worker process's loop: batch in, outcomes out, until None, end of file or a broken pipe.

    Runtime complexity: O(1) per batch plus :func:`run_batch` and the pickling.
    """
    while True:
        try:
            items = conn.recv()
        except (EOFError, OSError):  # the engine closed its end
            return
        if items is None:  # stop
            return
        data = encode_outcomes(run_batch(items, flags))
        try:
            conn.send_bytes(data)
        except OSError:  # the engine is gone
            return
