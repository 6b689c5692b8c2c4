"""The readers' package: its names, the names kept where they were, no import cycle."""

from __future__ import annotations

import subprocess
import sys

import pytest

import runtime_alloc.simulation
import runtime_alloc.traces


def test_every_exported_name_exists() -> None:
    for module in (runtime_alloc.traces, runtime_alloc.simulation):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_input_file_error_stays_importable_from_simulation() -> None:
    from runtime_alloc.simulation import InputFileError

    assert InputFileError is runtime_alloc.traces.InputFileError
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = runtime_alloc.simulation.nothing


@pytest.mark.parametrize(
    "first",
    ["runtime_alloc.traces", "runtime_alloc.traces.openb", "runtime_alloc.simulation"],
)
def test_imports_in_a_fresh_interpreter(first: str) -> None:
    code = (
        f"import {first}\n"
        "import runtime_alloc.simulation as s, runtime_alloc.traces as t\n"
        "assert s.InputFileError is t.InputFileError\n"
        "assert t.read_trace_csv.__module__ == 'runtime_alloc.traces.trace_csv'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_simulation_holds_no_reader() -> None:
    code = (
        "import sys, runtime_alloc.simulation\n"
        "print(sorted(m for m in sys.modules if m.startswith('runtime_alloc.traces')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
