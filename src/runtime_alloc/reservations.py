"""The :class:`Reservation` value object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from runtime_alloc.resources import Resources

__all__ = ["Reservation"]


@attrs.frozen
class Reservation:
    """What a task holds on a runner for its whole life.

    Attributes:
        task_id: the task.
        runner: the name of the runner holding the reservation.
        resources: the reserved quantities (never shrink while the task runs).
    """

    task_id: str
    runner: str
    resources: Resources

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "task_id": self.task_id,
            "runner": self.runner,
            "resources": self.resources.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reservation:
        """Read the output of :meth:`to_dict` back."""
        return cls(data["task_id"], data["runner"], Resources.from_dict(data["resources"]))
