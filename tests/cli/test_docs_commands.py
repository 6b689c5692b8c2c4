"""Every ``runtime-alloc ...`` command printed in the docs and the README parses with the CLI.

The commands are parsed with the real argument parser (``build_parser().parse_args``),
not run: a renamed or removed option, a wrong choice or a misspelt subcommand in a
page (or beside a figure) fails here.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from runtime_alloc.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
_FENCE = re.compile(r"^```(?:console|bash|shell|sh)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`(runtime-alloc [^`]+)`")


def _shell_lines(block: str) -> list[str]:
    """Join backslash continuations; drop comments and prompts."""
    lines: list[str] = []
    pending = ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append((pending + line).strip().removeprefix("$ "))
        pending = ""
    return lines


def _commands(text: str) -> list[str]:
    """The ``runtime-alloc`` invocations of a page: in shell blocks and inline code."""
    found: list[str] = []
    for block in _FENCE.findall(text):
        for line in _shell_lines(block):
            words = shlex.split(line, comments=True)
            command: list[str] = []
            for word in [*words, ";"]:
                if word in {"&&", "||", "|", ";"}:
                    if command and command[0] == "runtime-alloc":
                        found.append(shlex.join(command))
                    command = []
                else:
                    command.append(word)
    for inline in _INLINE.findall(text):
        words = shlex.split(inline)
        if len(words) > 1 and not words[1].startswith("<"):
            found.append(inline)
    return found


COMMANDS = [
    pytest.param(command, id=f"{page.name}:{command[:60]}")
    for page in PAGES
    for command in _commands(page.read_text(encoding="utf-8"))
]


def test_the_docs_print_commands():
    pages = {param.id.split(":", 1)[0] for param in COMMANDS}
    assert {"index.md", "tutorial.md", "cli.md", "benchmarks.md", "README.md"} <= pages
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_command_parses(command: str, capsys: pytest.CaptureFixture[str]):
    argv = shlex.split(command)[1:]
    if len(argv) == 1 and not argv[0].startswith("-"):  # a mention (`runtime-alloc fill`)
        subcommands = next(
            a.choices for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
        )
        assert argv[0] in subcommands, f"{command!r} names no subcommand"
        return
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0 and argv[0] in {"--help", "-h", "--version"}:
            return
        _, err = capsys.readouterr()
        pytest.fail(f"{command!r} does not parse (exit {exc.code}): {err}")
    if argv and argv[0] not in {"--help", "-h", "--version"}:
        assert callable(args.run), command


def test_a_wrong_command_is_caught():
    text = "```console\nruntime-alloc simulate --no-such-option 3\n```\n"
    (command,) = _commands(text)
    with pytest.raises(SystemExit):
        build_parser().parse_args(shlex.split(command)[1:])


@pytest.mark.parametrize("command", ["", "simulate", "bench", "explain", "run"])
def test_help_is_plain_text(command: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command.split(), "--help"])
    out, _ = capsys.readouterr()
    assert "usage: runtime-alloc" in out
    for markup in ("``", ":mod:", ":class:", ":func:", ":meth:", ":attr:"):
        assert markup not in out, (command, markup)


_FIGURE = re.compile(r"!\[[^\]]*\]\((img/[^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_figure_has_its_command_on_its_page(page: Path):
    text = page.read_text(encoding="utf-8")
    plots = {
        word
        for command in _commands(text)
        for option, word in zip(shlex.split(command), shlex.split(command)[1:], strict=False)
        if option == "--plot"
    }
    for figure in _FIGURE.findall(text):
        assert f"docs/{figure}" in plots, f"{page.name}: no command beside {figure}"
        assert (ROOT / "docs" / figure).is_file(), figure
