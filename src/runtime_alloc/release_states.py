"""The completion states :meth:`Allocator.release` accepts (a documented, bounded set).

A release is counted in :meth:`Allocator.metrics` under its state, and the
metrics exporters turn the state into a label value, so the set is closed: an
unknown state is refused instead of becoming a new label. The built-in set is
Airflow 3's ``TaskInstanceState`` values that end or suspend a task's hold on a
worker, plus the executor's own (:mod:`runtime_alloc.executor`). An allocator
takes more with ``Allocator(..., release_states=[...])``.

>>> sorted(RELEASE_STATES)[:4]
['cancelled', 'deferred', 'failed', 'lost']
>>> "upstream_failed" in RELEASE_STATES, "banana" in RELEASE_STATES
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime_alloc._units import _show
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.runners import check_name

__all__ = ["AIRFLOW_RELEASE_STATES", "EXECUTOR_RELEASE_STATES", "RELEASE_STATES"]

#: Airflow 3 ``TaskInstanceState`` values after which a task holds no worker:
#: it ended (success, failed, upstream_failed, skipped, removed), will run again
#: later (up_for_retry, up_for_reschedule, restarting) or waits on a trigger
#: (deferred).
AIRFLOW_RELEASE_STATES = frozenset(
    {
        "success",
        "failed",
        "upstream_failed",
        "skipped",
        "removed",
        "up_for_retry",
        "up_for_reschedule",
        "restarting",
        "deferred",
    }
)

#: The states :mod:`runtime_alloc.executor` releases with: a cancelled task, a
#: task whose runner was lost, an active task put back in the queue on restore.
EXECUTOR_RELEASE_STATES = frozenset({"cancelled", "lost", "requeued"})

#: Every state ``release`` accepts by default.
RELEASE_STATES = AIRFLOW_RELEASE_STATES | EXECUTOR_RELEASE_STATES


def release_states(extra: Iterable[str]) -> frozenset[str]:
    """Return :data:`RELEASE_STATES` plus ``extra`` (checked names). O(len(extra)).

    Raises:
        InvalidArgumentError: ``extra`` is not an iterable of non-empty strings.
    """
    if isinstance(extra, (str, bytes)) or not isinstance(extra, Iterable):
        msg = f"release_states must be an iterable of state names, got {_show(extra)}"
        raise InvalidArgumentError(msg)
    return RELEASE_STATES | {check_name(s, field="release_states item") for s in extra}


def check_release_state(state: object, valid: frozenset[str]) -> str:
    """Return ``state`` when it is in ``valid``. O(1), O(len(valid)) to build the error.

    Raises:
        InvalidArgumentError: naming the value and the valid states.
    """
    if state.__class__ is str and state in valid:
        return state
    check_name(state, field="state")
    msg = (
        f"state {_show(state)} is not a release state; expected one of "
        f"{', '.join(sorted(valid))} (Allocator(release_states=...) adds more)"
    )
    raise InvalidArgumentError(msg)
