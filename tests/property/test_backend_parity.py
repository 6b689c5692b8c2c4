"""Differential test: the numpy backend makes exactly the python backend's decisions.

Random fleets (heterogeneous, labels, draining, extended resources, zero
capacity dimensions, custom weights) and random operation sequences run on a
python and a numpy allocator side by side; after every step both returned the
same thing (equal reservations, or errors of the same type and text) and hold
equal snapshots, and the numpy index agrees with the allocator's states.
"""

# ruff: noqa: B023  (each lambda is called at once, inside its loop iteration)
from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

np = pytest.importorskip("numpy")

from runtime_alloc import Allocator, EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner  # noqa: E402
from tests.backends.probe import allocator_with, numpy_with  # noqa: E402

# fleets drawn without a gpu runner meet strategies weighing gpu (issue #14 item 12 warns)
pytestmark = pytest.mark.filterwarnings("ignore:strategy .* which no runner declares:UserWarning")

GI = 1 << 30
CPUS = (0, 500, 1000, 2000, 4000)
MEMS = (0, GI // 2, GI, 2 * GI, 4 * GI)
LABELS = ("a", "b", "c")


def make_runner(rng: random.Random, name: str) -> Runner:
    ext = {}
    if rng.random() < 0.3:
        ext["gpu"] = rng.choice((1, 2, 4))
    if rng.random() < 0.1:
        ext["fpga"] = 1
    cap = Resources(rng.choice(CPUS), rng.choice(MEMS), rng.choice((1, 2, 4, 8)), ext)
    labels = [label for label in LABELS if rng.random() < 0.4]
    return Runner(name, cap, labels)


def make_request(rng: random.Random) -> Resources:
    ext = {}
    if rng.random() < 0.15:
        ext["gpu"] = rng.choice((1, 2))
    if rng.random() < 0.03:
        ext["fpga"] = 1
    return Resources(
        rng.choice((0, 250, 500, 1000)),
        rng.choice((0, GI // 4, GI // 2, GI)),
        rng.choice((1, 1, 2)),
        ext,
    )


weights = st.dictionaries(
    st.sampled_from(("cpu", "memory", "slots", "gpu")), st.integers(0, 3), max_size=3
)
strategies = st.builds(
    lambda cls, w: cls(w), st.sampled_from((EvenSpreadStrategy, MaxPackingStrategy)), weights
)
# mostly small fleets (fast, good shrinking), sometimes a block-spanning one, rarely 2,000 runners
fleet_sizes = st.integers(0, 40).map(lambda n: n if n < 30 else (n - 29) * 20 if n < 40 else 2000)
operations = st.lists(
    st.tuples(
        st.sampled_from(
            (
                "allocate",
                "allocate",
                "allocate",
                "many",
                "release",
                "release",
                "add",
                "drain",
                "undrain",
                "remove",
            )
        ),
        st.integers(0, 2**32 - 1),
    ),
    max_size=25,
)


def outcome(call):
    try:
        return ("ok", call())
    except Exception as exc:  # compare any error by type and text
        return ("error", type(exc), str(exc))


def as_comparable(result):
    if isinstance(result, list):
        return [
            r if not isinstance(r, Exception) else (type(r), str(r), r.reasons, r.shortfalls)
            for r in result
        ]
    return result


@given(
    strategy=strategies,
    size=fleet_sizes,
    seed=st.integers(0, 2**32 - 1),
    block=st.sampled_from((1, 2, 4, 64)),
    index=st.sampled_from(("auto", "blocks", "classes", "scan")),
    ops=operations,
)
def test_numpy_equals_python(strategy, size, seed, block, index, ops):  # noqa: PLR0917
    rng = random.Random(seed)
    fleet = [make_runner(rng, f"r{i}") for i in range(size)]
    ref = Allocator(fleet, strategy=strategy, backend="python")
    fast, backend = allocator_with(
        numpy_with(block_size=block, index=index), fleet, strategy=strategy
    )
    # a warm start: some tasks already placed, some runners draining
    for i in range(min(size // 2, 40)):
        request = make_request(rng)
        assert as_comparable(
            outcome(lambda r=request, i=i: ref.try_allocate(f"w{i}", r))
        ) == as_comparable(outcome(lambda r=request, i=i: fast.try_allocate(f"w{i}", r)))
    counter = size
    for kind, op_seed in ops:
        op_rng = random.Random(op_seed)
        snapshot = ref.snapshot()
        names = [state.name for state in snapshot.runners]
        tasks = sorted(snapshot.reservations)
        if kind == "allocate":
            request = make_request(op_rng)
            require = [label for label in LABELS if op_rng.random() < 0.15]
            task = f"t{op_seed}"
            left = outcome(lambda: ref.allocate(task, request, require=require))
            right = outcome(lambda: fast.allocate(task, request, require=require))
        elif kind == "many":
            request = make_request(op_rng)
            require = ["a"] if op_rng.random() < 0.2 else []
            count = op_rng.choice((1, 3, 8, 20, 60))
            items = [(f"m{op_seed}-{j}", request, require) for j in range(count)]
            if op_rng.random() < 0.3:  # a mixed batch: a run, one odd item, another run
                items.insert(count // 2, (f"x{op_seed}", make_request(op_rng)))
            left = outcome(lambda: as_comparable(ref.allocate_many(items)))
            right = outcome(lambda: as_comparable(fast.allocate_many(items)))
        elif kind == "release" and tasks:
            task = op_rng.choice(tasks)
            left = outcome(lambda: ref.release(task))
            right = outcome(lambda: fast.release(task))
        elif kind == "add":
            counter += 1
            runner = make_runner(op_rng, op_rng.choice((f"n{counter}", *names[:1])))
            left = outcome(lambda: ref.add_runner(runner))
            right = outcome(lambda: fast.add_runner(runner))
        elif kind in ("drain", "undrain", "remove") and names:
            name = op_rng.choice(names)
            if kind == "remove":
                force = op_rng.random() < 0.7
                left = outcome(lambda: ref.remove_runner(name, force=force))
                right = outcome(lambda: fast.remove_runner(name, force=force))
            else:
                method = "drain_runner" if kind == "drain" else "undrain_runner"
                left = outcome(lambda: getattr(ref, method)(name))
                right = outcome(lambda: getattr(fast, method)(name))
        else:
            continue
        assert left == right, kind
        assert ref.snapshot() == fast.snapshot()
        backend.check()
    assert ref.metrics() == fast.metrics()
