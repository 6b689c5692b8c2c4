"""Which runner a worker that joins a remote engine (Celery, Dask) is: one lookup by its name."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from runtime_alloc.runners import Runner

__all__ = ["RunnerCatalogue", "runner_catalogue"]

#: Finds the runner (its capacity and labels) of a worker by name; None ignores that worker.
RunnerCatalogue = Callable[[str], "Runner | None"]


def runner_catalogue(
    runners: Iterable[Runner] | Mapping[str, Runner] | Callable[[str], Runner | None],
) -> RunnerCatalogue:
    """Turn the ``runners`` argument of an engine into a lookup by worker name.

    A callable is used as it is; Runner values are found by their name; a mapping by its
    keys. Runtime complexity: O(runners) once, then O(1) per lookup.

    >>> lookup = runner_catalogue([Runner.parse("w1", "cpu=2")])
    >>> lookup("w1").name, lookup("w2")
    ('w1', None)
    """
    if callable(runners):
        return runners
    table = dict(runners) if isinstance(runners, Mapping) else {r.name: r for r in runners}
    return table.get
