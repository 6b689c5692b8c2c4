"""allocate_many's bulk backend event (``update_reserved_many``) against placing one by one.

A run of identical requests is reserved by runner and the backend hears of every
runner touched in one event: the numpy backend writes its columns at once and
moves the class index's rows, the compiled index's direct path lays its trees out
again (``DirectPath.put_many``), a backend without the event (or a subclass that
overrides ``update_reserved``) gets one ``update_reserved`` per runner. Each test
places a batch with ``allocate_many`` and the same items one by one on the python
backend: results, snapshots and the backend's own check must agree, and so must
the decisions that follow.
"""

from __future__ import annotations

import random

import pytest

pytest.importorskip("numpy")

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    MaxPackingStrategy,
    Resources,
    Runner,
)
from runtime_alloc.backends.numpy import NumpyBackend, compiled_index
from runtime_alloc.backends.numpy.direct import DirectPath
from runtime_alloc.backends.protocol import update_reserved_many
from runtime_alloc.backends.python import PythonBackend
from tests.backends.probe import allocator_with, numpy_with

STRATEGIES = (EvenSpreadStrategy, MaxPackingStrategy)
INDEXES = ["classes", "blocks", "scan", "auto"] + (
    ["compiled"] if compiled_index.available() else []
)
SHAPES = ("cpu=4,memory=8Gi,slots=4", "cpu=8,memory=16Gi,slots=8", "cpu=2,memory=4Gi,slots=2")


def fleet(n: int, seed: int = 0, **extra: str) -> list[Runner]:
    """``n`` runners of three shapes (some labelled); ``extra`` maps a name prefix to a capacity."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        labels = ("fast",) if rng.random() < 0.2 else ()
        spec = rng.choice(SHAPES)
        for prefix, more in extra.items():
            if i % 5 == 0:
                spec, labels = f"{spec},{more}", ()
                out.append(Runner.parse(f"{prefix}{i}", spec))
                break
        else:
            out.append(Runner.parse(f"r{i}", spec, labels=labels))
    return out


def prepare(alloc: Allocator, draining: list[str]) -> None:
    """Hold one task on some runners and two on others, and drain a few (same on both)."""
    for i in range(40):
        alloc.allocate(f"pre{i}", "cpu=500m,memory=1Gi")
    for name in draining:
        alloc.drain_runner(name)


def check_same(batch: Allocator, ref: Allocator, backend: object) -> None:
    assert batch.snapshot() == ref.snapshot()
    assert batch.metrics() == ref.metrics()
    batch._check()
    if isinstance(backend, NumpyBackend):
        backend.check()  # the columns and the index against the backend's own rows
    states = backend.states  # built from the columns
    assert list(states.values()) == list(batch.snapshot().runners)


def then_the_same(batch: Allocator, ref: Allocator, seed: int, held: list[str]) -> None:
    """Later decisions agree too (the index was left in step, not only the columns)."""
    rng = random.Random(seed)
    held = list(held)
    for step in range(150):
        if held and rng.random() < 0.5:
            task = held.pop(rng.randrange(len(held)))
            assert batch.release(task) == ref.release(task)
        else:
            spec = rng.choice(("slots=1", "cpu=1,memory=2Gi", "cpu=250m,slots=2"))
            got = batch.try_allocate(f"next{step}", spec)
            assert got == ref.try_allocate(f"next{step}", spec)
            if got is not None:
                held.append(got.task_id)


def run(runners, items, strategy, factory, *, draining=(), seed=0):
    batch, backend = allocator_with(factory, runners, strategy=strategy())
    ref = Allocator(runners, strategy=strategy(), backend="python")
    prepare(batch, list(draining))
    prepare(ref, list(draining))
    results = batch.allocate_many(items)
    expected = [ref.allocate_or_error(*item) for item in items]
    assert [str(r) for r in results] == [str(r) for r in expected]
    check_same(batch, ref, backend)
    placed = [r.task_id for r in results if not isinstance(r, Exception)]
    then_the_same(batch, ref, seed, placed)
    check_same(batch, ref, backend)
    return backend


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_batch_over_much_of_the_fleet_equals_one_by_one(strategy, index):
    runners = fleet(300)
    items = [(f"m{i}", "slots=1") for i in range(900)]
    run(runners, items, strategy, numpy_with(index=index), draining=["r3", "r7", "r11"])


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_batch_that_runs_out_part_way_equals_one_by_one(strategy, index):
    runners = fleet(120, seed=1)
    capacity = sum(r.capacity.slots for r in runners)
    items = [(f"m{i}", "slots=2") for i in range(capacity)]  # about half of them fail
    run(runners, items, strategy, numpy_with(index=index), draining=["r2"], seed=1)


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_small_batch_on_a_large_fleet_equals_one_by_one(strategy, index):
    # few runners touched: the direct path's one put per row, the numpy backend's loop
    runners = fleet(600, seed=2)
    items = [(f"m{i}", "cpu=1") for i in range(40)]
    run(runners, items, strategy, numpy_with(index=index), seed=2)


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_runners_with_extended_resources_in_a_batch(strategy, index):
    runners = fleet(300, seed=3, g="gpu=2")
    plain = [(f"m{i}", "slots=1") for i in range(700)]
    gpus = [(f"g{i}", "cpu=1,gpu=1") for i in range(100)]  # the tail fails: 60 x 2 gpus
    run(runners, plain + gpus, strategy, numpy_with(index=index), seed=3)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_runners_with_devices_in_a_batch(strategy):
    runners = [
        *fleet(200, seed=4),
        *(
            Runner.parse(f"d{i}", "cpu=8,memory=16Gi,slots=8", devices={"gpu": 2})
            for i in range(60)
        ),
    ]
    items = [(f"m{i}", "slots=1") for i in range(1200)]  # plain tasks land on device runners too
    for index in INDEXES:
        run(runners, items, strategy, numpy_with(index=index), seed=4)


def test_the_direct_path_lays_the_trees_out_once_for_a_large_batch(monkeypatch):
    if not compiled_index.available():
        pytest.skip("needs numba")
    calls = {"put": 0, "put_many": 0}
    put, put_many = DirectPath.put, DirectPath.put_many

    def counting_put(self, *args):
        calls["put"] += 1
        return put(self, *args)

    def counting_put_many(self, *args):
        calls["put_many"] += 1
        return put_many(self, *args)

    monkeypatch.setattr(DirectPath, "put", counting_put)
    monkeypatch.setattr(DirectPath, "put_many", counting_put_many)
    runners = fleet(300, seed=5)
    batch = Allocator(runners, strategy=EvenSpreadStrategy(), backend="compiled")
    ref = Allocator(runners, strategy=EvenSpreadStrategy(), backend="python")
    batch.allocate("w", "slots=1")  # builds the index: the direct path is on from here
    ref.allocate("w", "slots=1")
    calls["put"] = 0
    items = [(f"m{i}", "slots=1") for i in range(1000)]
    assert batch.allocate_many(items) == [ref.allocate(*item) for item in items]
    assert calls == {"put": 0, "put_many": 1}  # every runner in one event, no put per row
    assert batch.snapshot() == ref.snapshot()
    batch._check()
    then_the_same(batch, ref, 5, [t for t, _ in items])


@pytest.mark.parametrize("index", ["classes", *(["compiled"] if "compiled" in INDEXES else [])])
def test_a_subclass_that_overrides_update_reserved_gets_one_event_per_runner(index):
    events: list[str] = []

    class Recording(NumpyBackend):
        def __init__(self, states, strategy):
            super().__init__(states, strategy, index=index)

        def update_reserved(self, name, reserved, extended, draining):
            events.append(name)
            super().update_reserved(name, reserved, extended, draining)

    runners = fleet(300, seed=6)
    items = [(f"m{i}", "slots=1") for i in range(900)]
    backend = run(runners, items, EvenSpreadStrategy, Recording, seed=6)
    assert isinstance(backend, Recording)
    assert len(events) >= 300 + 40  # every runner the batch touched, and the later steps


class Planning(PythonBackend):
    """The python backend, planning a run by choosing on copies of its states (a test double)."""

    def __init__(self, states, strategy):
        super().__init__(states, strategy)
        self.bulk: list[int] = []
        self.single = 0

    def plan(self, request, require, count):
        from runtime_alloc import _placement
        from runtime_alloc._ledger_views import reserved_of
        from runtime_alloc.runners import RunnerState

        states = dict(self.states)
        names = []
        for _ in range(count):
            state = _placement.choose(states.values(), self.strategy, request, require)
            if state is None:
                break
            r = state.reserved
            states[state.name] = RunnerState(
                state.runner,
                reserved_of(
                    r.millicpu + request.millicpu,
                    r.memory_bytes + request.memory_bytes,
                    r.slots + request.slots,
                    None,
                ),
                state.draining,
            )
            names.append(state.name)
        return names

    def update_reserved(self, name, reserved, extended, draining):
        self.single += 1
        super().update_reserved(name, reserved, extended, draining)

    def update_reserved_many(self, names, reserved, extended, draining):
        self.bulk.append(len(names))
        super().update_reserved_many(names, reserved, extended, draining)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_python_backend_takes_the_bulk_event_one_update_at_a_time(strategy):
    runners = fleet(60, seed=7)
    items = [(f"m{i}", "slots=1") for i in range(200)]
    backend = run(runners, items, strategy, Planning, draining=["r1"], seed=7)
    assert backend.bulk
    assert backend.bulk[0] > 1
    assert backend.single >= backend.bulk[0]  # ... each passed on as update_reserved


class Plain:
    """A backend with only the protocol's methods (no update_reserved_many), over Planning."""

    def __init__(self, states, strategy):
        self._inner = Planning(states, strategy)
        self.name = "plain"
        self.events = 0

    def add(self, state):
        self._inner.add(state)

    def update(self, state):
        self._inner.update(state)

    def update_reserved(self, name, reserved, extended, draining):
        self.events += 1
        self._inner.update_reserved(name, reserved, extended, draining)

    def remove(self, name):
        self._inner.remove(name)

    def choose(self, request, require):
        return self._inner.choose(request, require)

    def diagnose(self, task_id, request, require):
        return self._inner.diagnose(task_id, request, require)

    def plan(self, request, require, count):
        return self._inner.plan(request, require, count)

    @property
    def states(self):
        return self._inner.states


def test_a_backend_without_the_bulk_event_gets_one_update_per_runner():
    runners = fleet(60, seed=8)
    items = [(f"m{i}", "slots=1") for i in range(200)]
    backend = run(runners, items, EvenSpreadStrategy, Plain, seed=8)
    assert not hasattr(backend, "update_reserved_many")
    assert backend.events >= 60  # the batch's runners, one event each
    assert backend._inner.bulk == []


def test_update_reserved_many_passes_each_runner_in_order():
    calls = []

    class Only:
        def update_reserved(self, name, reserved, extended, draining):
            calls.append((name, reserved, extended, draining))

    update_reserved_many(
        Only(), ["a", "b"], [(1, 2, 3), (4, 5, 6)], [None, {"gpu": 1}], [False, True]
    )  # type: ignore[arg-type]
    assert calls == [("a", (1, 2, 3), None, False), ("b", (4, 5, 6), {"gpu": 1}, True)]
    with pytest.raises(ValueError):  # the sequences run in step
        update_reserved_many(Only(), ["a"], [], [], [])  # type: ignore[arg-type]


def test_the_numpy_backend_bulk_event_equals_single_events():
    runners = fleet(300, seed=9)
    states = [Allocator(runners)._ledger.state(r.name) for r in runners]
    one = NumpyBackend(states, EvenSpreadStrategy(), index="classes")
    many = NumpyBackend(states, EvenSpreadStrategy(), index="classes")
    rng = random.Random(9)
    names = rng.sample([r.name for r in runners], 200)
    reserved = [
        (rng.randrange(0, 2000), rng.randrange(0, 1 << 30), rng.randrange(0, 2)) for _ in names
    ]
    draining = [rng.random() < 0.1 for _ in names]
    for name, r, d in zip(names, reserved, draining, strict=True):
        one.update_reserved(name, r, None, d)
    many.update_reserved_many(names, reserved, [None] * len(names), draining)
    one.check()
    many.check()
    assert one.states == many.states
    for spec in ("slots=1", "cpu=1,memory=2Gi", "cpu=3"):
        request = Resources.parse(spec)
        assert one.choose(request, frozenset()) == many.choose(request, frozenset())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_put_many_equals_one_put_per_row(strategy):
    if not compiled_index.available():
        pytest.skip("needs numba")
    from array import array

    runners = fleet(300, seed=10)
    one, b1 = allocator_with(numpy_with(index="compiled"), runners, strategy=strategy())
    many, b2 = allocator_with(numpy_with(index="compiled"), runners, strategy=strategy())
    one.allocate("w", "slots=1")  # the index built, the direct path on
    many.allocate("w", "slots=1")
    assert b1.direct is not None
    assert b2.direct is not None
    rng = random.Random(10)
    n = len(runners)
    cpu = array("q", (rng.randrange(0, 2000) for _ in range(n)))
    memory = array("q", (rng.randrange(0, 1 << 31) for _ in range(n)))
    slots = array("q", (rng.randrange(0, 2) for _ in range(n)))
    drain = bytearray(rng.random() < 0.2 for _ in range(n))
    rows = rng.sample(range(n), 200)  # ledger rows, more than an eighth of the fleet
    for row in rows:
        b1.direct.put(row, cpu[row], memory[row], slots[row], drain[row])
    b2.direct.put_many(rows, cpu, memory, slots, drain)
    b1.check()
    b2.check()
    assert b1.states == b2.states
    for spec in ("slots=1", "cpu=1,memory=2Gi", "cpu=3", "memory=6Gi"):
        request = Resources.parse(spec)
        assert b1.choose(request, frozenset()) == b2.choose(request, frozenset())


@pytest.mark.parametrize("count", [0, 1, 2047, 2048, 2049, 5000])
def test_new_reservations_in_chunks_equal_the_constructor(count):
    from runtime_alloc.reservations import Reservation, new_reservations

    request = Resources.parse("cpu=1,slots=2")
    ids = [f"t{i}" for i in range(count)]
    names = [f"r{i % 7}" for i in range(count)]
    built = new_reservations(ids, names, request)
    assert built == [Reservation(t, n, request) for t, n in zip(ids, names, strict=True)]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_auto_backend_passes_the_bulk_event_to_numpy(strategy, monkeypatch):
    """``backend="auto"`` (the default) binds the numpy backend's bulk event at the switch."""
    calls = []
    bulk = NumpyBackend.update_reserved_many

    def spy(self, names, *rest):
        calls.append(len(names))
        return bulk(self, names, *rest)

    monkeypatch.setattr(NumpyBackend, "update_reserved_many", spy)
    runners = fleet(300)
    items = [(f"m{i}", "slots=1") for i in range(900)]
    batch = Allocator(runners, strategy=strategy())
    ref = Allocator(runners, strategy=strategy(), backend="python")
    assert batch.backend == "numpy"
    results = batch.allocate_many(items)
    assert [str(r) for r in results] == [str(ref.allocate_or_error(*i)) for i in items]
    assert calls
    assert max(calls) > 100  # one event for the runners touched, not one each
    assert batch.snapshot() == ref.snapshot()
    batch._check()
