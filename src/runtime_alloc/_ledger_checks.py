"""The ledger's invariants, asserted (tests and the testing harness call these through it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime_alloc._ledger_views import held_tuple
from runtime_alloc.devices import check_state
from runtime_alloc.metrics import usage_by_dimension
from runtime_alloc.resources import BUILTIN_DIMENSIONS, Resources

if TYPE_CHECKING:
    from runtime_alloc._ledger import Ledger

__all__ = ["check", "check_gauges"]


def check(ledger: Ledger) -> None:
    """Assert the ledger's invariants. O(N + tasks)."""
    columns = (ledger.runners, ledger.cpu, ledger.memory, ledger.slots, ledger.drain, ledger.held)
    assert len({len(c) for c in columns}) == 1, "row columns disagree"  # noqa: S101
    assert len(ledger.row_of) + ledger.holes == len(ledger.runners), "row count"  # noqa: S101
    total = 0
    for name, row in ledger.row_of.items():
        assert ledger.runners[row].name == name, name  # type: ignore[union-attr]  # noqa: S101
        held = held_tuple(ledger.held[row])
        assert type(ledger.held[row]) is not dict or len(held) > 1, name  # noqa: S101
        total += len(held)
        state = ledger.state_at(row)
        summed = sum((r.resources for r in held), Resources())
        assert state.reserved == summed, (  # noqa: S101
            f"runner {name!r} reserved {state.reserved} != sum of reservations {summed}"
        )
        assert state.reserved.fits_within(state.runner.capacity), (  # noqa: S101
            f"runner {name!r} over-committed: {state.reserved} > {state.runner.capacity}"
        )
        for reservation in held:
            assert reservation.runner == name, reservation  # noqa: S101
            assert ledger.reservations.get(reservation.task_id) is reservation, name  # noqa: S101
        check_state(state, held)  # the per-device invariant (runtime_alloc.devices)
    assert total == len(ledger.reservations), "reservation tables disagree"  # noqa: S101


def check_gauges(ledger: Ledger) -> None:
    """Assert that the incrementally kept fleet gauges equal a recount. O(N * dimensions).

    Separate from :meth:`check` (which the testing harness runs): an
    allocator subclass that bypasses the ledger breaks these first.
    """
    fleet = usage_by_dimension(ledger.states.values())
    declared = {d for s in ledger.states.values() for d in s.runner.capacity.extended}
    kept = ledger.fleet_reserved(), ledger.capacity
    recounted = (
        {d: u.reserved for d, u in fleet.items() if u.reserved or d in BUILTIN_DIMENSIONS},
        {d: u.capacity for d, u in fleet.items() if d in BUILTIN_DIMENSIONS or d in declared},
    )
    assert kept == recounted, f"fleet totals {kept} != sums {recounted}"  # noqa: S101
    assert set(ledger.capacity) - set(BUILTIN_DIMENSIONS) == set(ledger.declared)  # noqa: S101
    assert ledger.in_use == sum(1 for h in ledger.held if h is not None)  # noqa: S101
    assert ledger.draining == sum(ledger.drain)  # noqa: S101
