"""What an Airflow task asks for: its request and queue priority.

Read from a workload's task instance, first match wins:

1. ``executor_config={"runtime_alloc": {"cpu": "1.5", "memory": "1024MB", "slots": "2"}}``
   (Astronomer's documented ``resources`` form, moved under ``executor_config``
   because open-source Airflow's ``resources`` rejects it at DAG parse time).
   Any other key is an extended resource (``"gpu": 1``).
2. The open-source ``resources`` (``cpus`` in cores, ``ram`` in MB, ``gpus``), when
   the Airflow version carries them on the workload (3.3 does not).
3. The allocator's default request (1 slot).

``priority_weight`` becomes the queue priority (higher is placed first).
Nothing here imports Airflow: it reads attributes, so it is tested without it.

>>> req = task_request({"runtime_alloc": {"cpu": "1.5", "memory": "1024MB", "slots": "2"}})
>>> str(req.resources), req.source
('cpu=1500m,memory=1Gi,slots=2', 'executor_config')
>>> task_request(None).resources is None     # the allocator's default request
True
>>> task_request({"runtime_alloc": {"cpu": "lots"}})
Traceback (most recent call last):
...
runtime_alloc.errors.InvalidResourcesError: executor_config['runtime_alloc']: cpu must be ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from runtime_alloc.errors import InvalidArgumentError, InvalidResourcesError
from runtime_alloc.resources import Resources

__all__ = ["CONFIG_KEY", "TaskRequest", "executor_config", "request_of", "task_request"]

CONFIG_KEY = "runtime_alloc"
"""The key of ``executor_config`` that holds the request."""


@attrs.frozen
class TaskRequest:
    """A task's request as the executor submits it.

    Attributes:
        resources: the request, or None for the allocator's default request.
        priority: the queue priority (Airflow's ``priority_weight``).
        source: where the request came from: ``executor_config``, ``resources``
            or ``default``.
    """

    resources: Resources | None
    priority: int = 0
    source: str = "default"


def executor_config(
    cpu: str | float | None = None,
    memory: str | None = None,
    slots: int | str | None = None,
    **extended: int | str,
) -> dict[str, Any]:
    """Build the ``executor_config`` of a task; the request is checked now (at DAG parse time).

    >>> executor_config(cpu="1.5", memory="1024MB", slots=2)
    {'runtime_alloc': {'cpu': '1.5', 'memory': '1024MB', 'slots': 2}}

    Raises:
        InvalidResourcesError: naming the field and the value.

    Runtime complexity: O(keys).
    """
    given = (("cpu", cpu), ("memory", memory), ("slots", slots), *extended.items())
    spec = {key: value for key, value in given if value is not None}
    config = {CONFIG_KEY: spec}
    task_request(config)
    return config


def task_request(
    config: Mapping[str, Any] | None,
    resources: object = None,
    priority_weight: object = 0,
) -> TaskRequest:
    """Read a task's request from its ``executor_config`` and ``resources``.

    Args:
        config: the task's ``executor_config`` (None or a mapping).
        resources: the operator's open-source ``Resources`` (or None).
        priority_weight: Airflow's priority weight (an int).

    Raises:
        InvalidResourcesError, InvalidArgumentError: a bad request, naming the
            field and the value.

    Runtime complexity: O(keys).
    """
    if isinstance(priority_weight, bool) or not isinstance(priority_weight, int):
        msg = f"priority_weight must be an integer, got {priority_weight!r}"
        raise InvalidArgumentError(msg)
    if config is not None and not isinstance(config, Mapping):
        msg = f"executor_config must be a mapping, got {config!r}"
        raise InvalidArgumentError(msg)
    spec = None if config is None else config.get(CONFIG_KEY)
    if spec is not None:
        return TaskRequest(_from_spec(spec), priority_weight, "executor_config")
    if resources is not None:
        return TaskRequest(_from_oss(resources), priority_weight, "resources")
    return TaskRequest(None, priority_weight, "default")


def request_of(ti: object) -> TaskRequest:
    """The request of a workload's task instance (``TaskInstanceDTO``). O(keys).

    Raises:
        InvalidResourcesError, InvalidArgumentError: a bad request.
    """
    return task_request(
        getattr(ti, "executor_config", None),
        getattr(ti, "resources", None),
        getattr(ti, "priority_weight", 0),
    )


def _from_spec(spec: object) -> Resources:
    field = f"executor_config[{CONFIG_KEY!r}]"
    if not isinstance(spec, Mapping):
        msg = (
            f"{field} must be a mapping such as "
            f"{{'cpu': '1.5', 'memory': '1024MB', 'slots': '2'}}, got {spec!r}"
        )
        raise InvalidResourcesError(msg)
    try:
        return Resources.parse(spec, default_slots=1)
    except InvalidArgumentError as error:
        raise type(error)(f"{field}: {error}") from None


def _from_oss(resources: object) -> Resources:
    """Open-source ``Resources``: cpus (cores), ram (MB), gpus; disk is not placed."""
    spec: dict[str, object] = {}
    for attribute, key, unit in (("cpus", "cpu", ""), ("ram", "memory", "MB"), ("gpus", "gpu", "")):
        value = getattr(getattr(resources, attribute, None), "qty", None)
        if value:
            spec[key] = f"{value}{unit}"
    try:
        return Resources.parse(spec, default_slots=1)
    except InvalidArgumentError as error:
        raise type(error)(f"resources: {error}") from None
