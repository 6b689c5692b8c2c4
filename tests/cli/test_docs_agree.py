"""docs/cli.md and the command line agree: the options, the bounds and the fleet rules."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from runtime_alloc.cli import build_parser
from runtime_alloc.cli._common import MAX_PLOT_RUNNERS, MAX_RUNNERS
from runtime_alloc.cli.bench import MAX_DECISIONS, MAX_REPEATS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")


def _options() -> dict[str, set[str]]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: {o for a in sub._actions for o in a.option_strings if o.startswith("--")} - {"--help"}
        for name, sub in commands.choices.items()
    }


def test_every_option_is_documented_and_every_documented_option_exists():
    options = _options()
    every = set().union(*options.values()) | {"--version", "--help"}
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", DOC))
    assert documented - every == set(), "docs/cli.md names options the CLI lacks"
    for command, names in options.items():
        section = DOC.split(f"## `runtime-alloc {command}`", 1)[1].split("\n## ", 1)[0]
        intro = DOC.split("\n## ", 1)[0]
        missing = {o for o in names if o not in section and o not in intro}
        assert missing == set(), (command, missing)


def test_documented_bounds_are_the_enforced_ones():
    assert f"at most {MAX_RUNNERS:,} identical runners" in DOC
    assert f"at most {MAX_PLOT_RUNNERS:,} runners" in DOC
    assert f"at most\n{MAX_DECISIONS:,}" in DOC or f"at most {MAX_DECISIONS:,}" in DOC
    assert f"at most {MAX_REPEATS:,}" in DOC


def test_a_csv_trace_without_a_fleet_is_the_documented_error(tmp_path, run):
    assert "a csv trace is an error (`--trace FILE needs a fleet:" in DOC.replace("\n", " ")
    trace = tmp_path / "t.csv"
    trace.write_text("task_id,submit,duration\nt1,0,5\n")
    code, _, err = run("simulate", "--trace", str(trace))
    assert code == 2
    assert "--trace FILE needs a fleet: --fleet FILE or --runners N" in err
