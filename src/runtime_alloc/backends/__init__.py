"""Placement backends: the protocol every backend implements, and the name -> factory registry.

A backend answers the allocator's questions about one fleet: which runner takes
a request (:meth:`Backend.choose`), why none can (:meth:`Backend.diagnose`), and
which runners a run of identical requests goes to (:meth:`Backend.plan`). It
never reads the allocator's state: the ledger (:mod:`runtime_alloc._ledger`)
sends it every change as an event (:meth:`Backend.add`, :meth:`Backend.update`,
:meth:`Backend.remove`), and the backend keeps whatever index it needs.

Every backend must make the decisions of :mod:`runtime_alloc._placement` (the
python scan), bit for bit. :func:`make_backend` is the one place that decides
which engine answers a given ``backend=`` name, strategy and environment.

Add a backend by writing a class with the :class:`Backend` methods and calling
:func:`register_backend` with a factory ``(states, strategy) -> Backend``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from runtime_alloc._registry import Registry
from runtime_alloc._units import _show
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.strategies import linear_score

if TYPE_CHECKING:
    from runtime_alloc.errors import AllocationError
    from runtime_alloc.resources import Resources
    from runtime_alloc.runners import RunnerState
    from runtime_alloc.strategies import Strategy

__all__ = [
    "BUILTIN_BACKENDS",
    "Backend",
    "BackendFactory",
    "backend_names",
    "is_vectorized",
    "make_backend",
    "numpy_available",
    "register_backend",
    "unregister_backend",
]


@runtime_checkable
class Backend(Protocol):
    """What the allocator needs from a placement backend.

    The ledger calls ``add``, ``update`` and ``remove`` after every change, in
    order; ``choose``, ``diagnose`` and ``plan`` must answer as the python scan
    over the states received so far would.
    """

    @property
    def name(self) -> str:
        """The engine answering now (``"python"``, ``"numpy"``, ...)."""
        ...  # pragma: no cover

    def add(self, state: RunnerState) -> None:
        """A runner was registered (it is the newest for tie-breaking)."""
        ...  # pragma: no cover

    def update(self, state: RunnerState) -> None:
        """A runner's reserved amounts or draining flag changed."""
        ...  # pragma: no cover

    def remove(self, name: str) -> None:
        """A runner was unregistered."""
        ...  # pragma: no cover

    def choose(self, request: Resources, require: frozenset[str]) -> str | None:
        """The runner the strategy picks for ``request``, or None when none is feasible."""
        ...  # pragma: no cover

    def diagnose(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> AllocationError:
        """The error of :func:`runtime_alloc._placement.diagnose` for a failed request."""
        ...  # pragma: no cover

    def plan(self, request: Resources, require: frozenset[str], count: int) -> list[str] | None:
        """The runners ``count`` sequential identical ``choose``-and-reserve steps pick.

        Shorter than ``count`` when capacity runs out; None when the backend
        cannot plan (the allocator then places one request at a time).
        """
        ...  # pragma: no cover


#: ``(initial states in registration order, strategy) -> Backend``.
BackendFactory = Callable[[Iterable["RunnerState"], "Strategy"], Backend]

#: The names ``Allocator(backend=...)`` always accepts (``runtime_alloc.BACKENDS``).
BUILTIN_BACKENDS = ("auto", "python", "numpy")

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


def numpy_available() -> bool:
    """Return True when numpy can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("numpy") is not None
    except (ImportError, ValueError):
        return False


def is_vectorized(strategy: Strategy) -> bool:
    """Return True when the numpy backend indexes ``strategy`` (it has a LinearScore). O(1)."""
    return linear_score(strategy) is not None


def make_backend(name: str, states: Iterable[RunnerState], strategy: Strategy) -> Backend:
    """Build the backend ``Allocator(backend=name)`` uses: the one place that picks an engine.

    ``"python"`` is the scan; ``"numpy"`` the numpy index (an error without
    numpy); ``"auto"`` the scan that moves to the numpy index once the fleet is
    large, or the scan for good without numpy; other names their registered
    factory. The numpy backend itself answers a strategy without a
    :class:`~runtime_alloc.strategies.LinearScore` with the python scan.

    Raises:
        InvalidArgumentError: an unknown name, or ``"numpy"`` without numpy.

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
    if not numpy_available():
        if name == "numpy":
            msg = (
                "backend 'numpy' needs numpy: pip install 'runtime_alloc[numpy]', "
                "or use backend='python' or 'auto'"
            )
            raise InvalidArgumentError(msg)
        return PythonBackend(states, strategy)
    if name == "numpy":
        from runtime_alloc.backends.numpy import NumpyBackend  # noqa: PLC0415 (numpy is optional)

        return NumpyBackend(states, strategy)
    from runtime_alloc.backends.auto import AutoBackend  # noqa: PLC0415

    return AutoBackend(PythonBackend(states, strategy), strategy)
