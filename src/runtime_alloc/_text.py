"""The text rules every parser shares, and how a bad value is shown in an error message.

The quantity grammar (:mod:`runtime_alloc._units`) and the option grammar
(:mod:`runtime_alloc._options`) read ASCII text only, at most :data:`_MAX_TEXT`
characters, up to :data:`MAX_QUANTITY`; :func:`_show` puts any offending value
into a message without ever failing itself.
"""

from __future__ import annotations

import math
import re

__all__ = ["MAX_QUANTITY"]

#: The largest quantity any parser accepts (2**53, the largest integer a float
#: holds exactly), so every quantity survives a trip through JSON and float64.
MAX_QUANTITY = 2**53

#: Text longer than this is rejected before any regular expression runs.
_MAX_TEXT = 64

#: Whitespace stripped around a quantity: ASCII only, like the digits.
_SPACE = " \t\n\r\f\v"

# The grammar is ASCII: [0-9], never \d (which also matches full-width and Arabic-Indic digits).
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"

#: An int with more bits than this is shown by its number of digits, never str()'d
#: (str() of an int of more than 4300 digits raises ValueError).
_MAX_SHOWN_BITS = 200


def _digits(value: int) -> int:
    """Return the number of decimal digits of ``abs(value)`` without str() (O(digits))."""
    value = abs(value)
    digits = max(1, int(math.log10(value))) if value else 1
    # log10 of a huge int is a float: correct its last digit exactly.
    while 10**digits <= value:
        digits += 1
    while digits > 1 and 10 ** (digits - 1) > value:
        digits -= 1
    return digits


def _show(value: object) -> str:
    """Return ``repr(value)`` cut to a readable length for an error message.

    Never fails: a huge int is shown by its number of digits (str() of an int
    of more than 4300 digits raises), and a value whose repr() raises (a list
    nested too deeply, a broken ``__repr__``) by its type.
    """
    if isinstance(value, int) and value.bit_length() > _MAX_SHOWN_BITS:
        sign = "a negative" if value < 0 else "an"
        return f"{sign} integer of {_digits(value)} digits"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 (any failure of repr() must not hide the real error)
        return f"a {type(value).__name__} that cannot be shown"
    if len(text) > _MAX_TEXT + 2:
        length = len(value) if isinstance(value, str) else len(text)
        text = f"{text[:_MAX_TEXT]}... ({length} characters)"
    return text


def _ascii_hint(value: object) -> str:
    """Return a hint for digits or spaces outside the ASCII grammar (error path only)."""
    if isinstance(value, str):
        if any(ch.isdigit() and not ch.isascii() for ch in value):
            return " (digits must be ASCII 0-9)"
        if any(ch.isspace() and ch not in _SPACE for ch in value):
            return " (only ASCII spaces, tabs and newlines may surround a number)"
    return ""


def _rule_error(field: str, rule: str, value: object) -> str:
    """Return the message for a value that breaks a grammar rule (error path only).

    ``"{field} must be {rule}, got {value}"`` with the ASCII hint; O(len(value)).
    """
    return f"{field} must be {rule}, got {_show(value)}{_ascii_hint(value)}"


def _fullmatch(text: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """Match ``text`` without its ASCII spaces against ``pattern``, or None.

    Text longer than ``_MAX_TEXT`` is None before the pattern runs, so the cost
    is O(len(text)) for the strip and at most ``_MAX_TEXT`` characters matched.
    """
    text = text.strip(_SPACE)
    return pattern.fullmatch(text) if len(text) <= _MAX_TEXT else None


def _read_int(value: object, pattern: re.Pattern[str]) -> int | None:
    """Return ``value`` as an int: an int (not bool) or ASCII text matching ``pattern``.

    None when it is neither. O(len(value)), at most ``_MAX_TEXT`` characters examined.
    """
    if isinstance(value, str):
        match = _fullmatch(value, pattern)
        return None if match is None else int(match.group())
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return None
