"""Shared helpers of the file readers: rows with line numbers, and errors that name them."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from runtime_alloc.errors import RuntimeAllocError
from runtime_alloc.resources import check_dimension_name
from runtime_alloc.traces.errors import InputFileError

__all__ = ["ascii_text", "cell", "header", "non_negative_int", "number", "rows", "sized"]

T = TypeVar("T")


def rows(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, cells)`` for each non-empty CSV record of ``path``.

    A UTF-8 byte order mark before the header is skipped.

    Raises:
        InputFileError: when the file cannot be opened, is not UTF-8 (naming the line and
            the byte offset of the first bad byte) or is not valid CSV.
    """
    try:
        handle = Path(path).open(newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise InputFileError(path, None, f"cannot be read: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            for record in reader:
                if record and any(c.strip() for c in record):
                    yield reader.line_num, [c.strip() for c in record]
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        except csv.Error as exc:
            raise InputFileError(path, reader.line_num, f"is not valid CSV: {exc}") from None


def _not_utf8(path: str | Path) -> InputFileError:
    """The error for a file that is not UTF-8, at the line of its first bad byte.

    The text decoder reads ahead in blocks, so the CSV reader's line count lags behind
    the bad byte; this scans the bytes again, one line at a time (O(file size)).
    """
    offset = 0
    try:
        with Path(path).open("rb") as raw:
            for line, data in enumerate(raw, start=1):
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    where = offset + exc.start
                    msg = f"is not UTF-8 text (byte offset {where}: {exc.reason})"
                    return InputFileError(path, line, msg)
                offset += len(data)
    except OSError as exc:
        return InputFileError(path, None, f"cannot be read: {exc.strerror or exc}")
    return InputFileError(path, None, "is not UTF-8 text")


def header(
    path: str | Path,
    records: Iterator[tuple[int, list[str]]],
    *,
    required: Sequence[str],
    known: Collection[str],
    example: str,
) -> tuple[int, list[str]]:
    """Read and check a generic CSV header: required columns present, none twice.

    Columns outside ``known`` are extended resources and must be valid resource names.

    Raises:
        InputFileError: naming the line and what is wrong with the header.
    """
    first = next(records, None)
    if first is None:
        raise InputFileError(path, None, f"is empty; expected a header {example},...")
    line, names = first
    missing = [name for name in required if name not in names]
    if missing:
        noun = "column" if len(required) == 1 else "column(s)"
        msg = f"header lacks {noun} {', '.join(missing)}; got {','.join(names)}"
        raise InputFileError(path, line, msg)
    if len(set(names)) != len(names):
        raise InputFileError(path, line, f"header names a column twice: {','.join(names)}")
    for name in names:
        if name not in known:
            cell(path, line, name, name, lambda n: check_dimension_name(n, field="column name"))
    return line, names


def sized(
    path: str | Path, records: Iterator[tuple[int, list[str]]], header: list[str]
) -> Iterator[tuple[int, list[str]]]:
    """Yield the records after the header, each checked to have one cell per column.

    Raises:
        InputFileError: naming the line whose cell count differs from the header's.
    """
    for line, values in records:
        if len(values) != len(header):
            msg = f"has {len(values)} cells, the header has {len(header)}"
            raise InputFileError(path, line, msg)
        yield line, values


def cell(path: str | Path, line: int, column: str, text: str, parse: Callable[[str], T]) -> T:
    """Parse one cell; a failure becomes an :class:`InputFileError` naming line and column."""
    try:
        return parse(text)
    except (RuntimeAllocError, ValueError) as exc:
        message = str(exc)
        own = isinstance(exc, RuntimeAllocError) or ", got " in message
        detail = message if own else f"must be a number, got {text!r}"
        raise InputFileError(path, line, f"column {column!r}: {detail}") from None


def ascii_text(text: str) -> str:
    """Return ``text`` when it may be a number in the ASCII grammar, else raise ValueError.

    ``int``, ``float`` and ``Decimal`` also read full-width, Arabic-Indic and other
    Unicode digits and ``_`` separators; the quantity parsers do not, and neither do
    the readers.

    >>> ascii_text("12.5")
    '12.5'
    >>> ascii_text("\u0661\u0662")
    Traceback (most recent call last):
    ...
    ValueError: must be a number in ASCII digits, got '١٢'
    """
    if not text.isascii() or "_" in text:
        msg = f"must be a number in ASCII digits, got {text!r}"
        raise ValueError(msg)
    return text


def non_negative_int(text: str, rule: str = "an integer >= 0") -> int:
    """Parse an integer >= 0 in ASCII digits; a negative one is ``must be {rule}``. O(len(text))."""
    value = int(ascii_text(text))
    if value < 0:
        msg = f"must be {rule}, got {text!r}"
        raise ValueError(msg)
    return value


def number(text: str) -> float:
    """Parse a finite, non-negative number of seconds (or a plain quantity) in ASCII."""
    value = float(ascii_text(text))
    if not math.isfinite(value) or value < 0:
        msg = f"must be a finite number >= 0, got {text!r}"
        raise ValueError(msg)
    return value
