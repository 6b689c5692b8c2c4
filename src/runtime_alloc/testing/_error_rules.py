"""The state machine's error-path rules: every documented error, and proof that it changed nothing.

Each rule drives one error of the contract (a release of a released task, a
request no runner can ever hold, a batch with a duplicate id, a bad value, ...)
and checks the error type and that the call changed nothing observable: the
snapshot (runners, draining, reservations), ``len()`` and, when the allocator
has ``metrics()``, every counter and gauge, except the one failure counter a
failed placement is documented to bump.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from runtime_alloc import (
    MAX_QUANTITY,
    DuplicateTaskError,
    FleetSnapshot,
    InvalidArgumentError,
    InvalidResourcesError,
    Reservation,
    Resources,
    Runner,
    RuntimeAllocError,
    UnknownTaskError,
    UnschedulableError,
)
from runtime_alloc.testing.invariants import describe_difference

__all__ = ["ErrorRules", "Observation"]

_GIB = 2**30


@attrs.frozen
class Observation:
    """What a failed call must leave as it was: snapshot, ``len()`` and metrics (when available)."""

    snapshot: FleetSnapshot
    size: int | None
    metrics: dict[str, Any] | None


def _leaf_differences(one: object, two: object, path: str = "") -> list[str]:
    if isinstance(one, dict) and isinstance(two, dict):
        lines = []
        for key in sorted(one.keys() | two.keys(), key=str):
            lines += _leaf_differences(one.get(key), two.get(key), f"{path}.{key}" if path else key)
        return lines
    if isinstance(one, list) and isinstance(two, list) and len(one) == len(two):
        lines = []
        for index, (a, b) in enumerate(zip(one, two, strict=True)):
            lines += _leaf_differences(a, b, f"{path}[{index}]")
        return lines
    return [] if one == two else [f"metrics {path} {one!r} became {two!r}"]


def _fill(runner: Runner, max_task_slots: int) -> Resources:
    """A request for all of ``runner`` (slots within the task limit): it fits only when empty."""
    cap = runner.capacity
    return Resources(
        millicpu=cap.millicpu,
        memory_bytes=cap.memory_bytes,
        slots=min(max(cap.slots, 1), max_task_slots),
        extended=dict(cap.extended),
    )


class ErrorRules:
    """Rules mixed into :class:`~runtime_alloc.testing.AllocatorStateMachine` (see its docs)."""

    allocator: Any
    model_runners: dict[str, Runner]
    model_draining: set[str]
    model_held: dict[str, Reservation]
    #: Task ids released or evicted: they hold nothing now.
    model_gone: set[str]
    #: Names of runners removed: they are unknown now.
    model_removed: set[str]

    def _new_task(self) -> str:
        raise NotImplementedError

    def _allocate_checked(
        self, task: str, request: str | Resources, require: tuple[str, ...]
    ) -> None:
        raise NotImplementedError

    def _release_checked(self, task: str, state: str) -> None:
        raise NotImplementedError

    def _max_task_slots(self) -> int:
        value = getattr(self.allocator, "max_task_slots", 16)
        return value if isinstance(value, int) else 16

    # ------------------------------------------------------------------ checks

    def observe(self) -> Observation:
        """Record what a failed call must not change. O(runners + tasks)."""
        snapshot = self.allocator.snapshot()
        size = len(self.allocator) if hasattr(type(self.allocator), "__len__") else None
        metrics = getattr(self.allocator, "metrics", None)
        seen = None
        if callable(metrics):
            value = metrics()
            seen = value.to_dict() if callable(getattr(value, "to_dict", None)) else None
        return Observation(snapshot, size, seen)

    def assert_unchanged(
        self, before: Observation, call: str, exc: Exception | None, *, counted: str | None = None
    ) -> None:
        """Assert that ``call``, which raised ``exc`` (None: a documented no-op), changed nothing.

        ``counted`` names the one failure counter the call may bump by one
        (a failed placement is counted in ``metrics().failures``).
        """
        after = self.observe()
        lines = []
        if after.snapshot != before.snapshot:
            lines.append(describe_difference(before.snapshot, after.snapshot))
        if after.size != before.size:
            lines.append(f"len(allocator) {before.size} became {after.size}")
        if before.metrics is not None and after.metrics is not None:
            expected = before.metrics
            counters = expected.get("counters")
            if counted is not None and isinstance(counters, dict):
                failures = dict(counters.get("failures", {}))
                failures[counted] = failures.get(counted, 0) + 1
                expected = {**expected, "counters": {**counters, "failures": failures}}
            if expected != after.metrics:  # the cheap test first; describe only a difference
                lines += _leaf_differences(expected, after.metrics)
        if lines:
            diff = "\n".join(lines).replace("\n", "\n  ")
            what = "returned" if exc is None else f"failed with {type(exc).__name__}"
            msg = f"{call} {what} but changed the allocator:\n  {diff}"
            raise AssertionError(msg)

    def expect_error(
        self,
        call: str,
        error: type[Exception],
        thunk: Callable[[], object],
        *,
        counted: str | None = None,
    ) -> None:
        """Run ``thunk``: it must raise ``error`` and change nothing."""
        before = self.observe()
        try:
            result = thunk()
        except RuntimeAllocError as exc:
            assert isinstance(exc, error), (
                f"{call} raised {type(exc).__name__} ({exc}), expected {error.__name__}"
            )
            self.assert_unchanged(before, call, exc, counted=counted)
            return
        msg = f"{call} returned {result!r}, expected {error.__name__}"
        raise AssertionError(msg)

    # ------------------------------------------------------------------ rules

    @rule(data=st.data())
    def release_gone(self, data: st.DataObject) -> None:
        """Releasing a released or evicted task: UnknownTaskError, nothing changed.

        When no task is gone yet, one is allocated and released first.
        """
        if not self.model_gone:
            task = self._new_task()
            self._allocate_checked(task, "slots=1", ())
            if task not in self.model_held:
                return  # no room for it: nothing to release twice yet
            self._release_checked(task, "success")
        task = data.draw(st.sampled_from(sorted(self.model_gone)), label="task")
        self.expect_error(
            f"release({task!r}) of a task that holds nothing any more",
            UnknownTaskError,
            lambda: self.allocator.release(task),
        )

    @rule(how=st.sampled_from(("cpu", "memory", "label")))
    def allocate_unschedulable(self, how: str) -> None:
        """A request no runner could ever hold: UnschedulableError, counted once, nothing else."""
        runners = list(self.model_runners.values())
        require: tuple[str, ...] = ()
        if how == "label":
            held = set().union(*(r.labels for r in runners))
            require = (
                next(f"absent{i}" for i in range(len(held) + 1) if f"absent{i}" not in held),
            )
            request = Resources(slots=1)
        else:
            field, step = ("millicpu", 1000) if how == "cpu" else ("memory_bytes", _GIB)
            most = max((getattr(r.capacity, field) for r in runners), default=0)
            if most + step > MAX_QUANTITY:
                return  # a runner holds the most there is: nothing is bigger
            request = (
                Resources(millicpu=most + step, slots=1)
                if how == "cpu"
                else Resources(memory_bytes=most + step, slots=1)
            )
        task = self._new_task()
        self.expect_error(
            f"allocate({task!r}, {str(request)!r}, require={list(require)!r}), which no runner "
            "could ever hold,",
            UnschedulableError,
            lambda: self.allocator.allocate(task, request, require=require),
            counted=UnschedulableError.kind,
        )

    @precondition(lambda self: self.model_runners)
    @rule(data=st.data())
    def allocate_whole_runner(self, data: st.DataObject) -> None:
        """Ask for all of one runner (busy or draining ones first), checked like ``allocate``.

        It fits that runner only when it is empty and active: the boundary of
        "fits", and, unless another runner can take it, InsufficientCapacityError
        (changing nothing but the failure counter).
        """
        busy = {r.runner for r in self.model_held.values()} | self.model_draining
        names = sorted(busy) + sorted(self.model_runners.keys() - busy)
        name = data.draw(st.sampled_from(names), label="runner")
        runner = self.model_runners[name]
        request = _fill(runner, self._max_task_slots())
        self._allocate_checked(self._new_task(), request, tuple(sorted(runner.labels)))

    @rule(data=st.data())
    def call_with_bad_values(self, data: st.DataObject) -> None:
        """Bad task ids, requests, labels and runners: InvalidArgumentError, nothing changed."""
        task = self._new_task()
        limit = self._max_task_slots()
        a = self.allocator
        cases: list[tuple[str, type[Exception], Callable[[], object]]] = [
            (
                f"allocate({task!r}, 'slots=0')",
                InvalidResourcesError,
                lambda: a.allocate(task, "slots=0"),
            ),
            (
                f"allocate({task!r}, 'slots={limit + 1}') above max_task_slots",
                InvalidResourcesError,
                lambda: a.allocate(task, f"slots={limit + 1}"),
            ),
            (
                f"allocate({task!r}, 'cpu=-1')",
                InvalidResourcesError,
                lambda: a.allocate(task, "cpu=-1"),
            ),
            (
                f"allocate({task!r}, 'memory=1Zi')",
                InvalidResourcesError,
                lambda: a.allocate(task, "memory=1Zi"),
            ),
            ("allocate('', 'cpu=1')", InvalidArgumentError, lambda: a.allocate("", "cpu=1")),
            ("allocate(7, 'cpu=1')", InvalidArgumentError, lambda: a.allocate(7, "cpu=1")),
            (
                f"allocate({task!r}, require=[''])",
                InvalidArgumentError,
                lambda: a.allocate(task, require=[""]),
            ),
            ("release('')", InvalidArgumentError, lambda: a.release("")),
            ("add_runner('n-new')", InvalidArgumentError, lambda: a.add_runner("n-new")),
        ]
        call, error, thunk = data.draw(st.sampled_from(cases), label="call")
        self.expect_error(call, error, thunk)

    @rule(
        data=st.data(),
        kind=st.sampled_from(("repeated id", "held id", "bad request")),
        size=st.integers(1, 3),
    )
    def allocate_many_refused(self, data: st.DataObject, kind: str, size: int) -> None:
        """A batch with a repeated id, a held id or a bad request is refused whole."""
        if not callable(getattr(self.allocator, "allocate_many", None)):
            return
        if kind == "held id" and not self.model_held:
            kind = "repeated id"
        items: list[tuple[str, str]] = [
            (self._new_task(), "cpu=0,memory=0,slots=1") for _ in range(size)
        ]
        where = data.draw(st.integers(0, size), label="position")
        error: type[Exception] = DuplicateTaskError
        if kind == "repeated id":
            where = max(where, 1)
            bad = (items[data.draw(st.integers(0, where - 1), label="repeat")][0], "slots=1")
        elif kind == "held id":
            bad = (data.draw(st.sampled_from(sorted(self.model_held)), label="held"), "slots=1")
        else:
            bad, error = (self._new_task(), "slots=0"), InvalidResourcesError
        items.insert(where, bad)
        self.expect_error(
            f"allocate_many({items!r}) with a {kind}",
            error,
            lambda: self.allocator.allocate_many(items),
        )

    def missing_runner_names(self) -> list[str]:
        """Names that are no runner: one never used, and every removed one."""
        return ["missing", *sorted(self.model_removed - self.model_runners.keys())]
