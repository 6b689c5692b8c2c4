"""Parser table: good and bad inputs for parse_cpu, parse_memory and parse_slots."""

from __future__ import annotations

import math

import pytest

from runtime_alloc import InvalidResourcesError, parse_cpu, parse_memory, parse_slots
from runtime_alloc._units import format_cpu, format_memory

KI, MI, GI, TI = 2**10, 2**20, 2**30, 2**40

GOOD = [
    # (parser, input, expected integer)
    (parse_cpu, 2, 2000),
    (parse_cpu, 0, 0),
    (parse_cpu, 0.25, 250),
    (parse_cpu, 1.5, 1500),
    (parse_cpu, 0.001, 1),
    (parse_cpu, 0.1, 100),  # decimal text of the float, not 0.1000000000000000055...
    (parse_cpu, "1.5", 1500),
    (parse_cpu, "2", 2000),
    (parse_cpu, "500m", 500),
    (parse_cpu, "0m", 0),
    (parse_cpu, "1m", 1),
    (parse_cpu, ".5", 500),
    (parse_cpu, "2.", 2000),
    (parse_cpu, "0.001", 1),
    (parse_cpu, " 4 ", 4000),
    (parse_cpu, "1500.0m", 1500),
    (parse_cpu, "9007199254740.992", 2**53),  # the largest accepted millicpu
    (parse_cpu, "007", 7000),
    (parse_memory, 1, MI),  # a bare number means megabytes
    (parse_memory, 0, 0),
    (parse_memory, 0.5, 512 * KI),
    (parse_memory, "512", 512 * MI),
    (parse_memory, "1024MB", GI),
    (parse_memory, "1KB", KI),
    (parse_memory, "1GB", GI),
    (parse_memory, "1TB", TI),
    (parse_memory, "1KiB", KI),
    (parse_memory, "2MiB", 2 * MI),
    (parse_memory, "3GiB", 3 * GI),
    (parse_memory, "1TiB", TI),
    (parse_memory, "1Ki", KI),
    (parse_memory, "1Mi", MI),
    (parse_memory, "1.5Gi", 3 * 2**29),
    (parse_memory, "1Ti", TI),
    (parse_memory, "1k", 1000),
    (parse_memory, "1M", 1000**2),
    (parse_memory, "4G", 4 * 1000**3),
    (parse_memory, "1T", 1000**4),
    (parse_memory, "1.001k", 1001),
    (parse_memory, "0.5Ki", 512),
    (parse_memory, " 16Gi ", 16 * GI),
    (parse_memory, "8192Ti", 8192 * TI),  # 2**53 bytes exactly
    (parse_memory, "0.1k", 100),  # fractions are fine when the bytes are whole
    (parse_slots, 0, 0),
    (parse_slots, 16, 16),
    (parse_slots, "4", 4),
    (parse_slots, " 2 ", 2),
    (parse_slots, 2**53, 2**53),
]

BAD = [
    # (parser, input, text the message must contain)
    (parse_cpu, "1.5.5", "cpu must be"),
    (parse_cpu, "", "cpu must be"),
    (parse_cpu, "   ", "cpu must be"),
    (parse_cpu, "-1", "cpu must be"),
    (parse_cpu, -1, "cpu must be"),
    (parse_cpu, -0.5, "cpu must be"),
    (parse_cpu, "0.0001", "whole number"),  # finer than 1m
    (parse_cpu, 0.0005, "whole number"),
    (parse_cpu, "0.5m", "whole number"),
    (parse_cpu, math.nan, "cpu must be"),
    (parse_cpu, math.inf, "cpu must be"),
    (parse_cpu, "nan", "cpu must be"),
    (parse_cpu, "inf", "cpu must be"),
    (parse_cpu, True, "cpu must be"),
    (parse_cpu, None, "cpu must be"),
    (parse_cpu, "1e3", "cpu must be"),
    (parse_cpu, "1 m", "cpu must be"),
    (parse_cpu, "500M", "cpu must be"),
    (parse_cpu, "1,5", "cpu must be"),
    (parse_cpu, "0x10", "cpu must be"),
    (parse_cpu, "9007199254740.993", "at most 2**53"),
    (parse_cpu, 10**20, "at most 2**53"),
    (parse_cpu, "1" * 10_000, "characters"),  # absurd length, rejected before any regex
    (parse_cpu, [1], "cpu must be"),
    (parse_memory, "1XB", "memory must be"),
    (parse_memory, "1mb", "memory must be"),  # units are case-sensitive
    (parse_memory, "1Kb", "memory must be"),
    (parse_memory, "1Pi", "memory must be"),
    (parse_memory, "1B", "memory must be"),
    (parse_memory, "-1Gi", "memory must be"),
    (parse_memory, -1, "memory must be"),
    (parse_memory, "0.0001k", "whole number"),
    (parse_memory, "1.0000001Ki", "whole number"),
    (parse_memory, "Gi", "memory must be"),
    (parse_memory, "", "memory must be"),
    (parse_memory, math.nan, "memory must be"),
    (parse_memory, True, "memory must be"),
    (parse_memory, None, "memory must be"),
    (parse_memory, "8193Ti", "at most 2**53"),
    (parse_memory, "1" * 65, "memory must be"),
    (parse_slots, 1.0, "slots must be"),
    (parse_slots, "1.5", "slots must be"),
    (parse_slots, -1, "slots must be"),
    (parse_slots, "-1", "slots must be"),
    (parse_slots, True, "slots must be"),
    (parse_slots, "two", "slots must be"),
    (parse_slots, None, "slots must be"),
    (parse_slots, "", "slots must be"),
    (parse_slots, 2**53 + 1, "at most 2**53"),
    (parse_slots, "9" * 30, "at most 2**53"),
]


def test_table_sizes() -> None:
    assert len(GOOD) >= 40
    assert len(BAD) >= 40


@pytest.mark.parametrize(("parser", "value", "expected"), GOOD)
def test_good(parser, value, expected) -> None:
    assert parser(value) == expected


@pytest.mark.parametrize(("parser", "value", "fragment"), BAD)
def test_bad(parser, value, fragment) -> None:
    with pytest.raises(InvalidResourcesError) as info:
        parser(value)
    message = str(info.value)
    assert fragment in message
    # The message names the field and shows the value (cut to a readable length).
    assert message.split(maxsplit=1)[0] in {"cpu", "memory", "slots"}
    assert len(message) < 400


def test_message_example_from_the_contract() -> None:
    with pytest.raises(InvalidResourcesError, match=r"^cpu must be .*, got '1\.5\.5'$"):
        parse_cpu("1.5.5")


def test_invalid_resources_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_memory("lots")


def test_field_name_is_used() -> None:
    with pytest.raises(InvalidResourcesError, match=r"^gpu must be"):
        parse_slots("x", field="gpu")


@pytest.mark.parametrize("millicpu", [0, 1, 999, 1000, 1500, 2**53])
def test_cpu_format_round_trip(millicpu: int) -> None:
    assert parse_cpu(format_cpu(millicpu)) == millicpu


@pytest.mark.parametrize(
    "n", [0, 1, 7, 999, 1000, 1001, 1024, 1536 * MI, 10**9, GI, 2**53, 2**53 - 1]
)
def test_memory_format_round_trip(n: int) -> None:
    assert parse_memory(format_memory(n)) == n


# Issue #14 item 15: a huge int never reaches str() in a message; float subclasses are floats.

HUGE = 10**5000  # str() of it raises ValueError (more than 4300 digits)


@pytest.mark.parametrize("parser", [parse_cpu, parse_memory, parse_slots])
@pytest.mark.parametrize("value", [HUGE, -HUGE], ids=["huge", "minus-huge"])
def test_huge_integers_are_shown_by_their_digits(parser, value: int) -> None:
    with pytest.raises(InvalidResourcesError, match="integer of 5001 digits"):
        parser(value)


def test_float_subclasses_are_floats() -> None:
    class Seconds(float):
        def __repr__(self) -> str:
            return f"Seconds({float(self)})"

    assert parse_cpu(Seconds(2.0)) == 2000
    assert parse_memory(Seconds(0.5)) == 512 * KI
    np = pytest.importorskip("numpy")
    assert parse_cpu(np.float64(2.0)) == 2000
    assert parse_cpu(np.float64(0.1)) == 100
    with pytest.raises(InvalidResourcesError, match="cpu must be"):
        parse_cpu(np.float64("nan"))


def test_show_never_fails() -> None:
    from runtime_alloc._units import _show

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError

    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert _show(HUGE) == "an integer of 5001 digits"
    assert _show(-(10**70)) == "a negative integer of 71 digits"
    assert _show(10**60) == repr(10**60)
    assert _show(Broken()) == "a Broken that cannot be shown"
    assert _show(deep) == "a list that cannot be shown"
    assert _show([HUGE]) == "a list that cannot be shown"
    assert _show("x" * 100) == repr("x" * 64)[:64] + "... (100 characters)"
    assert _show(list(range(100))).endswith("... (390 characters)")


# Issue #14 item 20: one ASCII grammar in every parser, with a clear error.

NON_ASCII_DIGITS = [
    "\uff14",
    "\uff11\uff16",
    "\u0664",
    "\u0661\u066b\u0665",
    "\u06f4",
    "4\u0664",
    "\u0967",
]


@pytest.mark.parametrize("parser", [parse_cpu, parse_memory, parse_slots])
@pytest.mark.parametrize("text", NON_ASCII_DIGITS)
def test_non_ascii_digits_are_rejected_by_every_parser(parser, text: str) -> None:
    with pytest.raises(InvalidResourcesError, match=r"digits must be ASCII 0-9"):
        parser(text)


@pytest.mark.parametrize("text", NON_ASCII_DIGITS)
def test_non_ascii_digits_are_rejected_in_specs(text: str) -> None:
    from runtime_alloc import Resources, Runner

    for spec in (f"cpu={text}", f"memory={text}Gi", f"slots={text}", f"gpu={text}"):
        with pytest.raises(InvalidResourcesError, match="digits must be ASCII 0-9"):
            Resources.parse(spec)
        with pytest.raises(InvalidResourcesError, match="digits must be ASCII 0-9"):
            Runner.parse("r", spec)
        with pytest.raises(InvalidResourcesError, match="digits must be ASCII 0-9"):
            Resources.parse({spec.split("=")[0]: spec.split("=")[1]})


@pytest.mark.parametrize("parser", [parse_cpu, parse_memory, parse_slots])
def test_only_ascii_spaces_surround_a_number(parser) -> None:
    assert parser(" \t4\n") == parser("4")
    for space in ("\u3000", "\u00a0", "\u2003", "\x1c"):
        with pytest.raises(InvalidResourcesError, match="only ASCII spaces"):
            parser(f"4{space}")


def test_integer_and_number_helpers_share_the_grammar() -> None:
    from runtime_alloc import InvalidArgumentError
    from runtime_alloc._units import parse_integer, parse_number

    assert parse_integer(" 12 ", field="--runners", minimum=1) == 12
    assert parse_integer("-3", field="--seed", minimum=-10) == -3
    assert parse_integer(7, field="--n") == 7
    assert parse_number("1.5", field="--hours") == 1.5
    assert parse_number(".5", field="--hours") == 0.5
    assert parse_number("1e3", field="--hours") == 1000.0
    assert parse_number(2, field="--hours") == 2.0
    bad_integers = [
        "\uff11\uff12",
        "\u0664",
        "1.5",
        "",
        "1e3",
        "nan",
        True,
        None,
        1.0,
        "9" * 65,
        "1_000",
    ]
    for value in bad_integers:
        with pytest.raises(InvalidArgumentError, match="--runners must be an integer from 1"):
            parse_integer(value, field="--runners", minimum=1)
    with pytest.raises(InvalidArgumentError, match="from 1 to 100, got '101'"):
        parse_integer("101", field="--runners", minimum=1, maximum=100)
    with pytest.raises(InvalidArgumentError, match="got an integer of 5001 digits"):
        parse_integer(HUGE, field="--runners")
    with pytest.raises(InvalidArgumentError, match="digits must be ASCII 0-9"):
        parse_integer("\uff11\uff12", field="--runners")
    bad_numbers = [
        "nan",
        "inf",
        "-1",
        "1e999",
        "\uff10.\uff15",
        "1,5",
        float("nan"),
        False,
        "",
        HUGE,
    ]
    for value in bad_numbers:
        with pytest.raises(InvalidArgumentError, match="--hours must be a number from 0 to"):
            parse_number(value, field="--hours")
