"""The small-fleet scan of the numpy backend (backends/numpy/scan.py): exact at the edges."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("numpy")

from runtime_alloc import Allocator, MaxPackingStrategy, Resources, Runner
from runtime_alloc._units import MAX_QUANTITY
from runtime_alloc.backends.numpy import NumpyBackend


def test_small_fleets_are_scanned_and_large_ones_indexed():
    small = Allocator([Runner.parse(f"r{i}", "cpu=4") for i in range(100)], backend="numpy")
    small.allocate("t", "cpu=1")
    assert small._backend.scanning
    assert small._backend.classes is None


def test_lowest_score_strategies_scan_only_small_fleets_or_many_shapes():
    from runtime_alloc import EvenSpreadStrategy
    from runtime_alloc.backends.numpy.backend import MAX_SHAPES, SCAN_ROWS_LOWEST

    n = SCAN_ROWS_LOWEST + 100
    few = [Runner.parse(f"r{i}", f"cpu={1 + i % 3}") for i in range(n)]
    many = [Runner(f"r{i}", Resources(1000 + i, slots=4)) for i in range(MAX_SHAPES + 1)]
    for fleet, strategy, scans in (
        (few, EvenSpreadStrategy(), False),  # the class index
        (few, MaxPackingStrategy(), True),  # up to SCAN_ROWS
        (many, EvenSpreadStrategy(), True),  # too many shapes for the class index
        (few[:SCAN_ROWS_LOWEST], EvenSpreadStrategy(), True),
    ):
        alloc = Allocator(fleet, strategy=strategy, backend="numpy")
        ref = Allocator(fleet, strategy=strategy, backend="python")
        for i in range(20):
            assert alloc.allocate(f"t{i}", "cpu=500m") == ref.allocate(f"t{i}", "cpu=500m")
        assert alloc._backend.scanning is scans
        assert (alloc._backend.classes is None) is scans
    grown = Allocator(few[:SCAN_ROWS_LOWEST], backend="numpy")  # EvenSpread
    grown.allocate("t", "cpu=1")
    assert grown._backend.scanning
    grown.add_runner(Runner.parse("extra", "cpu=2"))
    grown.allocate("u", "cpu=1")
    assert not grown._backend.scanning  # crossed SCAN_ROWS_LOWEST: indexed


def test_feasibility_is_exact_at_the_largest_quantity():
    # 2**53 - 1 + 2 rounds to 2**53 in float64: the scan must still see that it does not fit
    # (MaxPacking would prefer the fuller runner if it fitted)
    big = Resources(millicpu=MAX_QUANTITY, slots=4)
    fleet = [Runner("huge", big), Runner("small", Resources.parse("cpu=1,slots=4"))]
    for backend in ("python", "numpy"):
        alloc = Allocator(fleet, strategy=MaxPackingStrategy(), backend=backend)
        alloc.allocate("fill", Resources(millicpu=MAX_QUANTITY - 1, slots=1))
        assert alloc.get_reservation("fill").runner == "huge"
        placed = alloc.try_allocate("t", Resources(millicpu=2, slots=1))
        assert placed is not None
        assert placed.runner == "small", backend


def test_float_amounts_are_exact_below_two_to_the_52():
    # capacities below 2**52: the scan keeps float64 amounts; r + q stays below 2**53
    # (exact), so a request one unit too large still does not fit the fuller runner
    from runtime_alloc.backends.numpy.scan import FLOAT_EXACT

    top = FLOAT_EXACT - 1
    fleet = [
        Runner("big", Resources(millicpu=top, memory_bytes=top, slots=4)),
        Runner("small", Resources.parse("cpu=1,memory=1Gi,slots=4")),
    ]
    allocs = {
        backend: Allocator(fleet, strategy=MaxPackingStrategy(), backend=backend)
        for backend in ("python", "numpy")
    }
    steps = [
        Resources(millicpu=top - 1, slots=1),
        Resources(millicpu=2, slots=1),  # does not fit "big" by one unit
        Resources(millicpu=1, memory_bytes=top - 5, slots=1),
        Resources(millicpu=1, memory_bytes=6, slots=1),  # one byte too much for "big"
        Resources(memory_bytes=FLOAT_EXACT, slots=1),  # 2**52: the int64 path from here
        Resources(millicpu=1, slots=1),
    ]
    for i, request in enumerate(steps):
        got = [allocs[b].try_allocate(f"t{i}", request) for b in ("python", "numpy")]
        assert got[0] == got[1], (i, got)
    arrays = allocs["numpy"]._backend._arrays
    assert arrays is not None
    assert not arrays.floats  # moved to int64 at the 2**52 request
    fresh = Allocator(fleet, strategy=MaxPackingStrategy(), backend="numpy")
    fresh.allocate("t", "cpu=1")
    assert fresh._backend._arrays.floats


@pytest.mark.parametrize("weights", [None, {"cpu": 3, "memory": 2}, {"slots": 0, "memory": 5}])
def test_the_scan_equals_the_python_scan_with_weights_labels_and_drains(weights):
    rng = random.Random(7)
    fleet = [
        Runner(
            f"r{i}",
            Resources(rng.choice((1000, 2000, 4000)), rng.choice((1, 2, 4)) << 30, 8),
            frozenset(rng.sample(("ssd", "gpu-host", "eu"), rng.randint(0, 2))),
        )
        for i in range(60)
    ]
    ref = Allocator(fleet, strategy=MaxPackingStrategy(weights), backend="python")
    fast = Allocator(fleet, strategy=MaxPackingStrategy(weights), backend="python")
    fast._backend = NumpyBackend(fast._states, fast.strategy, index="scan")
    for i in range(400):
        if i % 50 == 7:
            for alloc in (ref, fast):
                alloc.drain_runner(f"r{i % 60}")
        request = Resources(rng.randint(100, 900), rng.randint(1, 512) << 20, rng.randint(1, 2))
        require = rng.choice(((), ("ssd",), ("eu", "ssd")))
        a = ref.try_allocate(f"t{i}", request, require=require)
        b = fast.try_allocate(f"t{i}", request, require=require)
        assert a == b, i
        if a is not None and rng.random() < 0.4:
            ref.release(f"t{i}")
            fast.release(f"t{i}")
    fast._backend.check()
    fast._check()
