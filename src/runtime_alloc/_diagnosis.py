"""THE failure diagnosis: why no runner can take a request, from whatever columns a backend has.

One algorithm builds the :class:`~runtime_alloc.errors.AllocationError` of a
failed request for every backend. A backend only supplies per-runner columns in
registration order through the small :class:`Columns` protocol (masks, capacity
and free amounts per dimension, label sets, draining flags and three
reductions); the python scan feeds lists (:class:`runtime_alloc._placement.StateColumns`),
the numpy backend numpy arrays (:mod:`runtime_alloc.backends.numpy.diagnose`).

The rule, the way kube-scheduler explains an unschedulable pod:

1. The request is *unschedulable* when no runner that has the required labels
   could hold it even empty and undrained (its capacity covers every requested
   dimension); otherwise capacity is merely short right now.
2. Every runner gives reasons, in this order of precedence: ``draining`` (only
   when the request is not unschedulable), else ``missing label a,b`` (the
   required labels it lacks, sorted; ``missing any label of a,b`` when it has them
   all but none of a ``require_any`` set), else one ``insufficient <dim>`` per
   requested dimension whose available amount (free now, or the capacity when
   unschedulable) is below the request, in :meth:`Resources.dimensions` order,
   then, for a device kind of the runner whose pooled amount suffices, one
   ``insufficient gpu devices: largest free share 300m`` (a share) or
   ``insufficient gpu devices: 1 wholly free of 2`` (whole devices), the figure
   the best such runner offers (:mod:`runtime_alloc.devices`; an empty runner's
   devices hold what its pooled capacity holds, so this never makes a request
   unschedulable).
3. Reasons are listed in the order the python scan meets them: by the first
   runner (in registration order) giving them, then by dimension order; each
   counts the runners giving it.
4. For each dimension with an ``insufficient`` reason, the shortfall pairs the
   request with the largest amount available on any runner that reached the
   capacity test (not draining, labels present); a device reason adds
   ``Shortfall("gpu devices", requested, offered)`` in milli.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar

from runtime_alloc.devices import shortfall_text
from runtime_alloc.errors import (
    AllocationError,
    InsufficientCapacityError,
    Shortfall,
    UnschedulableError,
)
from runtime_alloc.labels import any_labels

if TYPE_CHECKING:
    from runtime_alloc.resources import Resources

__all__ = ["Columns", "diagnose"]

Mask = TypeVar("Mask")
Column = TypeVar("Column")


class Columns(Protocol[Mask, Column]):
    """Per-runner columns of one fleet, in registration order, and the reductions over them.

    ``Mask`` is a boolean column, ``Column`` an integer column (a list, a
    numpy array...); the diagnosis only passes them back to these methods.
    """

    #: the number of runners
    size: int

    def everyone(self) -> Mask:
        """A mask of every runner."""
        ...

    def labels_ok(self) -> Mask:
        """Runners whose labels include every required label."""
        ...

    def draining(self) -> Mask:
        """Runners being drained."""
        ...

    def capacity(self, dimension: str) -> Column:
        """Each runner's capacity in ``dimension`` (0 where it has none)."""
        ...

    def free(self, dimension: str) -> Column:
        """Each runner's capacity minus reserved amount in ``dimension``."""
        ...

    def at_least(self, column: Column, amount: int) -> Mask:
        """Runners whose value in ``column`` is >= ``amount``."""
        ...

    def both(self, a: Mask, b: Mask) -> Mask:
        """Runners in ``a`` and in ``b``."""
        ...

    def but_not(self, a: Mask, b: Mask) -> Mask:
        """Runners in ``a`` and not in ``b``."""
        ...

    def first_and_count(self, mask: Mask) -> tuple[int, int]:
        """The position of the first runner in ``mask`` (any int when none) and their count."""
        ...

    def largest(self, column: Column, mask: Mask) -> int:
        """The largest value of ``column`` over the (non-empty) ``mask``."""
        ...

    def label_sets(self, mask: Mask) -> Iterable[tuple[frozenset[str], int, int]]:
        """``(labels, first position, count)`` per distinct label set of runners in ``mask``."""
        ...

    def device_offer(self, kind: str, amount: int) -> Column | None:
        """What each runner's ``kind`` devices offer ``amount`` milli, -1 without such devices.

        The largest free share (``amount <= 1000``) or 1000 x the wholly free
        devices (:func:`runtime_alloc.devices.offered`); None when no runner
        has devices of ``kind``.
        """
        ...


def diagnose(
    columns: Columns[Mask, Column],
    task_id: str,
    request: Resources,
    require: frozenset[str],
) -> AllocationError:
    """Build the error for a request that no runner can take now (the rule of the module docstring).

    Args:
        columns: the fleet, in registration order.
        task_id: the task that asked.
        request: what it asked for.
        require: the labels it required.

    Returns:
        :class:`UnschedulableError` when no runner with the labels could ever
        hold the request, else :class:`InsufficientCapacityError`.

    Runtime complexity: O(N * dimensions) column work, plus O(label sets) for
    missing labels.
    """
    dims = request.dimensions()
    amounts = [request.get(dim) for dim in dims]
    labels_ok = columns.labels_ok()
    fits = labels_ok
    for dim, amount in zip(dims, amounts, strict=True):
        fits = columns.both(fits, columns.at_least(columns.capacity(dim), amount))
    ever = columns.first_and_count(fits)[1] > 0
    entries: list[tuple[int, int, str, int]] = []  # (first position, order, reason, count)
    rest = columns.everyone()
    if ever:
        drain = columns.draining()
        first, count = columns.first_and_count(drain)
        if count:
            entries.append((first, 0, "draining", count))
            rest = columns.but_not(rest, drain)
    groups: dict[str, list[int]] = {}
    any_of: frozenset[str] = any_labels(require)
    for labels, first, count in columns.label_sets(columns.but_not(rest, labels_ok)):
        missing = frozenset(require) - labels
        if missing:
            key = "missing label " + ",".join(sorted(missing))
        else:  # every required label, none of the require_any ones
            key = "missing any label of " + ",".join(sorted(any_of))
        group = groups.get(key)
        if group is None:
            groups[key] = [first, count]
        else:
            group[0] = min(group[0], first)
            group[1] += count
    entries.extend((first, 0, key, count) for key, (first, count) in groups.items())
    rest = columns.both(rest, labels_ok)
    best: dict[str, int] = {}
    if columns.first_and_count(rest)[1]:
        for order, (dim, amount) in enumerate(zip(dims, amounts, strict=True)):
            available = columns.free(dim) if ever else columns.capacity(dim)
            first, count = columns.first_and_count(
                columns.but_not(rest, columns.at_least(available, amount))
            )
            if count:
                entries.append((first, order, f"insufficient {dim}", count))
            best[dim] = columns.largest(available, rest)
        if ever:
            entries.extend(_device_entries(columns, rest, request, len(dims), best))
    entries.sort(key=lambda e: (e[0], e[1]))
    reasons = {reason: count for _first, _order, reason, count in entries}
    shortfalls = tuple(
        Shortfall(dim, amount, best[dim])
        for dim, amount in zip(dims, amounts, strict=True)
        if f"insufficient {dim}" in reasons
    ) + tuple(
        Shortfall(f"{dim} devices", amount, best[f"{dim} devices"])
        for dim, amount in zip(dims, amounts, strict=True)
        if f"{dim} devices" in best
    )
    cls = InsufficientCapacityError if ever else UnschedulableError
    return cls(task_id, request, columns.size, reasons, shortfalls)


def _device_entries(
    columns: Columns[Mask, Column],
    rest: Mask,
    request: Resources,
    order: int,
    best: dict[str, int],
) -> list[tuple[int, int, str, int]]:
    """The device reasons (rule 2's last step) of runners in ``rest``; fills ``best``.

    Only runners whose pooled free amount of the kind suffices give one, so a
    runner short in the pool is not counted twice. O(N) per requested device kind.
    """
    out = []
    for position, (kind, amount) in enumerate(request.extended.items()):
        offer = columns.device_offer(kind, amount)
        if offer is None:
            continue
        pooled = columns.at_least(columns.free(kind), amount)
        has = columns.at_least(offer, 0)
        short = columns.but_not(columns.both(columns.both(rest, pooled), has),
                                columns.at_least(offer, amount))  # fmt: skip
        first, count = columns.first_and_count(short)
        if count:
            most = columns.largest(offer, short)
            best[f"{kind} devices"] = most
            out.append((first, order + position, shortfall_text(kind, amount, most), count))
    return out
