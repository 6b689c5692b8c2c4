"""runtime_alloc.testing generators: bad-argument table, generated values, from_type, the extra."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from runtime_alloc import (
    FleetSnapshot,
    Reservation,
    Resources,
    Runner,
    RunnerState,
)
from runtime_alloc.testing import (
    KINDS,
    Operation,
    check_invariants,
    fleets,
    operations,
    requests,
    reservations,
    resources,
    runner_states,
    runners,
    snapshots,
    workloads,
)

FLEET = [Runner.parse("r0", "cpu=1")]

# (strategy function, positional args, keyword args, text the error must contain)
BAD_ARGUMENTS = [
    (resources, (), {"max_slots": -1}, "max_slots=-1"),
    (resources, (), {"max_slots": 1.5}, "max_slots=1.5"),
    (resources, (), {"max_slots": True}, "max_slots=True"),
    (resources, (), {"min_slots": 5, "max_slots": 2}, "max_slots=2"),
    (resources, (), {"max_millicpu": -250}, "max_millicpu=-250"),
    (resources, (), {"max_millicpu": 100}, "max_millicpu=100"),
    (resources, (), {"max_millicpu": 2**60}, "max_millicpu=1152921504606846976"),
    (resources, (), {"millicpu_step": 0}, "millicpu_step=0"),
    (resources, (), {"memory_step": "1Gi"}, "memory_step='1Gi'"),
    (resources, (), {"extended_names": "gpu"}, "extended_names='gpu'"),
    (resources, (), {"extended_names": ["cpu"]}, "extended_names=['cpu']"),
    (resources, (), {"extended_names": ["gpu", "gpu"]}, "extended_names=['gpu', 'gpu']"),
    (resources, (), {"extended_names": ["bad name!"]}, "extended_names=['bad name!']"),
    (resources, (), {"max_extended": 0}, "max_extended=0"),
    (requests, (0,), {}, "max_task_slots=0"),
    (requests, ("16",), {}, "max_task_slots='16'"),
    (runners, ("",), {}, "name=''"),
    (runners, (7,), {}, "name=7"),
    (runners, (), {"capacity": "cpu=1"}, "capacity='cpu=1'"),
    (runners, (), {"capacity": Resources(1000)}, "capacity=Resources(millicpu=1000"),
    (runners, (), {"labels": "gpu"}, "labels='gpu'"),
    (fleets, (), {"min_size": 3, "max_size": 1}, "max_size=1"),
    (fleets, (), {"max_size": -1}, "max_size=-1"),
    (fleets, (), {"heterogeneous": "yes"}, "heterogeneous='yes'"),
    (fleets, (), {"name_prefix": ""}, "name_prefix=''"),
    (fleets, ("cpu=1",), {}, "capacity='cpu=1'"),
    (runner_states, (), {"draining": 1}, "draining=1"),
    (runner_states, ("r0",), {}, "runner='r0'"),
    (snapshots, (), {"max_tasks": -1}, "max_tasks=-1"),
    (snapshots, ("r0",), {}, "fleet='r0'"),
    (snapshots, ([Runner.parse("r0", "cpu=1"), "r1"],), {}, "fleet=["),
    (reservations, (3,), {}, "runner=3"),
    (operations, ("r0",), {}, "fleet='r0'"),
    (operations, (["r0", "r0"],), {}, "fleet=['r0', 'r0']"),
    (operations, (FLEET,), {"task_ids": []}, "task_ids=[]"),
    (operations, (FLEET,), {"task_ids": "t0"}, "task_ids='t0'"),
    (operations, (FLEET,), {"kinds": ["allocate", "explode"]}, "kinds=['allocate', 'explode']"),
    (operations, (FLEET,), {"request": "cpu=1"}, "request='cpu=1'"),
    (operations, (FLEET,), {"max_task_slots": 0}, "max_task_slots=0"),
    (workloads, (FLEET,), {"min_size": 5, "max_size": 2}, "max_size=2"),
    (workloads, (FLEET,), {"max_size": -3}, "max_size=-3"),
]


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "named"),
    BAD_ARGUMENTS,
    ids=[f"{f.__name__}-{n}" for f, _, _, n in BAD_ARGUMENTS],
)
def test_bad_argument_is_invalid_argument_naming_it(function, args, kwargs, named) -> None:
    # Raised eagerly, when the strategy is built, not when it is first drawn from.
    with pytest.raises(InvalidArgument) as info:
        function(*args, **kwargs)
    assert named in str(info.value), str(info.value)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        resources(1000)  # type: ignore[misc]
    with pytest.raises(TypeError):
        fleets(None, 1, 5)  # type: ignore[misc]


@given(resources(max_millicpu=2000, max_slots=4, extended_names=("gpu", "fpga"), max_extended=3))
def test_resources_respect_bounds(r: Resources) -> None:
    assert r.millicpu <= 2000
    assert r.millicpu % 250 == 0
    assert r.memory_bytes % 2**28 == 0
    assert 0 <= r.slots <= 4
    assert set(r.extended) <= {"gpu", "fpga"}
    assert all(1 <= n <= 3 for n in r.extended.values())
    assert Resources.parse(str(r)) == r


@given(requests(3, extended_names=()))
def test_requests_are_within_the_slot_limit(r: Resources) -> None:
    assert 1 <= r.slots <= 3
    assert not r.extended


@given(fleets(min_size=2, max_size=4, heterogeneous=False, labels=()))
def test_homogeneous_fleet(fleet: list[Runner]) -> None:
    assert [r.name for r in fleet] == [f"r{i}" for i in range(len(fleet))]
    assert 2 <= len(fleet) <= 4
    assert len({r.capacity for r in fleet}) == 1
    assert all(not r.labels and r.capacity.slots >= 1 for r in fleet)


@given(fleets(st.just(Resources(1000, slots=2)), max_size=3, name_prefix="w"))
def test_fleet_capacity_accepts_a_strategy(fleet: list[Runner]) -> None:
    assert all(r.name.startswith("w") and r.capacity == Resources(1000, slots=2) for r in fleet)


@given(runner_states(draining=True))
def test_runner_states_are_consistent(state: RunnerState) -> None:
    assert state.draining
    assert state.reserved.fits_within(state.runner.capacity)


@given(snapshots(max_tasks=10))
def test_snapshots_pass_the_invariants(snapshot: FleetSnapshot) -> None:
    check_invariants(snapshot)


@given(st.data())
def test_from_type_works_for_the_value_types(data: st.DataObject) -> None:
    # Registered by the hypothesis entry point (see pyproject.toml), not by importing testing.
    assert isinstance(data.draw(st.from_type(Resources)), Resources)
    assert isinstance(data.draw(st.from_type(Runner)), Runner)
    assert isinstance(data.draw(st.from_type(RunnerState)), RunnerState)
    assert isinstance(data.draw(st.from_type(Reservation)), Reservation)
    assert isinstance(data.draw(st.from_type(FleetSnapshot)), FleetSnapshot)


def test_hypothesis_entry_point_is_declared_and_loads() -> None:
    points = [
        e for e in importlib.metadata.entry_points(group="hypothesis") if e.name == "runtime_alloc"
    ]
    assert len(points) == 1, "reinstall the package (pip install -e .) to register the entry point"
    hook = points[0].load()
    hook()  # idempotent: registering again must not fail
    hook()


def test_from_type_works_in_a_fresh_interpreter() -> None:
    # Only hypothesis and the core are imported: the entry point registers the types.
    # Our resources() draws cpu on a 250m grid, so the smallest positive cpu found is 250
    # (hypothesis' own inference for the attrs class would find 1).
    code = (
        "from hypothesis import find, strategies as st\n"
        "from runtime_alloc import Resources\n"
        "print(find(st.from_type(Resources), lambda r: r.millicpu > 0).millicpu)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "250", out.stdout + out.stderr


def test_missing_hypothesis_gives_a_clear_import_error() -> None:
    code = (
        "import sys\n"
        "sys.modules['hypothesis'] = None\n"  # import hypothesis now raises ImportError
        "import runtime_alloc\n"
        "try:\n"
        "    import runtime_alloc.testing\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    print('imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'runtime_alloc[testing]'" in out.stdout, out.stdout + out.stderr


@settings(max_examples=50)
@given(workloads(["r0", "r1"], min_size=1, max_size=10, kinds=("allocate", "drain_runner")))
def test_workloads_respect_sizes_and_kinds(workload: list[Operation]) -> None:
    assert 1 <= len(workload) <= 10
    assert {op.kind for op in workload} <= {"allocate", "drain_runner"}
    for op in workload:
        assert repr(op).startswith(op.kind + "(")


@given(operations(FLEET))
def test_every_operation_kind_reads_like_a_call(op: Operation) -> None:
    assert op.kind in KINDS
    text = repr(op)
    assert text.startswith(op.kind + "(")
    assert text.endswith(")")


def test_operation_reprs() -> None:
    assert repr(Operation("release", "t1", state="failed")) == "release('t1', 'failed')"
    assert (
        repr(Operation("remove_runner", runner="r0", force=True))
        == "remove_runner('r0', force=True)"
    )
    add = Operation("add_runner", runner=Runner.parse("n0", "cpu=2", labels=["gpu"]))
    assert repr(add) == "add_runner(Runner.parse('n0', 'cpu=2,memory=0,slots=16', labels=['gpu']))"
    with pytest.raises(ValueError, match="kind"):
        Operation("explode")
