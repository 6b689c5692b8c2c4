"""Differential test: with device runners, the numpy backend makes exactly the python decisions.

Fleets mix runners with gpu devices, runners with a pooled gpu capacity and runners
without gpus; requests ask gpu shares (100m..1000m) and whole gpus. After every step
both allocators returned equal results (reservations with their devices, or errors
of the same type and text), hold equal snapshots, and the numpy index agrees.
"""

# ruff: noqa: B023  (each lambda is called at once, inside its loop iteration)
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")

from runtime_alloc import Allocator, EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner  # noqa: E402
from runtime_alloc.testing import check_invariants  # noqa: E402
from tests.backends.probe import allocator_with, check_index, numpy_with  # noqa: E402

GI = 1 << 30


def make_runner(rng: random.Random, name: str) -> Runner:
    cap = Resources(rng.choice((2000, 8000, 32000)), rng.choice((GI, 8 * GI)), 110)
    labels = [m for m in ("V100", "A100") if rng.random() < 0.4]
    kind = rng.random()
    if kind < 0.6:
        return Runner(name, cap, labels, {"gpu": rng.choice((1, 2, 4, 8))})
    if kind < 0.75:  # a pooled gpu capacity, in milli
        return Runner(name, Resources(cap.millicpu, cap.memory_bytes, 110, {"gpu": 4000}), labels)
    return Runner(name, cap, labels)


def make_request(rng: random.Random) -> Resources:
    gpu = rng.choice((0, 100, 250, 300, 500, 500, 700, 1000, 1000, 2000, 4000, 8000))
    return Resources(rng.choice((0, 500, 1000)), rng.choice((0, GI // 4)), 1, {"gpu": gpu})


def outcome(call):
    try:
        return ("ok", call())
    except Exception as exc:  # compare any error by type and text
        return ("error", type(exc), str(exc))


@settings(max_examples=60, deadline=None)
@given(
    maximize=st.booleans(),
    size=st.integers(0, 12),
    seed=st.integers(0, 2**32 - 1),
    block=st.sampled_from((1, 4, 64)),
    index=st.sampled_from(("auto", "blocks", "classes", "scan")),
    ops=st.lists(
        st.tuples(
            st.sampled_from(
                ("allocate", "allocate", "allocate", "many", "release", "add", "drain", "remove")
            ),
            st.integers(0, 2**32 - 1),
        ),
        max_size=40,
    ),
)
def test_numpy_equals_python_with_devices(maximize, size, seed, block, index, ops):  # noqa: PLR0917
    strategy = MaxPackingStrategy() if maximize else EvenSpreadStrategy()
    rng = random.Random(seed)
    fleet = [make_runner(rng, f"r{i}") for i in range(size)]
    ref = Allocator(fleet, strategy=strategy, backend="python")
    fast, backend = allocator_with(
        numpy_with(block_size=block, index=index), fleet, strategy=strategy
    )
    for i in range(3 * size):  # a warm start: the devices fill and fragment
        request = make_request(rng)
        left = outcome(lambda: ref.try_allocate(f"w{i}", request))
        assert left == outcome(lambda: fast.try_allocate(f"w{i}", request))
    counter = size
    for kind, op_seed in ops:
        op_rng = random.Random(op_seed)
        snapshot = ref.snapshot()
        names = [s.name for s in snapshot.runners]
        tasks = sorted(snapshot.reservations)
        if kind == "allocate":
            request = make_request(op_rng)
            require = ["A100"] if op_rng.random() < 0.2 else []
            task = f"t{op_seed}"
            left = outcome(lambda: ref.allocate(task, request, require=require))
            right = outcome(lambda: fast.allocate(task, request, require=require))
        elif kind == "many":
            request = make_request(op_rng)
            items = [(f"m{op_seed}-{j}", request) for j in range(op_rng.choice((3, 8, 20)))]
            left = outcome(lambda: [str(r) for r in ref.allocate_many(items)])
            right = outcome(lambda: [str(r) for r in fast.allocate_many(items)])
        elif kind == "release" and tasks:
            task = op_rng.choice(tasks)
            left = outcome(lambda: ref.release(task))
            right = outcome(lambda: fast.release(task))
        elif kind == "add":
            counter += 1
            runner = make_runner(op_rng, f"n{counter}")
            left = outcome(lambda: ref.add_runner(runner))
            right = outcome(lambda: fast.add_runner(runner))
        elif kind in ("drain", "remove") and names:
            name = op_rng.choice(names)
            if kind == "remove":
                left = outcome(lambda: ref.remove_runner(name, force=True))
                right = outcome(lambda: fast.remove_runner(name, force=True))
            else:
                left = outcome(lambda: ref.drain_runner(name))
                right = outcome(lambda: fast.drain_runner(name))
        else:
            continue
        assert left == right, kind
        assert ref.snapshot() == fast.snapshot()  # reservations with their devices, device use
        check_invariants(ref, round_trip=False)  # the per-device invariant among them
        check_index(backend)
    assert ref.metrics() == fast.metrics()
