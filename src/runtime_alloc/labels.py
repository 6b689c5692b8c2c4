"""Names and labels: the name rule, label sets and the LabelRule a task requires.

:func:`check_name` is the rule for a runner name, a task id and a label;
:func:`to_labels` turns user input into a checked label set; a task's
``require`` (an AND) and ``require_any`` (an OR) become one
:func:`label_rule`, and :func:`labels_allow` is the test a runner's labels
pass. :mod:`runtime_alloc.runners` re-exports every name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime_alloc._units import _show
from runtime_alloc.errors import InvalidArgumentError

__all__ = [
    "MAX_NAME_LENGTH",
    "LabelRule",
    "any_labels",
    "check_name",
    "label_rule",
    "labels_allow",
    "to_labels",
]

#: The longest runner name, task id or label (characters).
MAX_NAME_LENGTH = 253


def check_name(value: object, *, field: str) -> str:
    """Validate a runner name, task id or label: a non-empty string of at most 253 characters.

    Runtime complexity: O(1).

    Raises:
        InvalidArgumentError: naming ``field`` and the value.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH:
        msg = f"{field} must be a non-empty string of at most 253 characters, got {_show(value)}"
        raise InvalidArgumentError(msg)
    return value


class LabelRule(frozenset[str]):
    """Required labels: all of the set (an AND) and, when ``any_of`` is given, one of those (an OR).

    A frozenset of the labels a runner must all have, so code that reads
    ``require`` as a set keeps its AND meaning; ``any_of`` adds "at least one of
    these" (the openb trace's ``gpu_spec``: ``any_of={"V100", "A100"}``). Equal
    and hashed with ``any_of``; true when either part is non-empty.
    Build it with :func:`label_rule`; :meth:`allows` is the whole test.

    >>> rule = label_rule(["gpu"], any_of=["V100", "A100"])
    >>> rule.allows(frozenset({"gpu", "A100"})), rule.allows(frozenset({"gpu", "T4"}))
    (True, False)
    """

    any_of: frozenset[str]

    def __new__(cls, all_of: Iterable[str] = (), any_of: Iterable[str] = ()) -> LabelRule:  # noqa: D102, PYI034 (final in use)
        rule = super().__new__(cls, all_of)
        rule.any_of = frozenset(any_of)
        return rule

    def allows(self, labels: frozenset[str]) -> bool:
        """True when ``labels`` has every label of the rule and one of ``any_of`` (if any). O(k)."""
        return self <= labels and (not self.any_of or not self.any_of.isdisjoint(labels))

    def __bool__(self) -> bool:
        return bool(len(self) or self.any_of)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, frozenset):
            return NotImplemented
        return frozenset.__eq__(self, other) and self.any_of == getattr(
            other, "any_of", frozenset()
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((frozenset(self), self.any_of)) if self.any_of else frozenset.__hash__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (LabelRule, (frozenset(self), self.any_of))

    def __repr__(self) -> str:
        return f"LabelRule({sorted(self)!r}, any_of={sorted(self.any_of)!r})"


def label_rule(all_of: Iterable[str] = (), *, any_of: Iterable[str] = ()) -> frozenset[str]:
    """The labels a runner must have: every one of ``all_of`` and one of ``any_of``.

    Returns a plain frozenset when ``any_of`` is empty, else a :class:`LabelRule`.

    Raises:
        InvalidArgumentError: a label that is not a non-empty string (naming
            ``require`` or ``require_any``).

    Runtime complexity: O(number of labels).
    """
    labels = all_of if isinstance(all_of, LabelRule) else to_labels(all_of, field="require")
    extra = to_labels(any_of, field="require_any")
    if not extra:
        return labels
    if isinstance(labels, LabelRule) and labels.any_of:
        msg = "require already holds a require_any rule; give require_any once"
        raise InvalidArgumentError(msg)
    return LabelRule(labels, extra)


_NO_LABELS: frozenset[str] = frozenset()


def any_labels(require: frozenset[str]) -> frozenset[str]:
    """The "one of these" labels of ``require``: a LabelRule's ``any_of``, else empty. O(1)."""
    return require.any_of if type(require) is LabelRule else _NO_LABELS


def labels_allow(require: frozenset[str], labels: frozenset[str]) -> bool:
    """True when a runner with ``labels`` meets ``require`` (a set or a LabelRule). O(k)."""
    if not require <= labels:
        return False
    any_of = any_labels(require)
    return not any_of or not any_of.isdisjoint(labels)


def to_labels(value: Iterable[str], *, field: str = "label") -> frozenset[str]:
    """Turn labels (an iterable of strings, or one string) into a validated frozenset.

    Runtime complexity: O(L) for L labels.

    A :class:`LabelRule` is returned as it is (it was checked when built).
    """
    if isinstance(value, LabelRule):
        return value
    if isinstance(value, str):
        value = (value,)
    try:
        labels = frozenset(value)
    except TypeError:
        name = f"{field}s" if field.endswith("label") else field  # the argument's own name
        msg = f"{name} must be a string or an iterable of strings, got {_show(value)}"
        raise InvalidArgumentError(msg) from None
    for label in labels:
        check_name(label, field=field)
    return labels
