"""What the subcommands share: the usage error, option parsers, fleet options, machine facts."""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runtime_alloc import __version__
from runtime_alloc._units import parse_integer, parse_number
from runtime_alloc.errors import InvalidArgumentError, RuntimeAllocError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner
from runtime_alloc.strategies import STRATEGIES, strategy_from_name
from runtime_alloc.strategies._scoring import UtilizationStrategy

__all__ = [
    "CANONICAL_STRATEGIES",
    "MAX_PLOT_RUNNERS",
    "MAX_RUNNERS",
    "UsageError",
    "add_fleet_options",
    "ascii_float",
    "ascii_int",
    "bounded_int",
    "check_output_path",
    "check_plot_path",
    "integer",
    "machine_info",
    "make_strategies",
    "parse_labels",
    "parse_weights",
    "positive_int",
    "shaped_fleet",
    "show",
    "utc_now",
    "writing",
]

#: The strategy names the CLI offers, in display order.
CANONICAL_STRATEGIES = ("EvenSpreadStrategy", "MaxPackingStrategy")


#: The most runners ``--runners N`` (and ``bench --sizes``) builds: a larger fleet of identical
#: runners costs seconds and hundreds of MB per strategy before the first decision.
MAX_RUNNERS = 100_000

#: The most runners ``simulate --plot`` draws: its heatmaps keep one value per runner per sample.
MAX_PLOT_RUNNERS = 10_000

#: The file types ``--plot`` writes (matplotlib's Agg canvas), by extension.
PLOT_FORMATS = ("png", "pdf", "svg")

# One ASCII grammar for every number on the command line and in trace files, the quantity
# parsers' (runtime_alloc._units.parse_integer / parse_number): ``int()`` and ``float()`` also
# accept full-width and other Unicode digits, underscores, "nan" and "inf".
_INT_LIMIT = 10**30
_SHOW_MAX = 60

# A label on the command line: Kubernetes-like, so a typo with a space or a '!' is caught.
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._/:=-]{0,251}[A-Za-z0-9])?")
LABEL_RULE = (
    "letters, digits and - _ . / : =, starting and ending with a letter or digit, "
    "at most 253 characters"
)


class UsageError(InvalidArgumentError):
    """A command-line argument is wrong; the message names the option and the value."""


def show(text: str) -> str:
    """``repr(text)``, shortened in the middle when long (messages stay one readable line).

    >>> show("7" * 100)
    "'777777777777777777777777777...777777777777777777777777777' (100 characters)"
    """
    if len(text) <= _SHOW_MAX:
        return repr(text)
    half = (_SHOW_MAX - 6) // 2
    return f"{text[:half]!r}"[:-1] + "..." + f"{text[-half:]!r}"[1:] + f" ({len(text)} characters)"


def ascii_int(text: str) -> int | None:
    """The integer written in ASCII digits (optional sign, at most 30 digits), else None.

    >>> ascii_int("42"), ascii_int("\uff14\uff12"), ascii_int("1_000"), ascii_int(" 7")
    (42, None, None, None)
    """
    if text != text.strip():
        return None
    try:
        return parse_integer(text, field="value", minimum=-_INT_LIMIT, maximum=_INT_LIMIT)
    except InvalidArgumentError:
        return None


def ascii_float(text: str) -> float | None:
    """The finite number written in ASCII (``12``, ``1.5``, ``.5``, ``1e3``), else None.

    ``nan``, ``inf``, Unicode digits, underscores and surrounding spaces give None.

    >>> ascii_float("1.5"), ascii_float("nan"), ascii_float("\u0663"), ascii_float("1e999")
    (1.5, None, None, None)
    """
    if text != text.strip():
        return None
    try:
        return parse_number(text, field="value", minimum=-math.inf, maximum=math.inf)
    except InvalidArgumentError:
        return None


def bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    """Argparse type: an ASCII integer from ``low`` to ``high`` (no upper bound when None)."""
    rule = f"an integer >= {low}" if high is None else f"an integer from {low} to {high:,}"

    def parse(text: str) -> int:
        value = ascii_int(text)
        if value is None or value < low or (high is not None and value > high):
            msg = f"must be {rule}, got {show(text)}"
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = rule  # argparse names the type in some messages
    return parse


#: Argparse type: an integer >= 1 (ASCII digits).
positive_int = bounded_int(1)


def input_file(text: str) -> str:
    """Argparse type: the name of a file to read; an empty name is refused. O(1).

    (An empty name used to reach ``open("")``, whose error named neither the
    option nor a file: ``: cannot be read: Is a directory``.)
    """
    if not text:
        msg = "needs a file name, got ''"
        raise argparse.ArgumentTypeError(msg)
    return text


def parse_labels(option: str, labels: Sequence[str]) -> frozenset[str]:
    """Check labels given on the command line (``--require``) against the label grammar.

    Raises:
        UsageError: naming the option, the label and the rule.

    >>> sorted(parse_labels("--require", ["gpu", "zone=eu-1"]))
    ['gpu', 'zone=eu-1']
    """
    for label in labels:
        if not _LABEL_RE.fullmatch(label):
            msg = f"{option} {show(label)}: a label is {LABEL_RULE}"
            raise UsageError(msg)
    return frozenset(labels)


def integer(text: str) -> int:
    """Argparse type: an integer in ASCII digits with an optional sign (a seed, ...)."""
    value = ascii_int(text)
    if value is None:
        msg = f"must be an integer, got {show(text)}"
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
        number = ascii_int(value) if value[:1].isdigit() else None
        if not sep or not name or number is None:
            msg = f"--weights must be name=integer pairs like 'cpu=1,memory=2', got {show(text)}"
            raise UsageError(msg)
        if name in weights:
            msg = f"--weights names {name!r} twice, got {show(text)}"
            raise UsageError(msg)
        weights[name] = number
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
        "--runners",
        type=bounded_int(1, MAX_RUNNERS),
        metavar="N",
        help=f"a fleet of N identical runners (at most {MAX_RUNNERS:,})",
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
    if shape is not None and not shape.strip():
        raise UsageError("--shape is empty; give a capacity like 'cpu=4,memory=16GiB,slots=16'")
    spec = shape if shape is not None else "cpu=8,memory=32GiB,slots=16"
    try:
        capacity = Runner.parse("probe", spec).capacity
    except RuntimeAllocError as exc:
        msg = f"--shape {show(spec)}: {exc}"
        raise UsageError(msg) from None
    width = max(4, len(str(count)))
    return tuple(Runner(f"r{k:0{width}d}", capacity) for k in range(1, count + 1))


def check_output_path(option: str, value: str | None) -> None:
    """Fail early (before a long run) when an output file cannot be a file in an existing folder.

    Raises:
        UsageError: the folder does not exist, or the path is an existing folder or empty.
    """
    if value is None or value == "-":
        return
    if not value:
        msg = f"{option} needs a file name, got ''"
        raise UsageError(msg)
    path = Path(value).expanduser()
    if path.is_dir():
        msg = f"{option} {show(value)}: is a folder; give a file name"
        raise UsageError(msg)
    parent = path.parent
    if not parent.is_dir():
        msg = f"{option} {show(value)}: folder {str(parent)!r} does not exist"
        raise UsageError(msg)


def check_plot_path(value: str) -> None:
    """Fail early when ``--plot`` is not a file name ending in a supported image type.

    Raises:
        UsageError: naming ``--plot``, the value and the supported types.
    """
    if value == "-":
        raise UsageError("--plot needs a file name, got '-'")
    check_output_path("--plot", value)
    suffix = Path(value).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        kinds = ", ".join(f".{k}" for k in PLOT_FORMATS)
        found = f"type {suffix!r}" if suffix else "no file type"
        msg = f"--plot {show(value)}: {found}; the file name must end in {kinds}"
        raise UsageError(msg)


@contextmanager
def writing(option: str, target: str) -> Iterator[None]:
    """Turn an :class:`OSError` met while writing an output into a message naming it.

    A full disk (``/dev/full``) fails on write, when the error carries no file name.
    """
    try:
        yield
    except OSError as exc:
        where = "stdout" if target == "-" else show(target)
        msg = f"{option} {where}: cannot write: {exc.strerror or exc}"
        raise UsageError(msg) from None


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
