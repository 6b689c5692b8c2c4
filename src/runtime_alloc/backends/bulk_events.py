"""A bulk event sent as the per-runner events it stands for.

:func:`each_update_reserved` is what ``update_reserved_many`` means (see
:func:`runtime_alloc.backends.protocol.update_reserved_many`): one
``update_reserved`` per runner, in order. It is the fallback for a backend
without the bulk event, and the python and numpy backends' own path when a
subclass overrides the per-runner event. It imports nothing of the package at
run time, so a backend module can import it without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from runtime_alloc.backends.protocol import Backend, ExtendedAmounts, ReservedAmounts

__all__ = ["each_update_reserved"]


def each_update_reserved(
    backend: Backend,
    names: Sequence[str],
    reserved: Sequence[ReservedAmounts],
    extended: Sequence[ExtendedAmounts],
    draining: Sequence[bool],
) -> None:
    """The events of ``update_reserved_many`` as one ``backend.update_reserved`` each, in order.

    Runtime complexity: ``len(names)`` ``update_reserved`` calls.
    """
    update = backend.update_reserved
    for name, amounts, ext, drain in zip(names, reserved, extended, draining, strict=True):
        update(name, amounts, ext, drain)
