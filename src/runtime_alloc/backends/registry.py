"""The backend registry and :func:`make_backend`, the one place that picks an engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from runtime_alloc._registry import Registry
from runtime_alloc._units import _show
from runtime_alloc.backends.protocol import Backend, numpy_available
from runtime_alloc.errors import InvalidArgumentError

if TYPE_CHECKING:
    from runtime_alloc.runners import RunnerState
    from runtime_alloc.strategies import Strategy

__all__ = [
    "BUILTIN_BACKENDS",
    "BackendFactory",
    "backend_names",
    "make_backend",
    "register_backend",
    "unregister_backend",
]

#: ``(initial states in registration order, strategy) -> Backend``.
BackendFactory = Callable[[Iterable["RunnerState"], "Strategy"], Backend]

#: The names ``Allocator(backend=...)`` always accepts (``runtime_alloc.BACKENDS``).
BUILTIN_BACKENDS = ("auto", "python", "numpy", "compiled")

_REGISTRY: Registry[BackendFactory] = Registry("backend", reserved=BUILTIN_BACKENDS)


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``Allocator(backend=name)`` build its backend with ``factory``. O(1).

    Raises:
        InvalidArgumentError: the name is built in, taken or malformed, or factory
            is not callable.
    """
    _REGISTRY.add(name, factory)


def unregister_backend(name: str) -> None:
    """Remove a name added by :func:`register_backend`. O(1).

    Raises:
        InvalidArgumentError: ``name`` was not registered.
    """
    _REGISTRY.remove(name)


def backend_names() -> tuple[str, ...]:
    """The built-in names, then the registered ones, in registration order. O(backends)."""
    return BUILTIN_BACKENDS + tuple(_REGISTRY.factories)


def make_backend(name: str, states: Iterable[RunnerState], strategy: Strategy) -> Backend:
    """Build the backend ``Allocator(backend=name)`` uses: the one place that picks an engine.

    ``"python"`` is the scan; ``"numpy"`` the numpy index (an error without
    numpy); ``"compiled"`` the numpy index whose class index runs in numba kernels
    (:mod:`runtime_alloc.backends.numpy.compiled_index`; an error without numba);
    ``"auto"`` the scan that moves to the numpy index once the fleet is
    large, or the scan for good without numpy; other names their registered
    factory. A strategy with a ``class_index(states)`` method that returns a backend
    (:class:`~runtime_alloc.strategies.FragmentationStrategy`) gets that one for
    ``"numpy"`` and ``"auto"``. The numpy backend itself answers a strategy without a
    :class:`~runtime_alloc.strategies.LinearScore` with the python scan.

    Raises:
        InvalidArgumentError: an unknown name, ``"numpy"`` without numpy, or
            ``"compiled"`` without numpy or numba.

    Runtime complexity: O(len(states)).
    """
    from runtime_alloc.backends.python import PythonBackend  # noqa: PLC0415 (no cycle)

    factory = _REGISTRY.factories.get(name) if isinstance(name, str) else None
    if factory is not None:
        return factory(states, strategy)
    if name not in BUILTIN_BACKENDS:
        msg = f"backend must be one of {', '.join(backend_names())}, got {_show(name)}"
        raise InvalidArgumentError(msg)
    if name == "python":
        return PythonBackend(states, strategy)
    if name in {"numpy", "compiled"} and not numpy_available():
        msg = (
            f"backend {name!r} needs numpy: pip install 'runtime_alloc[numpy]', "
            "or use backend='python' or 'auto'"
        )
        raise InvalidArgumentError(msg)
    if name == "compiled":
        from runtime_alloc.backends.numpy import compiled_index  # noqa: PLC0415 (optional)

        if not compiled_index.available():
            msg = (
                "backend 'compiled' needs numba: pip install 'runtime_alloc[fast]', "
                "or use backend='numpy'"
            )
            raise InvalidArgumentError(msg)
    index = getattr(strategy, "class_index", None)  # a strategy's own index (pure Python)
    backend = index(states) if callable(index) else None
    if backend is not None:
        return backend  # type: ignore[no-any-return]
    if not numpy_available():
        return PythonBackend(states, strategy)
    if name in {"numpy", "compiled"}:
        from runtime_alloc.backends.numpy import NumpyBackend  # noqa: PLC0415 (numpy is optional)

        return NumpyBackend(states, strategy, index="auto" if name == "numpy" else "compiled")
    from runtime_alloc.backends.auto import AutoBackend  # noqa: PLC0415

    return AutoBackend(PythonBackend(states, strategy), strategy)
