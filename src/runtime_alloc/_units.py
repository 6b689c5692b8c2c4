"""Quantity grammar: ``"500m"``, ``"1.5"``, ``"1024MB"``, ``"4Gi"`` <-> integers.

cpu is held as integer millicpu, memory as integer bytes, slots and extended
resources as integer counts. Parsing is exact: decimal text is read with
:class:`decimal.Decimal`, never through binary floats, and a value that is not
a whole number of the stored unit is rejected rather than rounded.

Memory units (a bare number means megabytes, as Airflow and Docker read it):

========================  ==========================
unit                      bytes
========================  ==========================
(none)                    2**20 (megabytes)
``KB`` ``KiB`` ``Ki``     2**10
``MB`` ``MiB`` ``Mi``     2**20
``GB`` ``GiB`` ``Gi``     2**30
``TB`` ``TiB`` ``Ti``     2**40
``k``                     1000
``M``                     1000**2
``G``                     1000**3
``T``                     1000**4
========================  ==========================

The shared text rules and :func:`_show` live in :mod:`runtime_alloc._text`, the
option parsers :func:`parse_integer` and :func:`parse_number` in
:mod:`runtime_alloc._options`; both are re-exported here.
"""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal

from runtime_alloc._options import parse_integer, parse_number
from runtime_alloc._text import _NUMBER, MAX_QUANTITY, _fullmatch, _read_int, _rule_error
from runtime_alloc._text import _show as _show  # noqa: PLC0414 (an explicit re-export for mypy)
from runtime_alloc.errors import InvalidResourcesError

__all__ = [
    "MAX_QUANTITY",
    "format_cpu",
    "format_memory",
    "parse_count",
    "parse_cpu",
    "parse_integer",
    "parse_memory",
    "parse_number",
    "parse_slots",
]

#: Exact decimal arithmetic: 64 digits of input times a 13-digit unit factor never rounds.
_EXACT = Context(prec=100)

_MEMORY_UNITS: dict[str, int] = {
    "": 2**20,
    "KB": 2**10,
    "MB": 2**20,
    "GB": 2**30,
    "TB": 2**40,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
}

#: cpu units: a bare number is cores, ``m`` millicores; the factor gives millicpu.
_CPU_UNITS: dict[str, int] = {"": 1000, "m": 1}

_CPU_RE = re.compile(rf"({_NUMBER})(m?)")
_MEMORY_RE = re.compile(rf"({_NUMBER})([A-Za-z]*)")
_COUNT_RE = re.compile(r"[0-9]+")

_CPU_RULE = 'a non-negative number of cores or millicores like "1.5" or "500m"'
_MEMORY_RULE = (
    'a non-negative size like "512" (megabytes), "1024MB", "1.5Gi" or "4G"; '
    "units: KB MB GB TB, KiB MiB GiB TiB, Ki Mi Gi Ti (binary), k M G T (decimal)"
)
_COUNT_RULE = "a non-negative integer"


def _fail(field: str, rule: str, value: object) -> InvalidResourcesError:
    return InvalidResourcesError(_rule_error(field, rule, value))


def _check_range(field: str, rule: str, value: object, result: int) -> int:
    if result > MAX_QUANTITY:
        msg = f"{field} must be at most 2**53 in its unit ({MAX_QUANTITY}), got {_show(value)}"
        raise InvalidResourcesError(msg)
    if result < 0:
        raise _fail(field, rule, value)
    return result


def _decimal_of_number(field: str, rule: str, value: object) -> Decimal:
    """Read an int or float (not bool) as an exact decimal, or raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(field, rule, value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(field, rule, value)
        # float.__repr__ is the shortest text that reads back as this float: "0.1";
        # called on the class so a float subclass (numpy.float64) reads as a float.
        return Decimal(float.__repr__(value))
    if not -MAX_QUANTITY <= value <= MAX_QUANTITY:
        # Far out of range: no decimal arithmetic on a number of thousands of digits.
        if value < 0:
            raise _fail(field, rule, value)
        return Decimal(MAX_QUANTITY + 1)
    return Decimal(int(value))


def _whole(field: str, rule: str, value: object, amount: Decimal) -> int:
    if amount < 0:
        raise _fail(field, rule, value)
    if amount > MAX_QUANTITY:
        return _check_range(field, rule, value, MAX_QUANTITY + 1)
    if amount != amount.to_integral_value():
        msg = f"{field} must be a whole number of its unit ({rule}), got {_show(value)}"
        raise InvalidResourcesError(msg)
    return int(amount)


def _scaled(
    value: object, field: str, rule: str, pattern: re.Pattern[str], units: dict[str, int]
) -> int:
    """Parse a number times a unit factor of ``units`` (``""``: a bare number), exactly.

    Text must match ``pattern`` as (number, unit); an int or float takes the
    factor of ``""``. The product is computed in exact decimal arithmetic and must
    be a whole number from 0 to MAX_QUANTITY.

    Raises:
        InvalidResourcesError: naming ``field``, ``rule`` and the value.

    Runtime complexity: O(len(value)), at most 64 characters are examined.
    """
    if isinstance(value, str):
        match = _fullmatch(value, pattern)
        if match is None or match.group(2) not in units:
            raise _fail(field, rule, value)
        number, unit = match.groups()
        amount = _EXACT.multiply(Decimal(number), units[unit])
    else:
        amount = _EXACT.multiply(_decimal_of_number(field, rule, value), units[""])
    return _whole(field, rule, value, amount)


def parse_cpu(value: object, *, field: str = "cpu") -> int:
    """Parse a cpu quantity into integer millicpu.

    Accepts int or float cores and strings of cores (``"1.5"``) or
    millicores (``"500m"``). Precision finer than 1m is rejected, not rounded.

    Args:
        value: the quantity.
        field: the name used in error messages.

    Returns:
        The quantity in millicpu.

    Raises:
        InvalidResourcesError: for bool, None, negatives, NaN/inf, malformed
            text, precision finer than 1m, or more than 2**53 millicpu.

    Runtime complexity: O(len(value)), at most 64 characters are examined.

    >>> parse_cpu("1.5"), parse_cpu("500m"), parse_cpu(2), parse_cpu(0.25)
    (1500, 500, 2000, 250)
    """
    return _scaled(value, field, _CPU_RULE, _CPU_RE, _CPU_UNITS)


def parse_memory(value: object, *, field: str = "memory") -> int:
    """Parse a memory quantity into integer bytes.

    A bare number (int, float or digit string) means megabytes (2**20 bytes).
    See the module docstring for the unit table. Fractions are accepted when
    the result is a whole number of bytes.

    Args:
        value: the quantity.
        field: the name used in error messages.

    Returns:
        The quantity in bytes.

    Raises:
        InvalidResourcesError: for bool, None, negatives, NaN/inf, unknown
            units, malformed text, fractional bytes or more than 2**53 bytes.

    Runtime complexity: O(len(value)), at most 64 characters are examined.

    >>> parse_memory("1024MB"), parse_memory("1.5Gi"), parse_memory("2k"), parse_memory(1)
    (1073741824, 1610612736, 2000, 1048576)
    """
    return _scaled(value, field, _MEMORY_RULE, _MEMORY_RE, _MEMORY_UNITS)


def parse_count(value: object, *, field: str) -> int:
    """Parse a non-negative integer count (slots, an extended resource such as ``gpu``).

    Args:
        value: an int (not bool) or a string of digits.
        field: the name used in error messages.

    Returns:
        The count.

    Raises:
        InvalidResourcesError: for floats, bool, negatives, other text or more than 2**53.

    >>> parse_count("2", field="gpu")
    2
    """
    result = _read_int(value, _COUNT_RE)
    if result is None:
        raise _fail(field, _COUNT_RULE, value)
    return _check_range(field, _COUNT_RULE, value, result)


def parse_slots(value: object, *, field: str = "slots") -> int:
    """Parse a slot count: an int or a string of digits, at least 0.

    Raises:
        InvalidResourcesError: for floats, bool, negatives, other text or more than 2**53.

    >>> parse_slots("4"), parse_slots(16)
    (4, 16)
    """
    return parse_count(value, field=field)


def _check_quantity(field: str, value: object) -> int:
    """Validate an already-integer quantity (used by value-object constructors)."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{field} must be an integer, got {_show(value)}"
        raise InvalidResourcesError(msg)
    if value < 0:
        msg = f"{field} must be non-negative, got {_show(value)}"
        raise InvalidResourcesError(msg)
    if value > MAX_QUANTITY:
        msg = f"{field} must be at most 2**53 ({MAX_QUANTITY}), got {_show(value)}"
        raise InvalidResourcesError(msg)
    return value


def format_cpu(millicpu: int) -> str:
    """Return the canonical text of a cpu quantity: whole cores, else millicores.

    >>> format_cpu(2000), format_cpu(1500), format_cpu(0)
    ('2', '1500m', '0')
    """
    if millicpu % 1000 == 0:
        return str(millicpu // 1000)
    return f"{millicpu}m"


def format_memory(memory_bytes: int) -> str:
    """Return the canonical text of a memory quantity.

    The largest binary unit (Ti, Gi, Mi, Ki) that divides the value exactly;
    otherwise the largest decimal unit (T, G, M, k) that does; otherwise an
    exact decimal fraction of ``k``. ``parse_memory(format_memory(n)) == n``.

    >>> format_memory(2**30), format_memory(1536 * 2**20), format_memory(5000), format_memory(1001)
    ('1Gi', '1536Mi', '5k', '1.001k')
    """
    if memory_bytes == 0:
        return "0"
    for unit, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if memory_bytes % factor == 0:
            return f"{memory_bytes // factor}{unit}"
    for unit, factor in (("T", 1000**4), ("G", 1000**3), ("M", 1000**2), ("k", 1000)):
        if memory_bytes % factor == 0:
            return f"{memory_bytes // factor}{unit}"
    whole, rest = divmod(memory_bytes, 1000)
    return f"{whole}.{rest:03d}".rstrip("0") + "k"
