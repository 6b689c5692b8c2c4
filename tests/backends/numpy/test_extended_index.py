"""The extended-resource index (backends/numpy/extended_index.py): sound bounds, python's decisions.

Fleets mix runners with gpu devices, pooled gpu and fpga capacities and runners
with neither; requests ask gpu (shares and whole devices), fpga or both, with
label ANDs and ORs; strategies weigh the extended resources 1, 3 or 0 (unscored).
Chunks of 1, 2, 4 or 64 rows make the search prune and tie across many chunks.
"""

# ruff: noqa: B023  (each lambda is called at once, inside its loop iteration)
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")

from runtime_alloc import Allocator, EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner  # noqa: E402
from runtime_alloc.backends.numpy.extended_chunks import Chunks, chunk_size  # noqa: E402
from tests.backends.probe import allocator_with, check_index, numpy_with  # noqa: E402

GI = 1 << 30
OPS = ("allocate", "allocate", "allocate", "many", "release", "release")
OPS += ("add", "drain", "undrain", "remove")
WEIGHTS = ({}, {"gpu": 3, "memory": 2}, {"gpu": 0}, {"fpga": 0, "cpu": 0})


def make_runner(rng: random.Random, name: str) -> Runner:
    cap = Resources(rng.choice((0, 2000, 8000)), rng.choice((GI, 8 * GI)), rng.choice((0, 4, 110)))
    labels = [m for m in ("V100", "A100") if rng.random() < 0.4]
    extended = {"fpga": rng.choice((1, 4))} if rng.random() < 0.4 else {}
    kind = rng.random()
    if kind < 0.5:
        return Runner(
            name,
            Resources(cap.millicpu, cap.memory_bytes, cap.slots, extended),
            labels,
            {"gpu": rng.choice((1, 2, 8))},
        )
    if kind < 0.7:  # a pooled gpu capacity, in milli
        extended["gpu"] = rng.choice((2000, 4000))
    return Runner(name, Resources(cap.millicpu, cap.memory_bytes, cap.slots, extended), labels)


def make_request(rng: random.Random) -> Resources:
    extended = {}
    if rng.random() < 0.8:
        extended["gpu"] = rng.choice((100, 250, 500, 700, 1000, 2000, 4000))
    if not extended or rng.random() < 0.3:
        extended["fpga"] = rng.choice((1, 2))
    return Resources(rng.choice((0, 500, 1000)), rng.choice((0, GI // 4)), 1, extended)


def outcome(call):
    try:
        return ("ok", call())
    except Exception as exc:  # compare any error by type and text
        return ("error", type(exc), str(exc))


@pytest.mark.filterwarnings("ignore::runtime_alloc.errors.UndeclaredWeightWarning")
@settings(max_examples=80, deadline=None)
@given(
    maximize=st.booleans(),
    weights=st.sampled_from(WEIGHTS),
    size=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
    chunk=st.sampled_from((1, 2, 4, 64)),
    index=st.sampled_from(("auto", "blocks", "classes", "scan")),
    classes=st.booleans(),
    ops=st.lists(
        st.tuples(
            st.sampled_from(OPS),
            st.integers(0, 2**32 - 1),
        ),
        max_size=40,
    ),
)
def test_numpy_equals_python_on_extended_requests(  # noqa: PLR0917
    maximize, weights, size, seed, chunk, index, classes, ops
):
    """Device requests through the class heaps (classes) or the chunks, the rest through chunks."""
    import runtime_alloc.backends.numpy.index_layout as layout

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(layout, "SCAN_ROWS", 0)  # "auto": an index from the first runner on
        run_parity(maximize, weights, size, seed, chunk, index, ops, classes=classes)


def numpy_chunks_only(**options):
    """A numpy backend factory whose extended index answers device requests from chunks too."""
    from runtime_alloc.backends.numpy import NumpyBackend
    from runtime_alloc.backends.numpy.extended_index import ExtendedIndex

    def make(states, strategy):
        backend = NumpyBackend(states, strategy, **options)
        backend.extended_index = ExtendedIndex(backend, options.get("block_size"), classes=False)
        return backend

    return make


def run_parity(maximize, weights, size, seed, chunk, index, ops, *, classes=True):  # noqa: PLR0917
    strategy = MaxPackingStrategy(weights) if maximize else EvenSpreadStrategy(weights)
    rng = random.Random(seed)
    fleet = [make_runner(rng, f"r{i}") for i in range(size)]
    ref = Allocator(fleet, strategy=strategy, backend="python")
    factory = numpy_with if classes else numpy_chunks_only
    fast, backend = allocator_with(factory(block_size=chunk, index=index), fleet, strategy=strategy)
    for i in range(2 * size):  # a warm start: devices and pools fill unevenly
        request = make_request(rng)
        left = outcome(lambda: ref.try_allocate(f"w{i}", request))
        assert left == outcome(lambda: fast.try_allocate(f"w{i}", request))
    counter = size
    for kind, op_seed in ops:
        op_rng = random.Random(op_seed)
        snapshot = ref.snapshot()
        names = [s.name for s in snapshot.runners]
        tasks = sorted(snapshot.reservations)
        if kind == "allocate":
            request = make_request(op_rng)
            require = ["A100"] if op_rng.random() < 0.2 else []
            any_of = ["A100", "V100"] if op_rng.random() < 0.2 else []
            task = f"t{op_seed}"
            left = outcome(lambda: ref.allocate(task, request, require=require, require_any=any_of))
            right = outcome(
                lambda: fast.allocate(task, request, require=require, require_any=any_of)
            )
        elif kind == "many":
            request = make_request(op_rng)
            items = [(f"m{op_seed}-{j}", request) for j in range(op_rng.choice((3, 8)))]
            left = outcome(lambda: [str(r) for r in ref.allocate_many(items)])
            right = outcome(lambda: [str(r) for r in fast.allocate_many(items)])
        elif kind == "release" and tasks:
            task = op_rng.choice(tasks)
            left = outcome(lambda: ref.release(task))
            right = outcome(lambda: fast.release(task))
        elif kind == "add":
            counter += 1
            runner = make_runner(op_rng, f"n{counter}")
            left = outcome(lambda: ref.add_runner(runner))
            right = outcome(lambda: fast.add_runner(runner))
        elif kind in ("drain", "undrain", "remove") and names:
            name = op_rng.choice(names)
            if kind == "remove":
                left = outcome(lambda: ref.remove_runner(name, force=True))
                right = outcome(lambda: fast.remove_runner(name, force=True))
            else:
                method = f"{kind}_runner"
                left = outcome(lambda: getattr(ref, method)(name))
                right = outcome(lambda: getattr(fast, method)(name))
        else:
            continue
        assert left == right, kind
        assert ref.snapshot() == fast.snapshot()
        check_index(backend)  # the chunks' bounds equal bounds summarized afresh
    assert ref.metrics() == fast.metrics()


@pytest.mark.filterwarnings("ignore::runtime_alloc.errors.UndeclaredWeightWarning")
@settings(max_examples=60, deadline=None)
@given(
    maximize=st.booleans(),
    weights=st.sampled_from(WEIGHTS),
    size=st.integers(1, 60),
    seed=st.integers(0, 2**32 - 1),
    chunk=st.sampled_from((1, 3, 8)),
)
def test_chunk_bounds_hold_for_every_feasible_row(maximize, weights, size, seed, chunk):
    """The search is exact only if no feasible row beats its chunk's bound: check each row."""
    strategy = MaxPackingStrategy(weights) if maximize else EvenSpreadStrategy(weights)
    rng = random.Random(seed)
    fleet = [make_runner(rng, f"r{i}") for i in range(size)]
    alloc, backend = allocator_with(
        numpy_with(block_size=chunk, index="blocks"), fleet, strategy=strategy
    )
    for i in range(3 * size):
        alloc.try_allocate(f"w{i}", make_request(rng))
    backend.sync()
    for _ in range(10):
        request = make_request(rng)
        if any(x not in backend.table.extended for x in request.extended):
            continue
        chunks = Chunks(backend, tuple(request.extended), chunk)
        bound = chunks.bound(request, slice(None))
        key = chunks.key(request)
        cand = chunks.candidates(request)
        for k in range(chunks.nchunks):
            rows = chunks.rows[chunks.members(k)]
            rows = rows[backend.feasible(rows, request, frozenset())]
            score, row = chunks.evaluate(chunks.members(k), request, frozenset())
            if not rows.size:
                assert row == -1
                continue
            assert cand[k], (k, request)  # a chunk with a feasible row is never dropped
            scores = backend.scores(rows, request)
            best = scores.max() if maximize else scores.min()
            hits = rows[scores == best]
            # the chunk's own evaluation is the scan of its rows, bit for bit
            assert (score, row) == (best, hits[backend.table.sequence[hits].argmin()])
            if maximize:
                assert (scores <= bound[k]).all(), (k, request, scores, bound[k])
                assert (-scores >= key[k] - 1e-9).all()
            else:
                assert (scores >= bound[k]).all(), (k, request, scores, bound[k])
                assert (scores >= key[k] - 1e-9).all()


def test_extended_requests_use_the_index_above_the_scan():
    fleet = [Runner(f"g{i}", Resources(8000, 8 * GI, 110), (), {"gpu": 8}) for i in range(300)]
    fleet += [Runner(f"c{i}", Resources(8000, 8 * GI, 110)) for i in range(300)]
    ref = Allocator(fleet, strategy=EvenSpreadStrategy(), backend="python")
    fast, backend = allocator_with(
        numpy_with(block_size=8, index="blocks"), fleet, strategy=EvenSpreadStrategy()
    )
    rng = random.Random(1)
    for i in range(200):
        request = Resources(500, GI, 1, {"gpu": rng.choice((300, 500, 1000, 2000))})
        assert ref.try_allocate(f"t{i}", request) == fast.try_allocate(f"t{i}", request)
    assert backend.extended_index.indexed() == [("gpu",)]  # answered by chunks, not the scan
    backend.check()


@pytest.mark.parametrize(
    ("rows", "size"), [(0, 32), (1000, 32), (4096, 64), (25_000, 128), (10**7, 128)]
)
def test_chunk_size_grows_like_the_square_root(rows, size):
    assert chunk_size(rows) == size
