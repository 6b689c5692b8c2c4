"""Task payloads for the engine tests (importable by worker processes)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def pid_after(seconds: float = 0.0) -> int:
    time.sleep(seconds)
    return os.getpid()


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def interval(log: str, name: str, seconds: float) -> int:
    """Record [start, end] of the run in ``log`` (one line per run); return the pid."""
    start = time.time()
    # written under another name, then renamed: a reader that sees the marker sees the pid
    # (a plain write_text creates the file empty first, which a watcher could read)
    partial = Path(log, f"{name}.start.{os.getpid()}")
    partial.write_text(str(os.getpid()))
    partial.replace(Path(log, f"{name}.start"))
    time.sleep(seconds)
    with Path(log, "intervals").open("a") as out:
        out.write(f"{name} {os.getpid()} {start} {time.time()}\n")
    return os.getpid()


def most_overlapping(log: str) -> int:
    """The most runs recorded in ``log`` that were running at the same moment."""
    rows = [line.split() for line in Path(log, "intervals").read_text().splitlines()]
    # at equal times an end sorts before a start (-1 < 1): touching runs do not overlap
    events = sorted([(float(r[2]), 1) for r in rows] + [(float(r[3]), -1) for r in rows])
    most = now = 0
    for _, delta in events:
        now += delta
        most = max(most, now)
    return most


def value(result: object) -> object:
    """Return ``result`` (a task whose result is given)."""
    return result


class Unloadable:
    """A result that pickles in the worker and fails to unpickle (its rebuild raises)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return fail, ("cannot load",)
