"""Fuzzing the units grammar: parse_cpu, parse_memory, parse_slots and Resources.parse.

Whatever the input, a parser returns a value in range or raises
InvalidResourcesError; any other exception is a bug. Inputs come from
hypothesis' text() (any unicode) and from from_regex() over the grammar, both
near-valid (wrong units, stray dots, spaces, huge numbers) and strictly valid
(where the exact value is checked).
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime_alloc import (
    MAX_QUANTITY,
    InvalidResourcesError,
    Resources,
    parse_cpu,
    parse_memory,
    parse_slots,
)

PARSERS = [parse_cpu, parse_memory, parse_slots]

UNITS = "KB|MB|GB|TB|KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti|k|M|G|T"
NUMBER = r"(\s?[0-9]{0,20}(\.[0-9]{0,14})?\s?)"
NEAR_CPU = rf"{NUMBER}(m|M|u|)"
NEAR_MEMORY = rf"{NUMBER}({UNITS}|[A-Za-z]{{0,3}}|)"
NEAR_SLOTS = r"\s?-?[0-9]{0,20}(\.[0-9]{0,3})?\s?"
NEAR_SPEC = rf"((cpu|memory|slots|gpu|nvidia\.com/gpu|bad key|)=?({NUMBER}({UNITS}|m|)),?){{0,5}}"

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "KiB": 2**10, "MB": 2**20, "GB": 2**30}
DECIMAL = {"k": 1000, "M": 1000**2, "G": 1000**3}


def parses_or_rejects(parser, value: object) -> int | None:
    """Call a parser; only InvalidResourcesError may escape as a failure."""
    try:
        result = parser(value)
    except InvalidResourcesError:
        return None
    assert isinstance(result, int)
    assert not isinstance(result, bool)
    assert 0 <= result <= MAX_QUANTITY
    return result


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@given(text=st.text())
def test_any_text(parser, text: str) -> None:
    parses_or_rejects(parser, text)


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@given(
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.binary(max_size=8),
        st.lists(st.integers(), max_size=2),
        st.decimals(allow_nan=False, allow_infinity=False),
    )
)
def test_any_scalar(parser, value: object) -> None:
    parses_or_rejects(parser, value)


@given(st.text(min_size=65, max_size=5000))
def test_absurd_length_is_rejected(text: str) -> None:
    for parser in PARSERS:
        assert parses_or_rejects(parser, "1" + text.replace(" ", "x") + "1") is None


@given(st.from_regex(NEAR_CPU, fullmatch=True))
def test_near_valid_cpu(text: str) -> None:
    parses_or_rejects(parse_cpu, text)


@given(st.from_regex(NEAR_MEMORY, fullmatch=True))
def test_near_valid_memory(text: str) -> None:
    parses_or_rejects(parse_memory, text)


@given(st.from_regex(NEAR_SLOTS, fullmatch=True))
def test_near_valid_slots(text: str) -> None:
    parses_or_rejects(parse_slots, text)


@given(st.from_regex(NEAR_SPEC, fullmatch=True))
def test_near_valid_resource_specs(text: str) -> None:
    try:
        result = Resources.parse(text)
    except InvalidResourcesError:
        return
    assert Resources.parse(str(result)) == result


@given(
    st.dictionaries(st.sampled_from(["cpu", "memory", "slots", "gpu", ""]), st.text(max_size=12))
)
def test_resource_mappings_of_text(spec: dict[str, str]) -> None:
    with contextlib.suppress(InvalidResourcesError):
        Resources.parse(spec)


# Strictly valid inputs: the value must be exact.


@given(st.from_regex(r"[0-9]{1,9}m", fullmatch=True))
def test_valid_millicores(text: str) -> None:
    assert parse_cpu(text) == int(text[:-1])


@given(st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,3})?", fullmatch=True))
def test_valid_cores(text: str) -> None:
    assert parse_cpu(text) == int(Decimal(text) * 1000)


@given(st.from_regex(r"[0-9]{1,6}(Ki|Mi|Gi|KiB|MB|GB|k|M|G)", fullmatch=True))
def test_valid_memory(text: str) -> None:
    unit = text.lstrip("0123456789")
    number = int(text[: len(text) - len(unit)])
    assert parse_memory(text) == number * {**BINARY, **DECIMAL}[unit]


@given(st.from_regex(r"[0-9]{1,15}", fullmatch=True))
def test_valid_slots(text: str) -> None:
    assert parse_slots(text) == int(text)


# Issue #14 items 15 and 20: one ASCII grammar; huge ints and float subclasses.

ASCII_SPACE = " \t\n\r\f\v"

#: The zero of some decimal digit sets Python's int() and Decimal() read as digits:
#: full-width, Arabic-Indic, extended Arabic-Indic, Devanagari, Bengali, Thai.
DIGIT_ZEROS = [0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50]


#: The grammar's characters and some non-ASCII look-alikes (digits, spaces, letters).
NEAR_ALPHABET = "0123456789.m=,GiMkKB cpu \t\u3000\u00a0\u2003\x1c\uff14\u0664\u0967\uff47\u212a"


@given(text=st.text() | st.text(alphabet=NEAR_ALPHABET, max_size=12))
def test_accepted_text_is_ascii(text: str) -> None:
    for parser in (*PARSERS, Resources.parse):
        with contextlib.suppress(InvalidResourcesError):
            parser(text)
            assert text.isascii(), (parser, text)


#: Characters str.strip() and str.isspace() take for spaces but the ASCII grammar does not.
NON_ASCII_SPACES = "\u3000\u00a0\u2003\u2028\x1c\x1f\x85"


@given(
    number=st.from_regex(r"[0-9]{1,6}", fullmatch=True),
    space=st.sampled_from(NON_ASCII_SPACES),
    before=st.booleans(),
)
def test_only_ascii_spaces_may_surround_a_number(number: str, space: str, before: bool) -> None:
    text = space + number if before else number + space
    for parse in (*PARSERS, lambda t: Resources.parse(f"cpu={t}")):
        with pytest.raises(InvalidResourcesError, match="only ASCII spaces"):
            parse(text)


@given(
    number=st.from_regex(r"[0-9]{1,9}", fullmatch=True),
    zero=st.sampled_from(DIGIT_ZEROS),
    data=st.data(),
)
def test_non_ascii_digits_are_rejected_everywhere(number: str, zero: int, data) -> None:
    from runtime_alloc import InvalidArgumentError, Runner
    from runtime_alloc._units import parse_integer, parse_number

    position = data.draw(st.integers(0, len(number) - 1))
    chars = list(number)
    chars[position] = chr(zero + int(chars[position]))
    text = "".join(chars)
    assert int(text) == int(number)  # Python itself would read it: the grammar must not
    hint = "digits must be ASCII 0-9"
    for parse in (
        *PARSERS,
        lambda t: Resources.parse(f"cpu={t}"),
        lambda t: Resources.parse({"gpu": t}),
        lambda t: Runner.parse("r", f"memory={t}Gi"),
    ):
        with pytest.raises(InvalidResourcesError, match=hint):
            parse(text)
    for option in (parse_integer, parse_number):
        with pytest.raises(InvalidArgumentError, match=hint):
            option(text, field="--option")


@given(
    digits=st.integers(4301, 6000),
    sign=st.sampled_from([1, -1]),
)
def test_huge_integers_raise_the_library_error(digits: int, sign: int) -> None:
    from runtime_alloc import InvalidArgumentError
    from runtime_alloc._units import parse_integer, parse_number

    value = sign * (10 ** (digits - 1) + 7)
    shown = f"integer of {digits} digits"
    for parser in PARSERS:
        with pytest.raises(InvalidResourcesError, match=shown):
            parser(value)
    for field in ("millicpu", "memory_bytes", "slots"):
        with pytest.raises(InvalidResourcesError, match=shown):
            Resources(**{field: value})
    for option in (parse_integer, parse_number):
        with pytest.raises(InvalidArgumentError, match=shown):
            option(value, field="--option")


class _Float(float):
    """A float subclass with its own repr, like numpy.float64."""

    def __repr__(self) -> str:
        return f"_Float({float(self)!r})"


@pytest.mark.parametrize("parser", [parse_cpu, parse_memory])
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_float_subclasses_parse_like_floats(parser, value: float) -> None:
    assert parses_or_rejects(parser, _Float(value)) == parses_or_rejects(parser, value)


@given(st.integers(-(10**30), 10**30), st.sampled_from(["", " ", "\t", "+"]))
def test_parse_integer_reads_what_int_reads_in_ascii(n: int, pad: str) -> None:
    from runtime_alloc._units import parse_integer

    sign = "+" if pad == "+" and n >= 0 else ""
    space = "" if pad == "+" else pad
    text = f"{space}{sign}{n}{space}"
    assert parse_integer(text, field="n", minimum=-(10**30), maximum=10**30) == n


@given(st.text(max_size=30))
def test_parse_number_accepts_only_ascii_finite_numbers(text: str) -> None:
    from runtime_alloc import InvalidArgumentError
    from runtime_alloc._units import parse_number

    try:
        result = parse_number(text, field="x", minimum=-1e300, maximum=1e300)
    except InvalidArgumentError:
        return
    assert text.isascii()
    assert result == float(text)
