"""The executor's settings: runner capacities, strategy, mode, retries.

Read from environment variables first, then from Airflow's ``[runtime_alloc]``
config section (which Airflow also fills from ``AIRFLOW__RUNTIME_ALLOC__<KEY>``):

==========================  ===================  ================================================
environment                 ``[runtime_alloc]``  meaning
==========================  ===================  ================================================
``RUNTIME_ALLOC_RUNNERS``   ``runners``          ``name:spec`` per runner, separated by ``;`` or
                                                 newlines (``w1:cpu=4,memory=16GB,slots=16``)
``ALLOCATOR_STRATEGY``      ``strategy``         ``EvenSpreadStrategy`` (default),
                                                 ``MaxPackingStrategy`` or another registered name
``RUNTIME_ALLOC_MODE``      ``mode``             ``celery`` (default): runners are Celery workers;
                                                 ``local``: process runners on this machine
``RUNTIME_ALLOC_RETRIES``   ``max_retries``      resubmissions of a task whose runner was lost (1)
==========================  ===================  ================================================

>>> cfg = ExecutorSettings.load({"RUNTIME_ALLOC_RUNNERS": "w1:cpu=4,slots=8; w2:cpu=2"}, {})
>>> [(r.name, str(r.capacity)) for r in cfg.runners]
[('w1', 'cpu=4,memory=0,slots=8'), ('w2', 'cpu=2,memory=0,slots=16')]
>>> cfg.strategy.name, cfg.mode, cfg.max_retries
('EvenSpreadStrategy', 'celery', 1)
>>> ExecutorSettings.load({"RUNTIME_ALLOC_RUNNERS": "w1 cpu=4"}, {})
Traceback (most recent call last):
...
runtime_alloc.errors.InvalidArgumentError: RUNTIME_ALLOC_RUNNERS: each runner is 'name:spec' ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.runners import Runner
from runtime_alloc.strategies import ENV_VAR as STRATEGY_ENV
from runtime_alloc.strategies import Strategy, strategy_from_name

__all__ = ["CONFIG_KEYS", "MODES", "SECTION", "ExecutorSettings", "parse_runners"]

SECTION = "runtime_alloc"
"""Airflow's config section read by :meth:`ExecutorSettings.load`."""

MODES = ("celery", "local")

_KEYS = {  # setting -> (environment variable, config key)
    "runners": ("RUNTIME_ALLOC_RUNNERS", "runners"),
    "strategy": (STRATEGY_ENV, "strategy"),
    "mode": ("RUNTIME_ALLOC_MODE", "mode"),
    "max_retries": ("RUNTIME_ALLOC_RETRIES", "max_retries"),
}

CONFIG_KEYS = tuple(conf_key for _, conf_key in _KEYS.values())
"""The keys of the ``[runtime_alloc]`` section."""


def parse_runners(text: str, *, field: str = "RUNTIME_ALLOC_RUNNERS") -> tuple[Runner, ...]:
    """Parse ``"w1:cpu=4,memory=16GB,slots=16; w2:cpu=8"`` (``;`` or newlines between runners).

    A missing ``slots`` means 16, as for :meth:`Runner.parse`.

    Raises:
        InvalidArgumentError, InvalidResourcesError: naming ``field``, the runner and the value.

    Runtime complexity: O(len(text)).
    """
    runners: list[Runner] = []
    seen: set[str] = set()
    for raw in re.split(r"[;\n]", text):
        item = raw.strip()
        if not item:
            continue
        name, sep, spec = item.partition(":")
        if not sep or not name.strip() or not spec.strip():
            msg = f"{field}: each runner is 'name:spec' such as 'w1:cpu=4,slots=16', got {item!r}"
            raise InvalidArgumentError(msg)
        name = name.strip()
        if name in seen:
            msg = f"{field}: runner {name!r} is declared twice"
            raise InvalidArgumentError(msg)
        seen.add(name)
        try:
            runners.append(Runner.parse(name, spec.strip()))
        except InvalidArgumentError as error:
            raise type(error)(f"{field}: runner {name!r}: {error}") from None
    return tuple(runners)


@attrs.frozen
class ExecutorSettings:
    """What :class:`RuntimeAllocExecutor` is configured with.

    Attributes:
        runners: the declared runners (capacities of the Celery workers, or the
            local runners).
        strategy: the placement strategy.
        mode: ``celery`` or ``local``.
        max_retries: resubmissions of a task whose runner was lost.
    """

    runners: tuple[Runner, ...]
    strategy: Strategy
    mode: str = "celery"
    max_retries: int = 1

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str],
        section: Mapping[str, object] | None,
    ) -> ExecutorSettings:
        """Read the settings: an environment variable wins over the config section.

        Args:
            environ: the environment (``os.environ``).
            section: the values of Airflow's ``[runtime_alloc]`` section by key
                (:data:`CONFIG_KEYS`; a missing or None value is unset), or None.

        Raises:
            InvalidArgumentError, InvalidResourcesError, UnknownStrategyError:
                naming the setting and the value.

        Runtime complexity: O(len of the settings).
        """
        section = section or {}
        values: dict[str, str] = {}
        names: dict[str, str] = {}
        for key, (env_name, conf_key) in _KEYS.items():
            if environ.get(env_name, "").strip():
                values[key], names[key] = environ[env_name].strip(), env_name
            elif str(section.get(conf_key, "") or "").strip():
                values[key] = str(section[conf_key]).strip()
                names[key] = f"[{SECTION}] {conf_key}"
        runners = parse_runners(values.get("runners", ""), field=names.get("runners", "runners"))
        strategy = strategy_from_name(values.get("strategy", "EvenSpreadStrategy"))
        mode = values.get("mode", "celery").lower()
        if mode not in MODES:
            msg = f"{names['mode']} must be one of {', '.join(MODES)}, got {values['mode']!r}"
            raise InvalidArgumentError(msg)
        retries_text = values.get("max_retries", "1")
        if not retries_text.isdigit():
            msg = f"{names['max_retries']} must be a non-negative integer, got {retries_text!r}"
            raise InvalidArgumentError(msg)
        return cls(runners, strategy, mode, int(retries_text))
