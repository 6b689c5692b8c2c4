"""The ``runtime-alloc`` command line: ``simulate``, ``bench``, ``explain``, ``run`` and ``fill``.

Every user mistake (a bad argument, a bad or missing file) ends with a message
on stderr that names the option or the file and line, and exit code 2; never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from runtime_alloc import __version__
from runtime_alloc.errors import RuntimeAllocError

__all__ = ["COMMANDS", "build_parser", "main"]

_MISSING_EXTRA = (
    "this command needs the optional dependency {name!r}; "
    "install it with: python -m pip install 'runtime_alloc[cli]'"
)


#: The subcommands, in the order ``--help`` lists them. Each is a module of this
#: package with ``HELP`` (one line), ``DESCRIPTION``, ``add_arguments(parser)`` and
#: ``run(args) -> int``; adding a command is adding a module and its name here.
COMMANDS = ("simulate", "bench", "explain", "run", "fill")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand of :data:`COMMANDS` registered.

    Imports each command module (the heavy ones import their dependencies lazily). O(commands).
    """
    parser = argparse.ArgumentParser(
        prog="runtime-alloc",
        description="Compare and inspect runtime_alloc placement strategies.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"runtime_alloc.cli.{name}")
        command = commands.add_parser(name, help=module.HELP, description=module.DESCRIPTION)
        command.set_defaults(run=module.run)
        module.add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 2 usage or input error).

    Cost: parsing is O(len(argv)); the subcommand's ``run`` states its own cost.

    >>> main(["--version"])  # doctest: +ELLIPSIS
    runtime-alloc ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse reported
        return 0 if exc.code in (0, None) else 2
    prog = f"runtime-alloc {args.command}"
    for name, value in vars(args).items():
        # argparse drops a value of "--" ("--runners=--") and stores [] instead of a string
        # (no option has a list default, so [] or a list inside a repeated option is that)
        if isinstance(value, list) and (not value or any(isinstance(v, list) for v in value)):
            option = "--" + name.replace("_", "-")
            message = f"argument {option}: expected one value, got '--'"
            print(f"{prog}: error: {message}", file=sys.stderr)
            return 2
    try:
        with warnings.catch_warnings():
            # a library warning (UndeclaredWeightWarning for --weights) is one line naming the
            # command, not Python's "file.py:130: Category: ..." and the source line
            warnings.showwarning = _warning_printer(prog)
            code: int = args.run(args)
    except RuntimeAllocError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        print(f"{prog}: error: {_MISSING_EXTRA.format(name=exc.name)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return code


def _warning_printer(prog: str) -> Any:  # noqa: ANN401 (the signature of warnings.showwarning)
    """A ``warnings.showwarning`` that prints ``{prog}: warning: {message}`` on stderr. O(1)."""

    def show(  # noqa: PLR0917 (the signature of warnings.showwarning)
        message: Warning | str,
        category: type[Warning],  # noqa: ARG001
        filename: str,  # noqa: ARG001
        lineno: int,  # noqa: ARG001
        file: TextIO | None = None,
        line: str | None = None,  # noqa: ARG001
    ) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr if file is None else file)

    return show
