"""Differential test: fleet churn (add/remove/drain) interleaved with placements.

The python, numpy and auto backends run the same operations side by side while
the fleet crosses the numpy backend's switch points: the class index's
:data:`MAX_SHAPES` runner shapes (classes -> blocks), the block size's first
step (4,096 runners) and ``auto``'s switch from the python scan to numpy
(:data:`AUTO_MIN_RUNNERS`). After every step all three returned the same thing
(equal reservations, equal evictions, or errors of the same type and text); at
the end they hold equal snapshots and metrics, and the indexes agree with the
ledgers (issue #14 item 14: runners added but not yet indexed were lost by a
``remove_runner``).

The numpy backend answers fleets of at most :data:`SCAN_ROWS` runners by a
vectorized scan under ``index="auto"``, so the numpy side is run with each index
forced (``auto``, ``blocks``, ``classes``, ``scan``), and the ``shapes``
scenario starts above :data:`SCAN_ROWS` runners so that ``auto`` still crosses
from the class index to the block index.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numpy")

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    MaxPackingStrategy,
    Metrics,
    Resources,
    Runner,
)
from runtime_alloc.backends.auto import AUTO_MIN_RUNNERS
from runtime_alloc.backends.numpy.backend import MAX_SHAPES, SCAN_ROWS
from runtime_alloc.backends.python import PythonBackend
from runtime_alloc.errors import RuntimeAllocError
from tests.backends.probe import allocator_with, auto_backend, check_index, numpy_with

#: The numpy indexes each run forces on the numpy side (as test_backend_parity does).
INDEXES = ("auto", "blocks", "classes", "scan")

#: Runners of the ``shapes`` scenario's fleet: above SCAN_ROWS, so ``auto`` indexes them.
SHAPES_FLEET = SCAN_ROWS + 1


def _shaped(i: int, rng: random.Random) -> Runner:
    """Runner ``i`` of the ``shapes`` scenario: MAX_SHAPES - 3 shapes at the start, new ones after."""
    first_new = SHAPES_FLEET - (MAX_SHAPES - 3)  # runners up to it share one shape
    return Runner(f"r{i}", Resources(1000 * (max(i - first_new, 0) + 1), slots=4))


#: scenario -> (initial runners, runner maker, operations)
SCENARIOS = {
    # MAX_SHAPES - 3 shapes above SCAN_ROWS runners: adds of new shapes switch classes -> blocks
    "shapes": (SHAPES_FLEET, _shaped),
    # identical runners just under the first block-size step
    "blocks": (4093, lambda i, rng: Runner(f"r{i}", Resources(rng.choice((1000, 2000)), slots=2))),
    # a small fleet on auto: adds switch the python scan to numpy
    "auto": (AUTO_MIN_RUNNERS - 3, lambda i, rng: Runner(f"r{i}", Resources(1000 * (i % 5 + 1)))),
}


def call(alloc: Allocator, op: tuple[object, ...]) -> object:
    kind, *args = op
    try:
        if kind == "add":
            alloc.add_runner(args[0])  # type: ignore[arg-type]
            return None
        if kind == "remove":
            return alloc.remove_runner(args[0], force=args[1])  # type: ignore[arg-type]
        if kind == "allocate":
            return alloc.allocate(args[0], args[1])  # type: ignore[arg-type]
        if kind == "release":
            return alloc.release(args[0])  # type: ignore[arg-type]
        if kind == "drain":
            alloc.drain_runner(args[0])  # type: ignore[arg-type]
            return None
    except RuntimeAllocError as error:
        return (type(error).__name__, str(error))
    raise AssertionError(kind)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    scenario=st.sampled_from(sorted(SCENARIOS)),
    maximize=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(5, 40),
    index=st.sampled_from(INDEXES),
)
def test_fleet_churn_same_decisions_on_every_backend(
    scenario: str, maximize: bool, seed: int, steps: int, index: str
) -> None:
    rng = random.Random(seed)
    (
        start,
        make,
    ) = SCENARIOS[scenario][:2]
    fleet = [make(i, rng) for i in range(start)]
    strategy = MaxPackingStrategy() if maximize else EvenSpreadStrategy()
    built = [
        allocator_with(factory, fleet, strategy=strategy)
        for factory in (PythonBackend, numpy_with(index=index), auto_backend)
    ]
    allocs = [alloc for alloc, _ in built]
    backends = [backend for _, backend in built]
    names = [r.name for r in fleet]
    tasks: list[str] = []
    next_runner = start
    for step in range(steps):
        roll = rng.random()
        if roll < 0.3:
            runner = make(next_runner, rng)
            next_runner += 1
            names.append(runner.name)
            op: tuple[object, ...] = ("add", runner)
        elif roll < 0.45:
            op = ("remove", rng.choice([*names, "nobody"]), rng.random() < 0.7)
        elif roll < 0.5:
            op = ("drain", rng.choice(names))
        elif roll < 0.85 or not tasks:
            task = f"t{step}"
            tasks.append(task)
            op = ("allocate", task, f"cpu={rng.choice(('500m', '1', '2'))}")
        else:
            op = ("release", rng.choice(tasks))
        results = [call(a, op) for a in allocs]
        assert results[0] == results[1] == results[2], (op, results)
        if step % 7 == 0:  # the incrementally kept gauges equal a recount (issue #14 item 22)
            a = allocs[step % 3]
            assert a.metrics() == recount(a), op
    snapshots = [a.snapshot() for a in allocs]
    assert snapshots[0] == snapshots[1] == snapshots[2]
    assert allocs[0].metrics() == allocs[1].metrics() == allocs[2].metrics()
    for alloc in allocs:
        alloc._check()
        assert alloc.metrics() == recount(alloc)  # the kept gauges equal a recount
    for backend in backends:
        check_index(backend)


def recount(alloc: Allocator) -> Metrics:
    """The metrics computed from scratch from the snapshot (the O(N) reference)."""
    snap = alloc.snapshot()
    counts = {s.name: 0 for s in snap.runners}
    for reservation in snap.reservations.values():
        counts[reservation.runner] += 1
    m = alloc.metrics()
    return Metrics.build(
        states=snap.runners,
        tasks_per_runner=counts,
        allocations=m.allocations,
        failures=m.failures,
        releases=m.releases,
        evictions=m.evictions,
    )


@pytest.mark.parametrize("index", INDEXES)
def test_issue_reproductions_lose_nothing(index: str) -> None:
    # MAX_SHAPES shapes on more than SCAN_ROWS runners (auto: the class index), then a new
    # shape (auto: pending, then the block index) and a removal
    size = SCAN_ROWS + 1
    first = size - MAX_SHAPES  # runners up to it share one shape
    fleet = [Runner.parse(f"r{i}", f"cpu={max(i - first, 0) + 1}") for i in range(size)]
    alloc, backend = allocator_with(numpy_with(index=index), fleet)
    busy = alloc.allocate("t1", "cpu=1").runner
    alloc.add_runner(Runner.parse(f"r{size}", f"cpu={MAX_SHAPES + 1}"))
    evicted = alloc.remove_runner(busy, force=True)
    assert [r.task_id for r in evicted] == ["t1"]
    assert len(alloc.snapshot().runners) == size
    alloc._check()
    backend.check()


@pytest.mark.parametrize(
    ("backend", "fleet", "added", "removed"),
    [
        # 401 runner shapes (the block index), then remove a runner
        ("blocks", [f"cpu={i + 1}" for i in range(MAX_SHAPES + 1)], [], "r1"),
        ("classes", [f"cpu={i + 1}" for i in range(MAX_SHAPES + 1)], [], "r1"),
        # 5,000 identical runners (auto: the class index), one added (pending) before the removal
        ("auto", ["cpu=1"] * 5000, ["cpu=1"], "r1"),
        ("blocks", ["cpu=1"] * 5000, ["cpu=1"], "r1"),
        # the auto backend switches from the python scan to numpy while 5,000 runners join
        ("auto-backend", ["cpu=1"] * 40, ["cpu=2"] * 5000, "r1"),
    ],
)
def test_more_issue_reproductions(
    backend: str, fleet: list[str], added: list[str], removed: str
) -> None:
    fleet_runners = [Runner.parse(f"r{i}", s) for i, s in enumerate(fleet)]
    alloc, index = allocator_with(
        auto_backend if backend == "auto-backend" else numpy_with(index=backend), fleet_runners
    )
    held = alloc.allocate("t1", "cpu=1", require=())
    alloc.allocate_many([(f"m{i}", "cpu=1") for i in range(3)])
    for i, spec in enumerate(added):
        alloc.add_runner(Runner.parse(f"x{i}", spec))
    on_removed = [r for r in alloc.snapshot().reservations.values() if r.runner == removed]
    evicted = alloc.remove_runner(removed, force=True)
    assert sorted(r.task_id for r in evicted) == sorted(r.task_id for r in on_removed)
    assert len(alloc.snapshot().runners) == len(fleet) + len(added) - 1
    assert held.task_id in {r.task_id for r in evicted} or alloc.get_reservation("t1") == held
    alloc._check()
    assert alloc.metrics() == recount(alloc)  # the kept gauges equal a recount
    check_index(index)
