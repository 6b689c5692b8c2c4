"""The numpy backend's memory layout: the shared name map and the columns made when first read."""

from __future__ import annotations

import random

import pytest

np = pytest.importorskip("numpy")

from runtime_alloc import (  # noqa: E402
    Allocator,
    EvenSpreadStrategy,
    MaxPackingStrategy,
    Resources,
    Runner,
)
from runtime_alloc.backends.numpy.table_views import SharedKeys  # noqa: E402
from tests.backends.numpy.test_backend import mixed_fleet, random_request  # noqa: E402
from tests.backends.probe import allocator_with, auto_backend, numpy_with  # noqa: E402


def _place(ref, fast, rng, steps, prefix):
    held = []
    for step in range(steps):
        if held and rng.random() < 0.4:
            task = held.pop(rng.randrange(len(held)))
            assert ref.release(task).runner == fast.release(task).runner
        else:
            task, request = f"{prefix}{step}", random_request(rng)
            a, b = ref.try_allocate(task, request), fast.try_allocate(task, request)
            assert (a and a.runner) == (b and b.runner)
            if a is not None:
                held.append(task)


@pytest.mark.parametrize("factory", [numpy_with(), auto_backend])
@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_the_table_keeps_its_members_through_the_ledgers_name_map(factory, strategy):
    fleet = mixed_fleet(3000)
    ref = Allocator(fleet, strategy=strategy, backend="python")
    fast, backend = allocator_with(factory, fleet, strategy=strategy)
    rng = random.Random(5)
    _place(ref, fast, rng, 300, "a")
    inner = getattr(backend, "_inner", backend)
    key_of = inner.table.key_of
    assert isinstance(key_of, SharedKeys)
    assert key_of.slots is fast._ledger.row_of
    assert inner.restored_rows is None  # (auto: the map of the switch's states is dropped)
    # remove most runners: the ledger renumbers its rows, the table follows
    for runner in fleet[:2500:2] + fleet[1:2000:2]:
        fast.remove_runner(runner.name, force=True)
        ref.remove_runner(runner.name, force=True)
    fast.metrics()  # closes the ledger's holes
    inner = getattr(backend, "_inner", backend)
    assert inner.table.key_of.slots is fast._ledger.row_of
    _place(ref, fast, rng, 300, "b")
    inner.check(fast._ledger.states)


def many_capacities(n):
    """Runners of 100 capacities: beyond 64 the table puts them in mixed bucket groups."""
    return [Runner(f"r{i}", Resources(4000 + 100 * (i % 100), 16 << 30, 16)) for i in range(n)]


@pytest.mark.parametrize("fleet_of", [mixed_fleet, many_capacities])
@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_columns_made_at_their_first_read_equal_the_kept_ones(strategy, fleet_of):
    fleet = fleet_of(3000)
    ref = Allocator(fleet, strategy=strategy, backend="python")
    fast, backend = allocator_with(numpy_with(index="classes"), fleet, strategy=strategy)
    rng = random.Random(7)
    _place(ref, fast, rng, 400, "a")
    fast.drain_runner(fleet[3].name)
    fast.remove_runner(fleet[4].name, force=True)
    ref.drain_runner(fleet[3].name)
    ref.remove_runner(fleet[4].name, force=True)
    table = backend.table
    assert table.lazy
    assert (table._free, table._capacity, table._sequence) == (None, None, None)
    # a request no runner fits is diagnosed with a vectorized read of the columns
    assert fast.try_allocate("huge", "cpu=64") is None
    assert ref.try_allocate("huge", "cpu=64") is None
    assert table._capacity is not None  # the diagnosis read them
    backend.check(fast._ledger.states)  # the made columns equal the states
    _place(ref, fast, rng, 400, "b")  # and are kept in step from then on
    backend.check(fast._ledger.states)


@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_a_restore_makes_one_name_map(strategy):
    """from_snapshot: the ledger takes the map the backend made from the states."""
    fleet = mixed_fleet(3000)
    ref = Allocator(fleet, strategy=strategy, backend="python")
    rng = random.Random(7)
    for step in range(400):
        ref.try_allocate(f"a{step}", random_request(rng))
    fast = Allocator.from_snapshot(ref.snapshot(), backend="numpy")
    backend = fast._ledger.backend
    assert backend.restored_rows is None  # taken by the ledger
    assert backend.table.key_of.slots is fast._ledger.row_of
    assert fast._ledger.row_of == {r.name: i for i, r in enumerate(fleet)}
    fast._ledger.check()
    _place(ref, fast, rng, 300, "b")
    for runner in fleet[:2500:2]:
        assert fast.remove_runner(runner.name, force=True) == ref.remove_runner(
            runner.name, force=True
        )
    fast.metrics()  # closes the ledger's holes: a new map, shared again
    assert backend.table.key_of.slots is fast._ledger.row_of
    _place(ref, fast, rng, 300, "c")
    assert fast.snapshot() == ref.snapshot()


def test_a_backend_used_alone_keeps_its_map_from_the_states():
    """Built from states with no ledger: new runners get slots in the backend's own map."""
    from runtime_alloc.backends.numpy import NumpyBackend
    from runtime_alloc.runners import RunnerState

    fleet = mixed_fleet(600)
    states = {r.name: RunnerState(r) for r in fleet[:500]}
    backend = NumpyBackend(list(states.values()), EvenSpreadStrategy(), index="classes")
    own = backend.restored_rows
    assert backend.table.key_of.slots is own
    for runner in fleet[500:]:
        states[runner.name] = RunnerState(runner)
        backend.add(states[runner.name])
    backend.flush()
    assert len(own) == 600
    backend.check(states)
    for runner in fleet[100:200]:
        backend.remove(runner.name)
        del states[runner.name]
    backend.add(RunnerState(fleet[150]))  # a name back after its removal
    states[fleet[150].name] = RunnerState(fleet[150])
    backend.flush()
    backend.check(states)
    assert backend.choose(Resources(1000, 0, 1), frozenset()) is not None


@pytest.mark.parametrize("restore", [False, True])
@pytest.mark.parametrize("index", ["classes", "blocks", "scan"])
@pytest.mark.parametrize("strategy", [EvenSpreadStrategy(), MaxPackingStrategy()])
def test_a_build_written_in_chunks_decides_alike(monkeypatch, strategy, index, restore):
    """Table.add_many writes its columns in chunks: small chunks, same columns and decisions."""
    from runtime_alloc.backends.numpy import columns

    monkeypatch.setattr(columns, "_CHUNK", 7)
    fleet = mixed_fleet(500, seed=3)
    ref = Allocator(fleet, strategy=strategy, backend="python")
    rng = random.Random(11)
    for step in range(300):
        ref.try_allocate(f"w{step}", random_request(rng))
    if restore:  # built from states holding tasks
        fast, backend = allocator_with(
            numpy_with(index=index, block_size=16), snapshot=ref.snapshot()
        )
    else:  # built from the empty fleet, the tasks replayed
        fast, backend = allocator_with(
            numpy_with(index=index, block_size=16), fleet, strategy=strategy
        )
        for task in ref.snapshot().reservations.values():
            fast._ledger.reserve(task)
    backend.check(fast._ledger.states)
    _place(ref, fast, rng, 300, "a")
    backend.check(fast._ledger.states)
    assert fast.snapshot() == ref.snapshot()
