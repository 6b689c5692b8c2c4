"""Hypothesis strategies for runtime_alloc values: resources, requests, runners, fleets, snapshots.

Quantities are drawn on a coarse grid (cpu in steps of 250m, memory in steps
of 256Mi by default) so that requests collide with capacities often and a
shrunk counterexample reads like ``cpu=250m,memory=256Mi,slots=1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hypothesis import strategies as st

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    FleetSnapshot,
    Reservation,
    Resources,
    Runner,
    RunnerState,
)
from runtime_alloc._frozen import FrozenMap
from runtime_alloc.resources import check_dimension_name
from runtime_alloc.runners import check_name
from runtime_alloc.testing._validation import (
    as_strategy,
    check_bool,
    check_int,
    check_names,
    fail,
)

__all__ = [
    "DEFAULT_LABELS",
    "fleets",
    "requests",
    "reservations",
    "resources",
    "runner_states",
    "runners",
    "snapshots",
]

MIB = 2**20
GIB = 2**30

#: The label pool runners and requirements draw from unless told otherwise.
DEFAULT_LABELS = ("gpu", "ssd")


def _grid(name: str, maximum: int, step: int) -> st.SearchStrategy[int]:
    """Multiples of ``step`` from 0 to ``maximum``; shrinks towards 0."""
    if maximum < step and maximum != 0:
        raise fail(name, maximum, f"0 or at least its step ({step})")
    return st.integers(0, maximum // step).map(lambda k: k * step)


def resources(
    *,
    max_millicpu: int = 16_000,
    max_memory_bytes: int = 64 * GIB,
    min_slots: int = 0,
    max_slots: int = 16,
    extended_names: Iterable[str] = ("gpu",),
    max_extended: int = 8,
    millicpu_step: int = 250,
    memory_step: int = 256 * MIB,
) -> st.SearchStrategy[Resources]:
    """Return a strategy of :class:`~runtime_alloc.Resources`.

    Args:
        max_millicpu: the largest cpu, in millicpu.
        max_memory_bytes: the largest memory, in bytes.
        min_slots: the fewest slots.
        max_slots: the most slots.
        extended_names: the extended resources that may appear (``()`` for none).
        max_extended: the largest count of one extended resource.
        millicpu_step: cpu is a multiple of this (1 for any value).
        memory_step: memory is a multiple of this (1 for any value).

    Raises:
        hypothesis.errors.InvalidArgument: naming the bad argument and its value.

    Shrinks towards ``Resources(slots=min_slots)``. Runtime complexity: O(1) per draw.

    >>> from hypothesis import given
    >>> @given(resources(max_slots=4))
    ... def test(r):
    ...     assert r.slots <= 4
    >>> test()
    """
    millicpu_step = check_int("millicpu_step", millicpu_step, min_value=1)
    memory_step = check_int("memory_step", memory_step, min_value=1)
    max_millicpu = check_int("max_millicpu", max_millicpu)
    max_memory_bytes = check_int("max_memory_bytes", max_memory_bytes)
    min_slots = check_int("min_slots", min_slots)
    max_slots = check_int("max_slots", max_slots)
    if max_slots < min_slots:
        raise fail("max_slots", max_slots, f"at least min_slots={min_slots}")
    names = check_names("extended_names", extended_names, check_extended_name)
    max_extended = check_int("max_extended", max_extended, min_value=1 if names else 0)
    extended: st.SearchStrategy[dict[str, int]] = (
        st.dictionaries(st.sampled_from(names), st.integers(1, max_extended), max_size=len(names))
        if names
        else st.just({})
    )
    return st.builds(
        Resources,
        _grid("max_millicpu", max_millicpu, millicpu_step),
        _grid("max_memory_bytes", max_memory_bytes, memory_step),
        st.integers(min_slots, max_slots),
        extended,
    )


def check_extended_name(name: str) -> str:
    """Accept an extended resource name (not ``cpu``/``memory``/``slots``) or raise ValueError."""
    check_dimension_name(name)
    if name in ("cpu", "memory", "slots"):
        msg = f"{name!r} is a built-in dimension, not an extended resource"
        raise ValueError(msg)
    return name


def requests(
    max_task_slots: int = 16,
    *,
    max_millicpu: int = 4_000,
    max_memory_bytes: int = 16 * GIB,
    extended_names: Iterable[str] = ("gpu",),
    max_extended: int = 2,
    millicpu_step: int = 250,
    memory_step: int = 256 * MIB,
) -> st.SearchStrategy[Resources]:
    """Return a strategy of task requests: :class:`Resources` with 1..``max_task_slots`` slots.

    Args:
        max_task_slots: the allocator's ``max_task_slots`` (the slot limit of one task).
        max_millicpu: see :func:`resources`.
        max_memory_bytes: see :func:`resources`.
        extended_names: see :func:`resources`.
        max_extended: see :func:`resources`.
        millicpu_step: see :func:`resources`.
        memory_step: see :func:`resources`.

    Raises:
        hypothesis.errors.InvalidArgument: naming the bad argument and its value.

    Shrinks towards the default request ``Resources(slots=1)``.
    """
    max_task_slots = check_int("max_task_slots", max_task_slots, min_value=1)
    return resources(
        max_millicpu=max_millicpu,
        max_memory_bytes=max_memory_bytes,
        min_slots=1,
        max_slots=max_task_slots,
        extended_names=extended_names,
        max_extended=max_extended,
        millicpu_step=millicpu_step,
        memory_step=memory_step,
    )


def _labels_strategy(name: str, labels: object) -> st.SearchStrategy[frozenset[str]]:
    if isinstance(labels, st.SearchStrategy):
        return labels
    pool = check_names(name, labels, lambda v: check_name(v, field="label"))
    if not pool:
        return st.just(frozenset())
    return st.frozensets(st.sampled_from(pool))


def _runner_name(value: object) -> object:  # returns the value, checked
    return check_name(value, field="name") if isinstance(value, str) else value


def _default_capacity() -> st.SearchStrategy[Resources]:
    return resources(min_slots=1, max_slots=32)


def runners(
    name: str | st.SearchStrategy[str] = "r0",
    *,
    capacity: Resources | st.SearchStrategy[Resources] | None = None,
    labels: Iterable[str] | st.SearchStrategy[frozenset[str]] = DEFAULT_LABELS,
) -> st.SearchStrategy[Runner]:
    """Return a strategy of :class:`~runtime_alloc.Runner`.

    Args:
        name: the runner's name, or a strategy of names.
        capacity: a :class:`Resources` (at least 1 slot) or a strategy of them;
            default ``resources(min_slots=1, max_slots=32)``.
        labels: a pool of label names (each runner gets a subset) or a strategy
            of label sets.

    Raises:
        hypothesis.errors.InvalidArgument: naming the bad argument and its value.
    """
    names = as_strategy("name", name, str, _runner_name)
    caps = _default_capacity() if capacity is None else as_strategy("capacity", capacity, Resources)
    if isinstance(capacity, Resources) and capacity.slots < 1:
        raise fail("capacity", capacity, "a runner capacity with at least 1 slot")
    return st.builds(
        Runner,
        names,
        caps.filter(lambda c: c.slots >= 1),
        _labels_strategy("labels", labels),
    )


def fleets(
    capacity: Resources | st.SearchStrategy[Resources] | None = None,
    *,
    min_size: int = 1,
    max_size: int = 5,
    heterogeneous: bool = True,
    labels: Iterable[str] | st.SearchStrategy[frozenset[str]] = DEFAULT_LABELS,
    name_prefix: str = "r",
    devices: Mapping[str, int] | st.SearchStrategy[Mapping[str, int]] | None = None,
) -> st.SearchStrategy[list[Runner]]:
    """Return a strategy of fleets: lists of runners named ``r0``, ``r1``, ... (unique).

    Args:
        capacity: a :class:`Resources` or a strategy of runner capacities
            (default ``resources(min_slots=1, max_slots=32)``).
        min_size: the fewest runners.
        max_size: the most runners.
        heterogeneous: False gives every runner of one fleet the same capacity.
        labels: a pool of label names (each runner gets a subset) or a strategy
            of label sets; ``()`` for no labels.
        name_prefix: runner names are this prefix plus the position.
        devices: each runner's devices (``{"gpu": 8}``, see
            :mod:`runtime_alloc.devices`) or a strategy of them (``{}`` for none);
            a device kind in a capacity is replaced by the devices' pooled sum.

    Raises:
        hypothesis.errors.InvalidArgument: naming the bad argument and its value.

    Shrinks towards one runner with the smallest capacity.
    """
    caps = _default_capacity() if capacity is None else as_strategy("capacity", capacity, Resources)
    if isinstance(capacity, Resources) and capacity.slots < 1:
        raise fail("capacity", capacity, "a runner capacity with at least 1 slot")
    caps = caps.filter(lambda c: c.slots >= 1)
    min_size = check_int("min_size", min_size)
    max_size = check_int("max_size", max_size, max_value=10_000)
    if max_size < min_size:
        raise fail("max_size", max_size, f"at least min_size={min_size}")
    heterogeneous = check_bool("heterogeneous", heterogeneous)
    if not isinstance(name_prefix, str) or not name_prefix or len(name_prefix) > 200:
        raise fail("name_prefix", name_prefix, "a non-empty string of at most 200 characters")
    label_sets = _labels_strategy("labels", labels)
    device_sets = as_strategy("devices", FrozenMap() if devices is None else devices, Mapping,
                              _device_map)  # fmt: skip

    def build(shapes: list[tuple[Resources, frozenset[str], Mapping[str, int]]]) -> list[Runner]:
        return [
            Runner(f"{name_prefix}{i}", _without(c, d), lb, d)
            for i, (c, lb, d) in enumerate(shapes)
        ]

    if devices is None:  # the draws of a fleet without devices, as they always were
        plain = (
            st.lists(st.tuples(caps, label_sets), min_size=min_size, max_size=max_size)
            if heterogeneous
            else caps.flatmap(
                lambda c: st.lists(
                    st.tuples(st.just(c), label_sets), min_size=min_size, max_size=max_size
                )
            )
        )
        return plain.map(lambda shapes: build([(c, lb, FrozenMap()) for c, lb in shapes]))
    if heterogeneous:
        shapes = st.lists(
            st.tuples(caps, label_sets, device_sets), min_size=min_size, max_size=max_size
        )
    else:
        shapes = st.tuples(caps, device_sets).flatmap(
            lambda cd: st.lists(
                st.tuples(st.just(cd[0]), label_sets, st.just(cd[1])),
                min_size=min_size,
                max_size=max_size,
            )
        )
    return shapes.map(build)


def _device_map(value: object) -> FrozenMap[str, int]:
    """Check a runner's devices as :class:`Runner` does (ValueError naming the problem)."""
    return Runner("r", Resources(slots=1), devices=value).devices


def _without(capacity: Resources, devices: Mapping[str, int]) -> Resources:
    """``capacity`` without the device kinds (the runner fills in their pooled sum)."""
    if not devices or not any(kind in capacity.extended for kind in devices):
        return capacity
    extended = {k: v for k, v in capacity.extended.items() if k not in devices}
    return Resources(capacity.millicpu, capacity.memory_bytes, capacity.slots, extended)


def runner_states(
    runner: Runner | st.SearchStrategy[Runner] | None = None, *, draining: bool | None = None
) -> st.SearchStrategy[RunnerState]:
    """Return a strategy of consistent :class:`~runtime_alloc.RunnerState` (reserved fits capacity).

    Args:
        runner: a :class:`Runner` or a strategy of them (default :func:`runners`).
        draining: fix the draining flag, or None to draw it.
    """
    runs = runners() if runner is None else as_strategy("runner", runner, Runner)
    if draining is not None:
        check_bool("draining", draining)
    flags = st.booleans() if draining is None else st.just(draining)

    @st.composite
    def build(draw: st.DrawFn) -> RunnerState:
        r: Runner = draw(runs)
        cap = r.capacity
        reserved = Resources(
            draw(st.integers(0, cap.millicpu)),
            draw(st.integers(0, cap.memory_bytes)),
            draw(st.integers(0, cap.slots)),
            {k: draw(st.integers(0, v)) for k, v in cap.extended.items()},
        )
        return RunnerState(r, reserved, draw(flags))

    return build()


def snapshots(
    fleet: Sequence[Runner] | st.SearchStrategy[list[Runner]] | None = None,
    *,
    max_tasks: int = 20,
    max_task_slots: int = 16,
) -> st.SearchStrategy[FleetSnapshot]:
    """Return a strategy of consistent :class:`~runtime_alloc.FleetSnapshot` objects.

    The snapshot is what a python-backend allocator holds after up to
    ``max_tasks`` allocations of :func:`requests` and some drains.

    Args:
        fleet: a list of runners or a strategy of fleets (default :func:`fleets`).
        max_tasks: the most allocation attempts.
        max_task_slots: the slot limit of one task.
    """
    max_tasks = check_int("max_tasks", max_tasks, max_value=100_000)
    max_task_slots = check_int("max_task_slots", max_task_slots, min_value=1)
    if fleet is None:
        fleet_st: st.SearchStrategy[list[Runner]] = fleets()
    elif isinstance(fleet, st.SearchStrategy):
        fleet_st = fleet
    else:
        items = list(fleet) if isinstance(fleet, Iterable) else None
        if items is None or not all(isinstance(r, Runner) for r in items):
            raise fail("fleet", fleet, "a list of Runner or a strategy of such lists")
        fleet_st = st.just(items)
    task_requests = st.lists(requests(max_task_slots), max_size=max_tasks)

    @st.composite
    def build(draw: st.DrawFn) -> FleetSnapshot:
        runners_: list[Runner] = draw(fleet_st)
        allocator = Allocator(
            runners_, strategy=EvenSpreadStrategy(), backend="python", max_task_slots=max_task_slots
        )
        for i, request in enumerate(draw(task_requests)):
            allocator.try_allocate(f"t{i}", request)
        for runner in runners_:
            if draw(st.booleans()):
                allocator.drain_runner(runner.name)
        return allocator.snapshot()

    return build()


def reservations(
    runner: str | st.SearchStrategy[str] = "r0",
    *,
    task_id: str | st.SearchStrategy[str] | None = None,
    max_task_slots: int = 16,
) -> st.SearchStrategy[Reservation]:
    """Return a strategy of :class:`~runtime_alloc.Reservation` values.

    Args:
        runner: the runner name, or a strategy of names.
        task_id: the task id or a strategy of them (default ``t0``..``t99``).
        max_task_slots: the slot limit of the reserved request.
    """
    runner_names = as_strategy("runner", runner, str, _runner_name)
    ids = (
        st.integers(0, 99).map(lambda i: f"t{i}")
        if task_id is None
        else as_strategy("task_id", task_id, str, _runner_name)
    )
    return st.builds(Reservation, ids, runner_names, requests(max_task_slots))


def _any_runner() -> st.SearchStrategy[Runner]:
    """Runners with drawn names, for ``st.from_type(Runner)``."""
    return runners(st.from_regex(r"[a-z][a-z0-9-]{0,7}", fullmatch=True))
