"""The numpy backend: block index, pruning, upkeep, fallbacks and backend selection."""

from __future__ import annotations

import random

import pytest

np = pytest.importorskip("numpy")

from runtime_alloc import (  # noqa: E402
    Allocator,
    EvenSpreadStrategy,
    InvalidArgumentError,
    MaxPackingStrategy,
    Resources,
    Runner,
)
from runtime_alloc.backends import is_vectorized  # noqa: E402
from runtime_alloc.backends.auto import AUTO_MIN_RUNNERS  # noqa: E402
from runtime_alloc.backends.numpy import blocks  # noqa: E402
from runtime_alloc.reservations import Reservation  # noqa: E402
from runtime_alloc.runners import RunnerState  # noqa: E402
from runtime_alloc.snapshot import FleetSnapshot  # noqa: E402
from tests.backends.probe import allocator_with, numpy_with  # noqa: E402

GI = 1 << 30
MI = 1 << 20
CAPS = (Resources(4000, 16 * GI, 16), Resources(8000, 32 * GI, 16), Resources(16000, 64 * GI, 32))


def mixed_fleet(n, seed=0):
    rng = random.Random(seed)
    return [Runner(f"r{i}", rng.choice(CAPS)) for i in range(n)]


def random_request(rng):
    return Resources(rng.randint(250, 1500), rng.randint(256, 2048) << 20, rng.randint(1, 2))


def pair(fleet, strategy, block_size=None, index="auto"):
    """The python allocator, the numpy one and the numpy one's backend."""
    ref = Allocator(fleet, strategy=strategy, backend="python")
    fast, backend = allocator_with(
        numpy_with(block_size=block_size, index=index), fleet, strategy=strategy
    )
    return ref, fast, backend


def restored_pair(cap, reserved, strategy):
    """Python and class-index allocators restored from runners r<i> of ``cap``, each holding task w<i>."""
    held = {f"w{i}": Reservation(f"w{i}", f"r{i}", r) for i, r in enumerate(reserved)}
    states = [RunnerState(Runner(f"r{i}", cap), r) for i, r in enumerate(reserved)]
    snapshot = FleetSnapshot(tuple(states), held)
    ref = Allocator.from_snapshot(snapshot, strategy=strategy, backend="python")
    fast, backend = allocator_with(
        numpy_with(index="classes"), snapshot=snapshot, strategy=strategy
    )
    return ref, fast, backend


@pytest.mark.parametrize("index", ["blocks", "classes"])
@pytest.mark.parametrize(
    "strategy",
    [EvenSpreadStrategy(), MaxPackingStrategy(), EvenSpreadStrategy({"memory": 3, "slots": 0})],
)
def test_churn_on_3000_runners_matches_python_and_bounds_stay_conservative(strategy, index):
    ref, fast, backend = pair(mixed_fleet(3000), strategy, block_size=32, index=index)
    rng = random.Random(7)
    held = []
    for i in range(1500):
        if held and rng.random() < 0.45:
            task = held.pop(rng.randrange(len(held)))
            assert ref.release(task) == fast.release(task)
        else:
            request = random_request(rng)
            left = ref.try_allocate(f"t{i}", request)
            right = fast.try_allocate(f"t{i}", request)
            assert left == right, i
            if left is not None:
                held.append(f"t{i}")
        if i % 100 == 0:
            backend.check()  # every block bound still bounds its runners
    assert ref.snapshot() == fast.snapshot()


@pytest.mark.parametrize("maximize", [False, True])
def test_pruned_search_equals_full_scan(maximize):
    strategy = MaxPackingStrategy() if maximize else EvenSpreadStrategy()
    alloc, backend = allocator_with(
        numpy_with(block_size=16, index="blocks"), mixed_fleet(2000, seed=3), strategy=strategy
    )
    rng = random.Random(11)
    for i in range(400):
        alloc.try_allocate(f"w{i}", random_request(rng))
    for _ in range(200):
        request = random_request(rng)
        full = backend._scan(slice(0, backend.table.nrows), request, frozenset())
        assert blocks.search(backend, request, frozenset()) == full


def test_update_touches_only_its_block():
    alloc, backend = allocator_with(numpy_with(block_size=8, index="blocks"), mixed_fleet(256))
    backend.sync()  # index the runners queued while the allocator was built
    table = backend.table
    before = [
        (col.copy())
        for col in (
            *table.block_free_max,
            table.block_base_score_min,
            table.block_base_score_max,
            *table.block_reserved_min,
            *table.block_reserved_max,
        )
    ]
    reservation = alloc.allocate("t", "cpu=1,memory=1Gi")
    k = table.row_of[reservation.runner] // table.block_size
    after = (
        *table.block_free_max,
        table.block_base_score_min,
        table.block_base_score_max,
        *table.block_reserved_min,
        *table.block_reserved_max,
    )
    for old, new in zip(before, after, strict=True):
        changed = np.flatnonzero(old[: table.nblocks] != new[: table.nblocks])
        assert set(changed.tolist()) <= {k}


def test_block_bounds_are_exact_float_lower_bounds_on_ties():
    # identical empty runners tie everywhere: the registration order decides
    fleet = [Runner(f"r{i}", CAPS[0]) for i in range(100)]
    ref, fast, _backend = pair(fleet, EvenSpreadStrategy(), block_size=4)
    for i in range(150):
        assert ref.allocate(f"t{i}", "cpu=100m").runner == fast.allocate(f"t{i}", "cpu=100m").runner
    assert [fast.allocate(f"u{i}", "cpu=100m").runner for i in range(3)] == ["r50", "r51", "r52"]


def test_removed_and_readded_runner_is_newest():
    fleet = [Runner(f"r{i}", CAPS[0]) for i in range(20)]
    ref, fast, backend = pair(fleet, MaxPackingStrategy(), block_size=4)
    for alloc in (ref, fast):
        alloc.remove_runner("r0")
        alloc.add_runner(Runner("r0", CAPS[0]))
    assert fast.allocate("t", "cpu=1").runner == ref.allocate("t", "cpu=1").runner == "r1"
    # many removals compact the index and keep the registration order
    for i in range(1, 18):
        for alloc in (ref, fast):
            alloc.remove_runner(f"r{i}", force=True)
    backend.check()
    left = [fast.try_allocate(f"x{i}", "cpu=3") for i in range(4)]
    assert left == [ref.try_allocate(f"x{i}", "cpu=3") for i in range(4)]
    assert [r.runner for r in left[:3]] == ["r18", "r19", "r0"]
    assert left[3] is None


def test_diagnose_equals_python_error():
    fleet = [
        Runner("a", Resources(1000, GI, 2), ["x"]),
        Runner("b", Resources(2000, GI, 2, {"gpu": 1})),
        Runner("c", Resources(4000, 0, 4), ["x", "y"]),
        Runner("d", Resources(4000, 2 * GI, 4, {"gpu": 2})),
    ]
    ref, fast, _backend = pair(fleet, EvenSpreadStrategy(), block_size=1)
    for alloc in (ref, fast):
        alloc.drain_runner("d")
        alloc.allocate("held", "cpu=500m,memory=512Mi", require=["x"])
    cases = [
        ("cpu=3,memory=1Gi", ()),
        ("cpu=3,memory=1Gi", ("x",)),
        ("gpu=2", ()),
        ("gpu=3", ("y",)),
        ("cpu=900m,memory=1Gi,slots=2", ("x",)),
    ]
    for spec, require in cases:
        with pytest.raises(Exception) as left:
            ref.allocate("t", spec, require=require)
        with pytest.raises(Exception) as right:
            fast.allocate("t", spec, require=require)
        assert type(left.value) is type(right.value)
        assert str(left.value) == str(right.value)
        assert left.value.shortfalls == right.value.shortfalls
    assert ref.metrics() == fast.metrics()


@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_allocate_many_run_equals_sequential_allocate(strategy):
    ref, fast, _backend = pair(mixed_fleet(300, seed=5), strategy)
    rng = random.Random(2)
    for i in range(200):
        request = random_request(rng)
        ref.try_allocate(f"w{i}", request)
        fast.try_allocate(f"w{i}", request)
    items = [(f"m{i}", "cpu=500m,memory=1Gi") for i in range(6000)]  # more than fits
    sequential = [ref.try_allocate(task, request) for task, request in items]
    batch = fast.allocate_many(items)
    placed = [r for r in batch if not isinstance(r, Exception)]
    assert placed == [r for r in sequential if r is not None]
    assert ref.snapshot() == fast.snapshot()
    assert sum(isinstance(r, Exception) for r in batch) == sequential.count(None) > 0


class LeastTasks:
    """A user strategy without a vectorized scorer."""

    name = "LeastTasks"
    maximize = False

    def score(self, state, request):
        return float(state.reserved.slots)


def test_custom_strategy_falls_back_to_the_python_scan():
    strategy = LeastTasks()
    assert not is_vectorized(strategy)

    class Packing(MaxPackingStrategy):  # overriding score also falls back
        def score(self, state, request):
            return -super().score(state, request)

    assert not is_vectorized(Packing())
    fleet = mixed_fleet(50)
    ref, fast = (
        Allocator(fleet, strategy=strategy, backend="python"),
        Allocator(fleet, strategy=strategy, backend="numpy"),
    )
    assert fast.backend == "numpy"
    for i in range(80):
        assert ref.allocate(f"t{i}").runner == fast.allocate(f"t{i}").runner
    items = [(f"m{i}", None) for i in range(20)]
    assert ref.allocate_many(items) == fast.allocate_many(items)


def test_auto_switches_to_numpy_at_the_threshold():
    small = Allocator(mixed_fleet(AUTO_MIN_RUNNERS - 1), backend="auto")
    assert small.backend == "python"
    small.add_runner(Runner("extra", CAPS[0]))
    assert small.backend == "numpy"
    ref = Allocator(
        [*mixed_fleet(AUTO_MIN_RUNNERS - 1), Runner("extra", CAPS[0])], backend="python"
    )
    for i in range(50):
        assert small.allocate(f"t{i}", "cpu=1").runner == ref.allocate(f"t{i}", "cpu=1").runner
    assert Allocator(mixed_fleet(AUTO_MIN_RUNNERS), backend="auto").backend == "numpy"
    assert (
        Allocator(mixed_fleet(AUTO_MIN_RUNNERS), strategy=LeastTasks(), backend="auto").backend
        == "python"
    )


def test_unknown_backend_names_the_value():
    with pytest.raises(
        InvalidArgumentError,
        match="backend must be one of auto, python, numpy, compiled, got 'gpu'",
    ):
        Allocator(backend="gpu")


@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_class_index_settles_float_near_ties_like_python(strategy):
    # reserved (x, y) on the line 3000*x + 7000*y = 10,500,000: real-valued keys
    # x/7000 + y/3000 equal or within 1/7000 of each other, float keys and float scores
    # rounded differently, so the float-key order alone picks wrong runners (checked:
    # this test fails with a zero window); equal floats go to the runner registered first
    rng = random.Random(4)
    reserved = []
    for i in range(120):
        x = rng.randrange(0, 3500) if i % 3 else 1400  # some exact duplicates too
        reserved.append(Resources(x, (10_500_000 - 3000 * x) // 7000, 2))
    ref, fast, backend = restored_pair(Resources(7000, 3000, 30), reserved, strategy)
    assert ref.snapshot() == fast.snapshot()
    for i in range(60):
        request = Resources(rng.randrange(1, 40), rng.randrange(1, 40), 1)
        left = ref.try_allocate(f"t{i}", request)
        assert left == fast.try_allocate(f"t{i}", request), i
    backend.check()


@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_class_index_reads_past_infeasible_and_dead_heap_entries(strategy):
    # the best-keyed runners of each tier cannot take the requests (memory nearly
    # full), so the search reads the tier heap below its root; releases leave dead
    # entries inside the heaps; every decision must still equal the python scan's
    rng = random.Random(11)
    reserved = []
    for i in range(300):
        if i % 2:
            reserved.append(
                Resources(rng.randrange(4000, 7500), 32 * GI - rng.randrange(1, 512) * MI, 4)
            )
        else:
            reserved.append(Resources(rng.randrange(0, 7000), rng.randrange(0, 16) * GI, 1))
    ref, fast, backend = restored_pair(Resources(8000, 32 * GI, 16), reserved, strategy)
    live = [f"w{i}" for i in range(len(reserved))]
    for i in range(400):
        if i % 3 == 2:
            task = live.pop(rng.randrange(len(live)))
            assert ref.release(task) == fast.release(task)
            continue
        request = Resources(rng.randrange(100, 1500), rng.randrange(512, 2048) * MI, 1)
        left = ref.try_allocate(f"t{i}", request)
        assert left == fast.try_allocate(f"t{i}", request), i
        if left is not None:
            live.append(f"t{i}")
    backend.check()
    assert ref.snapshot() == fast.snapshot()


def test_class_index_skips_runner_shapes_that_cannot_win():
    # MaxPacking: the nearly full small runners win; the big empty shape is pruned by its bound
    small, big = Resources(4000, 16 * GI, 16), Resources(64000, 256 * GI, 64)
    fleet = [Runner(f"s{i}", small) for i in range(50)] + [Runner(f"b{i}", big) for i in range(50)]
    ref, fast, backend = pair(fleet, MaxPackingStrategy(), index="classes")
    for alloc in (ref, fast):
        for i in range(50):
            alloc.allocate(f"w{i}", "cpu=3,memory=1Gi")
    bounds = backend.classes._bounds((500, GI, 1), frozenset())
    assert bounds[0][2].cap == (4000, 16 * GI, 16)
    assert bounds[0][0] > bounds[1][0]
    for i in range(30):
        assert ref.try_allocate(f"t{i}", "cpu=100m") == fast.try_allocate(f"t{i}", "cpu=100m")


def test_class_members_survive_compaction_of_their_heap():
    # two identical runners stay in one r-class while one of them leaves and rejoins it
    # often enough to compact the class's member heap; the rejoining runner must stay listed
    fleet = [Runner(f"r{i}", CAPS[0]) for i in range(3)]
    ref, fast, backend = pair(fleet, EvenSpreadStrategy(), index="classes")
    for i in range(40):
        for alloc in (ref, fast):
            assert alloc.allocate(f"t{i}", "cpu=1").runner == "r0"
            alloc.release(f"t{i}")
        backend.check()
    for i in range(3):
        assert ref.allocate(f"u{i}", "cpu=1") == fast.allocate(f"u{i}", "cpu=1")


@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_a_task_placed_and_released_again_leaves_one_entry_for_its_runners_class(strategy):
    # the chosen runner's r-class dies on allocate and comes back on release while its
    # old entry is still its tier's root: that entry serves again. Duplicates of the
    # best class all lie in the search window of every later decision (each decision
    # then cost O(duplicates): 371 us instead of 7 us at 10,000 runners)
    fleet = [Runner(f"r{i}", CAPS[0]) for i in range(8)]
    ref, fast, backend = pair(fleet, strategy, index="classes")
    for i in range(len(fleet)):  # distinct loads: the chosen runner's class is its own
        for alloc in (ref, fast):
            alloc.allocate(f"w{i}", f"cpu={100 + 10 * i}m")
    for i in range(60):
        assert fast.allocate(f"t{i}", "cpu=50m") == ref.allocate(f"t{i}", "cpu=50m")
        fast.release(f"t{i}")
        ref.release(f"t{i}")
    backend.check()
    roots = [t.count(t[0]) for g in backend.classes.groups.values() for t in g.tiers if t]
    assert max(roots) == 1  # without the shared root entry: one per cycle since compaction


def test_auto_index_moves_to_blocks_beyond_max_shapes(monkeypatch):
    import runtime_alloc.backends.numpy.index_layout as layout

    monkeypatch.setattr(layout, "MAX_SHAPES", 3)
    monkeypatch.setattr(layout, "SCAN_ROWS", 0)  # an index from the first runner on
    ref, fast, backend = pair(mixed_fleet(200), MaxPackingStrategy())
    assert backend.classes is not None  # three shapes: the class index
    odd = Runner("odd", Resources(2000, 8 * GI, 8))
    for alloc in (ref, fast):
        alloc.add_runner(odd)
    rng = random.Random(3)
    for i in range(100):
        request = random_request(rng)
        assert ref.try_allocate(f"t{i}", request) == fast.try_allocate(f"t{i}", request)
    assert backend.classes is None  # a fourth shape: the block index
    backend.check()
