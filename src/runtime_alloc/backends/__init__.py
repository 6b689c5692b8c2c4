"""Placement backends: the protocol every backend implements, and the name -> factory registry.

A backend answers the allocator's questions about one fleet: which runner takes
a request (:meth:`Backend.choose`), why none can (:meth:`Backend.diagnose`), and
which runners a run of identical requests goes to (:meth:`Backend.plan`). It
never reads the allocator's state: the ledger (:mod:`runtime_alloc._ledger`)
sends it every change as an event (:meth:`Backend.add`,
:meth:`Backend.update_reserved`, :meth:`Backend.update` for a runner with
devices, :meth:`Backend.remove`), and the backend keeps whatever index it needs.

Every backend must make the decisions of :mod:`runtime_alloc._placement` (the
python scan), bit for bit. :func:`make_backend` is the one place that decides
which engine answers a given ``backend=`` name, strategy and environment.

Add a backend by writing a class with every :class:`Backend` method and calling
:func:`register_backend` with a factory ``(states, strategy) -> Backend``.
"""

from __future__ import annotations

from runtime_alloc.backends.protocol import Backend, is_vectorized, numpy_available
from runtime_alloc.backends.registry import (
    BUILTIN_BACKENDS,
    BackendFactory,
    backend_names,
    make_backend,
    register_backend,
    unregister_backend,
)

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
