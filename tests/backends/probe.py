"""A test hook: build an Allocator and keep a handle on its backend, through the public registry.

Tests of the backends need the backend object an allocator answers with (to
pick an index or a block size, or to run its ``check()``). Instead of reaching
through the allocator's private attributes, :func:`allocator_with` registers the
factory under a temporary name (``register_backend``), builds the allocator with
``backend=`` that name (or restores it from a snapshot), unregisters the name
and returns the allocator together with the backend the factory built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime_alloc import Allocator
from runtime_alloc.backends import register_backend, unregister_backend

_NAME = "test-probe"


def allocator_with(factory: Callable[..., Any], *args: Any, snapshot: Any = None, **kwargs: Any):
    """Return ``(allocator, backend)``: ``Allocator(*args, **kwargs)`` on ``factory``'s backend.

    Args:
        factory: ``(states, strategy) -> backend``, as for ``register_backend``.
        args, kwargs: the arguments of ``Allocator`` (without ``backend``).
        snapshot: build with ``Allocator.from_snapshot(snapshot, **kwargs)`` instead.
    """
    built = []

    def make(states, strategy):
        built.append(factory(states, strategy))
        return built[-1]

    register_backend(_NAME, make)
    try:
        if snapshot is not None:
            alloc = Allocator.from_snapshot(snapshot, *args, backend=_NAME, **kwargs)
        else:
            alloc = Allocator(*args, backend=_NAME, **kwargs)
    finally:
        unregister_backend(_NAME)
    (backend,) = built
    return alloc, backend


def numpy_with(**options: Any) -> Callable[..., Any]:
    """A factory of :class:`NumpyBackend` with ``options`` (``block_size``, ``index``)."""
    from runtime_alloc.backends.numpy import NumpyBackend

    return lambda states, strategy: NumpyBackend(states, strategy, **options)


def auto_backend(states, strategy):
    """The factory ``backend="auto"`` uses (the python scan that moves to numpy)."""
    from runtime_alloc.backends.auto import AutoBackend
    from runtime_alloc.backends.python import PythonBackend

    return AutoBackend(PythonBackend(states, strategy), strategy)


def check_index(backend: Any) -> None:
    """Run the ``check()`` of the index that answers (the one an auto backend delegates to).

    ``AutoBackend`` exposes no accessor for its current engine; this is the one
    place the tests read it (``_inner``).
    """
    inner = getattr(backend, "_inner", backend)
    check = getattr(inner, "check", None)
    if check is not None:
        check()
