"""Operations on an allocator, strategies of them, and a runner that checks after each one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs
from hypothesis import strategies as st

from runtime_alloc import Resources, Runner, RuntimeAllocError
from runtime_alloc.runners import check_name
from runtime_alloc.testing._generators import DEFAULT_LABELS, requests, runners
from runtime_alloc.testing._validation import as_strategy, check_int, check_names, fail
from runtime_alloc.testing.invariants import check_invariants

__all__ = ["KINDS", "Operation", "operations", "run_workload", "workloads"]

#: The kinds of operation, in the order shrinking prefers them.
KINDS = ("allocate", "release", "add_runner", "drain_runner", "undrain_runner", "remove_runner")

_STATES = ("success", "failed", "upstream_failed")
_TASK_IDS = ("t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7")


@attrs.frozen(repr=False)
class Operation:
    """One call on an allocator; ``repr`` reads like the call.

    Attributes:
        kind: one of :data:`KINDS`.
        task_id: the task (allocate, release).
        request: the request (allocate).
        require: required labels (allocate).
        runner: a runner name (drain, undrain, remove) or a new :class:`Runner` (add).
        force: evict instead of refusing (remove).
        state: the completion state (release).

    >>> Operation("allocate", "t0", Resources.parse("cpu=1"), runner=None)
    allocate('t0', 'cpu=1,memory=0,slots=0')
    """

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    task_id: str | None = None
    request: Resources | None = None
    require: frozenset[str] = frozenset()
    runner: Runner | str | None = None
    force: bool = False
    state: str = "success"

    def __repr__(self) -> str:
        if self.kind == "allocate":
            extra = f", require={sorted(self.require)!r}" if self.require else ""
            return f"allocate({self.task_id!r}, {str(self.request)!r}{extra})"
        if self.kind == "release":
            return f"release({self.task_id!r}, {self.state!r})"
        if isinstance(self.runner, Runner):
            r = self.runner
            labels = f", labels={sorted(r.labels)!r}" if r.labels else ""
            return f"add_runner(Runner.parse({r.name!r}, {str(r.capacity)!r}{labels}))"
        extra = ", force=True" if self.force else ""
        return f"{self.kind}({self.runner!r}{extra})"

    def apply(self, allocator: Any) -> Any:  # noqa: ANN401 (any allocator-like object)
        """Call the operation on ``allocator`` and return what it returns (errors propagate)."""
        if self.kind == "allocate":
            return allocator.allocate(self.task_id, self.request, require=self.require)
        if self.kind == "release":
            return allocator.release(self.task_id, self.state)
        if self.kind == "remove_runner":
            return allocator.remove_runner(self.runner, force=self.force)
        return getattr(allocator, self.kind)(self.runner)


def _names(fleet: object) -> tuple[str, ...]:
    if isinstance(fleet, (str, bytes)) or not isinstance(fleet, Iterable):
        raise fail("fleet", fleet, "a list of Runner or of runner names")
    items = list(fleet)
    names = [r.name if isinstance(r, Runner) else r for r in items]
    return check_names("fleet", names, lambda v: check_name(v, field="runner name"))


def operations(
    fleet: Sequence[Runner] | Sequence[str],
    *,
    task_ids: Iterable[str] | st.SearchStrategy[str] = _TASK_IDS,
    max_task_slots: int = 16,
    request: Resources | st.SearchStrategy[Resources] | None = None,
    labels: Iterable[str] = DEFAULT_LABELS,
    new_runners: Runner | st.SearchStrategy[Runner] | None = None,
    kinds: Iterable[str] = KINDS,
) -> st.SearchStrategy[Operation]:
    """Return a strategy of single :class:`Operation` values for a fleet.

    Args:
        fleet: the runners (or their names) that drain/undrain/remove target;
            new runners named ``n0``..``n3`` can be added and targeted too.
        task_ids: a pool of task ids or a strategy of them; a small pool makes
            releases and duplicate allocations hit real tasks.
        max_task_slots: the allocator's slot limit of one task.
        request: a :class:`Resources` or a strategy (default ``requests(max_task_slots)``).
        labels: labels an allocation may require (at most one is drawn).
        new_runners: a runner or a strategy of runners to add (default
            :func:`runners` named ``n0``..``n3``).
        kinds: which kinds of operation to draw (a subset of :data:`KINDS`).

    Raises:
        hypothesis.errors.InvalidArgument: naming the bad argument and its value.
    """
    names = _names(fleet)
    if isinstance(task_ids, st.SearchStrategy):
        ids: st.SearchStrategy[str] = task_ids
    else:
        pool = check_names(
            "task_ids", task_ids, lambda v: check_name(v, field="task_id"), allow_empty=False
        )
        ids = st.sampled_from(pool)
    max_task_slots = check_int("max_task_slots", max_task_slots, min_value=1)
    reqs = (
        requests(max_task_slots) if request is None else as_strategy("request", request, Resources)
    )
    label_pool = check_names("labels", labels, lambda v: check_name(v, field="label"))
    requires = (
        st.frozensets(st.sampled_from(label_pool), max_size=1)
        if label_pool
        else st.just(frozenset())
    )
    new_names = tuple(f"n{i}" for i in range(4))
    adds = (
        runners(st.sampled_from(new_names))
        if new_runners is None
        else as_strategy("new_runners", new_runners, Runner)
    )
    kind_list = check_names("kinds", kinds, _check_kind, allow_empty=False)
    targets = st.sampled_from(names + new_names)
    by_kind: dict[str, st.SearchStrategy[Operation]] = {
        "allocate": st.builds(Operation, st.just("allocate"), ids, reqs, requires),
        "release": st.builds(Operation, st.just("release"), ids, state=st.sampled_from(_STATES)),
        "add_runner": st.builds(Operation, st.just("add_runner"), runner=adds),
        "drain_runner": st.builds(Operation, st.just("drain_runner"), runner=targets),
        "undrain_runner": st.builds(Operation, st.just("undrain_runner"), runner=targets),
        "remove_runner": st.builds(
            Operation, st.just("remove_runner"), runner=targets, force=st.booleans()
        ),
    }
    return st.one_of([by_kind[k] for k in kind_list])


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        msg = f"unknown operation kind {kind!r}; valid: {', '.join(KINDS)}"
        raise ValueError(msg)
    return kind


def workloads(
    fleet: Sequence[Runner] | Sequence[str],
    *,
    min_size: int = 0,
    max_size: int = 30,
    **options: Any,  # noqa: ANN401 (forwarded to operations())
) -> st.SearchStrategy[list[Operation]]:
    """Return a strategy of operation sequences for ``fleet``.

    Args:
        fleet: as for :func:`operations`.
        min_size: the fewest operations.
        max_size: the most operations.
        **options: keyword options of :func:`operations`.

    Raises:
        hypothesis.errors.InvalidArgument: naming the bad argument and its value.

    Shrinks towards fewer, simpler operations (allocations of one slot first).
    """
    min_size = check_int("min_size", min_size, max_value=100_000)
    max_size = check_int("max_size", max_size, max_value=100_000)
    if max_size < min_size:
        raise fail("max_size", max_size, f"at least min_size={min_size}")
    return st.lists(operations(fleet, **options), min_size=min_size, max_size=max_size)


def run_workload(allocator: Any, workload: Iterable[Operation], *, check: bool = True) -> list[Any]:  # noqa: ANN401
    """Apply ``workload`` to ``allocator``; return each result or the error it raised.

    After every operation a failed call must have changed nothing (the snapshot
    before and after is equal) and, when ``check`` is True,
    :func:`check_invariants` must hold.

    Raises:
        AssertionError: naming the operation and what broke.

    Runtime complexity: O(len(workload) * (runners + tasks)).
    """
    results: list[Any] = []
    for step, op in enumerate(workload):
        before = allocator.snapshot()
        try:
            results.append(op.apply(allocator))
        except RuntimeAllocError as exc:
            results.append(exc)
            after = allocator.snapshot()
            assert after == before, (
                f"step {step}: {op!r} failed with {type(exc).__name__} but changed the allocator"
            )
        if check:
            try:
                check_invariants(allocator)
            except AssertionError as exc:
                msg = f"after step {step}: {op!r}: {exc}"
                raise AssertionError(msg) from None
    return results
