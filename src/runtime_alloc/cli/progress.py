"""A progress bar on stderr that appears only on a terminal and only after the first second."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

__all__ = ["DelayedProgress"]


class DelayedProgress:
    """Callable progress sink for :func:`runtime_alloc.simulation.simulate`.

    Shows a rich progress bar on ``stream`` (default stderr) once a run has taken
    more than ``delay`` seconds, and only when ``stream`` is a terminal.
    """

    def __init__(
        self, description: str, *, stream: IO[str] | None = None, delay: float = 1.0
    ) -> None:
        self._description = description
        self._stream = sys.stderr if stream is None else stream
        self._delay = delay
        self._start = time.monotonic()
        self._enabled = bool(getattr(self._stream, "isatty", lambda: False)())
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        """Update the bar (created after the delay, on a terminal only)."""
        if not self._enabled:
            return
        if self._progress is None:
            if time.monotonic() - self._start < self._delay:
                return
            from rich.console import Console  # noqa: PLC0415 (optional dependency)
            from rich.progress import Progress  # noqa: PLC0415

            self._progress = Progress(console=Console(file=self._stream), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=total)
        self._progress.update(self._task, completed=done, total=total)

    def __enter__(self) -> DelayedProgress:  # noqa: PYI034 (final class)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
