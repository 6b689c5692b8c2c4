"""The :class:`Reservation` value object, and :func:`new_reservations` that builds many at once."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

import attrs

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._units import _show
from runtime_alloc.devices import DevicePicks, read_picks
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import check_name

__all__ = ["Reservation", "new_reservations"]

#: The devices of a reservation holding none (immutable: one object serves all).
_NO_PICKS: DevicePicks = FrozenMap()


@attrs.frozen
class Reservation:
    """What a task holds on a runner for its whole life.

    The constructor does not check its arguments (it is on the allocator's
    per-decision path); :meth:`from_dict` and :meth:`FleetSnapshot.check`
    do.

    Attributes:
        task_id: the task.
        runner: the name of the runner holding the reservation.
        resources: the reserved quantities (never shrink while the task runs).
        devices: per device kind of the runner, the devices held:
            ``{"gpu": ((index, milli), ...)}`` in index order (empty when the
            runner has no devices of the requested kinds); release gives exactly
            these back.

    >>> from runtime_alloc import Allocator, Runner
    >>> alloc = Allocator([Runner.parse("n1", "cpu=8", devices={"gpu": 2})])
    >>> alloc.allocate("t1", "cpu=1,gpu=500m").devices
    {'gpu': ((0, 500),)}
    """

    task_id: str
    runner: str
    resources: Resources
    devices: DevicePicks = attrs.field(default=_NO_PICKS)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (``devices`` as ``{kind: [[index, milli], ...]}`` when held).

        Runtime complexity: O(dimensions + devices held).
        """
        out: dict[str, Any] = {
            "task_id": self.task_id,
            "runner": self.runner,
            "resources": self.resources.to_dict(),
        }
        if self.devices:
            out["devices"] = {k: [list(p) for p in v] for k, v in self.devices.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, field: str = "reservation") -> Reservation:
        """Read the output of :meth:`to_dict` back.

        Args:
            data: ``{"task_id": str, "runner": str, "resources": {...}}`` and
                optionally ``"devices": {kind: [[index, milli], ...]}``.
            field: the name used in error messages (``"reservations[0]"``).

        Raises:
            InvalidArgumentError: naming the key path and value that are wrong
                (:class:`InvalidResourcesError` for the resources).

        Runtime complexity: O(number of extended resources).
        """
        if not isinstance(data, Mapping):
            msg = f"{field} must be a mapping with task_id, runner and resources, got {_show(data)}"
            raise InvalidArgumentError(msg)
        for key in ("task_id", "runner", "resources"):
            if key not in data:
                msg = f"{field} has no {key!r} (a reservation needs task_id, runner and resources)"
                raise InvalidArgumentError(msg)
        return cls(
            check_name(data["task_id"], field=f"{field}.task_id"),
            check_name(data["runner"], field=f"{field}.runner"),
            Resources.from_dict(data["resources"], field=f"{field}.resources"),
            read_picks(data.get("devices", {}), field=f"{field}.devices"),
        )


def _slot_setters() -> tuple[Any, ...] | None:
    """The slot setters of Reservation's fields, when its ``__init__`` only stores them."""
    fields = attrs.fields(Reservation)
    plain = (
        tuple(f.name for f in fields) == ("task_id", "runner", "resources", "devices")
        and all(f.validator is None and f.converter is None for f in fields)
        and not isinstance(fields[-1].default, attrs.Factory)  # type: ignore[arg-type]
        and not hasattr(Reservation, "__attrs_post_init__")
        and Reservation.__new__ is object.__new__
        and "__slots__" in Reservation.__dict__
    )
    if not plain:
        return None
    return (*(Reservation.__dict__[f.name].__set__ for f in fields), fields[-1].default)


#: Reservations :func:`new_reservations` builds at a time.
_CHUNK = 2048

#: (set task_id, set runner, set resources, set devices, the default devices) or None.
_SETTERS = _slot_setters()


def new_reservations(
    task_ids: Sequence[str], names: Sequence[str], request: Resources
) -> list[Reservation]:
    """``[Reservation(task_ids[i], names[i], request) ...]``, built column by column.

    Equal to calling the constructor per task (which only stores its
    arguments: :func:`_slot_setters` checks so once, else the constructor is
    called), but each field is stored with one C-level ``map`` over all the
    reservations. Runtime complexity: O(len(names)), about a third of the
    constructor's time.
    """
    count = len(names)
    if _SETTERS is None:
        return list(map(Reservation, task_ids, names, repeat(request, count)))
    set_task, set_runner, set_resources, set_devices, no_devices = _SETTERS
    out: list[Reservation] = []
    for start in range(0, count, _CHUNK):
        # a chunk at a time: its new objects are still in the CPU's caches for the
        # four passes (whole-batch passes each fetched 100,000 objects again)
        stop = min(start + _CHUNK, count)
        size = stop - start
        chunk = list(map(object.__new__, repeat(Reservation, size)))
        deque(map(set_task, chunk, task_ids[start:stop]), 0)
        deque(map(set_runner, chunk, names[start:stop]), 0)
        deque(map(set_resources, chunk, repeat(request, size)), 0)
        deque(map(set_devices, chunk, repeat(no_devices, size)), 0)
        out += chunk
    return out
