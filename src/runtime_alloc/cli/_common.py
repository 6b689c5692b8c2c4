"""What the subcommands share: the usage error, option parsers, fleet options, machine facts."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runtime_alloc import __version__
from runtime_alloc.errors import InvalidArgumentError, RuntimeAllocError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner
from runtime_alloc.strategies import STRATEGIES, strategy_from_name
from runtime_alloc.strategies._scoring import UtilizationStrategy

__all__ = [
    "CANONICAL_STRATEGIES",
    "UsageError",
    "add_fleet_options",
    "check_output_path",
    "machine_info",
    "make_strategies",
    "parse_weights",
    "positive_int",
    "shaped_fleet",
    "utc_now",
]

#: The strategy names the CLI offers, in display order.
CANONICAL_STRATEGIES = ("EvenSpreadStrategy", "MaxPackingStrategy")


class UsageError(InvalidArgumentError):
    """A command-line argument is wrong; the message names the option and the value."""


def positive_int(text: str) -> int:
    """Argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        msg = f"must be an integer >= 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"must be an integer >= 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def parse_weights(text: str | None) -> dict[str, int] | None:
    """Parse ``--weights "cpu=1,memory=2,slots=0"`` into a mapping (None when not given).

    Raises:
        UsageError: naming ``--weights`` and the bad part.
    """
    if text is None:
        return None
    weights: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value.isdigit():
            msg = f"--weights must be name=integer pairs like 'cpu=1,memory=2', got {text!r}"
            raise UsageError(msg)
        if name in weights:
            msg = f"--weights names {name!r} twice, got {text!r}"
            raise UsageError(msg)
        weights[name] = int(value)
    return weights


def make_strategies(
    names: Sequence[str] | None, weights: dict[str, int] | None
) -> list[UtilizationStrategy]:
    """Build the strategies named by ``--strategy`` (default: both), deduplicated in order.

    Raises:
        UsageError: for a bad ``--weights`` value.
    """
    chosen: list[UtilizationStrategy] = []
    for name in names or CANONICAL_STRATEGIES:
        try:
            strategy = strategy_from_name(name, weights)
        except RuntimeAllocError as exc:
            msg = f"--weights {weights!r}: {exc}" if name in STRATEGIES else str(exc)
            raise UsageError(msg) from None
        if all(s.name != strategy.name for s in chosen):
            chosen.append(strategy)
    return chosen


def add_fleet_options(parser: argparse._ActionsContainer) -> None:
    """Add ``--runners N`` and ``--shape SPEC`` (a fleet of identical runners)."""
    parser.add_argument(
        "--runners", type=positive_int, metavar="N", help="a fleet of N identical runners"
    )
    parser.add_argument(
        "--shape",
        metavar="SPEC",
        help='capacity of each of the --runners, e.g. "cpu=4,memory=16GiB,slots=16" '
        "(default cpu=8,memory=32GiB,slots=16)",
    )


def shaped_fleet(count: int, shape: str | None) -> tuple[Runner, ...]:
    """Return ``count`` runners ``r0001``... of capacity ``shape``.

    Raises:
        UsageError: naming ``--shape`` and the value.
    """
    spec = shape if shape is not None else "cpu=8,memory=32GiB,slots=16"
    try:
        capacity = Runner.parse("probe", spec).capacity
    except RuntimeAllocError as exc:
        msg = f"--shape {spec!r}: {exc}"
        raise UsageError(msg) from None
    width = max(4, len(str(count)))
    return tuple(Runner(f"r{k:0{width}d}", capacity) for k in range(1, count + 1))


def check_output_path(option: str, value: str | None) -> None:
    """Fail early (before a long run) when an output file's folder does not exist."""
    if value is None or value == "-":
        return
    parent = Path(value).expanduser().parent
    if not parent.is_dir():
        msg = f"{option} {value!r}: folder {str(parent)!r} does not exist"
        raise UsageError(msg)


def utc_now() -> str:
    """The current UTC time in ISO 8601, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Facts about the machine and software a measurement ran on."""
    try:
        import numpy as np  # noqa: PLC0415 (optional)

        numpy_version: str | None = np.__version__
    except ImportError:  # pragma: no cover - numpy is part of the cli extra
        numpy_version = None
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "numpy": numpy_version,
        "runtime_alloc": __version__,
    }


def describe(resources: Resources) -> str:
    """The canonical text of a resource vector (for tables)."""
    return str(resources)
