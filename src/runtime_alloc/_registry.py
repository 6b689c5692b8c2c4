"""A name -> factory registry, shared by strategies and backends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from runtime_alloc._units import _show
from runtime_alloc.errors import InvalidArgumentError, RuntimeAllocError

__all__ = ["Registry"]

F = TypeVar("F", bound=Callable[..., object])


class Registry(Generic[F]):
    """Factories by name, in registration order.

    Args:
        kind: what is registered (``"strategy"``, ``"backend"``), for messages.
        reserved: names that can never be registered.
        unknown: the error raised when removing a name that is not registered.
    """

    def __init__(
        self,
        kind: str,
        reserved: tuple[str, ...] = (),
        unknown: type[RuntimeAllocError] = InvalidArgumentError,
    ) -> None:
        self.kind = kind
        self.reserved = reserved
        self.unknown = unknown
        self.factories: dict[str, F] = {}
        #: a read-only live view of the registry
        self.view: Mapping[str, F] = MappingProxyType(self.factories)

    def add(self, name: str, factory: F) -> None:
        """Register ``factory`` under the new ``name``. O(1).

        Raises:
            InvalidArgumentError: the name is malformed, reserved or taken, or
                the factory is not callable.
        """
        kind = self.kind
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            msg = (
                f"{kind} name must be a non-empty string without surrounding spaces, "
                f"got {_show(name)}"
            )
            raise InvalidArgumentError(msg)
        if name in self.factories or name in self.reserved:
            msg = f"{kind} name {name!r} is already registered"
            raise InvalidArgumentError(msg)
        if not callable(factory):
            msg = f"{kind} factory must be callable, got {_show(factory)}"
            raise InvalidArgumentError(msg)
        self.factories[name] = factory

    def remove(self, name: str) -> None:
        """Unregister ``name``. O(1).

        Raises:
            the registry's ``unknown`` error: ``name`` is not registered.
        """
        if self.factories.pop(name, None) is None:
            msg = f"no {self.kind} is registered as {_show(name)}"
            raise self.unknown(msg)
