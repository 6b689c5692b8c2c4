"""An allocator to and from a snapshot: the configuration and counters stored, and restoring them.

:meth:`Allocator.snapshot <runtime_alloc.Allocator.snapshot>` writes the
configuration with :func:`stored_config` and the counters with
:func:`stored_counters`; :meth:`Allocator.from_snapshot
<runtime_alloc.Allocator.from_snapshot>` resolves each setting (argument, else
stored, else default) with :func:`resolve_settings` and loads the reservations,
drains and counters with :func:`load_state`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runtime_alloc._ledger import Ledger
from runtime_alloc._requests import Request
from runtime_alloc.dimensions import warn_undeclared_weights
from runtime_alloc.errors import InvalidSnapshotError
from runtime_alloc.release_states import RELEASE_STATES
from runtime_alloc.resources import Resources
from runtime_alloc.snapshot import FleetSnapshot
from runtime_alloc.strategies import STRATEGIES, Strategy, strategy_from_name

__all__ = ["load_state", "resolve_settings", "stored_config", "stored_counters"]


def stored_config(
    strategy: Strategy,
    max_task_slots: int,
    default_request: Resources,
    release_states: frozenset[str],
) -> dict[str, Any]:
    """The configuration a snapshot stores (see :attr:`FleetSnapshot.config`). O(weights)."""
    weights = getattr(strategy, "weights", None)
    return {
        "strategy": {
            "name": strategy.name,
            "weights": dict(weights) if isinstance(weights, Mapping) else None,
        },
        "max_task_slots": max_task_slots,
        "default_request": str(default_request),
        "release_states": sorted(release_states - RELEASE_STATES),
    }


def stored_counters(ledger: Ledger) -> dict[str, Any]:
    """The counters a snapshot stores (see :attr:`FleetSnapshot.counters`). O(states)."""
    return {
        "allocations": ledger.allocations,
        "failures": dict(ledger.failures),
        "releases": dict(ledger.releases),
        "evictions": ledger.evictions,
    }


def resolve_settings(
    snapshot: FleetSnapshot | Mapping[str, Any],
    *,
    strategy: Strategy | None,
    default_request: Request,
    max_task_slots: int | None,
    release_states: Iterable[str] | None,
) -> tuple[FleetSnapshot, dict[str, Any]]:
    """Check ``snapshot``; resolve each setting: the argument, else the stored, else the default.

    Returns:
        The checked snapshot, and the keyword arguments of :class:`Allocator`
        (``strategy``, ``default_request``, ``max_task_slots``, ``release_states``).

    Raises:
        InvalidSnapshotError: as :meth:`Allocator.from_snapshot`.

    Runtime complexity: O(runners + reservations).
    """
    if isinstance(snapshot, FleetSnapshot):
        snapshot.check()
    else:
        snapshot = FleetSnapshot.from_dict(snapshot)
    config = snapshot.config or {}
    if strategy is None and "strategy" in config:
        strategy = _stored_strategy(config["strategy"])
    return snapshot, {
        "strategy": strategy,
        "default_request": config.get("default_request") if default_request is None
        else default_request,
        "max_task_slots": config.get("max_task_slots", 16) if max_task_slots is None
        else max_task_slots,
        "release_states": config.get("release_states", ()) if release_states is None
        else release_states,
    }  # fmt: skip


def load_state(ledger: Ledger, snapshot: FleetSnapshot, strategy: Strategy) -> None:
    """Load a checked snapshot into a new allocator's empty ledger.

    The ledger's backend was built from the snapshot's own states
    (``make_backend(backend, snapshot.runners, strategy)``), so it holds them
    already: the ledger is filled without events (:meth:`Ledger.load`), and
    restoring makes no per-runner state or event, and no copy of the states.

    Runtime complexity: O(runners + reservations).
    """
    ledger.load(snapshot.runners, snapshot.reservations._data)  # noqa: SLF001 (its dict)
    if snapshot.runners:
        warn_undeclared_weights(strategy, ledger.declared)
    if snapshot.counters is not None:
        ledger.allocations = snapshot.counters["allocations"]
        ledger.failures = dict(snapshot.counters["failures"])
        ledger.releases = dict(snapshot.counters["releases"])
        ledger.evictions = snapshot.counters["evictions"]


def _stored_strategy(stored: Mapping[str, Any]) -> Strategy:
    """Rebuild a snapshot's strategy by its registered name and weights."""
    name = stored["name"]
    if name not in STRATEGIES:
        msg = (
            f"snapshot was taken with strategy {name!r}, which is not registered "
            f"(registered: {', '.join(STRATEGIES)}); pass strategy=... to from_snapshot, "
            "or register it under its name"
        )
        raise InvalidSnapshotError(msg)
    return strategy_from_name(name, stored.get("weights"))
