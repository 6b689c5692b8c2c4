"""``check_invariants``: what must hold of every allocator and snapshot, with readable failures."""

from __future__ import annotations

import json
from typing import Any

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    FleetSnapshot,
    Reservation,
    Resources,
    RuntimeAllocError,
)
from runtime_alloc.devices import device_problem

__all__ = ["check_invariants", "check_round_trip", "describe_difference"]


def _over(reserved: Resources, capacity: Resources) -> str:
    dims = [
        f"{dim} {reserved.get(dim)} > {capacity.get(dim)}"
        for dim in reserved.dimensions()
        if reserved.get(dim) > capacity.get(dim)
    ]
    return ", ".join(dims)


def snapshot_problems(snapshot: FleetSnapshot) -> list[str]:
    """Return every broken invariant of ``snapshot`` as a sentence (empty when consistent).

    Runtime complexity: O(runners + reservations).
    """
    problems: list[str] = []
    sums: dict[str, Resources] = {}
    tasks: dict[str, list[str]] = {}
    held: dict[str, list[Reservation]] = {}
    for state in snapshot.runners:
        if state.name in sums:
            problems.append(f"runner {state.name!r} appears twice in the snapshot")
        sums[state.name] = Resources()
        tasks[state.name] = []
    for task_id, reservation in snapshot.reservations.items():
        if task_id != reservation.task_id:
            problems.append(
                f"reservation of task {reservation.task_id!r} is filed under {task_id!r}"
            )
        if reservation.runner not in sums:
            problems.append(
                f"reservation of task {task_id!r} points at missing runner {reservation.runner!r}"
            )
            continue
        sums[reservation.runner] += reservation.resources
        tasks[reservation.runner].append(task_id)
        held.setdefault(reservation.runner, []).append(reservation)
    for state in snapshot.runners:
        if state.reserved != sums[state.name]:
            names = ", ".join(repr(t) for t in tasks[state.name]) or "none"
            problems.append(
                f"runner {state.name!r} reserved {state.reserved} != the sum of its "
                f"reservations {sums[state.name]} (tasks: {names})"
            )
        over = _over(state.reserved, state.runner.capacity)
        if over:
            problems.append(
                f"runner {state.name!r} is over-committed: reserved {state.reserved} exceeds "
                f"capacity {state.runner.capacity} ({over})"
            )
        # per device: 0 <= used <= 1000, used = the reservations' devices, sum = pooled reserved
        device = device_problem(state, held.get(state.name, ()))
        if device is not None:
            problems.append(device)
    return problems


def describe_difference(expected: FleetSnapshot, actual: FleetSnapshot) -> str:
    """Describe how two snapshots differ, one line per difference ("" when equal).

    Runtime complexity: O(runners + reservations).
    """
    lines: list[str] = []
    exp = {s.name: s for s in expected.runners}
    act = {s.name: s for s in actual.runners}
    if list(exp) != list(act):
        lines.append(f"runners {list(exp)} became {list(act)}")
    for name in exp.keys() & act.keys():
        before, after = exp[name], act[name]
        if before.runner != after.runner:
            lines.append(f"runner {name!r} {before.runner!r} became {after.runner!r}")
        if before.reserved != after.reserved:
            lines.append(f"runner {name!r} reserved {before.reserved} became {after.reserved}")
        if before.draining != after.draining:
            lines.append(f"runner {name!r} draining {before.draining} became {after.draining}")
        if before.devices != after.devices:
            lines.append(f"runner {name!r} device use {before.devices} became {after.devices}")
    for task_id in sorted(expected.reservations.keys() | actual.reservations.keys()):
        one = expected.reservations.get(task_id)
        two = actual.reservations.get(task_id)
        if one != two:
            lines.append(f"reservation of task {task_id!r}: {one!r} became {two!r}")
    if not lines and expected != actual:
        lines.append(f"{expected!r} != {actual!r}")
    return "\n".join(lines)


def _restore(target: Any, data: dict[str, Any]) -> Any:  # noqa: ANN401
    if isinstance(target, Allocator):
        return type(target).from_snapshot(data, strategy=target.strategy, backend=target.backend)
    restore = getattr(type(target), "from_snapshot", None)
    if isinstance(target, FleetSnapshot) or restore is None:
        return Allocator.from_snapshot(data, strategy=EvenSpreadStrategy(), backend="python")
    return restore(data)


def check_invariants(
    target: Any,  # noqa: ANN401
    *,
    round_trip: bool = True,
    concurrent: bool = False,
) -> FleetSnapshot:
    """Check an allocator (or anything with ``snapshot()``) or a snapshot; return the snapshot.

    Checked through the public API, so executor wrappers work: no runner is
    over-committed; each runner's reserved equals the sum of its reservations;
    each device's use is from 0 to 1000 and equals the devices its runner's
    reservations hold (so a kind's device use sums to its pooled reserved);
    no reservation points at a missing runner; ``len(allocator)`` is the number
    of reservations; and (when ``round_trip``) the snapshot survives
    ``to_dict`` -> JSON -> ``FleetSnapshot.from_dict`` and ``from_snapshot`` of
    the target's class unchanged. An :class:`~runtime_alloc.Allocator`'s own
    ``_check()`` runs too.

    Args:
        target: an :class:`~runtime_alloc.Allocator`, a wrapper with ``snapshot()``,
            or a :class:`~runtime_alloc.FleetSnapshot`.
        round_trip: also check persistence and restore.
        concurrent: other threads may be changing ``target`` during the check;
            skip the cross-call comparison of ``len()`` with the snapshot
            (each snapshot is atomic, two calls together are not).

    Returns:
        The snapshot that was checked.

    Raises:
        AssertionError: explaining every broken invariant.
        TypeError: when ``target`` is neither, or its ``snapshot()`` returns something else.

    Runtime complexity: O(runners + reservations).

    >>> from runtime_alloc import Allocator, Runner
    >>> alloc = Allocator([Runner.parse("r0", "cpu=2")], backend="python")
    >>> _ = alloc.allocate("t0", "cpu=1")
    >>> check_invariants(alloc).reservations["t0"].runner
    'r0'
    """
    if isinstance(target, FleetSnapshot):
        snapshot = target
    elif callable(getattr(target, "snapshot", None)):
        snapshot = target.snapshot()
        if not isinstance(snapshot, FleetSnapshot):
            msg = f"snapshot() must return a FleetSnapshot, got {type(snapshot).__name__}"
            raise TypeError(msg)
    else:
        msg = f"check_invariants needs an allocator or a FleetSnapshot, got {type(target).__name__}"
        raise TypeError(msg)
    problems = snapshot_problems(snapshot)
    if not isinstance(target, FleetSnapshot):
        size = len(target) if hasattr(type(target), "__len__") and not concurrent else None
        if size is not None and size != len(snapshot.reservations):
            problems.append(
                f"len(allocator) is {size} but the snapshot holds "
                f"{len(snapshot.reservations)} reservations"
            )
        internal = getattr(target, "_check", None)
        if not problems and callable(internal):
            try:
                internal()
            except AssertionError as exc:
                problems.append(f"internal check failed: {exc}")
    if problems:
        raise AssertionError("invariants broken:\n  " + "\n  ".join(problems))
    if round_trip:
        check_round_trip(target, snapshot)
    return snapshot


def check_round_trip(target: Any, snapshot: FleetSnapshot) -> None:  # noqa: ANN401
    """Assert that ``snapshot`` of ``target`` survives to_dict, JSON and from_dict / from_snapshot.

    Runtime complexity: O(runners + reservations).
    """
    data = json.loads(json.dumps(snapshot.to_dict()))
    try:
        read = FleetSnapshot.from_dict(data)
    except RuntimeAllocError as exc:
        msg = f"snapshot does not survive to_dict/from_dict: {exc}"
        raise AssertionError(msg) from None
    if read != snapshot:
        diff = describe_difference(snapshot, read)
        msg = f"snapshot does not survive to_dict/from_dict:\n  {diff}"
        raise AssertionError(msg)
    try:
        restored = _restore(target, data).snapshot()
    except RuntimeAllocError as exc:
        msg = f"snapshot does not survive to_dict/from_snapshot: {exc}"
        raise AssertionError(msg) from None
    if restored != snapshot:
        diff = describe_difference(snapshot, restored).replace("\n", "\n  ")
        msg = f"snapshot does not survive to_dict/from_snapshot:\n  {diff}"
        raise AssertionError(msg)
