"""Eager argument checks for the testing strategies: ``InvalidArgument`` naming ``name=value``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from runtime_alloc import MAX_QUANTITY

__all__ = ["as_strategy", "check_bool", "check_int", "check_names", "fail"]

T = TypeVar("T")


def fail(name: str, value: object, rule: str) -> InvalidArgument:
    """Return the error for a bad argument: ``max_slots=-1 must be an integer >= 0``."""
    return InvalidArgument(f"{name}={value!r} must be {rule}")


def check_int(
    name: str, value: object, *, min_value: int = 0, max_value: int = MAX_QUANTITY
) -> int:
    """Return ``value`` when it is an int (not bool) in ``[min_value, max_value]``.

    Raises:
        InvalidArgument: naming ``name=value`` and the rule.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(name, value, f"an integer from {min_value} to {max_value}")
    if not min_value <= value <= max_value:
        raise fail(name, value, f"an integer from {min_value} to {max_value}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` when it is a bool, else raise ``InvalidArgument``."""
    if not isinstance(value, bool):
        raise fail(name, value, "True or False")
    return value


def check_names(
    name: str, value: object, check: Callable[[str], object], *, allow_empty: bool = True
) -> tuple[str, ...]:
    """Return ``value`` as a tuple of unique strings, each accepted by ``check``.

    ``check`` is a runtime_alloc validator (it raises ``ValueError`` for a bad name).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise fail(name, value, "a collection of strings (not one string)")
    items = tuple(value)
    if not items and not allow_empty:
        raise fail(name, value, "a non-empty collection of strings")
    for item in items:
        try:
            check(item)
        except ValueError as exc:  # noqa: PERF203 (validation, not a hot loop)
            raise fail(name, value, f"a collection of valid names ({exc})") from None
    if len(set(items)) != len(items):
        raise fail(name, value, "a collection of distinct names")
    return items


def as_strategy(
    name: str,
    value: object,
    kind: type[T] | tuple[type, ...],
    convert: Callable[[Any], object] | None = None,
) -> st.SearchStrategy[Any]:
    """Turn an option that is a value or a strategy into a strategy.

    A strategy is used as it is; a value of ``kind`` becomes ``st.just(value)``
    (after ``convert``, which may raise ``ValueError``); anything else raises
    ``InvalidArgument``.
    """
    if isinstance(value, st.SearchStrategy):
        return value
    if convert is not None:
        try:
            value = convert(value)
        except (ValueError, TypeError) as exc:
            raise fail(name, value, f"a strategy or a valid value ({exc})") from None
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(k.__name__ for k in kinds)
        raise fail(name, value, f"a {names} or a hypothesis strategy of one")
    return st.just(value)
