"""Devices: GPUs (or any kind) as separate units of 1000 milli each, and the rules to use them.

A runner may declare devices of a kind (``Runner.parse("n1", "cpu=96", devices={"gpu": 8})``):
eight devices of 1000 milli each. Its pooled ``capacity.extended["gpu"]`` is then 8000, the
sum, so code that reads the pool keeps working.

**Which requests are device requests.** A kind is a *device kind* for an allocator once one
of its runners declares devices of it. Then:

* request text and mappings give that kind in devices, like cpu in cores: ``gpu=2`` is two
  whole devices (2000 milli), ``gpu=0.5`` or ``gpu="500m"`` a share of one (500 milli);
  a :class:`~runtime_alloc.Resources` given directly already holds milli
  (``Resources(extended={"gpu": 500})``, or
  ``Resources.parse("gpu=500m", device_kinds={"gpu"})``);
* the request must be a share of one device (at most 1000 milli) or whole devices (a
  multiple of 1000): 1500 milli is refused with
  :class:`~runtime_alloc.errors.InvalidResourcesError`;
* on a runner with devices of the kind, the request needs one device with the share free, or
  k wholly free devices; on a runner without them (a pooled ``gpu=8000`` capacity), the
  pooled comparison of today applies.

**Device choice** inside a runner (:func:`pick`): a share goes to the device it fits best
(the smallest free remainder, the lowest index on ties); k whole devices take the k lowest
wholly free indexes. These are the rules of ``runtime-alloc fill``'s ``bestfit``.

>>> pick((0, 700, 400, 1000), 500)   # free 1000, 300, 600, 0: 600 leaves the least
((2, 500),)
>>> pick((0, 700, 0, 0), 2000)       # two whole devices: the lowest wholly free ones
((0, 1000), (2, 1000))
>>> pick((900, 900), 500) is None
True
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._units import _show, format_cpu, parse_cpu
from runtime_alloc.errors import InvalidResourcesError

if TYPE_CHECKING:
    from runtime_alloc.reservations import Reservation
    from runtime_alloc.resources import Resources
    from runtime_alloc.runners import Runner, RunnerState

__all__ = [
    "DEVICE_MILLI",
    "MAX_DEVICES",
    "DevicePicks",
    "apply",
    "check_device_request",
    "check_state",
    "count_kinds",
    "device_problem",
    "device_shortfalls",
    "fits",
    "format_milli",
    "format_request",
    "largest_free_share",
    "offered",
    "parse_device_quantity",
    "pick",
    "pick_for",
    "read_picks",
    "shortfall_text",
    "use_of",
    "whole_free",
    "with_picks",
]

#: The milli of one device.
DEVICE_MILLI = 1000
#: The most devices of one kind a runner may declare.
MAX_DEVICES = 4096

#: What a reservation holds per device kind: ``((index, milli), ...)`` in index order.
DevicePicks = FrozenMap[str, tuple[tuple[int, int], ...]]

_DEVICE_RULE = 'a number of devices like "2" or a share of one like "0.5" or "500m"'


def parse_device_quantity(value: object, *, field: str) -> int:
    """Parse a device quantity into milli: ``"2"`` -> 2000, ``"0.5"`` and ``"500m"`` -> 500.

    Raises:
        InvalidResourcesError: naming ``field`` and the value.

    Runtime complexity: O(len(value)).

    >>> parse_device_quantity("2", field="gpu"), parse_device_quantity("500m", field="gpu")
    (2000, 500)
    """
    try:
        return parse_cpu(value, field=field)
    except InvalidResourcesError:
        msg = f"{field} must be {_DEVICE_RULE}, got {_show(value)}"
        raise InvalidResourcesError(msg) from None


def format_milli(milli: int) -> str:
    """Text of a device quantity: whole devices as a number, else milli (``"300m"``). O(1)."""
    return format_cpu(milli)


def format_request(request: Resources, kinds: Collection[str]) -> str:
    """``str(request)`` with the device ``kinds`` in the device grammar (``gpu=500m``, ``gpu=2``).

    It parses back equal with ``Resources.parse(text, device_kinds=kinds)``.
    Runtime complexity: O(dimensions).
    """
    text = str(request)
    if not kinds or not any(kind in request.extended for kind in kinds):
        return text
    parts = text.split(",")
    for i, part in enumerate(parts):
        name, _, value = part.partition("=")
        if name in kinds:
            parts[i] = f"{name}={format_milli(int(value))}"
    return ",".join(parts)


def check_device_request(extended: Mapping[str, int], kinds: Collection[str]) -> None:
    """Reject a device-kind quantity that is neither a share of one device nor whole devices.

    Raises:
        InvalidResourcesError: ``gpu must be a share of one device (at most 1000m) or whole
            devices (a multiple of 1000m), got 1500m``.

    Runtime complexity: O(len(extended)).
    """
    for kind, milli in extended.items():
        if kind in kinds and milli > DEVICE_MILLI and milli % DEVICE_MILLI:
            msg = (
                f"{kind} must be a share of one device (at most {DEVICE_MILLI}m) or whole "
                f"devices (a multiple of {DEVICE_MILLI}m), got {format_milli(milli)}"
            )
            raise InvalidResourcesError(msg)


def fits(used: tuple[int, ...], milli: int) -> bool:
    """True when devices with ``used`` milli can take ``milli`` (a share, or whole devices).

    Runtime complexity: O(len(used)).
    """
    if milli <= DEVICE_MILLI:
        limit = DEVICE_MILLI - milli
        return any(u <= limit for u in used)
    return used.count(0) >= milli // DEVICE_MILLI


def largest_free_share(used: tuple[int, ...]) -> int:
    """The most milli free on one device (0 without devices). O(len(used))."""
    return DEVICE_MILLI - min(used) if used else 0


def whole_free(used: tuple[int, ...]) -> int:
    """How many devices are wholly free. O(len(used))."""
    return used.count(0)


def pick(used: tuple[int, ...], milli: int) -> tuple[tuple[int, int], ...] | None:
    """The devices that take ``milli``: ``((index, milli), ...)``, or None when none can.

    A share (at most 1000) goes to the device with the smallest free remainder that
    holds it, the lowest index on ties; k whole devices (k * 1000) to the k lowest
    wholly free indexes. 0 milli takes no device.

    Runtime complexity: O(len(used)).
    """
    if milli <= 0:
        return ()
    if milli <= DEVICE_MILLI:
        best = -1
        best_left = DEVICE_MILLI + 1
        for index, u in enumerate(used):
            left = DEVICE_MILLI - u - milli
            if 0 <= left < best_left:
                best, best_left = index, left
        return None if best < 0 else ((best, milli),)
    count = milli // DEVICE_MILLI
    free = [index for index, u in enumerate(used) if u == 0][:count]
    if len(free) < count:
        return None
    return tuple((index, DEVICE_MILLI) for index in free)


def pick_for(devices: Mapping[str, tuple[int, ...]], request: Resources) -> DevicePicks | None:
    """The picks of ``request`` on a runner with per-kind device use ``devices``.

    Only the request's kinds that the runner has as devices are picked; None when
    one of them does not fit. O(devices of the requested kinds).
    """
    picks = {}
    for kind, milli in request.extended._data.items():  # noqa: SLF001 (no Mapping view: hot path)
        used = devices.get(kind)
        if used is None:
            continue
        chosen = pick(used, milli)
        if chosen is None:
            return None
        picks[kind] = chosen
    return FrozenMap(picks)


def apply(
    devices: FrozenMap[str, tuple[int, ...]],
    picks: Mapping[str, tuple[tuple[int, int], ...]],
    sign: int,
) -> FrozenMap[str, tuple[int, ...]]:
    """Device use after adding (sign 1) or giving back (sign -1) ``picks``. O(devices touched)."""
    if not picks:
        return devices
    out = dict(devices._data if isinstance(devices, FrozenMap) else devices)  # noqa: SLF001 (hot path)
    for kind, chosen in (picks._data if isinstance(picks, FrozenMap) else picks).items():  # noqa: SLF001
        used = list(out[kind])
        for index, milli in chosen:
            used[index] += sign * milli
        out[kind] = tuple(used)
    return FrozenMap(out)


def read_picks(data: object, *, field: str) -> DevicePicks:
    """Read ``{kind: [[index, milli], ...]}`` (a reservation's devices in a snapshot).

    Checks the shape only: indexes from 0, milli from 1 to 1000, indexes increasing;
    :meth:`FleetSnapshot.check <runtime_alloc.FleetSnapshot.check>` checks them against
    the runner.

    Raises:
        InvalidArgumentError: naming the key path and value that are wrong.

    Runtime complexity: O(number of picks).
    """
    from runtime_alloc.errors import InvalidArgumentError  # noqa: PLC0415

    if not isinstance(data, Mapping):
        msg = f"{field} must be a mapping of kind to [[index, milli], ...], got {_show(data)}"
        raise InvalidArgumentError(msg)
    out = {}
    for kind, picks in data.items():
        path = f"{field}[{kind!r}]"
        if not isinstance(kind, str) or not isinstance(picks, (list, tuple)) or not picks:
            msg = f"{path} must be a non-empty list of [index, milli] pairs, got {_show(picks)}"
            raise InvalidArgumentError(msg)
        pairs: list[tuple[int, int]] = []
        for pair in picks:
            ok = isinstance(pair, (list, tuple)) and len(pair) == 2
            ok = ok and all(type(x) is int for x in pair)
            if not ok or not (0 <= pair[0] < MAX_DEVICES and 0 < pair[1] <= DEVICE_MILLI):
                msg = (
                    f"{path} items must be [index, milli] with index from 0 and milli from 1 "
                    f"to {DEVICE_MILLI}, got {_show(pair)}"
                )
                raise InvalidArgumentError(msg)
            if pairs and pair[0] <= pairs[-1][0]:
                msg = f"{path} indexes must increase, got {_show(picks)}"
                raise InvalidArgumentError(msg)
            pairs.append((pair[0], pair[1]))
        out[kind] = tuple(pairs)
    return FrozenMap(out)


def count_kinds(kinds: dict[str, int], runner: Runner, sign: int) -> None:
    """Count (sign 1) or uncount (sign -1) ``runner``'s device kinds in ``kinds``. O(kinds)."""
    for kind in runner.devices:
        value = kinds.get(kind, 0) + sign
        if value:
            kinds[kind] = value
        else:
            del kinds[kind]


def with_picks(reservation: Reservation, state: RunnerState) -> Reservation:
    """``reservation`` with the devices it takes on ``state`` (see :func:`pick`).

    Raises:
        AssertionError: the devices cannot take it (a backend chose a runner that
            does not fit: a bug, never user input).

    Runtime complexity: O(devices of the requested kinds).
    """
    picks = pick_for(state.devices, reservation.resources)
    assert picks is not None, f"runner {state.name!r} has no devices for {reservation}"  # noqa: S101
    if not picks:
        return reservation
    return type(reservation)(reservation.task_id, reservation.runner, reservation.resources, picks)


def check_state(state: RunnerState, held: Iterable[Reservation]) -> None:
    """Assert the per-device invariant of one runner (see :func:`device_problem`).

    Runtime complexity: O(devices + reservations).
    """
    problem = device_problem(state, held)
    assert problem is None, problem  # noqa: S101


def device_problem(state: RunnerState, held: Iterable[Reservation]) -> str | None:
    """What breaks the per-device invariant of one runner, or None. O(devices + reservations).

    The invariant: each reservation's picks are of the runner's device kinds, on
    existing devices, and add up to its request of that kind (a reservation asking
    a device kind of the runner holds devices); each device's use is the sum of the
    picks on it, from 0 to 1000; so a kind's device use sums to its pooled reserved.
    """
    runner = state.runner
    if set(state.devices) != set(runner.devices):
        return f"runner {state.name!r} device use {dict(state.devices)} has the wrong kinds"
    summed = {kind: [0] * count for kind, count in runner.devices.items()}
    for reservation in held:
        task = reservation.task_id
        for kind, picks in reservation.devices.items():
            if kind not in summed:
                return f"task {task!r} holds {kind} devices that runner {state.name!r} lacks"
            if sum(m for _, m in picks) != reservation.resources.get(kind):
                return f"task {task!r} holds {kind} devices {picks} that differ from its request"
            for index, milli in picks:
                if index >= len(summed[kind]):
                    return f"task {task!r} holds {kind} device {index} that does not exist"
                summed[kind][index] += milli
        for kind in runner.devices:
            if reservation.resources.get(kind) and kind not in reservation.devices:
                return f"task {task!r} asks {kind} on runner {state.name!r} but holds no device"
    for kind, used in state.devices.items():
        if list(used) != summed[kind]:
            return (
                f"runner {state.name!r} {kind} device use {list(used)} differs from its "
                f"reservations' devices {summed[kind]}"
            )
        if any(u > DEVICE_MILLI for u in used):
            return f"runner {state.name!r} {kind} devices over-committed: {list(used)}"
    return None


def use_of(runner: Runner, held: Iterable[Reservation]) -> FrozenMap[str, tuple[int, ...]]:
    """The device use of ``runner`` from the picks of its reservations ``held``.

    Picks of kinds or indexes the runner lacks are left out (a check reports them).
    Runtime complexity: O(devices + reservations).
    """
    summed = {kind: [0] * count for kind, count in runner.devices.items()}
    for reservation in held:
        for kind, picks in reservation.devices.items():
            used = summed.get(kind)
            for index, milli in picks:
                if used is not None and index < len(used):
                    used[index] += milli
    return FrozenMap((kind, tuple(used)) for kind, used in summed.items())


def device_shortfalls(
    devices: Mapping[str, tuple[int, ...]], request: Resources
) -> tuple[tuple[str, int, int], ...]:
    """``(kind, requested milli, available milli)`` per device kind of a runner that falls short.

    Available is the largest free share for a share, 1000 x the wholly free devices
    for whole devices: ``("gpu", 500, 300)`` reads "500m asked, one device has 300m free".
    Runtime complexity: O(devices of the requested kinds).
    """
    out = []
    for kind, milli in request.extended.items():
        used = devices.get(kind)
        if used is None or not milli or fits(used, milli):
            continue
        out.append((kind, milli, offered(used, milli)))
    return tuple(out)


def offered(used: tuple[int, ...], milli: int) -> int:
    """What devices with ``used`` milli offer a request of ``milli``, in milli.

    The largest free share for a share (at most 1000), 1000 x the wholly free
    devices for whole devices: the request fits iff this is ``>= milli``.
    Runtime complexity: O(len(used)).
    """
    if milli <= DEVICE_MILLI:
        return largest_free_share(used)
    return whole_free(used) * DEVICE_MILLI


def shortfall_text(kind: str, requested: int, available: int) -> str:
    """The reason text of a device shortfall (see :func:`device_shortfalls`). O(1).

    ``insufficient gpu devices: largest free share 300m`` for a share,
    ``insufficient gpu devices: 1 wholly free of 2`` for whole devices.
    """
    if requested <= DEVICE_MILLI:
        return f"insufficient {kind} devices: largest free share {format_milli(available)}"
    return (
        f"insufficient {kind} devices: {available // DEVICE_MILLI} wholly free of "
        f"{requested // DEVICE_MILLI}"
    )
