"""The :class:`Resources` value object: a vector of cpu, memory, slots and extended resources."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._units import (
    _check_quantity,
    _show,
    format_cpu,
    format_memory,
    parse_count,
    parse_cpu,
    parse_memory,
)
from runtime_alloc.devices import parse_device_quantity
from runtime_alloc.dimensions import (
    _NO_COUNTS,
    BUILTIN_DIMENSIONS,
    _named_counts,
    check_dimension_name,
)
from runtime_alloc.errors import InvalidResourcesError

__all__ = [
    "BUILTIN_DIMENSIONS",
    "DEFAULT_TASK_SLOTS",
    "Resources",
    "as_task_request",
    "check_dimension_name",
    "parse_device_request",
]

#: Slots a task takes when its request does not give them.
DEFAULT_TASK_SLOTS = 1

_SPACE = " \t\n\r\f\v"
_MAX_SPEC = 4096


#: The extended amounts of a Resources without any (immutable: one object serves all).
_NO_EXTENDED: FrozenMap[str, int] = _NO_COUNTS


def _to_extended(value: Mapping[str, int]) -> FrozenMap[str, int]:
    return _named_counts(
        value,
        mapping_rule="extended must be a mapping of resource name to count",
        name_field="extended resource name",
        builtin_hint="use the {name} field",
        count=_check_quantity,
    )


def _quantity(field: str) -> Any:  # noqa: ANN401 (attrs validator signature)
    def validate(_inst: object, _attr: object, value: object) -> None:
        _check_quantity(field, value)

    return validate


@attrs.frozen(repr=True)
class Resources:
    """An immutable vector of resource quantities, in integer units.

    Resource vectors are only partially ordered, so there is no ``<``: use
    :meth:`fits_within`. Extended resources with a count of 0 are dropped, so
    ``Resources(extended={"gpu": 0}) == Resources()``.

    Attributes:
        millicpu: cpu in thousandths of a core.
        memory_bytes: memory in bytes.
        slots: concurrency slots.
        extended: extended resource name -> integer count (for example GPUs).

    >>> r = Resources.parse("cpu=1.5,memory=1024MB,slots=2,gpu=1")
    >>> r.millicpu, r.memory_bytes, r.slots, dict(r.extended)
    (1500, 1073741824, 2, {'gpu': 1})
    >>> str(r)
    'cpu=1500m,memory=1Gi,slots=2,gpu=1'
    >>> Resources.parse(str(r)) == r
    True
    """

    millicpu: int = attrs.field(default=0, validator=_quantity("millicpu"))
    memory_bytes: int = attrs.field(default=0, validator=_quantity("memory_bytes"))
    slots: int = attrs.field(default=0, validator=_quantity("slots"))
    extended: FrozenMap[str, int] = attrs.field(
        default=_NO_EXTENDED,
        converter=_to_extended,
    )

    @classmethod
    def parse(
        cls,
        spec: Mapping[str, object] | str | Resources,
        *,
        default_slots: int = 0,
        device_kinds: Collection[str] = (),
    ) -> Resources:
        """Build a :class:`Resources` from user input.

        Args:
            spec: a mapping such as ``{"cpu": "1.5", "memory": "1024MB", "slots": "2"}``
                or a string ``"cpu=1.5,memory=1024MB,slots=2,gpu=1"``. Keys ``cpu``,
                ``memory`` and ``slots`` use :func:`parse_cpu`, :func:`parse_memory` and
                :func:`parse_slots`; any other key is an extended resource with an
                integer count. A :class:`Resources` is returned unchanged.
            default_slots: the slot count when ``slots`` is missing. A
                :class:`Resources` keeps 0 for missing slots; a :class:`Runner`
                reads 0 as its default 16 and a task request as 1.
            device_kinds: extended resources given in devices, like cpu in cores
                (``gpu=2`` -> 2000 milli, ``gpu=500m`` or ``gpu=0.5`` -> 500); see
                :mod:`runtime_alloc.devices`.

        Raises:
            InvalidResourcesError: naming the key and value that are wrong.

        Runtime complexity: O(number of keys).

        >>> Resources.parse({"cpu": "500m", "memory": "2Gi"}, default_slots=1)
        Resources(millicpu=500, memory_bytes=2147483648, slots=1, extended={})
        """
        if isinstance(spec, Resources):
            return spec
        if isinstance(spec, str):
            spec = _split_spec(spec)
        if not isinstance(spec, Mapping):
            msg = (
                "resources must be a mapping like {'cpu': '1.5'} or a string like "
                f"'cpu=1.5,memory=1024MB', got {_show(spec)}"
            )
            raise InvalidResourcesError(msg)
        millicpu = memory = 0
        slots = default_slots
        extended: dict[str, int] = {}
        for key, value in spec.items():
            if key == "cpu":
                millicpu = parse_cpu(value)
            elif key == "memory":
                memory = parse_memory(value)
            elif key == "slots":
                slots = parse_count(value, field="slots")
            else:
                name = check_dimension_name(key)
                if device_kinds and name in device_kinds:
                    extended[name] = parse_device_quantity(value, field=name)
                else:
                    extended[name] = parse_count(value, field=name)
        return cls(millicpu, memory, slots, extended)

    def __str__(self) -> str:
        parts = [
            f"cpu={format_cpu(self.millicpu)}",
            f"memory={format_memory(self.memory_bytes)}",
            f"slots={self.slots}",
        ]
        parts.extend(f"{name}={count}" for name, count in self.extended.items())
        return ",".join(parts)

    def __add__(self, other: Resources) -> Resources:
        if not isinstance(other, Resources):
            return NotImplemented
        extended = dict(self.extended)
        for name, count in other.extended.items():
            extended[name] = extended.get(name, 0) + count
        return Resources(
            self.millicpu + other.millicpu,
            self.memory_bytes + other.memory_bytes,
            self.slots + other.slots,
            extended,
        )

    def __sub__(self, other: Resources) -> Resources:
        """Subtract; raises :class:`InvalidResourcesError` when any dimension would go negative."""
        if not isinstance(other, Resources):
            return NotImplemented
        extended = dict(self.extended)
        for name, count in other.extended.items():
            extended[name] = extended.get(name, 0) - count
        return Resources(
            self.millicpu - other.millicpu,
            self.memory_bytes - other.memory_bytes,
            self.slots - other.slots,
            extended,
        )

    def fits_within(self, other: Resources) -> bool:
        """Return True when every dimension of ``self`` is <= the same dimension of ``other``.

        A dimension missing from ``other.extended`` counts as 0.

        Runtime complexity: O(number of extended resources).

        >>> Resources(500).fits_within(Resources(1000))
        True
        >>> Resources(extended={"gpu": 1}).fits_within(Resources(1000))
        False
        """
        if (
            self.millicpu > other.millicpu
            or self.memory_bytes > other.memory_bytes
            or self.slots > other.slots
        ):
            return False
        other_ext = other.extended
        return all(count <= other_ext.get(name, 0) for name, count in self.extended.items())

    def get(self, dimension: str) -> int:
        """Return the quantity of one dimension by name (``cpu`` is millicpu, ``memory`` bytes).

        Runtime complexity: O(1).

        >>> Resources.parse("cpu=2,gpu=3").get("cpu"), Resources.parse("gpu=3").get("gpu")
        (2000, 3)
        """
        if dimension == "cpu":
            return self.millicpu
        if dimension == "memory":
            return self.memory_bytes
        if dimension == "slots":
            return self.slots
        return self.extended.get(dimension, 0) or 0

    def dimensions(self) -> tuple[str, ...]:
        """Return ``("cpu", "memory", "slots", *extended names in name order)``.

        Runtime complexity: O(number of extended resources).
        """
        return BUILTIN_DIMENSIONS + tuple(self.extended)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict of integers; :meth:`from_dict` reads it back.

        Runtime complexity: O(number of extended resources).

        >>> Resources(1500, 0, 2, {"gpu": 1}).to_dict()
        {'millicpu': 1500, 'memory_bytes': 0, 'slots': 2, 'extended': {'gpu': 1}}
        """
        return {
            "millicpu": self.millicpu,
            "memory_bytes": self.memory_bytes,
            "slots": self.slots,
            "extended": dict(self.extended),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, field: str = "resources") -> Resources:
        """Read the output of :meth:`to_dict` back (a missing key means 0 or no extended).

        Args:
            data: ``{"millicpu": int, "memory_bytes": int, "slots": int, "extended": {...}}``.
            field: the name used in error messages (``"runners[0].capacity"``).

        Raises:
            InvalidResourcesError: naming the key path and value that are wrong.

        Runtime complexity: O(number of keys).
        """
        if not isinstance(data, Mapping):
            msg = (
                f"{field} must be a mapping of millicpu, memory_bytes, slots and extended, "
                f"got {_show(data)}"
            )
            raise InvalidResourcesError(msg)
        unknown = [key for key in data if key not in _DICT_KEYS]
        if unknown:
            shown = ", ".join(_show(key) for key in unknown[:5])
            msg = f"{field} has unknown key(s) {shown}; expected {', '.join(_DICT_KEYS)}"
            raise InvalidResourcesError(msg)
        millicpu, memory, slots = (
            _check_quantity(f"{field}.{key}", data.get(key, 0)) for key in _DICT_KEYS[:3]
        )
        extended = data.get("extended", {})
        if not isinstance(extended, Mapping):
            msg = (
                f"{field}.extended must be a mapping of resource name to count, "
                f"got {_show(extended)}"
            )
            raise InvalidResourcesError(msg)
        for name, count in extended.items():
            check_dimension_name(name, field=f"{field}.extended key")
            _check_quantity(f"{field}.extended[{name!r}]", count)
        return cls(millicpu, memory, slots, extended)


_DICT_KEYS = ("millicpu", "memory_bytes", "slots", "extended")


def as_task_request(request: Mapping[str, object] | str | Resources) -> Resources:
    """Return a task's request as :class:`Resources`, missing slots meaning 1.

    The one rule for slots that are not given: a task takes
    :data:`DEFAULT_TASK_SLOTS` (1), a runner has ``DEFAULT_RUNNER_SLOTS`` (16).
    Text and mappings are read by :meth:`Resources.parse`; a :class:`Resources`
    has no "not given", so its ``slots=0`` (what ``Resources.parse`` leaves for
    missing slots) means 1. Slots given as 0 in text or a mapping stay 0, for
    the caller's range check to reject.

    Raises:
        InvalidResourcesError: for a bad spec.

    Runtime complexity: O(number of keys); O(1) for a Resources with slots.

    >>> as_task_request(Resources.parse("cpu=1")).slots, as_task_request("cpu=1").slots
    (1, 1)
    """
    if isinstance(request, Resources):
        if request.slots:
            return request
        return _with_slots(request, DEFAULT_TASK_SLOTS)
    return Resources.parse(request, default_slots=DEFAULT_TASK_SLOTS)


def parse_device_request(
    request: Mapping[str, object] | str, device_kinds: Collection[str]
) -> Resources:
    """A task's request text or mapping, ``device_kinds`` read in devices (``gpu=500m`` -> 500).

    Missing slots mean 1, as for every task request; slots given as 0 are refused
    (see :mod:`runtime_alloc.devices` for the device grammar).

    Raises:
        InvalidResourcesError: a bad request.

    Runtime complexity: O(len(request)).
    """
    resources = Resources.parse(
        request, default_slots=DEFAULT_TASK_SLOTS, device_kinds=device_kinds
    )
    if not resources.slots:
        msg = "request slots must be from 1 for a task, got 0"
        raise InvalidResourcesError(msg)
    return resources


def _with_slots(resources: Resources, slots: int) -> Resources:
    """Return ``resources`` with ``slots`` replaced (``slots`` already valid). O(1)."""
    out = _new(Resources)
    _setattr(out, "millicpu", resources.millicpu)
    _setattr(out, "memory_bytes", resources.memory_bytes)
    _setattr(out, "slots", slots)
    _setattr(out, "extended", resources.extended)
    return out


_new = object.__new__
_setattr = object.__setattr__


def _combine_unchecked(a: Resources, b: Resources, sign: int) -> Resources:
    """Return ``a + b`` (sign 1) or ``a - b`` (sign -1) without re-validating the result.

    Internal fast path for the allocator's bookkeeping, where the result is
    known to be valid: a reservation added to a runner that the placement
    found to have room (so the sum stays within its capacity), or a
    reservation subtracted from the reserved sum that contains it. With
    extended resources it falls back to the validating operators.
    """
    if a.extended._data or b.extended._data:  # noqa: SLF001 (FrozenMap's dict, no __len__ call)
        return a + b if sign > 0 else a - b
    out = _new(Resources)
    _setattr(out, "millicpu", a.millicpu + sign * b.millicpu)
    _setattr(out, "memory_bytes", a.memory_bytes + sign * b.memory_bytes)
    _setattr(out, "slots", a.slots + sign * b.slots)
    _setattr(out, "extended", a.extended)  # the empty map
    return out


def _split_spec(text: str) -> dict[str, str]:
    if len(text) > _MAX_SPEC:
        msg = f"resources text must be at most {_MAX_SPEC} characters, got {_show(text)}"
        raise InvalidResourcesError(msg)
    result: dict[str, str] = {}
    if not text.strip(_SPACE):
        return result
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip(_SPACE)
        if not sep or not key:
            msg = f"resources text must be 'name=value' pairs separated by ',', got {_show(text)}"
            raise InvalidResourcesError(msg)
        if key in result:
            msg = f"resources text names {key!r} twice, got {_show(text)}"
            raise InvalidResourcesError(msg)
        result[key] = value.strip(_SPACE)
    return result
