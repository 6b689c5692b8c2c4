"""The error a workload or fleet file reader raises: it names the file and the line."""

from __future__ import annotations

from pathlib import Path

from runtime_alloc.errors import InvalidArgumentError

__all__ = ["InputFileError"]


class InputFileError(InvalidArgumentError):
    """A trace or fleet file is malformed; the message names the file, the line and the value.

    Attributes:
        path: the file.
        line: the 1-based line number, or None when the problem is the whole file.
    """

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {message}")
