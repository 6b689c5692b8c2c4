"""Why a device request or a label OR fails: the same error text on both backends."""

from __future__ import annotations

import pytest

from runtime_alloc import Allocator, InsufficientCapacityError, Runner, UnschedulableError
from runtime_alloc.errors import Shortfall

BACKENDS = ["python", "numpy"]


def fragmented(backend: str) -> Allocator:
    """Two runners of 2 gpus, each device 700m used: 600m pooled free each, 300m per device."""
    if backend == "numpy":
        pytest.importorskip("numpy")
    alloc = Allocator(
        [Runner.parse(f"g{i}", "cpu=8", ["A100"], devices={"gpu": 2}) for i in range(2)]
        + [Runner.parse("cpu", "cpu=8")],
        backend=backend,
    )
    for i in range(4):
        alloc.allocate(f"t{i}", "gpu=700m")
    return alloc


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_share_no_device_holds(backend):
    error = fragmented(backend).allocate_or_error("x", "gpu=500m")
    assert isinstance(error, InsufficientCapacityError)
    assert list(error.reasons) == [
        "insufficient gpu devices: largest free share 300m",
        "insufficient gpu",
    ]
    assert str(error) == (
        "0/3 runners can take task 'x': 2 insufficient gpu devices: largest free share 300m, "
        "1 insufficient gpu"
    )
    # pooled, some runner had 600m free (short in devices); one device has 300m at most
    assert error.shortfalls == (Shortfall("gpu", 500, 600), Shortfall("gpu devices", 500, 300))


@pytest.mark.parametrize("backend", BACKENDS)
def test_whole_devices_none_free(backend):
    alloc = fragmented(backend)
    alloc.release("t0")  # g0: device 0 wholly free again
    error = alloc.allocate_or_error("x", "gpu=2")
    # pooled short everywhere (g0 1300m, g1 600m, cpu 0 free): no device reason on top
    assert dict(error.reasons) == {"insufficient gpu": 3}
    assert error.shortfalls == (Shortfall("gpu", 2000, 1300),)


@pytest.mark.parametrize("backend", BACKENDS)
def test_whole_devices_pooled_enough_but_fragmented(backend):
    if backend == "numpy":
        pytest.importorskip("numpy")
    alloc = Allocator([Runner.parse("g", "cpu=8", devices={"gpu": 4})], backend=backend)
    alloc.allocate("a", "gpu=500m")  # device 0
    alloc.allocate("x", "gpu=600m")  # device 0 has 500m free: device 1
    alloc.allocate("y", "gpu=400m")  # best fit: device 1 (exactly 400m free)
    alloc.release("x")  # use (500, 400, 0, 0): 3100m free in the pool, 2 whole devices
    error = alloc.allocate_or_error("z", "gpu=3")
    assert str(error) == (
        "0/1 runners can take task 'z': 1 insufficient gpu devices: 2 wholly free of 3"
    )
    assert error.shortfalls == (Shortfall("gpu devices", 3000, 2000),)


@pytest.mark.parametrize("backend", BACKENDS)
def test_require_any_missing_everywhere_is_unschedulable(backend):
    alloc = fragmented(backend)
    error = alloc.allocate_or_error("x", "cpu=1", require_any=["V100", "H100"])
    assert isinstance(error, UnschedulableError)
    assert dict(error.reasons) == {"missing any label of H100,V100": 3}
    error = alloc.allocate_or_error("y", "cpu=1", require=["A100"], require_any=["V100"])
    assert dict(error.reasons) == {"missing any label of V100": 2, "missing label A100": 1}
