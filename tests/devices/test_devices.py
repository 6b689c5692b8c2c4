"""Devices: the runner declaration, the request grammar, feasibility and device choice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import (
    Allocator,
    InvalidResourcesError,
    MaxPackingStrategy,
    Resources,
    Runner,
)
from runtime_alloc.devices import DEVICE_MILLI, fits, parse_device_quantity, pick
from runtime_alloc.runners import RunnerState
from runtime_alloc.testing import check_invariants

# ---------------------------------------------------------------- runners


def test_runner_devices_fill_the_pooled_capacity():
    runner = Runner.parse("n1", "cpu=96,memory=384Gi", devices={"gpu": 8})
    assert dict(runner.devices) == {"gpu": 8}
    assert runner.capacity.extended["gpu"] == 8 * DEVICE_MILLI  # the pooled view
    assert Runner("n1", Resources(1000), devices={"gpu": 8}) == Runner.parse(
        "n1", "cpu=1", devices={"gpu": 8}
    )
    # the capacity may repeat the devices (in devices, like the request grammar)
    assert Runner.parse("n1", "cpu=1,gpu=8", devices={"gpu": 8}) == Runner.parse(
        "n1", "cpu=1", devices={"gpu": 8}
    )
    assert RunnerState(runner).devices == {"gpu": (0,) * 8}


def test_runner_round_trips_its_devices():
    runner = Runner.parse("n1", "cpu=4", ["A100"], devices={"gpu": 2})
    assert Runner.from_dict(runner.to_dict()) == runner
    assert "devices" not in Runner.parse("n2", "cpu=1").to_dict()


@pytest.mark.parametrize(
    ("spec", "devices", "message"),
    [
        ("cpu=1,gpu=3", {"gpu": 8}, "capacity gpu=3000 disagrees with its 8 gpu devices"),
        ("cpu=1", {"gpu": -1}, "runner devices['gpu'] must be non-negative, got -1"),
        ("cpu=1", {"gpu": 1.5}, "runner devices['gpu'] must be an integer, got 1.5"),
        ("cpu=1", {"cpu": 1}, "runner device kind must not be 'cpu'"),
        ("cpu=1", {"gpu": 5000}, "runner devices['gpu'] must be at most 4096, got 5000"),
        ("cpu=1", ["gpu"], "runner devices must be a mapping of kind to device count"),
    ],
)
def test_bad_runner_devices_are_refused(spec, devices, message):
    with pytest.raises(
        InvalidResourcesError, match=message.replace("[", r"\[").replace("(", r"\(")
    ):
        Runner.parse("n1", spec, devices=devices)


# ---------------------------------------------------------------- the rules


def test_device_quantity_grammar():
    assert parse_device_quantity("2", field="gpu") == 2000
    assert parse_device_quantity("500m", field="gpu") == 500
    assert parse_device_quantity(0.25, field="gpu") == 250
    with pytest.raises(InvalidResourcesError, match="gpu must be a number of devices like"):
        parse_device_quantity("2x", field="gpu")
    assert Resources.parse("gpu=500m", device_kinds={"gpu"}).extended["gpu"] == 500


@pytest.mark.parametrize(
    ("used", "milli", "expected"),
    [
        ((0, 700, 400, 1000), 500, ((2, 500),)),  # free 1000, 300, 600, 0: 600 - 500 is least
        ((0, 700, 400, 1000), 300, ((1, 300),)),  # exact fit on device 1
        ((500, 500), 500, ((0, 500),)),  # a tie: the lowest index
        ((0, 700, 0, 0), 2000, ((0, 1000), (2, 1000))),  # lowest wholly free indexes
        ((0, 700, 0, 0), 1000, ((0, 1000),)),  # one whole device = a full share
        ((1, 1), 1000, None),
        ((0, 1, 1), 2000, None),
        ((), 100, None),
    ],
)
def test_pick_best_fit_and_lowest_whole(used, milli, expected):
    assert pick(used, milli) == expected
    assert fits(used, milli) == (expected is not None)


# ---------------------------------------------------------------- the allocator


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_shares_never_straddle_devices(backend):
    pytest.importorskip("numpy") if backend == "numpy" else None
    alloc = Allocator([Runner.parse("g", "cpu=8", devices={"gpu": 2})], backend=backend)
    first = alloc.allocate("t1", "cpu=1,gpu=600m")
    second = alloc.allocate("t2", "cpu=1,gpu=0.6")
    assert (first.devices, second.devices) == ({"gpu": ((0, 600),)}, {"gpu": ((1, 600),)})
    # pooled: 800 free of 2000, but no one device has 600 free
    assert alloc.try_allocate("t3", "cpu=1,gpu=600m") is None
    assert alloc.allocate("t4", "gpu=400m").devices == {"gpu": ((0, 400),)}  # exact fit
    alloc.release("t1")
    assert alloc.allocate("t5", "gpu=500m").devices == {"gpu": ((0, 500),)}
    check_invariants(alloc)


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_whole_devices_need_wholly_free_devices(backend):
    pytest.importorskip("numpy") if backend == "numpy" else None
    alloc = Allocator([Runner.parse("g", "cpu=8", devices={"gpu": 4})], backend=backend)
    alloc.allocate("s", "gpu=100m")
    assert alloc.allocate("w", "gpu=2").devices == {"gpu": ((1, 1000), (2, 1000))}
    assert alloc.try_allocate("x", "gpu=2") is None  # 1.9 gpus free, one device whole
    reservation = alloc.release("w")
    assert reservation.devices == {"gpu": ((1, 1000), (2, 1000))}
    assert alloc.snapshot().runners[0].devices == {"gpu": (100, 0, 0, 0)}
    check_invariants(alloc)


def test_a_runner_without_devices_keeps_pooled_gpus():
    pooled = Runner.parse("p", "cpu=8,gpu=2000")  # no devices: today's pooled milli
    alloc = Allocator([pooled], backend="python")
    assert alloc.allocate("a", Resources(extended={"gpu": 1500})).devices == {}
    with_devices = Allocator([pooled, Runner.parse("g", "cpu=1", devices={"gpu": 1})])
    with pytest.raises(InvalidResourcesError, match="gpu must be a share of one device"):
        with_devices.allocate("b", Resources(extended={"gpu": 1500}))
    with pytest.raises(InvalidResourcesError, match=r"got 1500m"):
        with_devices.allocate("b", "gpu=1.5")
    assert (
        with_devices.snapshot()
        == Allocator([pooled, Runner.parse("g", "cpu=1", devices={"gpu": 1})]).snapshot()
    )  # nothing changed


def test_device_text_in_allocate_many_and_defaults():
    alloc = Allocator([Runner.parse("g", "cpu=8", devices={"gpu": 2})], backend="python")
    out = alloc.allocate_many([("a", "gpu=500m"), ("b", "gpu=500m"), ("c", {"gpu": "1"})])
    assert [r.devices for r in out] == [
        {"gpu": ((0, 500),)},
        {"gpu": ((0, 500),)},
        {"gpu": ((1, 1000),)},
    ]
    assert out[0].resources.slots == 1
    with pytest.raises(InvalidResourcesError, match="slots"):
        alloc.allocate("d", "gpu=1,slots=0")


# ---------------------------------------------------------------- the property

requests = st.tuples(
    st.sampled_from((0, 100, 300, 500, 700, 1000, 2000, 3000, 4000)),
    st.sampled_from((0, 500, 1000)),
)


@settings(max_examples=80, deadline=None)
@given(
    counts=st.lists(st.integers(1, 8), min_size=1, max_size=6),
    ops=st.lists(st.tuples(st.booleans(), requests), max_size=60),
    maximize=st.booleans(),
)
def test_no_placement_that_no_device_can_hold(counts, ops, maximize):
    fleet = [Runner.parse(f"n{i}", "cpu=64", devices={"gpu": c}) for i, c in enumerate(counts)]
    strategy = MaxPackingStrategy() if maximize else None
    alloc = Allocator(fleet, backend="python", **({"strategy": strategy} if strategy else {}))
    for step, (release, (gpu, cpu)) in enumerate(ops):
        snapshot = alloc.snapshot()
        held = sorted(snapshot.reservations)
        if release and held:
            alloc.release(held[step % len(held)])
            continue
        free_before = {s.name: s.devices["gpu"] for s in snapshot.runners}
        reservation = alloc.try_allocate(f"t{step}", Resources(cpu, 0, 1, {"gpu": gpu}))
        could = [n for n, used in free_before.items() if fits(used, gpu)]
        assert (reservation is None) == (not could)  # placed iff some runner's devices hold it
        if reservation is not None and gpu:
            picks = reservation.devices["gpu"]
            assert sum(m for _, m in picks) == gpu
            used = free_before[reservation.runner]
            assert all(used[i] + m <= DEVICE_MILLI for i, m in picks)  # each device holds it
            assert len(picks) == 1 or all(m == DEVICE_MILLI for _, m in picks)
        check_invariants(
            alloc, round_trip=False
        )  # per-device use = sum of picks, within 0..1000, = pooled reserved


def test_auto_backend_keeps_device_decisions_across_its_switch():
    pytest.importorskip("numpy")
    runners = [Runner.parse(f"n{i}", "cpu=16", devices={"gpu": 1 + i % 4}) for i in range(20)]
    ref = Allocator(runners, backend="python")
    auto = Allocator(runners, backend="auto")
    assert auto.backend == "python"
    asks = ("gpu=300m", "gpu=700m", "gpu=1", "gpu=2", "cpu=1,gpu=500m")
    for step in range(200):
        if step == 60:  # the auto backend moves to numpy from 32 runners
            for i in range(20, 40):
                runner = Runner.parse(f"n{i}", "cpu=16", devices={"gpu": 8})
                ref.add_runner(runner)
                auto.add_runner(runner)
            assert auto.backend == "numpy"
        request = asks[step % len(asks)]
        assert ref.try_allocate(f"t{step}", request) == auto.try_allocate(f"t{step}", request)
        held = sorted(ref.snapshot().reservations)
        if step % 3 == 0 and held:
            task = held[step % len(held)]
            assert ref.release(task) == auto.release(task)
    assert ref.snapshot() == auto.snapshot()
    check_invariants(auto)


def test_a_backend_plan_never_books_device_requests_without_devices():
    from runtime_alloc.backends import register_backend, unregister_backend
    from runtime_alloc.backends.python import PythonBackend

    class Planning(PythonBackend):
        name = "planning"

        def plan(self, request, require, count):
            return [next(iter(self.states))] * count  # a run on the first runner

    register_backend("planning", Planning)
    try:
        alloc = Allocator([Runner.parse("g", "cpu=8", devices={"gpu": 8})], backend="planning")
    finally:
        unregister_backend("planning")
    out = alloc.allocate_many([(f"t{i}", "gpu=600m") for i in range(10)])  # a run of 10
    assert [r.devices["gpu"] for r in out[:8]] == [((i, 600),) for i in range(8)]
    assert [r.kind for r in out[8:]] == ["insufficient_capacity"] * 2
    check_invariants(alloc, round_trip=False)  # (the backend is unregistered: no restore)
