"""What a ``LocalEngine`` worker runs: batches of payloads, each skipped once cancelled.

Kept apart from the engine so that a worker process imports only this. A worker
process (:func:`serve`) reads one pickled batch at a time from a pipe, runs it
with :func:`run_batch` and writes the outcomes back on another; a worker thread
calls :func:`run_batch` itself. Each task of a batch has a *slot* in a byte
array shared with the engine, which ``cancel`` sets to 1 so the worker skips
the task if it has not started it yet.

Both ends frame their messages themselves (:func:`write_frame`, :class:`Frames`:
an 8-byte length, then the pickle) on the pipes' file descriptors: one system
call per message read (and all the messages that have arrived), where a
``Connection.recv`` makes two.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import time
from collections.abc import Callable, MutableSequence, Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

__all__ = ["SKIPPED", "Frames", "Outcomes", "dumps", "run_batch", "serve", "write_frame"]

SKIPPED = 2
"""The outcome code of a task that was cancelled before the worker came to it."""

Outcomes = tuple[list[tuple[int, Any]], float]
"""Per task ``(code, value)`` in the batch's order, and the payloads' running seconds."""


_HEADER = struct.Struct("<Q")
_READ = 1 << 14  # bytes read at once (below malloc's mmap threshold: no mmap per read)


def dumps(value: object) -> bytes | memoryview:
    """Pickle ``value`` (with multiprocessing's reducers where plain pickle fails). O(size)."""
    try:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 (a type only multiprocessing's pickler knows, or an error)
        return ForkingPickler.dumps(value)


def write_frame(fd: int, data: bytes | memoryview) -> None:
    """Write one message (its length, then ``data``) to ``fd``. O(len(data)).

    Raises:
        OSError: the other end is closed.
    """
    size = len(data)
    if size < _READ:  # one write
        view = memoryview(_HEADER.pack(size) + data)
    else:
        os.write(fd, _HEADER.pack(size))
        view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Frames:
    """The messages arriving on one file descriptor, cut out of what has been read."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = bytearray()

    def read(self, fd: int) -> list[bytes] | None:
        """Read once from ``fd``; the whole messages now in (maybe none), None at its end.

        Runtime complexity: O(bytes read) plus one system call.

        Raises:
            OSError: reading failed.
        """
        chunk = os.read(fd, _READ)
        if not chunk:
            return None
        buffer = self.buffer
        if not buffer and len(chunk) >= 8 and _HEADER.unpack_from(chunk)[0] + 8 == len(chunk):
            return [chunk[8:]]  # exactly one message: the usual case
        buffer += chunk
        frames: list[bytes] = []
        start, size = 0, len(buffer)
        while size - start >= 8:
            end = start + 8 + _HEADER.unpack_from(buffer, start)[0]
            if end > size:
                break
            frames.append(bytes(buffer[start + 8 : end]))
            start = end
        del buffer[:start]
        return frames


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
        return dumps(outcomes)
    mended: list[tuple[int, Any]] = []
    for code, value in outcomes[0]:
        if code == 1:
            try:
                dumps(value)
            except Exception as error:  # noqa: BLE001
                mended.append((0, repr(error)))
                continue
        mended.append((code, value))
    return dumps((mended, outcomes[1]))


def serve(source: Connection, sink: Connection, flags: MutableSequence[int]) -> None:
    """A worker process's loop: batch in, outcomes out, until None, end of file or a broken pipe.

    Runtime complexity: O(1) per batch plus :func:`run_batch` and the pickling.
    """
    fd, out, frames = source.fileno(), sink.fileno(), Frames()
    while True:
        try:
            messages = frames.read(fd)
        except OSError:
            return
        if messages is None:  # the engine closed its end
            return
        for message in messages:
            items = pickle.loads(message)  # noqa: S301 (from the engine that started us)
            if items is None:  # stop
                return
            data = encode_outcomes(run_batch(items, flags))
            try:
                write_frame(out, data)
            except OSError:  # the engine is gone
                return
