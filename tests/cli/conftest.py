"""Helpers for the CLI tests: run main([...]) and capture its streams."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runtime_alloc.cli import main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Call ``main(argv)`` and return (exit code, stdout, stderr)."""

    def call(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return call
