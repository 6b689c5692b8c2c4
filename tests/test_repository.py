"""The repository keeps its promises: the README's commands, the CI script, the docs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import runtime_alloc

ROOT = Path(__file__).resolve().parents[1]


def readme_console_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```console\n(.+?)\n```", quickstart)


def test_quickstart_has_exactly_two_one_line_commands() -> None:
    lines = readme_console_lines()
    assert len(lines) == 2
    assert all("\n" not in line for line in lines)
    assert "runtime-alloc simulate" in lines[0]
    assert "pytest" in lines[1]


def test_ci_runs_the_readme_test_line_verbatim() -> None:
    test_line = readme_console_lines()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_line in ci


def test_readme_embedding_example_runs(capsys, monkeypatch) -> None:
    monkeypatch.delenv("ALLOCATOR_STRATEGY", raising=False)
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Embedding\n\n```python\n(.+?)```", text, re.DOTALL)
    assert block is not None
    code = block.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102
    assert "run extract-1 on w2" in capsys.readouterr().out


def test_public_names_are_exported() -> None:
    # (the order of __all__ is checked by ruff's RUF022 in the test line)
    names = runtime_alloc.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(runtime_alloc, name), name
    for required in (
        "parse_cpu", "parse_memory", "parse_slots", "Resources", "Runner", "Reservation",
        "EvenSpreadStrategy", "MaxPackingStrategy", "strategy_from_env", "Allocator", "FleetSnapshot",
        "RuntimeAllocError", "InvalidResourcesError", "UnknownStrategyError", "AllocationError",
        "InsufficientCapacityError", "UnschedulableError", "DuplicateTaskError", "UnknownTaskError",
        "DuplicateRunnerError", "UnknownRunnerError", "RunnerBusyError",
    ):  # fmt: skip
        assert required in names, required


def test_error_hierarchy() -> None:
    from runtime_alloc import errors

    assert issubclass(errors.InvalidResourcesError, ValueError)
    assert issubclass(errors.UnknownStrategyError, ValueError)
    assert issubclass(errors.UnknownTaskError, KeyError)
    assert issubclass(errors.UnknownRunnerError, KeyError)
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, errors.RuntimeAllocError), name


def test_changelog_has_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text


FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for python in .ci/run: exits 5 (pytest collected nothing) for the step named by
# $EMPTY_STEP, 0 for everything else; `-m venv DIR` makes DIR/bin/python this same script.
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$4/bin" && cp "$0" "$4/bin/python"
  exit 0
fi
case " $* " in
  *" -m $EMPTY_STEP "*) exit 5 ;;
esac
exit 0
"""


@pytest.mark.parametrize(
    ("empty_step", "status"), [("nothing", 0), ("integration", 5), ("airflow", 5)]
)
def test_ci_fails_a_step_that_collects_no_tests(tmp_path, empty_step, status) -> None:
    # pytest exits 5 when it collects nothing: steps 2 and 3 must fail then, or CI would pass
    # with every integration (or Airflow) test deselected.
    (tmp_path / ".ci").mkdir()
    script = tmp_path / ".ci" / "run"
    script.write_text((ROOT / ".ci" / "run").read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in [("python", FAKE_PYTHON), ("redis-server", "#!/bin/sh\nexit 0\n")]:
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "EMPTY_STEP": empty_step}
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == status, done.stderr
