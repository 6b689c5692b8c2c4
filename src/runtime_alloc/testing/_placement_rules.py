"""The state machine's placement rules: allocate, allocate_many, release, checked by the model.

Each placement is checked once, by one helper, whether it came from ``allocate`` or from
``allocate_many``: a success went to a feasible runner (the one the strategy ranks best when
``check_strategy_choice``), and a failure happened only when no runner was feasible, with the
error type that says whether any runner could ever hold the request (``check_completeness``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from runtime_alloc import (
    AllocationError,
    InsufficientCapacityError,
    InvalidResourcesError,
    Reservation,
    Resources,
    RunnerState,
    Strategy,
    UnschedulableError,
)
from runtime_alloc.devices import apply as apply_devices
from runtime_alloc.testing._error_rules import ErrorRules, Observation
from runtime_alloc.testing._model import (
    best_runner,
    device_kinds,
    expected_devices,
    from_machine,
    infeasibility,
    mistyped_resource,
    parse_request,
    request_text,
)
from runtime_alloc.testing.invariants import describe_difference

__all__ = ["PlacementRules"]

#: The labels one request requires: none or one of the machine's ``labels``.
_REQUIRE = from_machine(
    lambda m: (
        st.lists(st.sampled_from(m.labels), max_size=1).map(tuple) if m.labels else st.just(())
    )
)


class PlacementRules(ErrorRules):
    """Rules mixed into :class:`~runtime_alloc.testing.AllocatorStateMachine` (see its docs).

    Built on :class:`ErrorRules`, whose ``observe`` and ``assert_unchanged`` check that a
    failed placement changed nothing but its failure counter.
    """

    check_strategy_choice: ClassVar[bool]
    check_completeness: ClassVar[bool]

    def _strategy(self) -> Strategy:
        raise NotImplementedError

    # ------------------------------------------------------------------ checks

    def _check_failure(
        self,
        what: str,
        error: AllocationError,
        runners: Sequence[RunnerState],
        wanted: Resources,
        require: tuple[str, ...],
        *,
        verb: str,
    ) -> None:
        """A placement failed with ``error`` (``what`` ``verb`` it): no runner may be feasible.

        The type must be :class:`InsufficientCapacityError` when some runner could hold the
        request once empty, else :class:`UnschedulableError`. O(runners).
        """
        if not self.check_completeness:
            return
        feasible = [s.name for s in runners if not infeasibility(s, wanted, require)]
        kind = type(error).__name__
        assert not feasible, (
            f"{what} {verb} {kind} ({error}) although runner(s) {', '.join(feasible)} could take it"
        )
        ever = any(
            set(require) <= s.runner.labels and wanted.fits_within(s.runner.capacity)
            for s in runners
        )
        expected = InsufficientCapacityError if ever else UnschedulableError
        assert isinstance(error, expected), f"{what} {verb} {kind}, expected {expected.__name__}"

    def _check_placement(
        self,
        what: str,
        reservation: Reservation,
        states: Mapping[str, RunnerState],
        wanted: Resources,
        require: tuple[str, ...],
    ) -> RunnerState:
        """A placement went to ``runner``: it must be feasible (and the best); return its state.

        O(runners) for the best-runner check.
        """
        runner = reservation.runner
        state = states.get(runner)
        assert state is not None, f"{what} placed it on unknown runner {runner!r}"
        why = infeasibility(state, wanted, require)
        assert not why, f"{what} placed it on runner {runner!r}, which was not feasible: {why}"
        expected = {
            kind: expected_devices(used, wanted.get(kind))
            for kind, used in state.devices.items()
            if wanted.get(kind)
        }
        assert reservation.devices == expected, (
            f"{what} took devices {dict(reservation.devices)} on {runner!r}; the device rule "
            f"picks {expected}"
        )
        if self.check_strategy_choice:
            best = best_runner(list(states.values()), self._strategy(), wanted, require)
            assert best is not None  # a feasible runner was used
            assert runner == best.name, (
                f"{what} placed it on {runner!r} but the strategy ranks {best.name!r} best"
            )
        return state

    # ------------------------------------------------------------------ rules

    @rule(request=from_machine(lambda m: m.request_strategy().map(str)), require=_REQUIRE)
    def allocate(self, request: str, require: tuple[str, ...]) -> None:
        """Allocate a new task; check feasibility, choice and completeness."""
        self._allocate_checked(self._new_task(), self._text(request), require)

    def _text(self, request: str) -> str:
        """The drawn request text, device kinds of the current fleet in milli (``gpu=500m``)."""
        kinds = device_kinds(self.allocator.snapshot().runners)
        return request_text(Resources.parse(request), kinds) if kinds else request

    def _allocate_checked(
        self, task: str, request: str | Resources, require: tuple[str, ...]
    ) -> None:
        shown = str(request) if isinstance(request, Resources) else request
        call = f"allocate({task!r}, {shown!r}, require={list(require)!r})"
        before = self.observe()
        runners = before.snapshot.runners
        wanted = request if isinstance(request, Resources) else parse_request(request, runners)
        typo = mistyped_resource(wanted, runners)
        if typo is not None:  # a near miss of a known name: refused, nothing changes
            self.expect_error(
                f"{call} (mistyped {typo!r})",
                InvalidResourcesError,
                lambda: self.allocator.allocate(task, request, require=require),
            )
            return
        try:
            reservation = self.allocator.allocate(task, request, require=require)
        except AllocationError as exc:
            self._check_failure(call, exc, runners, wanted, require, verb="raised")
            self.assert_unchanged(before, call, exc, counted=getattr(exc, "kind", None))
            return
        assert isinstance(reservation, Reservation), f"{call} returned {reservation!r}"
        assert reservation.task_id == task, f"{call} returned {reservation!r}"
        assert reservation.resources == wanted, (
            f"{call} reserved {reservation.resources}, not the request {wanted}"
        )
        states = {s.name: s for s in runners}
        self._check_placement(call, reservation, states, wanted, require)
        self.model_held[task] = reservation

    @precondition(lambda self: self.model_held)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        """Release a held task; its runner must get back exactly what it reserved."""
        task = data.draw(st.sampled_from(sorted(self.model_held)), label="task")
        state = data.draw(st.sampled_from(("success", "failed", "upstream_failed")), label="state")
        self._release_checked(task, state)

    def _release_checked(self, task: str, state: str) -> None:
        held = self.model_held[task]
        before = {s.name: s for s in self.allocator.snapshot().runners}
        returned = self.allocator.release(task, state)
        assert returned == held, f"release({task!r}) returned {returned!r}, held {held!r}"
        after = {s.name: s for s in self.allocator.snapshot().runners}
        expected = before[held.runner].reserved - held.resources
        got = after[held.runner].reserved
        assert got == expected, (
            f"release({task!r}) of {held.resources} from runner {held.runner!r} left it "
            f"reserving {got}, expected {expected}"
        )
        del self.model_held[task]
        self.model_gone.add(task)

    @rule(
        requests=from_machine(
            lambda m: st.one_of(
                st.lists(m.request_strategy().map(str), min_size=1, max_size=4),
                st.tuples(m.request_strategy().map(str), st.integers(1, 10)).map(
                    lambda pair: [pair[0]] * pair[1]  # a run of equal requests (a batch path)
                ),
            )
        ),
        require=_REQUIRE,
    )
    def allocate_many(self, requests: list[str], require: tuple[str, ...]) -> None:
        """A batch places each task as ``allocate`` would, in order; failures are in the list."""
        if not callable(getattr(self.allocator, "allocate_many", None)):
            return
        items = [(self._new_task(), self._text(request), require) for request in requests]
        call = f"allocate_many({items!r})"
        before = self.observe()
        states = {s.name: s for s in before.snapshot.runners}
        runners = before.snapshot.runners
        if any(
            mistyped_resource(parse_request(r, runners), runners) for _, r, _ in items
        ):  # one mistyped name refuses the whole batch
            self.expect_error(
                call, InvalidResourcesError, lambda: self.allocator.allocate_many(items)
            )
            return
        results = list(self.allocator.allocate_many(items))
        assert len(results) == len(items), f"{call} returned {len(results)} results"
        placed, failed = 0, dict[str, int]()
        for (task, request, _), result in zip(items, results, strict=True):
            wanted = parse_request(request, runners)
            what = f"{call}: task {task!r}"
            if isinstance(result, AllocationError):
                assert result.task_id == task, f"{what} got the error of {result.task_id!r}"
                failed[result.kind] = failed.get(result.kind, 0) + 1
                current = list(states.values())
                self._check_failure(what, result, current, wanted, require, verb="failed with")
                continue
            assert isinstance(result, Reservation), f"{what} returned {result!r}"
            assert result == Reservation(task, result.runner, wanted, result.devices), (
                f"{what} returned {result!r}"
            )
            state = self._check_placement(what, result, states, wanted, require)
            states[result.runner] = RunnerState(
                state.runner,
                state.reserved + wanted,
                state.draining,
                apply_devices(state.devices, result.devices, 1),
            )
            self.model_held[task] = result
            placed += 1
        self._check_counters(before, call, placed, failed)

    def _check_counters(
        self, before: Observation, call: str, placed: int, failed: dict[str, int]
    ) -> None:
        after = self.observe()
        if before.metrics is None or after.metrics is None:
            return
        one, two = before.metrics.get("counters", {}), after.metrics.get("counters", {})
        want = one.get("allocations", 0) + placed
        assert two.get("allocations") == want, (
            f"{call} placed {placed} but metrics allocations went {one.get('allocations')} -> "
            f"{two.get('allocations')}"
        )
        failures = dict(one.get("failures", {}))
        for kind, count in failed.items():
            failures[kind] = failures.get(kind, 0) + count
        assert two.get("failures") == failures, (
            f"{call} failed {failed} but metrics failures went {one.get('failures')} -> "
            f"{two.get('failures')}"
        )

    @rule(request=from_machine(lambda m: m.request_strategy().map(str)))
    def allocate_then_release_restores(self, request: str) -> None:
        """Allocate and at once release: the snapshot must be exactly what it was."""
        task = self._new_task()
        request = self._text(request)
        before = self.allocator.snapshot()
        try:
            self.allocator.allocate(task, request)
        except AllocationError:
            return
        except InvalidResourcesError:
            wanted = parse_request(request, before.runners)
            if mistyped_resource(wanted, before.runners) is None:
                raise
            assert self.allocator.snapshot() == before, f"a refused allocate({request!r}) changed"
            return
        self.allocator.release(task)
        self.model_gone.add(task)
        after = self.allocator.snapshot()
        diff = describe_difference(before, after).replace("\n", "\n  ")
        assert after == before, (
            f"allocate({task!r}, {request!r}) then release({task!r}) did not restore the "
            f"allocator:\n  {diff}"
        )
