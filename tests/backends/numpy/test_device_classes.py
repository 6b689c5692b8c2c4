"""The device class heaps (backends/numpy/device_classes.py): sound tiers, python's decisions."""

from __future__ import annotations

import random

import pytest

np = pytest.importorskip("numpy")

from runtime_alloc import Allocator, EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner  # noqa: E402
from runtime_alloc.backends.numpy.device_classes import DeviceClasses  # noqa: E402
from runtime_alloc.backends.numpy.device_groups import NTIERS, device_tier, first_tier  # noqa: E402
from tests.backends.probe import allocator_with, numpy_with  # noqa: E402

GI = 1 << 30


def test_a_runner_that_fits_is_never_in_a_skipped_tier():
    """Every (largest free share, wholly free) that takes a request lies at or above its tier."""
    requests = [*range(1, 1001), *(1000 * k for k in range(2, 21))]
    for whole in range(21):
        shares = [1000] if whole else range(1000)
        for share in shares:
            tier = device_tier(share, whole)
            assert 0 <= tier < NTIERS
            for milli in requests:
                fits = share >= milli if milli <= 1000 else whole >= milli // 1000
                if fits:
                    assert tier >= first_tier(milli), (share, whole, milli)


def gpu_fleet(rng: random.Random, n: int) -> list[Runner]:
    fleet = []
    for i in range(n):
        cap = Resources(rng.choice((4000, 8000)), rng.choice((8, 16)) * GI, 110)
        kind = i % 5
        labels = ["A100"] if rng.random() < 0.3 else []
        if kind < 3:
            fleet.append(Runner(f"g{i}", cap, labels, {"gpu": rng.choice((2, 8))}))
        elif kind == 3:  # a pooled gpu capacity: the pooled amount decides
            ext = {"gpu": 4000}
            fleet.append(Runner(f"p{i}", Resources(cap.millicpu, cap.memory_bytes, 110, ext)))
        else:
            fleet.append(Runner(f"c{i}", cap, labels))
    return fleet


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("index", ["auto", "blocks"])
def test_device_requests_equal_python_above_the_scan(maximize, index):
    """3,000 runners (above the scan): shares, whole devices, drains and releases, as python."""
    rng = random.Random(5)
    fleet = gpu_fleet(rng, 3000)
    strategy = MaxPackingStrategy() if maximize else EvenSpreadStrategy()
    ref = Allocator(fleet, strategy=strategy, backend="python")
    fast, backend = allocator_with(numpy_with(index=index), fleet, strategy=strategy)
    held: list[str] = []
    for i in range(1500):
        roll = rng.random()
        if roll < 0.05:
            name = rng.choice(fleet).name
            method = rng.choice(("drain_runner", "undrain_runner"))
            assert getattr(ref, method)(name) == getattr(fast, method)(name)
            continue
        if roll < 0.35 and held:
            task = held.pop(rng.randrange(len(held)))
            assert ref.release(task) == fast.release(task)
            continue
        gpu = rng.choice((100, 300, 500, 1000, 2000, 8000))
        request = Resources(rng.choice((500, 2000)), GI, 1, {"gpu": gpu} if roll < 0.7 else {})
        require_any = ["A100"] if rng.random() < 0.1 else []
        task = f"t{i}"
        left = ref.try_allocate(task, request, require_any=require_any)
        assert left == fast.try_allocate(task, request, require_any=require_any), i
        if left is not None:
            held.append(task)
    assert ref.snapshot() == fast.snapshot()
    assert ("gpu",) in backend.extended_index.indexed()
    backend.check()  # the classes equal classes built afresh from the columns


def test_classes_hold_every_indexed_runner_once():
    rng = random.Random(2)
    fleet = gpu_fleet(rng, 400)
    alloc, backend = allocator_with(numpy_with(index="blocks"), fleet)
    for i in range(300):
        alloc.try_allocate(f"t{i}", Resources(500, GI, 1, {"gpu": rng.choice((250, 1000))}))
    backend.sync()
    classes = DeviceClasses(backend, ("gpu",))
    gpu_rows = {backend.table.row_of[r.name] for r in fleet if r.name[0] in "gp"}
    assert set(classes.group_of) == gpu_rows
    members = sum(sum(g.count.values()) for g in classes.groups.values())
    assert members == len(gpu_rows)  # none draining: every runner in exactly one class


@pytest.mark.parametrize("chunks_too", [False, True])
def test_many_changes_between_device_requests_keep_the_classes(monkeypatch, chunks_too):
    """Past MAX_TOUCHED changed rows the chunks are dropped, the class heaps re-read the rows."""
    from runtime_alloc.backends.numpy import extended_index

    monkeypatch.setattr(extended_index, "MAX_TOUCHED", 16)
    rng = random.Random(9)
    fleet = gpu_fleet(rng, 3000)
    fleet += [Runner(f"f{i}", Resources(8000, 8 * GI, 110, {"fpga": 4})) for i in range(50)]
    ref = Allocator(fleet, backend="python")
    fast, backend = allocator_with(numpy_with(), fleet)
    held: list[str] = []
    classes = None
    for i in range(40):
        for j in range(30):  # cpu-only changes, many on gpu runners
            task = f"c{i}-{j}"
            request = Resources(rng.choice((500, 1500)), GI, 1)
            assert ref.try_allocate(task, request) == fast.try_allocate(task, request)
            held.append(task)
            if rng.random() < 0.5:
                gone = held.pop(rng.randrange(len(held)))
                assert ref.release(gone) == fast.release(gone)
        if chunks_too:  # a pooled-only request keeps a chunk index alive as well
            fpga = Resources(100, GI, 1, {"fpga": 1})
            assert ref.try_allocate(f"f{i}", fpga) == fast.try_allocate(f"f{i}", fpga)
            assert ("fpga",) in backend.extended_index.indexed()
        request = Resources(1000, GI, 1, {"gpu": rng.choice((250, 1000, 2000))})
        assert ref.try_allocate(f"g{i}", request) == fast.try_allocate(f"g{i}", request)
        built = backend.extended_index._classes[("gpu",)]
        assert classes is None or built is classes  # kept, never rebuilt
        classes = built
    backend.check()


@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_float_near_ties_are_settled_like_python(strategy):
    """Reserved (x, y) on 3000*x + 7000*y = 10,500,000: real keys tie, float keys do not.

    As in test_backend's class index test: the float-key order alone picks wrong
    runners (checked: with a zero window, ``REL = 0``, the EvenSpread case fails);
    equal floats go to the runner registered first.
    """
    from runtime_alloc import FleetSnapshot, Reservation, RunnerState

    rng = random.Random(4)
    cap = Resources(7000, 3000, 30)
    held, states = {}, []
    for i in range(120):
        x = rng.randrange(0, 3500) if i % 3 else 1400  # some exact duplicates too
        r = Resources(x, (10_500_000 - 3000 * x) // 7000, 2)
        held[f"w{i}"] = Reservation(f"w{i}", f"r{i}", r)
        states.append(RunnerState(Runner(f"r{i}", cap, (), {"gpu": 8}), r))
    snapshot = FleetSnapshot(tuple(states), held)
    ref = Allocator.from_snapshot(snapshot, strategy=strategy, backend="python")
    fast, backend = allocator_with(
        numpy_with(index="classes"), snapshot=snapshot, strategy=strategy
    )
    for i in range(60):
        gpu = rng.choice((100, 500, 1000))
        request = Resources(rng.randrange(1, 40), rng.randrange(1, 40), 1, {"gpu": gpu})
        left = ref.try_allocate(f"t{i}", request)
        assert left == fast.try_allocate(f"t{i}", request), i
    assert backend.extended_index.indexed() == [("gpu",)]
    backend.check()


def test_too_many_shapes_fall_back_to_the_chunks(monkeypatch):
    from runtime_alloc.backends.numpy import device_classes

    monkeypatch.setattr(device_classes, "MAX_GROUPS", 2)
    rng = random.Random(3)
    fleet = gpu_fleet(rng, 3000)  # cpu 4 or 8, memory 8 or 16 GiB, 2 or 8 gpus, labels
    ref = Allocator(fleet, strategy=MaxPackingStrategy(), backend="python")
    fast, backend = allocator_with(numpy_with(), fleet, strategy=MaxPackingStrategy())
    for i in range(200):
        request = Resources(500, GI, 1, {"gpu": rng.choice((300, 1000, 2000))})
        assert ref.try_allocate(f"t{i}", request) == fast.try_allocate(f"t{i}", request)
    assert backend.extended_index._classes == {("gpu",): None}  # the chunks answered
    assert backend.extended_index.indexed() == [("gpu",)]
    backend.check()
