"""The testing harness on fleets with devices: the state machine checks every device pick.

Each placement must take the devices the documented rule picks (best fit for a share,
lowest wholly free indexes for whole devices), never a runner whose devices cannot
hold the request; snapshots, restarts and releases keep device use exactly; and the
python and numpy backends run in lock step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize

from runtime_alloc import Allocator, EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner
from runtime_alloc.testing import AllocatorStateMachine, check_invariants, fleets
from runtime_alloc.testing.machine import _Fleet
from tests.property.test_state_machine import INDEXES, Lockstep, numpy_unavailable

DEVICE_FLEETS = fleets(
    Resources(8000, 1 << 33, 16),
    devices=st.sampled_from([{}, {"gpu": 1}, {"gpu": 2}, {"gpu": 4}, {"gpu": 4}]),
    max_size=4,
)
GPU = st.sampled_from((0, 100, 300, 500, 500, 700, 1000, 2000, 3000))
DEVICE_REQUESTS = st.builds(
    lambda cpu, gpu: Resources(cpu, 0, 1, {"gpu": gpu}), st.sampled_from((0, 500, 2000)), GPU
)


class DeviceMachine(AllocatorStateMachine):
    """The harness's machine on device fleets, one strategy per run."""

    strategy: Any = None

    @initialize(
        fleet=DEVICE_FLEETS.map(_Fleet),
        strategy=st.sampled_from([MaxPackingStrategy(), EvenSpreadStrategy()]),
    )
    def init_allocator(self, fleet: list[Runner], strategy: Any) -> None:
        self.strategy = strategy
        super().init_allocator(fleet)

    def make_strategy(self) -> Any:
        return self.strategy

    def make_allocator(self, fleet: Sequence[Runner]) -> Any:
        return Allocator(fleet, strategy=self.strategy, backend="python")

    def request_strategy(self) -> st.SearchStrategy[Resources]:
        return DEVICE_REQUESTS


class DeviceParityMachine(DeviceMachine):
    check_round_trip = False  # the restart rule still restores both backends from JSON

    @initialize(
        fleet=DEVICE_FLEETS.map(_Fleet),
        strategy=st.sampled_from([MaxPackingStrategy(), EvenSpreadStrategy()]),
        index=st.sampled_from(INDEXES),  # these small fleets are scanned under "auto"
    )
    def init_allocator(self, fleet: list[Runner], strategy: Any, index: str) -> None:
        self.index = index
        super().init_allocator(fleet, strategy)

    def make_allocator(self, fleet: Sequence[Runner]) -> Lockstep:
        return Lockstep.build(fleet, index=self.index, strategy=self.strategy)

    def restore_allocator(self, data: dict[str, Any]) -> Lockstep:
        return Lockstep.from_snapshot(data, index=self.index, strategy=self.strategy)


class TestDeviceMachine(DeviceMachine.TestCase):  # type: ignore[name-defined]
    settings = settings(max_examples=60, deadline=None)


_SKIP = numpy_unavailable()


@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
class TestDeviceParity(DeviceParityMachine.TestCase):  # type: ignore[name-defined]
    settings = settings(max_examples=40, deadline=None)


def test_check_invariants_reports_a_broken_device():
    alloc = Allocator([Runner.parse("g", "cpu=1", devices={"gpu": 2})], backend="python")
    alloc.allocate("a", "gpu=500m")
    bad = alloc.snapshot()
    state = bad.runners[0]
    broken = type(state)(state.runner, state.reserved, state.draining, {"gpu": (0, 500)})
    snapshot = type(bad)((broken,), bad.reservations)
    with pytest.raises(AssertionError, match="device use"):
        check_invariants(snapshot, round_trip=False)
