"""A restartable picture of an executor: the fleet and every task not yet terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from runtime_alloc._text import _show
from runtime_alloc.errors import InvalidSnapshotError, RuntimeAllocError
from runtime_alloc.executor.tasks import ACTIVE_STATES, Submission, TaskState
from runtime_alloc.labels import any_labels
from runtime_alloc.resources import Resources
from runtime_alloc.runners import label_rule
from runtime_alloc.snapshot import FleetSnapshot

__all__ = ["EXECUTOR_SNAPSHOT_SCHEMA_VERSION", "ExecutorSnapshot", "TaskRecord"]

EXECUTOR_SNAPSHOT_SCHEMA_VERSION = 1
_LIVE_STATES = frozenset({TaskState.PENDING, *ACTIVE_STATES})


@attrs.frozen
class TaskRecord(Submission):
    """One pending, placed or running task as a value (see :class:`TaskHandle` for the fields).

    Its first fields are the :class:`~runtime_alloc.executor.tasks.Submission`'s; then the
    state, the placement and the counters, and the time of the submission.
    """

    state: TaskState
    runner: str | None
    attempt: int
    retries: int
    overtakes: int
    submitted_at: float

    def to_dict(self) -> dict[str, Any]:
        """Return a dict; JSON-safe when the payload is.

        Runtime complexity: O(dimensions + L log L) for L labels; the payload is referenced, not
        copied.
        """
        data = attrs.asdict(self, recurse=False)  # every field, in declaration order
        data.update(
            request=self.request.to_dict(), require=sorted(self.require), state=self.state.value
        )
        any_of = any_labels(self.require)
        if any_of:
            data["require_any"] = sorted(any_of)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskRecord:
        """Read :meth:`to_dict` back.

        Runtime complexity: O(dimensions + labels).

        Raises:
            InvalidSnapshotError: naming the field that is missing or wrong.
        """
        try:
            state = TaskState(data["state"])
            if state not in _LIVE_STATES:
                msg = f"task state must be pending, placed or running, got {state.value!r}"
                raise InvalidSnapshotError(msg)
            record = cls(
                task_id=str(data["task_id"]),
                payload=data["payload"],
                request=Resources.from_dict(data["request"]),
                require=label_rule(
                    [str(label) for label in data["require"]],
                    any_of=[str(label) for label in data.get("require_any", ())],
                ),
                priority=_int(data, "priority"),
                seq=_int(data, "seq"),
                state=state,
                runner=None if data["runner"] is None else str(data["runner"]),
                attempt=_int(data, "attempt"),
                retries=_int(data, "retries"),
                overtakes=_int(data, "overtakes"),
                submitted_at=float(data["submitted_at"]),
            )
        except KeyError as exc:
            msg = f"task record misses the field {exc.args[0]!r}"
            raise InvalidSnapshotError(msg) from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, RuntimeAllocError):
                raise
            msg = f"task record is malformed: {exc}"
            raise InvalidSnapshotError(msg) from None
        return record


#: Integer fields of a task record (priority, retries, ...) are 64-bit signed integers.
_INT64 = 2**63


def _int(data: Mapping[str, Any], field: str) -> int:
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
        msg = f"task record field {field} must be a 64-bit integer, got {_show(value)}"
        raise InvalidSnapshotError(msg)
    return value


@attrs.frozen
class ExecutorSnapshot:
    """The fleet (with the reservations of placed and running tasks) and the live tasks.

    Attributes:
        fleet: the allocator's snapshot.
        tasks: pending, placed and running tasks in placement order of the queue
            (pending ones) then by submit order.
        next_seq: the submit order the next task gets.
    """

    fleet: FleetSnapshot
    tasks: tuple[TaskRecord, ...]
    next_seq: int

    def check(self) -> None:
        """Check that placed/running tasks hold reservations and pending ones do not.

        Raises:
            InvalidSnapshotError: naming the first task that disagrees.

        Runtime complexity: O(tasks).
        """
        self.fleet.check()
        reservations = self.fleet.reservations
        for record in self.tasks:
            held = reservations.get(record.task_id)
            if record.state is TaskState.PENDING and held is not None:
                msg = f"pending task {record.task_id!r} holds a reservation"
                raise InvalidSnapshotError(msg)
            if record.state in ACTIVE_STATES and (held is None or held.runner != record.runner):
                msg = (
                    f"{record.state.value} task {record.task_id!r} holds no reservation "
                    f"on runner {record.runner!r}"
                )
                raise InvalidSnapshotError(msg)
            if record.seq >= self.next_seq:
                msg = f"task {record.task_id!r} has seq {record.seq} >= next_seq {self.next_seq}"
                raise InvalidSnapshotError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Return a dict with a ``schema_version``; JSON-safe when every payload is.

        Runtime complexity: O(N * dimensions + reservations + T * (dimensions + labels)) for N
        runners and T task records.
        """
        return {
            "schema_version": EXECUTOR_SNAPSHOT_SCHEMA_VERSION,
            "fleet": self.fleet.to_dict(),
            "tasks": [record.to_dict() for record in self.tasks],
            "next_seq": self.next_seq,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecutorSnapshot:
        """Read :meth:`to_dict` back and :meth:`check` it.

        Runtime complexity: O(N * dimensions + reservations + T * (dimensions + labels)) for N
        runners and T task records, the :meth:`check` included.

        Raises:
            InvalidSnapshotError: when malformed or inconsistent.
        """
        if not isinstance(data, Mapping):
            msg = f"executor snapshot must be a mapping, got {type(data).__name__}"
            raise InvalidSnapshotError(msg)
        version = data.get("schema_version")
        if version != EXECUTOR_SNAPSHOT_SCHEMA_VERSION:
            msg = (
                f"executor snapshot schema_version must be {EXECUTOR_SNAPSHOT_SCHEMA_VERSION}, "
                f"got {version!r}"
            )
            raise InvalidSnapshotError(msg)
        try:
            fleet = FleetSnapshot.from_dict(data["fleet"])
            tasks = tuple(TaskRecord.from_dict(item) for item in data["tasks"])
            next_seq = _int(data, "next_seq")
        except KeyError as exc:
            msg = f"executor snapshot misses the field {exc.args[0]!r}"
            raise InvalidSnapshotError(msg) from None
        snapshot = cls(fleet, tasks, next_seq)
        snapshot.check()
        return snapshot
