"""The ledger: the one place that mutates states and reservations, and the events it sends."""

from __future__ import annotations

import pytest

from runtime_alloc import Resources, Runner
from runtime_alloc._ledger import Ledger
from runtime_alloc._ledger_views import reserved_of
from runtime_alloc.backends.python import PythonBackend
from runtime_alloc.errors import (
    DuplicateRunnerError,
    InsufficientCapacityError,
    InvalidArgumentError,
)
from runtime_alloc.reservations import Reservation
from runtime_alloc.runners import RunnerState
from runtime_alloc.strategies import EvenSpreadStrategy


class Recorder(PythonBackend):
    """The python backend, recording every event it receives."""

    def __init__(self) -> None:
        super().__init__((), EvenSpreadStrategy())
        self.events: list[tuple[str, str, str]] = []

    def add(self, state):
        self.events.append(("add", state.name, str(state.reserved)))
        super().add(state)

    def update(self, state):
        self.events.append(("update", state.name, str(state.reserved)))
        super().update(state)

    def update_reserved(self, name, reserved, extended, draining):
        self.events.append(("update", name, str(reserved_of(*reserved, extended))))
        super().update_reserved(name, reserved, extended, draining)

    def remove(self, name):
        self.events.append(("remove", name, ""))
        super().remove(name)


def ledger_of(*specs: str) -> tuple[Ledger, Recorder]:
    backend = Recorder()
    ledger = Ledger(backend)
    for i, spec in enumerate(specs):
        ledger.insert(Runner.parse(f"r{i}", spec))
    return ledger, backend


def test_every_change_is_sent_to_the_backend_in_order():
    ledger, backend = ledger_of("cpu=4", "cpu=4")
    placed = ledger.place("t0", Resources.parse("cpu=1"), frozenset())
    assert placed == Reservation("t0", "r0", Resources.parse("cpu=1"))
    ledger.set_draining("r1", draining=True)
    ledger.unreserve(placed)
    assert ledger.remove("r1") == ()
    assert backend.events == [
        ("add", "r0", "cpu=0,memory=0,slots=0"),
        ("add", "r1", "cpu=0,memory=0,slots=0"),
        ("update", "r0", "cpu=1,memory=0,slots=0"),
        ("update", "r1", "cpu=0,memory=0,slots=0"),
        ("update", "r0", "cpu=0,memory=0,slots=0"),
        ("remove", "r1", ""),
    ]
    # the backend's own copy equals the ledger's states
    assert backend.states == ledger.states
    ledger.check()


def test_a_failed_placement_is_counted_and_changes_nothing():
    ledger, backend = ledger_of("cpu=1")
    ledger.place("t0", Resources.parse("cpu=1"), frozenset())
    before = (dict(ledger.states), dict(ledger.reservations), len(backend.events))
    error = ledger.place("t1", Resources.parse("cpu=1"), frozenset())
    assert isinstance(error, InsufficientCapacityError)
    assert ledger.failures == {error.kind: 1}
    assert ledger.allocations == 1
    assert (dict(ledger.states), dict(ledger.reservations), len(backend.events)) == before


def test_remove_evicts_oldest_first_and_counts():
    ledger, _ = ledger_of("cpu=4")
    first = ledger.place("a", None or Resources(slots=1), frozenset())
    second = ledger.place("b", Resources(slots=1), frozenset())
    assert ledger.remove("r0") == (first, second)
    assert ledger.evictions == 2
    assert ledger.reservations == {}


def test_reserve_run_sends_one_event_per_runner():
    ledger, backend = ledger_of("cpu=4", "cpu=4")
    backend.events.clear()
    request = Resources.parse("cpu=1")
    placed = ledger.reserve_run(["a", "b", "c"], ["r0", "r0", "r1"], request)
    assert [r.runner for r in placed] == ["r0", "r0", "r1"]
    assert backend.events == [
        ("update", "r0", "cpu=2,memory=0,slots=0"),
        ("update", "r1", "cpu=1,memory=0,slots=0"),
    ]
    ledger.check()


def test_runner_checks():
    ledger, _ = ledger_of("cpu=1")
    with pytest.raises(DuplicateRunnerError, match="runner 'r0' is already registered"):
        ledger.check_new_runner(Runner.parse("r0", "cpu=1"))
    with pytest.raises(InvalidArgumentError, match="runner must be a Runner"):
        ledger.check_new_runner("r9")
    with pytest.raises(DuplicateRunnerError, match="runner 'x' is listed twice"):
        Ledger.check_fleet([Runner.parse("x", "cpu=1")] * 2)


class Calls(PythonBackend):
    """The python backend, recording which event method the ledger calls."""

    def __init__(self, states, strategy):
        super().__init__(states, strategy)
        self.calls: list[tuple[str, str]] = []

    def update(self, state):
        self.calls.append(("update", state.name))
        super().update(state)

    def update_reserved(self, name, reserved, extended, draining):
        self.calls.append(("update_reserved", name))
        super().update_reserved(name, reserved, extended, draining)


def test_a_registered_backend_gets_update_reserved_and_update_for_device_runners():
    from tests.backends.probe import allocator_with

    fleet = [Runner.parse("r0", "cpu=2"), Runner.parse("g0", "cpu=2", devices={"gpu": 2})]
    alloc, backend = allocator_with(Calls, fleet, strategy=EvenSpreadStrategy())
    assert alloc.allocate("t1", "cpu=1").runner == "r0"  # the tie goes to the first runner
    alloc.drain_runner("r0")
    assert alloc.allocate("t2", "cpu=1,gpu=1").runner == "g0"
    alloc.release("t1")
    alloc.release("t2")
    assert backend.calls == [
        ("update_reserved", "r0"),
        ("update_reserved", "r0"),
        ("update", "g0"),
        ("update_reserved", "r0"),
        ("update", "g0"),
    ]
    assert list(backend.states.values()) == list(alloc.snapshot().runners)


class Failing(PythonBackend):
    """The python backend, refusing every add and remove once armed (a backend bug)."""

    armed = False

    def add(self, state):
        if self.armed:
            raise RuntimeError("backend add failed")
        super().add(state)

    def remove(self, name):
        if self.armed:
            raise RuntimeError("backend remove failed")
        super().remove(name)


def test_a_backend_failure_in_add_or_remove_leaves_the_ledger_unchanged():
    # issue #14 item 14: the ledger used to drop the runner and its reservations
    # before the backend's remove raised, losing the evicted tasks
    from tests.backends.probe import allocator_with

    alloc, backend = allocator_with(Failing, [Runner.parse("r0", "cpu=2")])
    held = alloc.allocate("t1", "cpu=1")
    backend.armed = True
    before = alloc.snapshot(), alloc.metrics()
    with pytest.raises(RuntimeError, match="remove failed"):
        alloc.remove_runner("r0", force=True)
    with pytest.raises(RuntimeError, match="add failed"):
        alloc.add_runner(Runner.parse("r1", "cpu=1"))
    assert (alloc.snapshot(), alloc.metrics()) == before
    assert alloc.get_reservation("t1") == held
    alloc._check()


def test_flat_rows_hold_one_reservation_or_a_dict_and_build_states_when_read():
    ledger, _ = ledger_of("cpu=4", "cpu=4")
    first = ledger.place("t0", Resources.parse("cpu=1"), frozenset())
    assert isinstance(first, Reservation)
    row = ledger.row_of[first.runner]
    assert ledger.held[row] is first  # one reservation: no dict
    second = Reservation("t1", first.runner, Resources.parse("cpu=2"))
    ledger.reserve(second)
    assert ledger.held[row] == {"t0": first, "t1": second}
    assert ledger.held_by(first.runner) == (first, second)
    assert ledger.state(first.runner).reserved == Resources.parse("cpu=3")
    ledger.unreserve(first)
    assert ledger.held[row] is second  # back to one
    ledger.check()
    ledger.check_gauges()


def test_removed_runners_leave_holes_that_compaction_closes_in_order():
    ledger, backend = ledger_of(*["cpu=4"] * 200)
    for i in range(200):
        ledger.reserve(Reservation(f"t{i}", f"r{i}", Resources.parse(f"cpu={1 + i % 3}")))
    frozen = ledger.rows()
    for i in range(0, 200, 2):
        ledger.remove(f"r{i}")
    ledger.check()
    assert list(ledger.states) == [f"r{i}" for i in range(1, 200, 2)]
    assert ledger.holes == 0
    assert [s.reserved.millicpu for s in ledger.states.values()] == [
        1000 * (1 + i % 3) for i in range(1, 200, 2)
    ]
    assert ledger.task_counts() == [1] * 100
    assert backend.states == ledger.states
    # a copy taken before is unchanged by the removals
    assert len(frozen) == 200
    assert frozen[0].name == "r0"
    assert frozen[-1].reserved == Resources.parse(f"cpu={1 + 199 % 3}")
    ledger.check_gauges()


@pytest.mark.parametrize(
    ("fleet", "error", "message"),
    [
        ([Runner.parse("x", "cpu=1"), Runner.parse("y", "cpu=1"), Runner.parse("x", "cpu=2")],
         DuplicateRunnerError, "runner 'x' is listed twice"),
        ([Runner.parse("x", "cpu=1"), "y"], InvalidArgumentError, "runner must be a Runner"),
        ("xy", InvalidArgumentError, "runners must be an iterable of Runner"),
    ],
)  # fmt: skip
def test_insert_fleet_errors_leave_the_ledger_empty(fleet, error, message):
    backend = Recorder()
    ledger = Ledger(backend)
    with pytest.raises(error, match=message):
        ledger.insert_fleet(fleet)
    assert ledger.row_of == {}
    assert ledger.runners == []
    assert backend.events == []
    ledger.check()


def test_insert_fleet_builds_what_insert_builds():
    fleet = [Runner.parse(f"r{i}", f"cpu={i + 1}", devices={"gpu": 1} if i == 2 else None)
             for i in range(4)]  # fmt: skip
    one, many = Ledger(Recorder()), Ledger(Recorder())
    for runner in fleet:
        one.insert(runner)
    assert many.insert_fleet(iter(fleet)) == 4
    assert many.backend.events == one.backend.events
    assert dict(many.states) == dict(one.states)
    assert many.row_of == one.row_of
    assert (many.capacity, many.declared, many.device_kinds, many.dev) == (
        one.capacity, one.declared, one.device_kinds, one.dev)  # fmt: skip
    assert list(many.cpu) == list(one.cpu) == [0] * 4
    assert bytes(many.drain) == bytes(4)
    many.check()


@pytest.mark.parametrize(
    ("offered", "taken"),
    [({"r0": 0, "r1": 1, "r2": 2}, True), ({"r0": 0, "r1": 2, "r2": 1}, False),
     ({"r0": 0, "r1": 1}, False), ({"r0": 0, "r1": 1, "r2": 2, "r3": 3}, False)],
)  # fmt: skip
def test_load_takes_an_offered_name_map_only_when_it_numbers_the_states(offered, taken):
    states = [RunnerState(Runner.parse(f"r{i}", "cpu=1")) for i in range(3)]
    backend = PythonBackend(states, EvenSpreadStrategy())
    backend.restored_rows = offered  # as the numpy backend offers it
    ledger = Ledger(backend)
    ledger.load(states, {})
    assert (ledger.row_of is offered) is taken
    assert ledger.row_of == {"r0": 0, "r1": 1, "r2": 2}
    ledger.check()
