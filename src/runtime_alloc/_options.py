"""The option grammar: integer and real options (command-line flags, trace columns).

Options follow the quantity grammar's text rules (:mod:`runtime_alloc._text`:
ASCII digits, ASCII spaces around, at most 64 characters) but raise
:class:`~runtime_alloc.errors.InvalidArgumentError`, since an option is not a
resource quantity.
"""

from __future__ import annotations

import math
import re

from runtime_alloc._text import _NUMBER, MAX_QUANTITY, _fullmatch, _read_int, _rule_error
from runtime_alloc.errors import InvalidArgumentError

__all__ = ["parse_integer", "parse_number"]

_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_REAL_RE = re.compile(rf"[+-]?{_NUMBER}(?:[eE][+-]?[0-9]+)?")


def parse_integer(
    value: object, *, field: str, minimum: int = 0, maximum: int = MAX_QUANTITY
) -> int:
    """Parse an integer option (a command-line flag, a trace column) by the quantity grammar.

    Accepts an int (not bool) or ASCII text ``[+-]?[0-9]+`` with ASCII spaces
    around it, at most 64 characters; full-width or other non-ASCII digits are
    rejected, as by every quantity parser.

    Args:
        value: the text or int.
        field: the name used in error messages (``"--runners"``).
        minimum: the smallest value accepted.
        maximum: the largest value accepted.

    Raises:
        InvalidArgumentError: naming ``field``, the range and the value.

    Runtime complexity: O(len(value)), at most 64 characters are examined.

    >>> parse_integer(" 12 ", field="--runners", minimum=1)
    12
    """
    rule = f"an integer from {minimum} to {maximum}"
    result = _read_int(value, _INTEGER_RE)
    if result is None or not minimum <= result <= maximum:
        raise _option_error(field, rule, value)
    return result


def parse_number(
    value: object,
    *,
    field: str,
    minimum: float = 0.0,
    maximum: float = float(MAX_QUANTITY),
) -> float:
    """Parse a finite real option (hours, a submit time) by the quantity grammar.

    Accepts an int or float (not bool; float subclasses such as numpy.float64
    too) or ASCII text such as ``"1.5"``, ``"-2"``, ``".5"`` or ``"1e3"``, at
    most 64 characters. NaN, infinities, ``"nan"``, ``"inf"`` and non-ASCII
    digits are rejected.

    Args:
        value: the text or number.
        field: the name used in error messages (``"--hours"``).
        minimum: the smallest value accepted.
        maximum: the largest value accepted.

    Raises:
        InvalidArgumentError: naming ``field``, the range and the value.

    Runtime complexity: O(len(value)), at most 64 characters are examined.

    >>> parse_number("1.5", field="--hours"), parse_number("1e3", field="--hours")
    (1.5, 1000.0)
    """
    rule = f"a number from {minimum:g} to {maximum:g}"
    if isinstance(value, str):
        match = _fullmatch(value, _REAL_RE)
        if match is None:
            raise _option_error(field, rule, value)
        result = float(match.group())
    elif isinstance(value, float):
        result = float.__float__(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        if not minimum <= value <= maximum:  # exact int comparison: no float overflow
            raise _option_error(field, rule, value)
        result = float(value)
    else:
        raise _option_error(field, rule, value)
    if not (math.isfinite(result) and minimum <= result <= maximum):
        raise _option_error(field, rule, value)
    return result


def _option_error(field: str, rule: str, value: object) -> InvalidArgumentError:
    return InvalidArgumentError(_rule_error(field, rule, value))
