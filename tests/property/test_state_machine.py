"""The project's own state-machine tests, built on runtime_alloc.testing.

- the StrategyContract (state machine + strategy properties) for both built-in
  strategies and for a custom strategy written against the documented protocol;
- python/numpy parity: a wrapper runs both backends in lock step and the
  machine fails on the first difference (skipped, with the reason, when the
  numpy backend cannot be built here).

Run ``python tests/property/test_state_machine.py`` to print how many
state-machine steps the active hypothesis profile runs (see docs/testing.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, run_state_machine_as_test

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    MaxPackingStrategy,
    Resources,
    Runner,
    RunnerState,
    RuntimeAllocError,
)
from runtime_alloc.testing import (
    AllocatorStateMachine,
    StrategyContract,
    describe_difference,
    fleets,
)
from runtime_alloc.testing.machine import _Fleet
from tests.backends.probe import allocator_with, numpy_with

#: The numpy indexes a parity run forces (fleets this small are scanned under "auto").
INDEXES = ("auto", "blocks", "classes", "scan")


class LeastTasks:
    """A custom strategy from the protocol's docstring: fewest reserved slots wins."""

    name = "LeastTasks"
    maximize = False

    def score(self, state: RunnerState, request: Resources) -> float:
        return float(state.reserved.slots)


class TestEvenSpreadContract(StrategyContract):
    strategy = EvenSpreadStrategy()


class TestMaxPackingContract(StrategyContract):
    strategy = MaxPackingStrategy({"memory": 2, "gpu": 3})
    # The round trip after every step is checked in the EvenSpread run; here the
    # restart rule still checks it at random points, at a third less cost.
    check_round_trip = False


class TestLeastTasksContract(StrategyContract):
    strategy = LeastTasks()
    # The built-in strategies get the profile's full budget; this one shows the
    # contract on a user strategy and keeps the suite fast.
    state_machine_settings = settings(max_examples=30, deadline=None)
    property_settings = settings(max_examples=30, deadline=None)


# ---------------------------------------------------------------------- parity


def numpy_unavailable() -> str | None:
    """Why ``Allocator(backend="numpy")`` cannot be built here, or None when it can (a real attempt)."""
    try:
        Allocator([Runner.parse("r0", "cpu=1")], backend="numpy")
    except (RuntimeAllocError, ImportError) as exc:
        return f"numpy backend unavailable: {exc}"
    return None


class Lockstep:
    """An executor-style wrapper: every call goes to a python and a numpy allocator.

    Results (or the error type and message) must be equal, and so must the
    snapshots after every call; the first difference is an AssertionError.
    """

    def __init__(self, python: Allocator, numpy: Allocator) -> None:
        self.python = python
        self.numpy = numpy

    @property
    def strategy(self) -> Any:
        return self.python.strategy

    @property
    def max_task_slots(self) -> int:
        return self.python.max_task_slots

    def __len__(self) -> int:
        assert len(self.python) == len(self.numpy)
        return len(self.python)

    def _both(self, method: str, *args: Any, **kwargs: Any) -> Any:
        results = []
        raised: RuntimeAllocError | None = None
        for alloc in (self.python, self.numpy):
            try:
                results.append(("ok", getattr(alloc, method)(*args, **kwargs)))
            except RuntimeAllocError as exc:
                results.append((type(exc), str(exc)))
                raised = raised or exc
        call = f"{method}{args!r}"
        assert results[0] == results[1], f"python and numpy differ on {call}: {results}"
        one, two = self.python.snapshot(), self.numpy.snapshot()
        assert one == two, (
            f"python and numpy snapshots differ after {call}:\n{describe_difference(one, two)}"
        )
        _, value = results[0]
        if raised is not None:
            raise raised  # the python side's error (equal to the numpy side's)
        return value

    def allocate(self, *args: Any, **kwargs: Any) -> Any:
        return self._both("allocate", *args, **kwargs)

    def release(self, *args: Any, **kwargs: Any) -> Any:
        return self._both("release", *args, **kwargs)

    def allocate_many(self, items: Any) -> Any:
        return self._both("allocate_many", list(items))

    def metrics(self) -> Any:
        return self._both("metrics")

    def add_runner(self, *args: Any) -> Any:
        return self._both("add_runner", *args)

    def drain_runner(self, *args: Any) -> Any:
        return self._both("drain_runner", *args)

    def undrain_runner(self, *args: Any) -> Any:
        return self._both("undrain_runner", *args)

    def remove_runner(self, *args: Any, **kwargs: Any) -> Any:
        return self._both("remove_runner", *args, **kwargs)

    def snapshot(self) -> Any:
        return self.python.snapshot()

    @classmethod
    def build(cls, fleet: Sequence[Runner], *, index: str = "auto", **kwargs: Any) -> Lockstep:
        """Python and numpy allocators on ``fleet``, the numpy one with ``index`` forced."""
        fast, _ = allocator_with(numpy_with(index=index), fleet, **kwargs)
        return cls(Allocator(fleet, backend="python", **kwargs), fast)

    @classmethod
    def from_snapshot(cls, data: Any, *, index: str = "auto", **kwargs: Any) -> Lockstep:
        fast, _ = allocator_with(numpy_with(index=index), snapshot=data, **kwargs)
        return cls(Allocator.from_snapshot(data, backend="python", **kwargs), fast)


class ParityMachine(AllocatorStateMachine):
    """Python and numpy in lock step, under a strategy drawn per run."""

    strategy: Any = None
    check_round_trip = False  # the restart rule still restores both backends from JSON

    @initialize(
        fleet=fleets().map(_Fleet),
        strategy=st.sampled_from(
            [MaxPackingStrategy(), EvenSpreadStrategy(), MaxPackingStrategy({"cpu": 3, "gpu": 0})]
        ),
        index=st.sampled_from(INDEXES),
    )
    def init_allocator(self, fleet: list[Runner], strategy: Any, index: str) -> None:
        self.strategy = strategy
        self.index = index
        super().init_allocator(fleet)

    def make_strategy(self) -> Any:
        return self.strategy

    def make_allocator(self, fleet: Sequence[Runner]) -> Lockstep:
        return Lockstep.build(fleet, index=self.index, strategy=self.strategy)

    def restore_allocator(self, data: dict[str, Any]) -> Lockstep:
        return Lockstep.from_snapshot(data, index=self.index, strategy=self.strategy)


_SKIP_PARITY = numpy_unavailable()


@pytest.mark.skipif(_SKIP_PARITY is not None, reason=_SKIP_PARITY or "")
class TestParity(ParityMachine.TestCase):  # type: ignore[name-defined]
    # A fixed budget under every profile: each step runs both backends.
    settings = settings(max_examples=100, deadline=None)


# ---------------------------------------------------------------------- step count


class _Counting(AllocatorStateMachine):
    total_steps = 0
    runs = 0

    def teardown(self) -> None:
        type(self).total_steps += self.steps
        type(self).runs += 1


def count_steps(machine: type[AllocatorStateMachine]) -> tuple[int, int, float]:
    """Run ``machine`` under the active profile; return (runs, steps, seconds)."""

    class Counted(_Counting, machine):  # type: ignore[misc, valid-type]
        total_steps = 0
        runs = 0

    start = time.perf_counter()
    run_state_machine_as_test(Counted, settings=settings(database=None))
    return Counted.runs, Counted.total_steps, time.perf_counter() - start


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import conftest  # noqa: F401  (registers and loads the hypothesis profile)

    print(f"profile: {settings.default}")  # noqa: T201
    machines = [("EvenSpreadStrategy", AllocatorStateMachine), ("Parity", ParityMachine)]
    for label, machine in machines:
        if machine is ParityMachine and _SKIP_PARITY:
            print(f"{label}: skipped ({_SKIP_PARITY})")  # noqa: T201
            continue
        runs, steps, seconds = count_steps(machine)
        print(f"{label}: {runs} runs, {steps} steps, {seconds:.1f} s")  # noqa: T201
