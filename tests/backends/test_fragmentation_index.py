"""The FragmentationStrategy class index decides exactly as the python scan (differential)."""

# ruff: noqa: B023  (each lambda is called at once, inside its loop iteration)
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import Allocator, Reservation, Resources, Runner
from runtime_alloc.backends import fragmentation_lists
from runtime_alloc.backends.fragmentation_index import FragmentationIndex
from runtime_alloc.strategies import FragmentationStrategy
from tests.devices.test_device_parity import outcome

GI = 1 << 30
LABELS = ("A", "B")


def make_runner(rng: random.Random, name: str) -> Runner:
    cap = Resources(
        rng.choice((2000, 4000, 16000)),
        rng.choice((2 * GI, 8 * GI)),
        rng.choice((3, 110)),
        {"fpga": 2} if rng.random() < 0.1 else {},
    )
    labels = (rng.choice(LABELS),) if rng.random() < 0.5 else ()
    if rng.random() < 0.6:
        return Runner(name, cap, labels, {"gpu": rng.choice((1, 2, 4, 8))})
    return Runner(name, cap, labels)


def make_request(rng: random.Random) -> Resources:
    gpu = rng.choice((0, 0, 0, 100, 250, 300, 500, 700, 1000, 2000, 4000))
    extended = {"gpu": gpu} if gpu else {}
    if rng.random() < 0.05:
        extended["fpga"] = 1
    return Resources(
        rng.choice((0, 500, 1000, 4000)), rng.choice((0, GI // 4, 2 * GI)), 1, extended
    )


def fresh(kind: int) -> FragmentationStrategy:
    if kind == 0:
        return FragmentationStrategy(window=rngless_window())
    if kind == 2:  # relearns every 10 decisions: the index's lists live across decisions
        return FragmentationStrategy(window=100)
    return FragmentationStrategy(
        {"cpu=1,gpu=500m": 3, "cpu=4,memory=1Gi,gpu=1": 2, "cpu=1": 2, "gpu=2": 1, "gpu=8": 1}
    )


def rngless_window() -> int:
    return 20


@settings(max_examples=60, deadline=None)
@given(
    kind=st.integers(0, 2),
    size=st.integers(1, 14),
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(0, 120),
)
def test_index_decides_as_the_python_scan(kind, size, seed, steps):
    decide_alike(kind, size, seed, steps)


@settings(max_examples=20, deadline=None)
@given(kind=st.integers(0, 2), seed=st.integers(0, 2**32 - 1))
def test_index_decides_as_the_python_scan_when_its_lists_are_dropped(kind, seed):
    # at most 2 lists (one per device milli asked): most decisions drop them all
    kept = fragmentation_lists._LISTS
    fragmentation_lists._LISTS = 2
    try:
        decide_alike(kind, 10, seed, 100)
    finally:
        fragmentation_lists._LISTS = kept


def decide_alike(kind: int, size: int, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    fleet = [make_runner(rng, f"r{i}") for i in range(size)]
    python = Allocator(fleet, strategy=fresh(kind), backend="python")
    index = Allocator(fleet, strategy=fresh(kind), backend="numpy")
    assert index.backend == "fragmentation-index"
    allocs = (python, index)
    held: list[str] = []
    added = size
    reused = make_request(rng)
    for step in range(steps):
        roll = rng.random()
        if held and roll < 0.25:
            task = held.pop(rng.randrange(len(held)))
            results = [outcome(lambda: a.release(task)) for a in allocs]
        elif roll < 0.30:
            name = f"r{rng.randrange(added)}"
            results = [outcome(lambda: a.drain_runner(name)) for a in allocs]
        elif roll < 0.33:
            name = f"r{rng.randrange(added)}"
            results = [outcome(lambda: a.undrain_runner(name)) for a in allocs]
        elif roll < 0.36:
            name = f"r{rng.randrange(added)}"
            results = [outcome(lambda: a.remove_runner(name, force=True)) for a in allocs]
            if results[0][0] == "ok":
                gone = {r.task_id for r in results[0][1]}
                held = [t for t in held if t not in gone]
        elif roll < 0.40:
            runner = make_runner(rng, f"r{added}")
            added += 1
            results = [outcome(lambda: a.add_runner(runner)) for a in allocs]
        elif roll < 0.47:
            # one request object for several decisions (a batch's parse cache does this)
            batch = [(f"m{step}.{i}", reused) for i in range(3)]
            results = [outcome(lambda: a.allocate_many(batch)) for a in allocs]
            if results[0][0] == "ok":
                held.extend(r.task_id for r in results[0][1] if isinstance(r, Reservation))
        elif roll < 0.50:
            request = make_request(rng)
            results = [outcome(lambda: str(a.explain(request))) for a in allocs]
        else:
            request, task = make_request(rng), f"t{step}"
            require = {rng.choice(LABELS)} if rng.random() < 0.1 else ()
            results = [
                outcome(lambda: a.try_allocate(task, request, require_any=require)) for a in allocs
            ]
            if results[0][0] == "ok" and results[0][1] is not None:
                held.append(task)
        assert results[1] == results[0], step
    assert python.snapshot() == index.snapshot()
    assert python.strategy.shapes == index.strategy.shapes
    assert python.strategy._seen == index.strategy._seen


def test_auto_and_numpy_pick_the_index_fgd_keeps_the_scan():
    fleet = [Runner.parse("g", "cpu=8", devices={"gpu": 2})]
    assert Allocator(fleet, strategy=FragmentationStrategy(), backend="auto").backend == (
        "fragmentation-index"
    )
    assert Allocator(fleet, strategy=FragmentationStrategy(), backend="python").backend == "python"
    plain = Allocator(fleet, strategy=FragmentationStrategy(method="fgd"), backend="auto")
    assert plain.backend == "python"


def test_classes_group_runners_and_ties_go_to_the_first():
    fleet = [Runner.parse(f"n{i}", "cpu=8", devices={"gpu": 2}) for i in range(5)]
    fleet += [Runner.parse(f"c{i}", "cpu=8") for i in range(3)]
    strategy = FragmentationStrategy({"cpu=1,gpu=500m": 1})
    alloc = Allocator(fleet, strategy=strategy, backend="numpy")
    index = alloc._backend
    assert isinstance(index, FragmentationIndex)
    assert len(index.classes) == 2  # empty GPU runners, empty cpu runners
    # a cpu-only task goes to a runner without GPUs (least free device milli), the first
    assert alloc.allocate("a", "cpu=1").runner == "c0"
    # the next one to the tightest such runner: c0 has 7 cores left
    assert alloc.allocate("b", "cpu=1").runner == "c0"
    assert alloc.allocate("s", "cpu=1,gpu=300m").runner == "n0"
    assert len(index.classes) == 4
    alloc.release("s")
    assert alloc.allocate("s2", "cpu=1,gpu=300m").runner == "n0"


@pytest.mark.parametrize("learned", [True, False])
def test_the_python_scan_and_the_index_learn_alike_with_a_reused_request(learned):
    fleet = [Runner.parse(f"n{i}", "cpu=64", devices={"gpu": 8}) for i in range(4)]
    request = Resources.parse("cpu=1,gpu=250m", device_kinds={"gpu"})
    allocs = [
        Allocator(fleet, strategy=FragmentationStrategy(window=10), backend=b)
        for b in ("python", "numpy")
    ]
    if not learned:
        allocs = [
            Allocator(fleet, strategy=FragmentationStrategy({"gpu=1": 1}), backend=b)
            for b in ("python", "numpy")
        ]
    for i in range(30):
        picks = [a.try_allocate(f"t{i}", request) for a in allocs]
        assert picks[0] == picks[1]
        if i % 3 == 2:
            assert allocs[0].release(f"t{i - 1}") == allocs[1].release(f"t{i - 1}")
    assert allocs[0].strategy._seen == allocs[1].strategy._seen


@settings(max_examples=40, deadline=None)
@given(kind=st.integers(0, 2), seed=st.integers(0, 2**32 - 1))
def test_the_index_scores_a_listed_class_as_the_strategy(kind, seed):
    # the index's own scoring (F before, the pick and k kept per class) is the strategy's key
    rng = random.Random(seed)
    fleet = [make_runner(rng, f"r{i}") for i in range(12)]
    alloc = Allocator(fleet, strategy=fresh(kind), backend="numpy")
    index = alloc._backend
    for step in range(40):
        alloc.try_allocate(f"t{step}", make_request(rng))
        request = make_request(rng)
        asked = request.extended.get("gpu", 0)
        if not asked or index._generation != alloc.strategy.generation:
            continue
        entries = index.lists.get(asked) or index._build(asked)
        assert entries == sorted(entries)
        for lower, cid in entries:
            cls = index._by_cid[cid]
            key = alloc.strategy.key(cls.rep, request)
            assert index._score(cls, request, asked) == key
            assert lower <= key  # the list's bound is a bound
            assert index._top_of(cls, asked) <= int(key) >> 46
