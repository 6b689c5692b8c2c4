"""The pure-Python path never depends on numpy: the core tests pass with numpy hidden."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Core test modules run with numpy unimportable.
CORE_TESTS = [
    "tests/test_allocator.py",
    "tests/test_resources.py",
    "tests/test_strategies.py",
    "tests/test_units.py",
]

# A finder that refuses numpy, installed before anything else is imported
# (``sys.modules["numpy"] = None`` would trip libraries that look numpy up there).
HIDE = """\
import sys
class _NoNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ModuleNotFoundError("numpy is hidden for this test", name=name)
        return None
sys.meta_path.insert(0, _NoNumpy())
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HIDE + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_core_tests_pass_without_numpy():
    args = [
        *(p for p in CORE_TESTS if (ROOT / p).exists()),
        "-q",
        "-p",
        "no:cacheprovider",
        "-x",
        "-k",
        "not numpy",
    ]
    result = run(f"import pytest; sys.exit(pytest.main({args!r}))")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


def test_backends_without_numpy():
    result = run(
        "from runtime_alloc import Allocator, Runner, InvalidArgumentError\n"
        "fleet = [Runner.parse(f'r{i}', 'cpu=4') for i in range(2000)]\n"
        "a = Allocator(fleet, backend='auto')\n"
        "assert a.backend == 'python', a.backend\n"
        "assert a.allocate('t', 'cpu=1').runner == 'r0'\n"
        "assert len(a.allocate_many([(f'm{i}', 'cpu=1') for i in range(20)])) == 20\n"
        "try:\n"
        "    Allocator(fleet, backend='numpy')\n"
        "except InvalidArgumentError as exc:\n"
        "    print(exc)\n"
        "assert 'numpy' not in sys.modules\n"
    )
    assert result.returncode == 0, result.stderr
    assert "backend 'numpy' needs numpy: pip install 'runtime_alloc[numpy]'" in result.stdout
