"""``index="compiled"``: the numba segment trees decide as the python backend does.

The differential and property tests of the other layouts are run again here with
the compiled index in place of the class index (the fixture ``compiled`` turns
every ``NumpyBackend`` asked for ``"classes"``, and for the parity tests
``"auto"`` and ``"blocks"`` too, into ``"compiled"``): their fleets hold float
near-ties, draining runners, labels, runners added and removed, and snapshots.
Skipped as a whole where numba is not installed (the ``fast`` extra).
"""

from __future__ import annotations

import random

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("numba")

from hypothesis.stateful import run_state_machine_as_test  # noqa: E402

from runtime_alloc import (  # noqa: E402
    Allocator,
    EvenSpreadStrategy,
    InvalidArgumentError,
    MaxPackingStrategy,
    Resources,
    Runner,
)
from runtime_alloc.backends.numpy import NumpyBackend, compiled_index  # noqa: E402
from runtime_alloc.backends.numpy.compiled_index import CompiledIndex  # noqa: E402
from runtime_alloc.backends.numpy.shape_classes import ClassIndex  # noqa: E402
from runtime_alloc.backends.numpy.shape_groups import SHIFT  # noqa: E402
from tests.backends.numpy import test_backend as tb  # noqa: E402
from tests.backends.numpy import test_memory_layout as tm  # noqa: E402
from tests.backends.numpy import test_shape_classes as ts  # noqa: E402
from tests.backends.probe import allocator_with, numpy_with  # noqa: E402
from tests.property import test_backend_parity as tp  # noqa: E402
from tests.property import test_fleet_churn_parity as tf  # noqa: E402
from tests.property import test_state_machine as tsm  # noqa: E402

GI = 1 << 30
STRATEGIES = [
    EvenSpreadStrategy(),
    MaxPackingStrategy(),
    EvenSpreadStrategy({"memory": 3, "slots": 0}),
]


def _swap(monkeypatch, names):
    original = NumpyBackend.__init__

    def init(self, states, strategy, block_size=None, index="auto"):
        original(self, states, strategy, block_size, "compiled" if index in names else index)

    monkeypatch.setattr(NumpyBackend, "__init__", init)


@pytest.fixture
def compiled(monkeypatch):
    """Every NumpyBackend asked for the class index gets the compiled one."""
    _swap(monkeypatch, {"classes"})


@pytest.fixture
def compiled_all(monkeypatch):
    """Every NumpyBackend asked for auto, blocks or classes gets the compiled index."""
    _swap(monkeypatch, {"auto", "blocks", "classes"})


def _index(backend):
    assert isinstance(backend.classes, CompiledIndex)
    return backend.classes


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_churn_on_3000_runners_matches_python(strategy):
    tb.test_churn_on_3000_runners_matches_python_and_bounds_stay_conservative(strategy, "compiled")


@pytest.mark.usefixtures("compiled")
@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_float_near_ties_like_python(strategy):
    tb.test_class_index_settles_float_near_ties_like_python(strategy)


@pytest.mark.usefixtures("compiled")
@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_infeasible_best_keys_are_read_past(strategy):
    tb.test_class_index_reads_past_infeasible_and_dead_heap_entries(strategy)


@pytest.mark.usefixtures("compiled")
def test_pruned_shapes_and_repeated_placements():
    tb.test_class_members_survive_compaction_of_their_heap()
    for strategy in (EvenSpreadStrategy(), MaxPackingStrategy()):
        fleet = [Runner(f"r{i}", tb.CAPS[0]) for i in range(8)]
        ref, fast, backend = tb.pair(fleet, strategy, index="classes")
        for i in range(len(fleet)):
            for alloc in (ref, fast):
                alloc.allocate(f"w{i}", f"cpu={100 + 10 * i}m")
        for i in range(60):
            assert fast.allocate(f"t{i}", "cpu=50m") == ref.allocate(f"t{i}", "cpu=50m")
            fast.release(f"t{i}")
            ref.release(f"t{i}")
        backend.check()


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_choose_equals_a_full_scan_on_near_ties_across_shapes(maximize, seed):
    # test_shape_classes' grid of near-equal classes over three shapes, one with a label,
    # driven through both indexes side by side; the class index's answers are checked
    # against a full scan there
    rng = random.Random(seed)
    fast = CompiledIndex((1, 1, 1), maximize=maximize, max_groups=8)
    slow = ClassIndex((1, 1, 1), maximize=maximize, max_groups=8)
    keys, picked = ts.grid_fleet(rng)
    for index in (fast, slow):
        index.add_many(*zip(*picked, strict=True), rows=60)
    state = {row: (p[2], p[3]) for row, p in enumerate(picked)}
    for _ in range(400):
        q, require = ts.grid_request(rng)
        assert fast.choose(q, require) == ts._brute_force(slow, keys, q, require)
        row = rng.randrange(60)
        r = ts.grid_reserved(rng, slow.group_of[row].cap)
        usable = rng.random() > 0.1
        state[row] = (r, usable)
        for index in (fast, slow):
            index.set(keys[row], r, usable)
    fast.check(state)


@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_runners_added_in_steps_removed_and_of_new_shapes(strategy):
    # positions run out (the layout is redone), new shapes arrive, runners leave and
    # the backend lays the fleet out again; every decision equals python's
    rng = random.Random(11)
    ref, fast, backend = tb.pair(tb.mixed_fleet(300), strategy, index="compiled")
    held, n = [], 300
    for step in range(900):
        if step % 7 == 0:
            cap = rng.choice([*tb.CAPS, Resources(2000 + 1000 * (step % 5), 8 * GI, 8)])
            runner = Runner(f"n{n}", cap, labels=frozenset({"x"}) if step % 3 else frozenset())
            n += 1
            for alloc in (ref, fast):
                alloc.add_runner(runner)
        elif step % 11 == 0:
            name = rng.choice([s.runner.name for s in ref.snapshot().runners])
            gone = ref.remove_runner(name, force=True)
            assert fast.remove_runner(name, force=True) == gone
            dropped = {r.task_id for r in gone}
            held = [t for t in held if t not in dropped]
        elif step % 13 == 0:
            name = rng.choice([s.runner.name for s in ref.snapshot().runners])
            for alloc in (ref, fast):
                alloc.drain_runner(name)
        request = tb.random_request(rng)
        require = frozenset({"x"}) if step % 5 == 0 else frozenset()
        left = ref.try_allocate(f"t{step}", request, require=require)
        assert left == fast.try_allocate(f"t{step}", request, require=require), step
        if left is not None:
            held.append(f"t{step}")
        if held and rng.random() < 0.4:
            task = held.pop(rng.randrange(len(held)))
            assert ref.release(task) == fast.release(task)
    index = _index(backend)
    assert index.moves > 0 or not strategy.maximize  # tier trees outgrew their buckets
    backend.check()
    assert ref.snapshot() == fast.snapshot()


@pytest.mark.parametrize("maximize", [False, True])
def test_trees_moved_and_laid_out_again_keep_every_runner(monkeypatch, maximize):
    # little room: a tree that outgrows its buckets soon makes every row be laid out again
    monkeypatch.setattr(compiled_index, "ROOM", 0.0)
    monkeypatch.setattr(compiled_index, "SPARE", 4)
    rng = random.Random(3)
    shape = ((4000, 1 << 34, 16), frozenset())
    fast = CompiledIndex((1, 1, 1), maximize=maximize, max_groups=2)
    slow = ClassIndex((1, 1, 1), maximize=maximize, max_groups=2)
    keys = {row: (row + 1) << SHIFT | row for row in range(40)}
    state = dict.fromkeys(keys, ((0, 0, 0), True))
    for index in (fast, slow):
        index.add_many(list(keys.values()), [shape] * 40, [(0, 0, 0)] * 40, [True] * 40)
    for step in range(600):
        row = rng.randrange(40)
        # few cpu amounts: the rows crowd into few tiers, which outgrow their buckets
        r = (rng.choice((0, 250, 2000)), rng.randrange(0, 9) << 30, rng.randrange(0, 5))
        state[row] = (r, step % 17 != 0)
        for index in (fast, slow):
            index.set(keys[row], *state[row])
        q = (rng.randrange(0, 2000, 250), rng.randrange(0, 3) << 30, 1)
        assert fast.choose(q, frozenset()) == ts._brute_force(slow, keys, q, frozenset())
    if maximize:  # tiers: rows move between trees (one tree per shape otherwise)
        assert fast.moves > 0
        assert fast.layouts > 2  # beyond the first two (empty, then the 40 rows)
    fast.check(state)


@pytest.mark.usefixtures("compiled")
@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_columns_and_builds_in_chunks(monkeypatch, strategy):
    tm.test_columns_made_at_their_first_read_equal_the_kept_ones(strategy, tb.mixed_fleet)
    tm.test_a_backend_used_alone_keeps_its_map_from_the_states()
    for restore in (False, True):
        tm.test_a_build_written_in_chunks_decides_alike(monkeypatch, strategy, "classes", restore)


@pytest.mark.usefixtures("compiled_all")
@pytest.mark.filterwarnings("ignore:strategy .* which no runner declares:UserWarning")
def test_property_parity_with_the_compiled_index():
    tp.test_numpy_equals_python()
    tf.test_fleet_churn_same_decisions_on_every_backend()
    for index in ("classes", "blocks"):
        tf.test_issue_reproductions_lose_nothing(index)


@pytest.mark.usefixtures("compiled_all")
def test_state_machine_parity_with_the_compiled_index():
    run_state_machine_as_test(tsm.ParityMachine)


def test_without_numba_the_error_names_the_extra(monkeypatch):
    monkeypatch.setattr(compiled_index, "k", None)
    with pytest.raises(ImportError, match=r"runtime_alloc\[fast\]"):
        NumpyBackend([], EvenSpreadStrategy(), index="compiled")


def test_the_largest_quantities_and_weights_stay_exact():
    # 1000 * 2**53 is just below 2**63: the kernels' int64 products w * (r + q) hold it
    cap = Resources(4000, 1 << 53, 16)
    fleet = [Runner(f"big{i}", cap) for i in range(5)] + tb.mixed_fleet(20)
    strategy = MaxPackingStrategy({"memory": 1000})
    ref, fast, backend = tb.pair(fleet, strategy, index="compiled")
    _index(backend)
    for i in range(30):
        request = Resources(100, (1 << 52) + i if i % 2 else GI, 1)
        assert ref.try_allocate(f"t{i}", request) == fast.try_allocate(f"t{i}", request)
    backend.check()
    assert not compiled_index.fits(((1, 1 << 60, 1), frozenset()), (1, 1000, 1))


def test_a_request_beyond_int64_fits_nowhere():
    index = CompiledIndex((1, 1, 1), maximize=False, max_groups=4)
    index.add_many([1 << SHIFT], [((4000, GI, 4), frozenset())], [(0, 0, 0)], [True], rows=1)
    assert index.choose((1, 1, 1), frozenset()) == 0
    assert index.choose((1 << 70, 1, 1), frozenset()) == -1


def test_empty_fleet_and_runners_added_one_by_one():
    fast, backend = allocator_with(numpy_with(index="compiled"), [], strategy=EvenSpreadStrategy())
    ref = Allocator([], backend="python")
    assert fast.try_allocate("t", "cpu=1") is None
    for i in range(40):
        runner = Runner(f"r{i}", tb.CAPS[i % 3])
        ref.add_runner(runner)
        fast.add_runner(runner)
        assert ref.try_allocate(f"t{i}", "cpu=500m") == fast.try_allocate(f"t{i}", "cpu=500m")
    _index(backend)
    backend.check()


@pytest.mark.parametrize("strategy", STRATEGIES[:2])
def test_allocator_backend_compiled_decides_as_python(strategy):
    # the public name: Allocator(backend="compiled") is the numpy backend on the compiled
    # index, and places, refuses and releases exactly as the python backend
    rng = random.Random(7)
    runners = [
        Runner.parse(f"r{i}", rng.choice(["cpu=4,memory=16Gi", "cpu=8,memory=32Gi"]))
        for i in range(3000)
    ]
    fast = Allocator(runners, strategy=strategy, backend="compiled")
    slow = Allocator(runners, strategy=strategy, backend="python")
    assert fast.backend == "compiled"
    assert isinstance(fast._backend.classes, CompiledIndex)
    held: list[str] = []
    for step in range(1500):
        request = f"cpu={rng.choice(['250m', '1', '2'])},memory={rng.randint(1, 8)}Gi"
        placed = fast.try_allocate(f"t{step}", request)
        assert placed == slow.try_allocate(f"t{step}", request)
        if placed is not None:
            held.append(placed.task_id)
        if held and rng.random() < 0.45:
            task = held.pop(rng.randrange(len(held)))
            assert fast.release(task) == slow.release(task)
    assert fast.snapshot() == slow.snapshot()


def test_allocator_backend_compiled_without_numba_names_the_extra(monkeypatch):
    monkeypatch.setattr(compiled_index, "k", None)
    with pytest.raises(InvalidArgumentError, match=r"backend 'compiled' needs numba.*\[fast\]"):
        Allocator([Runner.parse("a", "cpu=2")], backend="compiled")
