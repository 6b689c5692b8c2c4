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
