"""The target workload of :class:`~runtime_alloc.strategies.FragmentationStrategy` as shapes.

A request's *shape* (:func:`shape_of`) is ``(millicpu, memory, milli per device, device
count)``: a share of one device (count 1, milli < 1000), k whole devices (count k, milli
1000) or no device (0, 0). A given workload (the strategy's ``shapes`` argument) is read
by :func:`read_shapes` into ``(millicpu, memory, milli, count, weight)`` tuples; the
learned workload is counted by shape too (:mod:`.fragmentation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime_alloc._units import _show
from runtime_alloc.devices import DEVICE_MILLI, check_device_request
from runtime_alloc.errors import InvalidArgumentError, InvalidResourcesError
from runtime_alloc.resources import Resources

__all__ = ["MAX_POPULARITY", "WorkloadShape", "read_shapes", "shape_of"]

#: The largest popularity weight a shape may have (keeps every sum a finite float).
MAX_POPULARITY = 10**15

# (millicpu, memory_bytes, milli per device, device count, weight)
WorkloadShape = tuple[int, int, int, int, float]


def shape_of(request: Resources, kind: str) -> tuple[int, int, int, int]:
    """The shape (millicpu, memory, milli per device, device count) of ``request``. O(1)."""
    milli = request.extended.get(kind, 0)
    if milli <= 0:
        return (request.millicpu, request.memory_bytes, 0, 0)
    if milli <= DEVICE_MILLI:
        return (request.millicpu, request.memory_bytes, milli, 1)
    return (request.millicpu, request.memory_bytes, DEVICE_MILLI, milli // DEVICE_MILLI)


def _check_weight(key: object, weight: object) -> int | float:
    number = isinstance(weight, (int, float)) and not isinstance(weight, bool)
    if not number or not 0 < weight <= MAX_POPULARITY:  # type: ignore[operator]
        msg = (
            f"shapes[{key!r}] must be a positive finite number up to {MAX_POPULARITY:g} "
            f"(a popularity), got {_show(weight)}"
        )
        raise InvalidArgumentError(msg)
    return weight  # type: ignore[return-value]


def read_shapes(shapes: object, kind: str) -> tuple[WorkloadShape, ...]:
    """A given target workload as shapes, equal shapes merged (weights summed). O(|shapes|).

    Raises:
        InvalidArgumentError: ``shapes`` not a non-empty mapping, or a weight that is not
            a positive number up to :data:`MAX_POPULARITY`.
        InvalidResourcesError: a key that is not a request (or asks 1500m of a device).
    """
    if not isinstance(shapes, Mapping) or not shapes:
        msg = f"shapes must be a non-empty mapping of request to popularity, got {_show(shapes)}"
        raise InvalidArgumentError(msg)
    merged: dict[tuple[int, int, int, int], Any] = {}
    for key, weight in shapes.items():
        if isinstance(key, str):
            request = Resources.parse(key, device_kinds={kind})
        elif isinstance(key, Resources):
            request = key
        else:
            msg = f"shapes keys must be request text or Resources, got {_show(key)}"
            raise InvalidResourcesError(msg)
        check_device_request(request.extended, {kind})
        shape = shape_of(request, kind)
        merged[shape] = merged.get(shape, 0) + _check_weight(key, weight)
    return tuple((*shape, weight) for shape, weight in merged.items())
