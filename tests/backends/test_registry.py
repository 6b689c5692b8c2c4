"""The backend registry and make_backend: the one place that picks an engine."""

from __future__ import annotations

import pytest

from runtime_alloc import BACKENDS, Allocator, InvalidArgumentError, Runner
from runtime_alloc.backends import (
    Backend,
    backend_names,
    make_backend,
    register_backend,
    unregister_backend,
)
from runtime_alloc.backends.python import PythonBackend
from runtime_alloc.strategies import EvenSpreadStrategy

#: every Counting backend built, newest last (the test's handle on its backend)
COUNTERS: list[Counting] = []


class Counting(PythonBackend):
    """A python scan that counts its decisions."""

    name = "counting"

    def __init__(self, states, strategy):
        super().__init__(states, strategy)
        self.decisions = 0
        COUNTERS.append(self)

    def choose(self, request, require):
        self.decisions += 1
        return super().choose(request, require)


@pytest.fixture
def counting():
    register_backend("counting", Counting)
    yield
    unregister_backend("counting")


def test_builtins_are_the_public_tuple():
    assert BACKENDS == ("auto", "python", "numpy", "compiled") == backend_names()


@pytest.mark.usefixtures("counting")
def test_a_registered_backend_answers():
    alloc = Allocator([Runner.parse("a", "cpu=2"), Runner.parse("b", "cpu=2")], backend="counting")
    assert alloc.backend == "counting"
    assert [alloc.allocate(t, "cpu=1").runner for t in "xyz"] == ["a", "b", "a"]
    assert COUNTERS[-1].decisions == 3
    assert backend_names() == ("auto", "python", "numpy", "compiled", "counting")
    alloc._check()


@pytest.mark.usefixtures("counting")
def test_names_are_checked():
    for name in ("python", "counting", "", " x"):
        with pytest.raises(InvalidArgumentError, match="backend name"):
            register_backend(name, Counting)
    with pytest.raises(InvalidArgumentError, match="backend factory must be callable"):
        register_backend("other", 3)
    with pytest.raises(InvalidArgumentError, match="no backend is registered as 'other'"):
        unregister_backend("other")


def test_unknown_name():
    with pytest.raises(
        InvalidArgumentError,
        match=r"backend must be one of auto, python, numpy, compiled, got 'gpu'",
    ):
        make_backend("gpu", (), EvenSpreadStrategy())


def test_every_builtin_implements_the_whole_protocol():
    pytest.importorskip("numpy")
    pytest.importorskip("numba")
    for name in BACKENDS:
        assert isinstance(make_backend(name, (), EvenSpreadStrategy()), Backend), name
