"""Dimension names: the built-in ``cpu``, ``memory`` and ``slots``, and extended resource names."""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING

from runtime_alloc._frozen import FrozenMap
from runtime_alloc._units import _show
from runtime_alloc.errors import (
    InvalidArgumentError,
    InvalidResourcesError,
    UndeclaredWeightWarning,
)

if TYPE_CHECKING:
    from runtime_alloc.resources import Resources

__all__ = [
    "BUILTIN_DIMENSIONS",
    "check_dimension_name",
    "check_known_resources",
    "check_weight_name",
    "near_miss",
    "undeclared_dimensions",
    "warn_undeclared_weights",
]

#: The three dimensions every runner and request has, in scoring order.
BUILTIN_DIMENSIONS = ("cpu", "memory", "slots")

#: Names that are near misses of a built-in dimension (the Resources field names,
#: a singular); case variants (``"CPU"``) are caught separately.
_BUILTIN_ALIASES = {
    "millicpu": "cpu",
    "memory_bytes": "memory",
    "slot": "slots",
}

_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\-/]{0,61}[A-Za-z0-9])?")


def check_dimension_name(name: object, *, field: str = "resource name") -> str:
    """Validate an extended resource name such as ``gpu`` or ``nvidia.com/gpu``.

    Runtime complexity: O(1): the pattern reads at most 64 characters.

    Raises:
        InvalidResourcesError: when ``name`` is not a string of letters, digits,
            ``_ . - /`` (starting and ending with a letter or digit, at most 63
            characters).
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        msg = (
            f"{field} must be letters, digits and '_.-/' starting and ending with a "
            f"letter or digit (at most 63 characters), got {_show(name)}"
        )
        raise InvalidResourcesError(msg)
    return name


#: The empty name -> count map (immutable: one object serves every value without counts).
_NO_COUNTS: FrozenMap[str, int] = FrozenMap()


def _named_counts(
    value: object,
    *,
    mapping_rule: str,
    name_field: str,
    builtin_hint: str,
    count: Callable[[str, object], int],
) -> FrozenMap[str, int]:
    """Check a mapping of extended dimension name -> count; keep the non-zero counts, sorted.

    The shared check of ``Resources.extended`` and ``Runner.devices``: each name
    must be a valid dimension name other than a built-in one, and ``count(name,
    raw)`` checks and returns each count. Names are checked in sorted order, so
    the first error is the same whatever order the mapping has.

    Args:
        value: the mapping to check.
        mapping_rule: what ``value`` must be (``"extended must be a mapping of ..."``).
        name_field: how a name is called in messages (``"extended resource name"``).
        builtin_hint: what to do instead of a built-in name; ``{name}`` is filled in.
        count: checks one count, raising InvalidResourcesError.

    Raises:
        InvalidResourcesError: naming the field and the value.

    Runtime complexity: O(k log k) for k names, plus ``count`` k times.
    """
    if not isinstance(value, Mapping):
        msg = f"{mapping_rule}, got {_show(value)}"
        raise InvalidResourcesError(msg)
    items = []
    for name in sorted(value, key=str):
        check_dimension_name(name, field=name_field)
        if name in BUILTIN_DIMENSIONS:
            msg = f"{name_field} must not be {name!r}: {builtin_hint.format(name=name)}"
            raise InvalidResourcesError(msg)
        number = count(name, value[name])
        if number:
            items.append((name, number))
    return FrozenMap(items) if items else _NO_COUNTS


def _builtin_near_miss(name: str) -> str | None:
    """Return the built-in dimension ``name`` nearly is (``"CPU"`` -> ``"cpu"``), or None."""
    if name in BUILTIN_DIMENSIONS:
        return None
    folded = name.lower()
    if folded in BUILTIN_DIMENSIONS:
        return folded
    return _BUILTIN_ALIASES.get(folded)


def check_weight_name(name: object, *, field: str = "weights key") -> str:
    """Validate a strategy weight's dimension name, catching near misses of the built-ins.

    A weight may name ``cpu``, ``memory``, ``slots`` or an extended resource
    (which runners declare later, so any valid name is accepted); a case
    variant or a field name of a built-in dimension (``"CPU"``, ``"millicpu"``,
    ``"memory_bytes"``, ``"slot"``) is rejected with the name it should be.

    Raises:
        InvalidArgumentError: naming the key and the built-in it is a near miss of.

    Runtime complexity: O(len(name)).

    >>> check_weight_name("gpu")
    'gpu'
    """
    check_dimension_name(name, field=field)
    assert isinstance(name, str)  # noqa: S101 (narrowing: checked just above)
    near = _builtin_near_miss(name)
    if near is not None:
        msg = f"{field} {name!r} is not a dimension; did you mean {near!r}?"
        raise InvalidArgumentError(msg)
    return name


def undeclared_dimensions(names: Iterable[str], capacities: Iterable[Resources]) -> tuple[str, ...]:
    """Return the dimension names that are neither built in nor held by any capacity, sorted.

    The check for strategy weights against a fleet: a weight for ``"disk"``
    when no runner declares ``disk`` has no effect. An allocator can call it
    when it is built.

    Runtime complexity: O(len(names) + total extended resources of the capacities).

    >>> from runtime_alloc import Resources
    >>> undeclared_dimensions(["cpu", "gpu", "disk"], [Resources(extended={"gpu": 1})])
    ('disk',)
    """
    wanted = {name for name in names if name not in BUILTIN_DIMENSIONS}
    if not wanted:
        return ()
    for capacity in capacities:
        wanted.difference_update(capacity.extended)
        if not wanted:
            return ()
    return tuple(sorted(wanted))


def near_miss(name: str, known: Iterable[str]) -> str | None:
    """Return the dimension ``name`` is nearly (a typo of), or None. O(len(known)).

    A near miss is a case variant or a field name of a built-in dimension
    (``"CPU"``, ``"millicpu"``), or a case variant or a close spelling of a
    ``known`` name (``"gpus"`` or ``"GPU"`` for ``"gpu"``; ``difflib`` ratio
    at least 0.8), never ``name`` itself.

    >>> near_miss("CPU", []), near_miss("gpus", ["gpu", "fpga"]), near_miss("tpu", ["gpu"])
    ('cpu', 'gpu', None)
    """
    builtin = _builtin_near_miss(name)
    if builtin is not None:
        return builtin
    folded = name.casefold()
    by_folded = {k.casefold(): k for k in known if k != name}
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.8)
    return by_folded[close[0]] if close else None


def check_known_resources(names: Iterable[str], declared: Collection[str]) -> None:
    """Reject a requested extended resource that no runner declares and is a typo of one.

    A name no runner declares that is a near miss (:func:`near_miss`) of a
    built-in dimension or of a ``declared`` name is a typo: ``{"CPU": 1}``
    would otherwise ask for an extended resource named ``CPU``. A name with no
    close match is left to the placement, which reports it unschedulable (a
    runner that declares it may join later).

    Raises:
        InvalidResourcesError: ``unknown resource 'CPU'; did you mean 'cpu'?``

    Runtime complexity: O(1) per declared name requested; O(len(declared)) for
    another name.
    """
    for name in names:
        if name in declared:
            continue
        near = near_miss(name, declared)
        if near is not None:
            shown = ", ".join(sorted(declared)) or "none"
            msg = (
                f"unknown resource {name!r}; did you mean {near!r}? "
                f"(extended resources the runners declare: {shown})"
            )
            raise InvalidResourcesError(msg)


def warn_undeclared_weights(strategy: object, declared: Mapping[str, int]) -> None:
    """Warn about strategy weights for extended resources no runner of the fleet declares.

    Runtime complexity: O(weights + declared names).
    """
    weights = getattr(strategy, "weights", None)
    if not isinstance(weights, Mapping):
        return
    names = [name for name, weight in weights.items() if weight]
    missing = sorted({n for n in names if n not in BUILTIN_DIMENSIONS} - set(declared))
    if missing:
        shown = ", ".join(sorted(declared)) or "none"
        strategy_name = getattr(strategy, "name", strategy)
        msg = (
            f"strategy {strategy_name} weighs {', '.join(map(repr, missing))}, which no runner "
            f"declares (extended resources the runners declare: {shown}); the weight has no "
            "effect until a runner declares it"
        )
        warnings.warn(msg, UndeclaredWeightWarning, stacklevel=3)
