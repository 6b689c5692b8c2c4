"""The compiled index's direct path (:mod:`runtime_alloc.backends.numpy.direct`) decides as python.

The ledger places and releases through :class:`DirectPath` while the backend
offers one; every other event takes the general path. These tests run both
paths and the switches between them against the python backend, and check
that the numpy columns (written lazily from the index) and the index agree
with the ledger at every vectorized read: snapshots, errors on failure,
drains, removals, new runners, extended resources and devices, full lists
of changed rows and full trees. Skipped where numba is not installed.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("numba")

from runtime_alloc import (  # noqa: E402
    AllocationError,
    Allocator,
    EvenSpreadStrategy,
    MaxPackingStrategy,
    Resources,
    Runner,
)
from runtime_alloc.backends.numpy import NumpyBackend, changed_rows, compiled_index  # noqa: E402
from runtime_alloc.backends.numpy.direct import DirectPath  # noqa: E402
from tests.backends.numpy import test_backend as tb  # noqa: E402
from tests.backends.probe import allocator_with, numpy_with  # noqa: E402

GI = 1 << 30
STRATEGIES = [EvenSpreadStrategy(), MaxPackingStrategy()]


def compiled_pair(fleet, strategy):
    """The python allocator, ``backend="compiled"`` on the same fleet, and its backend."""
    ref = Allocator(fleet, strategy=strategy, backend="python")
    fast, backend = allocator_with(numpy_with(index="compiled"), fleet, strategy=strategy)
    return ref, fast, backend


def same(ref, fast, backend):
    """Both allocators hold the same state; the backend's columns and index agree with it."""
    assert ref.snapshot() == fast.snapshot()
    backend.check()  # the columns (synced) and the compiled index against the ledger's states
    assert list(backend.states.values()) == list(fast.snapshot().runners)


class Counting:
    """Counts the direct path's calls (wraps DirectPath.take and .put)."""

    def __init__(self, monkeypatch):
        self.takes = self.puts = 0
        take, put = DirectPath.take, DirectPath.put

        def counted_take(path, *args):
            self.takes += 1
            return take(path, *args)

        def counted_put(path, *args):
            self.puts += 1
            return put(path, *args)

        monkeypatch.setattr(DirectPath, "take", counted_take)
        monkeypatch.setattr(DirectPath, "put", counted_put)


def churn(ref, fast, rng, steps, held, *, labels=False, prefix="t"):
    """Random allocate / release steps on both allocators; every result must be equal."""
    for step in range(steps):
        request = tb.random_request(rng)
        require = frozenset({"x"}) if labels and step % 4 == 0 else frozenset()
        task = f"{prefix}{step}"
        left = ref.allocate_or_error(task, request, require=require)
        right = fast.allocate_or_error(task, request, require=require)
        assert left == right, step
        if isinstance(left, AllocationError):
            assert type(left) is type(right)
            assert (left.reasons, left.shortfalls) == (right.reasons, right.shortfalls)
        else:
            held.append(task)
        if held and rng.random() < 0.45:
            task = held.pop(rng.randrange(len(held)))
            assert ref.release(task) == fast.release(task)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_churn_drains_removals_and_new_runners_decide_as_python(monkeypatch, strategy):
    calls = Counting(monkeypatch)
    rng = random.Random(5)
    fleet = [
        Runner(f"r{i}", tb.CAPS[i % 3], labels=frozenset({"x"}) if i % 4 == 0 else frozenset())
        for i in range(300)
    ]
    ref, fast, backend = compiled_pair(fleet, strategy)
    assert backend.direct is None  # a new fleet is queued: indexed at the first decision
    held: list[str] = []
    churn(ref, fast, rng, 1, held, prefix="first")
    assert isinstance(backend.direct, DirectPath)
    n = 300
    for rnd in range(12):
        churn(ref, fast, rng, 120, held, labels=True, prefix=f"t{rnd}-")
        same(ref, fast, backend)  # a vectorized read after direct changes: columns synced
        name = f"r{rng.randrange(n)}"
        if rnd % 3 == 0:
            for alloc in (ref, fast):
                alloc.drain_runner(name)
        elif rnd % 3 == 1:
            if name in {state.runner.name for state in ref.snapshot().runners}:
                gone = ref.remove_runner(name, force=True)
                assert fast.remove_runner(name, force=True) == gone
                dropped = {r.task_id for r in gone}
                held[:] = [t for t in held if t not in dropped]
        else:
            runner = Runner(f"r{n}", Resources(2000 + 500 * rnd, 8 * GI, 8))  # a new shape
            n += 1
            for alloc in (ref, fast):
                alloc.add_runner(runner)
            assert backend.direct is None  # queued: the general path until indexed
            churn(ref, fast, rng, 5, held, prefix=f"q{rnd}-")
            assert isinstance(backend.direct, DirectPath)  # indexed: the direct path again
        drained = [s.runner.name for s in ref.snapshot().runners if s.draining]
        for name in drained[: rng.randrange(len(drained) + 1)]:
            for alloc in (ref, fast):
                alloc.undrain_runner(name)
    same(ref, fast, backend)
    assert calls.takes > 500
    assert calls.puts > 500


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_full_fleet_fails_with_pythons_error_and_recovers(strategy):
    # the errors are diagnosed from the columns, which the direct path writes lazily
    ref, fast, backend = compiled_pair(tb.mixed_fleet(40, seed=2), strategy)
    rng = random.Random(8)
    held: list[str] = []
    failures = 0
    for step in range(400):
        request = Resources(rng.randint(1000, 4000), rng.randint(1, 8) * GI, rng.randint(1, 4))
        left = ref.allocate_or_error(f"f{step}", request)
        right = fast.allocate_or_error(f"f{step}", request)
        assert left == right
        if isinstance(left, AllocationError):
            failures += 1
            assert (left.kind, left.reasons, left.shortfalls) == (
                right.kind, right.reasons, right.shortfalls,
            )  # fmt: skip
        else:
            held.append(f"f{step}")
        if step % 5 == 4 and held:
            task = held.pop(rng.randrange(len(held)))
            assert ref.release(task) == fast.release(task)
    assert failures > 50
    same(ref, fast, backend)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_full_list_of_changed_rows_is_written_to_the_columns(monkeypatch, strategy):
    monkeypatch.setattr(compiled_index, "CHANGED", 3)  # the columns are written every few changes
    written = []
    original = changed_rows.write_changed

    def write_changed(index):
        written.append(int(index.dr[0]))
        original(index)

    monkeypatch.setattr(compiled_index, "write_changed", write_changed)  # the full-list write
    ref, fast, backend = compiled_pair(tb.mixed_fleet(200, seed=3), strategy)
    assert len(backend.classes.dr) == 6
    rng = random.Random(4)
    held: list[str] = []
    for rnd in range(6):
        churn(ref, fast, rng, 100, held, prefix=f"t{rnd}-")
        same(ref, fast, backend)
    assert written.count(3) > 50  # written when full, not only when read


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_deferred_updates_whose_trees_are_full_are_placed_first(monkeypatch, strategy):
    # no room beyond the laid out trees: a row whose tier changes soon finds its tree
    # full, in the deferred update a decision stores first as well as in the decision's
    monkeypatch.setattr(compiled_index, "ROOM", 0.0)
    monkeypatch.setattr(compiled_index, "SPARE", 1)
    ref, fast, backend = compiled_pair(tb.mixed_fleet(120, seed=6), strategy)
    rng = random.Random(9)
    held: list[str] = []
    for rnd in range(8):
        churn(ref, fast, rng, 150, held, prefix=f"t{rnd}-")
        same(ref, fast, backend)
    if strategy.maximize:  # tiers: rows move between trees and outgrow them
        assert backend.classes.moves + backend.classes.layouts > 2


def test_every_read_of_the_index_stores_the_deferred_update_first():
    # a release defers its update to the next kernel call; a labelled request, a
    # drain and a removal take the general path and must see it stored
    fleet = [Runner(f"r{i}", tb.CAPS[0], labels=frozenset({"x"})) for i in range(4)]
    ref, fast, backend = compiled_pair(fleet, EvenSpreadStrategy())
    for alloc in (ref, fast):
        for i in range(8):
            alloc.allocate(f"t{i}", "cpu=1")
    index = backend.classes
    for alloc in (ref, fast):
        alloc.release("t3")  # on r3: the one runner with room (r0 would win a tie)
    assert index.wait >= 0  # deferred
    left = ref.allocate("l1", "cpu=1", require={"x"})
    assert left.runner == "r3"
    assert fast.allocate("l1", "cpu=1", require={"x"}) == left
    for alloc in (ref, fast):
        alloc.release("t1")
        alloc.drain_runner(left.runner)
    same(ref, fast, backend)
    for alloc in (ref, fast):
        alloc.release("t2")
    assert index.wait >= 0
    gone = ref.remove_runner("r3", force=True)
    assert fast.remove_runner("r3", force=True) == gone
    same(ref, fast, backend)
    churn(ref, fast, random.Random(1), 40, [], prefix="c")
    same(ref, fast, backend)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_extended_resources_and_devices_keep_the_general_path(strategy):
    fleet = [
        *tb.mixed_fleet(30, seed=4),
        Runner.parse("g0", "cpu=8,memory=32Gi", devices={"gpu": 2}),
        Runner.parse("e0", "cpu=8,memory=32Gi,fpga=2"),
    ]
    ref, fast, backend = compiled_pair(fleet, strategy)
    assert backend.direct is None
    rng = random.Random(2)
    for step in range(200):
        spec = rng.choice(["cpu=1,gpu=1", "cpu=500m,fpga=1", "cpu=1", "cpu=2,memory=4Gi"])
        left = ref.allocate_or_error(f"t{step}", spec)
        assert left == fast.allocate_or_error(f"t{step}", spec)
        if step % 3 == 2:
            task = f"t{step - 2}"
            if task in ref.snapshot().reservations:
                assert ref.release(task) == fast.release(task)
    assert backend.direct is None
    same(ref, fast, backend)


def test_a_subclass_that_overrides_an_event_gets_every_event():
    class Recording(NumpyBackend):
        def __init__(self, states, strategy):
            super().__init__(states, strategy, index="compiled")
            self.events = 0

        def update_reserved(self, name, reserved, extended, draining):
            self.events += 1
            super().update_reserved(name, reserved, extended, draining)

    fleet = tb.mixed_fleet(50)
    ref = Allocator(fleet, backend="python")
    fast, backend = allocator_with(Recording, fleet, strategy=EvenSpreadStrategy())
    assert backend.direct is None
    for i in range(20):
        assert ref.allocate(f"t{i}", "cpu=1") == fast.allocate(f"t{i}", "cpu=1")
    for i in range(0, 20, 2):
        assert ref.release(f"t{i}") == fast.release(f"t{i}")
    assert backend.events == 30
    same(ref, fast, backend)


def test_the_allocator_backend_compiled_takes_the_direct_path(monkeypatch):
    calls = Counting(monkeypatch)
    fleet = tb.mixed_fleet(3000, seed=1)
    ref = Allocator(fleet, backend="python", strategy=MaxPackingStrategy())
    fast = Allocator(fleet, backend="compiled", strategy=MaxPackingStrategy())
    rng = random.Random(3)
    churn(ref, fast, rng, 300, [])
    assert calls.takes == 299  # the first decision indexes the new fleet (the general path)
    assert ref.snapshot() == fast.snapshot()
    restored = Allocator.from_snapshot(fast.snapshot(), backend="compiled")
    again = Allocator.from_snapshot(fast.snapshot(), backend="python")
    churn(again, restored, rng, 300, [], prefix="s")
    assert calls.takes == 599  # a restored backend holds its runners: direct from the start
    assert again.snapshot() == restored.snapshot()


def test_the_default_numpy_backend_does_not_import_numba():
    # the direct path is the compiled index's: looking for it must not load numba (about
    # 65 MiB per process) for a backend that never uses it
    code = (
        "import sys\n"
        "from runtime_alloc import Allocator, Runner\n"
        "fleet = [Runner.parse(f'r{i}', 'cpu=4') for i in range(3000)]\n"
        "a = Allocator(fleet, backend='numpy')\n"
        "a.allocate('t', 'cpu=1'); a.add_runner(Runner.parse('x', 'cpu=2')); a.release('t')\n"
        "a.remove_runner('x'); a.snapshot()\n"
        "print(a.backend, 'numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["numpy", "False"]
