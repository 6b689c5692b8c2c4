"""FragmentationStrategy: the formula by hand, the registry, backend parity, FGD equality, properties."""

# ruff: noqa: B023  (each lambda is called at once, inside its loop iteration)
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import Allocator, FleetSnapshot, Reservation, Resources, Runner
from runtime_alloc.devices import device_problem
from runtime_alloc.errors import InvalidArgumentError, InvalidResourcesError
from runtime_alloc.strategies import (
    STRATEGIES,
    FragmentationStrategy,
    strategy_from_env,
    strategy_from_name,
)
from runtime_alloc.strategies.fragmentation import fragmentation

GI = 1 << 30
HALF, WHOLE = (0, 0, 500, 1, 1), (0, 0, 1000, 1, 1)


def gpu(text: str) -> Resources:
    return Resources.parse(text, device_kinds={"gpu"})


@pytest.mark.parametrize(
    ("cpu_free", "used", "shapes", "expected"),
    [
        # free [1000, 1000]: 500m and one GPU fit, no device too small -> 0 + 0
        (0, (0, 0), (HALF, WHOLE), 0),
        # free [700, 1000]: 500m fits (0 small); one GPU fits, 700 too small -> 0 + 700
        (0, (300, 0), (HALF, WHOLE), 700),
        # free [400]: neither fits -> all 400 free, twice -> 800
        (0, (600,), (HALF, WHOLE), 800),
        # a cpu-only shape strands every free milli: 700 + 1000
        (0, (300, 0), ((0, 0, 0, 0, 1),), 1700),
        # 2 whole GPUs on free [1000, 700, 1000]: fits, 700 small -> 700, weight 3 -> 2100
        (0, (0, 300, 0), ((0, 0, 1000, 2, 3),), 2100),
        # the node has 1 core free, the shape asks 2: cannot host -> all free 2700
        (1000, (0, 300, 0), ((2000, 0, 500, 1, 1),), 2700),
        # full devices: nothing free, nothing stranded
        (0, (1000, 1000), (HALF, WHOLE), 0),
    ],
)
def test_fragmentation_by_hand(cpu_free, used, shapes, expected):
    assert fragmentation(cpu_free, 0, used, shapes) == expected


def test_memory_counts_in_can_host():
    # 1 GiB free, the shape asks 2 GiB: cannot host -> free 1000 + 1000 stranded
    assert fragmentation(0, GI, (0, 0), ((0, 2 * GI, 500, 1, 1),)) == 2000
    assert fragmentation(0, 2 * GI, (0, 0), ((0, 2 * GI, 500, 1, 1),)) == 0


def worked_example() -> Allocator:
    fleet = [
        Runner.parse("B", "cpu=8", devices={"gpu": 1}),
        Runner.parse("A", "cpu=8", devices={"gpu": 2}),
    ]
    strategy = FragmentationStrategy({"gpu=500m": 1, "gpu=1": 1}, method="fgd")
    return Allocator(fleet, strategy=strategy, backend="python")


def test_worked_example_of_the_docs():
    alloc = worked_example()
    # 600m: A [0,0] -> free [400, 1000], F = .5*400 + .5*400 = 400; B [400], F = 400: tie -> B
    assert alloc.allocate("t0", "gpu=600m").runner == "B"
    states = {s.name: s for s in alloc.snapshot().runners}
    score = alloc.strategy.score
    # 300m: A free [700, 1000]: F = .5*0 + .5*700 = 350; B [400] -> [100]: 100 - 400 = -300
    assert score(states["A"], gpu("gpu=300m")) == 350.0
    assert score(states["B"], gpu("gpu=300m")) == -300.0
    assert alloc.allocate("t1", "gpu=300m").runner == "B"


def test_cpu_only_request_goes_where_it_strands_nothing():
    fleet = [
        Runner.parse("g", "cpu=2", devices={"gpu": 1}),
        Runner.parse("c", "cpu=2"),
    ]
    strategy = FragmentationStrategy({"cpu=2,gpu=1": 1}, method="fgd")
    alloc = Allocator(fleet, strategy=strategy, backend="python")
    # on g: 2 cores -> 0 free, the 2-core GPU shape no longer fits: F 0 -> 1000; on c: 0
    assert alloc.allocate("t", "cpu=2").runner == "c"


def test_uses_the_allocators_device_pick():
    # used [0, 700, 400]: best fit of 500m is device 2 (free 600 leaves 100)
    alloc = Allocator(
        [Runner.parse("n", "cpu=8", devices={"gpu": 3})],
        strategy=FragmentationStrategy({"gpu=500m": 1}, method="fgd"),
        backend="python",
    )
    alloc.allocate("a", "gpu=700m")  # -> device 0 (all free, lowest index)
    alloc.allocate("b", "gpu=400m")  # -> free [300, 1000, 1000]: best fit device 1
    state = alloc.snapshot().runners[0]
    assert state.devices["gpu"] == (700, 400, 0)
    # 500m by best fit on device 1 (free 600 -> 100): small free 300 + 100 = 400, before 300
    assert alloc.strategy.score(state, gpu("gpu=500m")) == 100.0
    assert alloc.allocate("c", "gpu=500m").devices["gpu"] == ((1, 500),)


def test_rounded_is_fgds_score():
    alloc = worked_example()
    alloc.allocate("t0", "gpu=600m")
    states = {s.name: s for s in alloc.snapshot().runners}
    strategy = FragmentationStrategy({"gpu=500m": 1, "gpu=1": 1}, rounded=True)
    assert strategy.maximize is True
    # A: gain -350 -> 100 / (1 + e^0.35) = 41.3 -> 41; B: gain 300 -> 57.4 -> 57
    assert strategy.score(states["A"], gpu("gpu=300m")) == 41.0
    assert strategy.score(states["B"], gpu("gpu=300m")) == 57.0


def test_registered_names_env_and_cli_choices():
    for name in ("FragmentationStrategy", "fragmentation"):
        assert name in STRATEGIES
        assert isinstance(strategy_from_name(name), FragmentationStrategy)
    chosen = strategy_from_env({"ALLOCATOR_STRATEGY": "fragmentation"})
    assert isinstance(chosen, FragmentationStrategy)
    with pytest.raises(InvalidArgumentError, match="takes no weights"):
        strategy_from_name("fragmentation", {"cpu": 2})
    from runtime_alloc.cli import main

    assert (
        main(["explain", "--request", "cpu=1", "--runners", "2", "--strategy", "fragmentation"])
        == 0
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"shapes": {}}, InvalidArgumentError, "shapes must be a non-empty mapping"),
        ({"shapes": {"gpu=500m": 0}}, InvalidArgumentError, r"shapes\['gpu=500m'\] must be"),
        ({"shapes": {"gpu=500m": float("nan")}}, InvalidArgumentError, "positive finite"),
        ({"shapes": {"gpu=500m": True}}, InvalidArgumentError, "positive finite"),
        ({"shapes": {"gpu=500m": 10**400}}, InvalidArgumentError, "up to 1e"),
        ({"shapes": {"gpu=500m": float("inf")}}, InvalidArgumentError, "up to 1e"),
        ({"shapes": {"gpu=1.5": 1}}, InvalidResourcesError, "share of one device"),
        ({"shapes": {3: 1}}, InvalidResourcesError, "request text or Resources"),
        ({"window": 0}, InvalidArgumentError, "window must be"),
        ({"popularity": 1.5}, InvalidArgumentError, "popularity must be"),
        ({"kind": ""}, InvalidArgumentError, "kind must be"),
        ({"rounded": 1}, InvalidArgumentError, "rounded must be"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        FragmentationStrategy(**kwargs)


def test_snapshot_restores_a_learned_strategy():
    alloc = worked_example()
    alloc.allocate("t0", "gpu=600m")
    restored = Allocator.from_snapshot(FleetSnapshot.from_json(alloc.snapshot().to_json()))
    assert isinstance(restored.strategy, FragmentationStrategy)
    assert restored.strategy.shapes == ()  # learned: the name only is stored
    # learned {300m: 1}: B free [400] -> [100] strands 100 (+100); A [1000, 1000] -> [700,
    # 1000] strands nothing (0): A
    assert restored.allocate("t1", "gpu=300m").runner == "A"
    assert restored.strategy.shapes == ((0, 0, 300, 1, 1),)


def test_learned_workload_window():
    strategy = FragmentationStrategy(window=20)
    fleet = [Runner.parse(f"n{i}", "cpu=64", devices={"gpu": 8}) for i in range(3)]
    alloc = Allocator(fleet, strategy=strategy, backend="python")
    for i in range(30):
        alloc.try_allocate(f"a{i}", "cpu=1,gpu=250m" if i < 25 else "cpu=1,gpu=1")
    # relearned every 20 // 10 = 2 requests (1st, 3rd, ..., 29th): the last window is
    # requests 10..29: 16 x 250m (10..25), 4 x one GPU (26..29)
    assert sorted(strategy.shapes) == [(1000, 0, 250, 1, 16), (1000, 0, 1000, 1, 4)]
    assert len(strategy._seen) == 20


def make_runner(rng: random.Random, name: str) -> Runner:
    cap = Resources(rng.choice((4000, 16000, 64000)), rng.choice((4 * GI, 64 * GI)), 110)
    kind = rng.random()
    if kind < 0.7:
        return Runner(name, cap, (), {"gpu": rng.choice((1, 2, 4, 8))})
    return Runner(name, cap)


def make_request(rng: random.Random) -> Resources:
    gpu_milli = rng.choice((0, 0, 100, 250, 300, 500, 700, 1000, 2000, 4000))
    extended = {"gpu": gpu_milli} if gpu_milli else {}
    return Resources(rng.choice((500, 1000, 4000)), rng.choice((GI // 4, 2 * GI)), 1, extended)


def outcome(call):
    try:
        return ("ok", call())
    except Exception as exc:  # compare any error by type and text
        return ("error", type(exc), str(exc))


def fresh(learned: bool) -> FragmentationStrategy:
    if learned:
        return FragmentationStrategy(window=50)
    return FragmentationStrategy({"cpu=1,gpu=500m": 3, "cpu=4,gpu=1": 2, "cpu=1": 2, "gpu=2": 1})


@settings(max_examples=40, deadline=None)
@given(
    learned=st.booleans(),
    size=st.integers(1, 10),
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(0, 80),
)
def test_decisions_equal_on_python_numpy_auto_and_devices_hold(learned, size, seed, steps):
    pytest.importorskip("numpy")
    rng = random.Random(seed)
    fleet = [make_runner(rng, f"r{i}") for i in range(size)]
    allocs = [
        Allocator(fleet, strategy=fresh(learned), backend=backend)
        for backend in ("python", "numpy", "auto")
    ]
    held: list[str] = []
    for step in range(steps):
        if held and rng.random() < 0.3:
            task = held.pop(rng.randrange(len(held)))
            results = [outcome(lambda: a.release(task)) for a in allocs]
        elif rng.random() < 0.1:
            batch = [(f"m{step}.{i}", make_request(rng)) for i in range(3)]
            results = [outcome(lambda: a.allocate_many(batch)) for a in allocs]
            if results[0][0] == "ok":
                held.extend(r.task_id for r in results[0][1] if isinstance(r, Reservation))
        else:
            request, task = make_request(rng), f"t{step}"
            results = [outcome(lambda: a.try_allocate(task, request)) for a in allocs]
            if results[0][0] == "ok" and results[0][1] is not None:
                held.append(task)
        assert results[1] == results[0]
        assert results[2] == results[0]
    snapshot = allocs[0].snapshot()
    assert snapshot == allocs[1].snapshot() == allocs[2].snapshot()
    by_runner: dict[str, list] = {}
    for reservation in snapshot.reservations.values():
        by_runner.setdefault(reservation.runner, []).append(reservation)
    for state in snapshot.runners:  # no placement a device cannot hold
        assert device_problem(state, by_runner.get(state.name, ())) is None


def test_decisions_equal_fill_experiments_fgd():
    """The library's rounded score and the fill experiment's ``fgd`` pick the same nodes.

    Both see the same state: each placement is applied to the fill state with the
    library's devices. 20 seeds x 200 requests on 12 nodes of 1, 2, 4 or 8 GPUs.
    """
    np = pytest.importorskip("numpy")
    from runtime_alloc.simulation.fill import FillState
    from runtime_alloc.simulation.fill_strategies import Fragmentation, TypicalPods
    from runtime_alloc.traces.openb_devices import DeviceFleet

    typical = TypicalPods(
        cpu=(2000, 4000, 8000, 1000, 2000),
        count=(1, 1, 2, 0, 1),
        milli=(500, 1000, 1000, 0, 300),
        spec=("",) * 5,
        p=(0.3, 0.2, 0.1, 0.2, 0.2),
    )
    shapes = {
        "cpu=2,gpu=500m": 3,
        "cpu=4,gpu=1": 2,
        "cpu=8,gpu=2": 1,
        "cpu=1": 2,
        "cpu=2,gpu=300m": 2,
    }
    placed = 0
    for seed in range(20):
        rng = random.Random(seed)
        n = 12
        cpus = [rng.choice((8000, 16000, 32000)) for _ in range(n)]
        gpus = [rng.choice((1, 2, 4, 8)) for _ in range(n)]
        names = tuple(f"n{i:02d}" for i in range(n))
        zeros = np.zeros(n, dtype=np.int64)
        fleet = DeviceFleet(names, np.array(cpus), zeros + 10**6, np.array(gpus), zeros, ("M",))
        fgd, state = Fragmentation(typical), FillState(fleet)
        fgd.start(state)
        runners = [
            Runner(names[i], Resources(cpus[i], 10**6, 110), (), {"gpu": gpus[i]}) for i in range(n)
        ]
        strategy = FragmentationStrategy(shapes, rounded=True)
        alloc = Allocator(runners, strategy=strategy, backend="python")
        for t in range(200):
            cpu = rng.choice((1000, 2000, 4000))
            count, milli = rng.choice(((1, 500), (1, 300), (1, 1000), (2, 1000), (0, 0), (1, 200)))
            nodes = np.flatnonzero(state.feasible(cpu, 0, count, milli, ""))
            request = Resources(cpu, 0, 1, {"gpu": count * milli} if count else {})
            reservation = alloc.try_allocate(f"t{t}", request)
            if not len(nodes):
                assert reservation is None
                continue
            node, _ = fgd.choose(state, nodes, (cpu, 0, count, milli))
            assert reservation is not None
            assert reservation.runner == names[node], (seed, t)
            devices = [i for i, _ in reservation.devices.get("gpu", ())]
            state.place(node, cpu, 0, devices, milli)
            fgd.placed(state, node)
            placed += 1
    assert placed > 1000


@settings(max_examples=200, deadline=None)
@given(
    shapes=st.lists(
        st.tuples(
            st.integers(0, 8),
            st.integers(0, 4),
            st.sampled_from((0, 100, 300, 500, 1000)),
            st.integers(1, 3),
            st.integers(1, 50),
        ),
        min_size=1,
        max_size=12,
    ),
    cpu=st.integers(-2, 10),
    memory=st.integers(-2, 6),
    used=st.lists(st.sampled_from((0, 100, 250, 500, 700, 1000)), min_size=1, max_size=8),
)
def test_shape_table_equals_the_reference_sum(shapes, cpu, memory, used):
    from runtime_alloc.strategies.fragmentation_formula import ShapeTable

    shapes = [(c, b, m, n if m == 1000 else min(n, 1), w) for c, b, m, n, w in shapes]
    table = ShapeTable(shapes)
    for _ in range(2):  # the second call reads the memo
        assert table(cpu, memory, tuple(used)) == fragmentation(cpu, memory, tuple(used), shapes)


def test_plus_ties_by_request_kind():
    # two empty 2-GPU runners, big (16 cores) registered first, and a 4-GPU runner
    fleet = [
        Runner.parse("big", "cpu=16", devices={"gpu": 2}),
        Runner.parse("small", "cpu=4", devices={"gpu": 2}),
        Runner.parse("four", "cpu=16", devices={"gpu": 4}),
    ]
    strategy = FragmentationStrategy({"cpu=1,gpu=1": 1})
    alloc = Allocator(fleet, strategy=strategy, backend="python")
    assert (strategy.plus, strategy.maximize) == (True, False)
    # one whole GPU changes no F anywhere (the shape fits on a free device after): R = 50
    # on all three; whole devices tie to the first runner
    assert alloc.allocate("w", "cpu=1,gpu=1").runner == "big"
    # a 500m share: big, used [1000, 0], goes to [1000, 500]: no whole device is left, the
    # shape cannot be hosted, F 0 -> 500, R = floor(100 * sigmoid(-0.5)) = 37; small and
    # four, empty, keep a whole device with 500 stranded beside it: F 0 -> 500, R 37 too.
    # Ties of a share: the least free device milli after: big (500, against 1,500 and 3,500)
    assert alloc.allocate("s", "cpu=1,gpu=500m").runner == "big"
    # a cpu-only request changes no F anywhere (R 50); the least free device milli: big
    assert alloc.allocate("c", "cpu=1").runner == "big"


def test_method_is_checked_and_rounded_is_fgd_rounded():
    with pytest.raises(InvalidArgumentError, match="method must be one of plus, fgd, fgd-rounded"):
        FragmentationStrategy(method="best")
    assert FragmentationStrategy(rounded=True).method == "fgd-rounded"
    assert FragmentationStrategy(method="fgd").class_index([]) is None


def test_plus_learns_groups_with_lower_median_memory_and_multi_gpu_shapes():
    from runtime_alloc.strategies.fragmentation_formula import plus_shapes

    strategy = FragmentationStrategy(window=100)
    fleet = [Runner.parse("n", "cpu=64,memory=64Gi", devices={"gpu": 8})]
    alloc = Allocator(fleet, strategy=strategy, backend="python")
    for i, memory in enumerate((1, 3, 2, 9)):  # one group (1 core, 500m), memory 1-9 GiB
        alloc.try_allocate(f"a{i}", f"cpu=1,memory={memory}Gi,gpu=500m")
        alloc.release(f"a{i}")
    strategy._relearn()
    assert strategy.shapes == ((1000, 2 * GI, 500, 1, 4),)  # lower median of 1, 2, 3, 9
    # 20 requests of one group, nine more groups of one, then a tenth and an 8-GPU group
    # ranked last: FGD's first block of ten covers 29 of 31 (> 95 %? no: 93.5 % < 95 %,
    # so a second block takes the rest); with popularity 0.9 the first block is enough
    # and the 8-GPU group is kept only by the multi-device rule
    counts = {(1000, 0, 500, 1): 20}
    counts.update({(2000 + 1000 * i, 0, 100, 1): 1 for i in range(10)})
    counts[1000, 0, 1000, 8] = 1
    taken = plus_shapes(counts, 0.9)
    assert len(taken) == 11
    assert (1000, 0, 1000, 8, 1) in taken
    assert (2000, 0, 100, 1, 1) not in taken  # the tenth one-request group (smallest key)
