"""What a ``LocalEngine`` pool runs: a batch of payloads, each skipped once cancelled.

Kept apart from the engine so that a worker process imports only this to run a
batch. The engine hands a pool one work item per batch (several placed tasks
that would otherwise wait in the pool's queue) instead of one per task; each
task of a batch has a *slot* in a byte array shared with the engine, which
``cancel`` sets to 1 so the worker skips the task if it has not started it yet.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, MutableSequence, Sequence
from typing import Any

__all__ = ["SKIPPED", "init_worker", "run_batch"]

SKIPPED = 2
"""The outcome code of a task that was cancelled before the worker came to it."""

_PLAIN = (type(None), bool, int, float, str, bytes)  # results that always pickle

_flags: MutableSequence[int] | None = None  # this worker process's cancel slots


def init_worker(flags: MutableSequence[int]) -> None:
    """Pool initializer of a process pool: remember the shared cancel slots."""
    global _flags  # noqa: PLW0603 (one per worker process, set once)
    _flags = flags


def run_batch(
    items: Sequence[tuple[int, Callable[[], Any]]],
    flags: MutableSequence[int] | None = None,
    check_pickle: bool = False,
) -> tuple[list[tuple[int, Any]], float]:
    """Run each ``(slot, payload)`` in order unless its slot is set; outcomes and seconds.

    An outcome is ``(1, result)``, ``(0, repr(error))`` for a payload that raised
    (any ``BaseException``, as a pool reports it), or ``(SKIPPED, None)``. With
    ``check_pickle`` (a process pool), a result that cannot be pickled fails its
    own task instead of the whole batch. ``flags`` defaults to the process's
    slots (:func:`init_worker`). The seconds are the payloads' running time.

    Runtime complexity: O(len(items)) plus the payloads.
    """
    slots = _flags if flags is None else flags
    assert slots is not None  # noqa: S101 (set by init_worker in a process pool)
    outcomes: list[tuple[int, Any]] = []
    start = time.perf_counter()
    for slot, payload in items:
        if slots[slot]:
            outcomes.append((SKIPPED, None))
            continue
        try:
            result = payload()
            if check_pickle and type(result) not in _PLAIN:
                pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
        except BaseException as error:  # noqa: BLE001 (the payload's failure, reported)
            outcomes.append((0, repr(error)))
        else:
            outcomes.append((1, result))
    return outcomes, time.perf_counter() - start
