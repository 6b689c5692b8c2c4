"""Differential tests of allocate_many's bulk path (checked by columns, placed by runs).

Every batch is placed by ``allocate_many`` on one allocator and item by item
with ``allocate_or_error`` on an equal one: the results and snapshots must be
equal. A bad batch must raise the error the per-item check
(``_requests.prepare_batch``) raises, and change nothing.
"""

from __future__ import annotations

import gc
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    MaxPackingStrategy,
    Resources,
    Runner,
)
from runtime_alloc._batch import GC_PAUSE_ITEMS, batch_runs, gc_paused
from runtime_alloc._requests import identical_runs, prepare_batch
from runtime_alloc.errors import RuntimeAllocError
from runtime_alloc.reservations import Reservation, new_reservations

STRATEGIES = (EvenSpreadStrategy, MaxPackingStrategy)


class Label(str):
    """A str subclass: accepted as a task id (check_name takes any str)."""

    __slots__ = ()


BACKENDS = ("python", "numpy")


def fleet(n: int, seed: int = 0) -> list[Runner]:
    rng = random.Random(seed)
    shapes = ("cpu=4,memory=8Gi,slots=4", "cpu=8,memory=16Gi,slots=8", "cpu=2,memory=4Gi,slots=2")
    out = []
    for i in range(n):
        labels = ("fast",) if rng.random() < 0.3 else ()
        out.append(Runner.parse(f"r{i}", rng.choice(shapes), labels=labels))
    return out


def one_by_one(alloc: Allocator, items: list) -> list:
    return [
        alloc.allocate_or_error(item[0], item[1] if len(item) > 1 else None,
                                require=item[2] if len(item) > 2 else ())
        for item in items
    ]  # fmt: skip


def assert_same_as_one_by_one(runners: list[Runner], items: list, strategy, backend: str) -> None:
    batch = Allocator(runners, strategy=strategy(), backend=backend)
    single = Allocator(runners, strategy=strategy(), backend=backend)
    batch.allocate("held", "cpu=1")
    single.allocate("held", "cpu=1")
    results = batch.allocate_many(items)
    expected = one_by_one(single, items)
    assert [str(r) for r in results] == [str(r) for r in expected]
    placed = [r for r in results if not isinstance(r, Exception)]
    assert placed == [r for r in expected if not isinstance(r, Exception)]
    assert batch.snapshot() == single.snapshot()
    assert batch.metrics() == single.metrics()
    batch._check()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_large_identical_batch_equals_one_by_one(strategy, backend):
    # 2,000 tasks on 200 runners: runners fill up, the tail of the batch fails
    items = [(f"m{i}", "slots=1") for i in range(2_000)]
    assert_same_as_one_by_one(fleet(200), items, strategy, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_mixed_segments_equal_one_by_one(strategy, backend):
    spec = {"cpu": "500m"}  # one dict object repeated: grouped by identity
    items: list = [(f"a{i}", "cpu=1") for i in range(20)]
    items += [(f"b{i}", Resources.parse("cpu=1")) for i in range(10)]  # equal once parsed
    items += [(f"c{i}", spec) for i in range(12)]
    items += [(f"d{i}", {"cpu": "500m"}) for i in range(3)]  # equal dicts, distinct objects
    items += [(f"e{i}", "cpu=1" + " " * 0) for i in range(9)]
    items += [(f"f{i}", None) for i in range(9)]
    items += [(f"g{i}", "slots=1") for i in range(5)]
    assert_same_as_one_by_one(fleet(30), items, strategy, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_item_tuples_lists_and_generators(backend):
    runners = fleet(40)
    items3 = [(f"x{i}", "cpu=1", ("fast",) if i % 10 < 8 else ()) for i in range(60)]
    assert_same_as_one_by_one(runners, items3, EvenSpreadStrategy, backend)
    lists = [[f"y{i}", "cpu=1"] for i in range(30)]
    assert_same_as_one_by_one(runners, lists, MaxPackingStrategy, backend)
    mixed = [(f"z{i}", "cpu=1") for i in range(10)] + [(f"w{i}",) for i in range(10)]
    assert_same_as_one_by_one(runners, mixed, EvenSpreadStrategy, backend)
    alloc = Allocator(runners, backend=backend)
    single = Allocator(runners, backend=backend)
    results = alloc.allocate_many((f"g{i}", "cpu=1") for i in range(25))
    assert results == one_by_one(single, [(f"g{i}", "cpu=1") for i in range(25)])


def per_item_error(alloc: Allocator, items: list) -> RuntimeAllocError:
    with pytest.raises(RuntimeAllocError) as caught:
        prepare_batch(items, alloc._prepare, alloc._reservations)
    return caught.value


BAD_BATCHES = {
    "empty id": [(f"t{i}", "cpu=1") for i in range(20)] + [("", "cpu=1")],
    "id not a string": [(f"t{i}", "cpu=1") for i in range(5)] + [(7, "cpu=1")],
    "id too long": [(f"t{i}", "cpu=1") for i in range(5)] + [("x" * 254, "cpu=1")],
    "duplicate in batch": [(f"t{i}", "cpu=1") for i in range(9)] + [("t3", "cpu=1")],
    "held id": [(f"t{i}", "cpu=1") for i in range(9)] + [("held", "cpu=1")],
    "bad request later": [(f"t{i}", "cpu=1") for i in range(9)] + [("u", "cpu=lots")],
    "bad id before a bad request": [("", "cpu=1"), ("u", "cpu=lots")],
    "bad request before a duplicate": [("t", "cpu=lots"), ("t", "cpu=1")],
    "too many slots": [(f"t{i}", "slots=1") for i in range(9)] + [("u", "slots=9999")],
    "bad require": [(f"t{i}", "cpu=1", ("ok",)) for i in range(9)] + [("u", "cpu=1", (3,))],
    "bad item shape": [(f"t{i}", "cpu=1") for i in range(9)] + [("a", "cpu=1", (), "x")],
    "item a string": [(f"t{i}", "cpu=1") for i in range(9)] + ["abc"],
    "list item, id not a string": [[f"t{i}", "cpu=1"] for i in range(5)] + [[7, "cpu=1"]],
    "3-tuple, id not a string": [(f"t{i}", "cpu=1", ()) for i in range(5)] + [(b"x", "cpu=1", ())],
    "id a string subclass, then a bad id": [(Label("s"), "cpu=1"), ("t", "cpu=1"), ("", "cpu=1")],
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
def test_a_bad_batch_raises_the_per_item_error_and_changes_nothing(case, backend):
    alloc = Allocator(fleet(10), backend=backend)
    alloc.allocate("held", "cpu=1")
    items = BAD_BATCHES[case]
    expected = per_item_error(alloc, items)
    before = alloc.snapshot(), alloc.metrics()
    with pytest.raises(type(expected)) as caught:
        alloc.allocate_many(items)
    assert str(caught.value) == str(expected)
    with pytest.raises(type(expected)) as caught:  # the same through a generator
        alloc.allocate_many(iter(items))
    assert str(caught.value) == str(expected)
    assert (alloc.snapshot(), alloc.metrics()) == before


def test_a_failing_generator_raises_an_earlier_bad_item_first():
    alloc = Allocator(fleet(3), backend="python")

    def items():
        yield ("t1", "cpu=1")
        yield ("", "cpu=1")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeAllocError, match="task_id must be a non-empty string"):
        alloc.allocate_many(items())

    def good_then_boom():
        yield ("t1", "cpu=1")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        alloc.allocate_many(good_then_boom())
    assert alloc.snapshot().reservations == {}


def test_a_non_iterable_batch_is_refused():
    alloc = Allocator(fleet(3), backend="python")
    for items in (5, "abc", {"t": "cpu=1"}):
        with pytest.raises(RuntimeAllocError, match="items must be an iterable"):
            alloc.allocate_many(items)


ids = st.sampled_from(["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "", "held"])
requests = st.sampled_from(["cpu=1", "slots=1", "cpu=1,slots=2", None, "cpu=bad", "slots=99"])
requires = st.sampled_from([(), ("fast",), "fast", ("nope",)])
item = st.one_of(st.tuples(ids, requests), st.tuples(ids, requests, requires))


@settings(max_examples=150, deadline=None)
@given(st.lists(item, max_size=12), st.integers(0, 20))
def test_batch_runs_equals_the_per_item_preparation(items, unique_from):
    # make most ids distinct so that many batches are valid
    items = [(f"{it[0]}-{i}" if it[0] and it[0] != "held" and i >= unique_from else it[0],
              *it[1:]) for i, it in enumerate(items)]  # fmt: skip
    alloc = Allocator(fleet(6), backend="python")
    alloc.allocate("held", "cpu=1")
    try:
        prepared = prepare_batch(items, alloc._prepare, alloc._reservations)
    except RuntimeAllocError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        with pytest.raises(type(error)) as caught:
            batch_runs(items, alloc._prepare, alloc._reservations)
        assert str(caught.value) == str(error)
        return
    task_ids, runs = batch_runs(items, alloc._prepare, alloc._reservations)
    assert task_ids == [p[0] for p in prepared]
    expected = []
    start = 0
    for run in identical_runs(prepared):
        expected.append((start, start + len(run), run[0][1], run[0][2]))
        start += len(run)
    assert runs == expected


def test_new_reservations_equal_the_constructor():
    request = Resources.parse("cpu=1,slots=2")
    built = new_reservations(["a", "b"], ["r1", "r2"], request)
    assert built == [Reservation("a", "r1", request), Reservation("b", "r2", request)]
    assert [type(r) for r in built] == [Reservation, Reservation]
    assert hash(built[0]) == hash(Reservation("a", "r1", request))
    assert built[0].devices is Reservation("a", "r1", request).devices


@pytest.mark.parametrize("enabled", [True, False])
def test_a_large_batch_leaves_the_garbage_collector_as_it_found_it(enabled):
    alloc = Allocator(fleet(10), backend="python")
    items = [(f"t{i}", "slots=1") for i in range(GC_PAUSE_ITEMS)]
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        with gc_paused(GC_PAUSE_ITEMS):
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        alloc.allocate_many(items)
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeAllocError):
            alloc.allocate_many([*items, ("", "slots=1")])
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_batch_that_pauses_the_collector_equals_one_by_one(strategy):
    # >= GC_PAUSE_ITEMS items (the collector paused, the objects moved to the oldest
    # generation on exit): runs with labels, a drained runner, capacity running out
    runners = fleet(120)
    items: list = [(f"a{i}", "cpu=100m") for i in range(GC_PAUSE_ITEMS // 2)]
    items += [(f"b{i}", "cpu=100m", ("fast",)) for i in range(1_000)]
    items += [(f"c{i}", "cpu=100m") for i in range(GC_PAUSE_ITEMS // 2)]  # the tail fails
    batch = Allocator(runners, strategy=strategy(), backend="numpy")
    single = Allocator(runners, strategy=strategy(), backend="numpy")
    for alloc in (batch, single):
        alloc.drain_runner("r3")
    results = batch.allocate_many(items)
    expected = one_by_one(single, items)
    assert any(isinstance(r, Exception) for r in results)
    assert [str(r) for r in results] == [str(r) for r in expected]
    assert batch.snapshot() == single.snapshot()
    assert batch.metrics() == single.metrics()
    batch._check()


def test_a_large_batch_puts_its_reservations_in_the_oldest_generation():
    alloc = Allocator(fleet(10), backend="python")
    items = [(f"t{i}", "slots=1") for i in range(GC_PAUSE_ITEMS)]
    if not gc.isenabled() or gc.get_freeze_count():
        pytest.skip("needs the collector enabled and nothing frozen")
    placed = alloc.allocate_many(items)
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(r) in oldest for r in placed)  # no young-generation collection met them
    assert gc.get_freeze_count() == 0


def test_a_large_batch_leaves_frozen_objects_frozen():
    alloc = Allocator(fleet(10), backend="python")
    items = [(f"t{i}", "slots=1") for i in range(GC_PAUSE_ITEMS)]
    if not gc.isenabled() or gc.get_freeze_count():
        pytest.skip("needs the collector enabled and nothing frozen")
    kept = [[]]  # a tracked object, frozen below
    gc.freeze()
    try:
        placed = alloc.allocate_many(items)
        assert len(placed) == GC_PAUSE_ITEMS
        assert gc.get_freeze_count() > 0
        generations = {id(o) for g in range(3) for o in gc.get_objects(generation=g)}
        assert id(kept) not in generations  # still frozen, not thawed into the oldest
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("load", ["empty", "random", "half full"])
@pytest.mark.parametrize("count", [50, 400, 3_000])
def test_a_run_on_a_loaded_fleet_equals_one_by_one(strategy, load, count, monkeypatch):
    # EvenSpread scores each runner's share of the run first and checks it: an
    # empty fleet passes the check; when half the runners hold most of their
    # memory (high scores, free slots) the other half takes far more than its
    # share, and the plan falls back to scoring every copy; both must be exact
    pytest.importorskip("numpy")
    from runtime_alloc.backends.numpy import batch

    calls = []
    lowest = batch._lowest
    monkeypatch.setattr(batch, "_lowest", lambda *a: calls.append(a) or lowest(*a))
    shapes = ("cpu=8,memory=16Gi,slots=16", "cpu=16,memory=32Gi,slots=32")
    runners = [Runner.parse(f"r{i}", shapes[i % 3 == 0], labels=(f"n{i}",)) for i in range(120)]
    rng = random.Random(count)
    allocators = [Allocator(runners, strategy=strategy(), backend=b) for b in BACKENDS]
    for i in range(len(runners)):
        gib = {"empty": 0, "random": rng.randint(0, 12), "half full": 14 * (i % 2)}[load]
        for alloc in allocators:
            if gib:
                alloc.allocate(f"w{i}", f"memory={gib}Gi", require=(f"n{i}",))
    items = [(f"m{i}", "slots=1") for i in range(count)]
    reference, fast = allocators
    expected = one_by_one(reference, items)
    results = fast.allocate_many(items)
    assert [str(r) for r in results] == [str(r) for r in expected]
    assert fast.snapshot() == reference.snapshot()
    if strategy is EvenSpreadStrategy and count < 3_000:
        assert calls  # the run was planned at once
        if load != "random":
            assert len(calls) == (2 if load == "half full" and count == 400 else 1)
