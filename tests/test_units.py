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
