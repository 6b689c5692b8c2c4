"""The ledger's reservation bookkeeping: reserve, unreserve, place one request or a run.

:class:`LedgerReservations` adds to :class:`~runtime_alloc._ledger_rows.LedgerRows`
the changes a reservation makes to its runner's row (reserved amounts, device
use, held reservations) and to the fleet gauges, each followed by one backend
event, and the placement of a request (or a run of identical requests) on the
backend's choice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import repeat

from runtime_alloc import devices
from runtime_alloc._ledger_rows import LedgerRows, add_counts
from runtime_alloc.errors import AllocationError
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources

__all__ = ["LedgerReservations"]


class LedgerReservations(LedgerRows):
    """Reservations on the rows of :class:`LedgerRows` (the caller holds the lock)."""

    __slots__ = ()

    def reserve(self, reservation: Reservation) -> None:
        """Add a reservation to its runner. O(dimensions).

        The caller guarantees room: the placement chose a runner that fits, or
        a checked snapshot replays reservations that add up within capacity.
        """
        self._send(self._hold(reservation))

    def _hold(self, reservation: Reservation) -> int:
        """:meth:`reserve` without the backend event; return the runner's row. O(dimensions)."""
        row = self.row_of[reservation.runner]
        r = reservation.resources
        self.cpu[row] += r.millicpu
        self.memory[row] += r.memory_bytes
        self.slots[row] += r.slots
        if r.extended._data:  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            self._add_extended(row, r, 1)
            if reservation.devices._data:  # noqa: SLF001
                self.dev[row] = devices.apply(self.dev[row], reservation.devices, 1)
        task_id = reservation.task_id
        held = self.held[row]
        if held is None:
            self.held[row] = reservation
            self.in_use += 1
        elif type(held) is dict:
            held[task_id] = reservation
        else:
            self.held[row] = {held.task_id: held, task_id: reservation}
        self.reservations[task_id] = reservation
        self.res_cpu += r.millicpu
        self.res_memory += r.memory_bytes
        self.res_slots += r.slots
        return row

    def unreserve(self, reservation: Reservation) -> None:
        """Give a held reservation back to its runner. O(dimensions)."""
        row = self.row_of[reservation.runner]
        r = reservation.resources
        self.cpu[row] -= r.millicpu
        self.memory[row] -= r.memory_bytes
        self.slots[row] -= r.slots
        if r.extended._data:  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            self._add_extended(row, r, -1)
            if reservation.devices._data:  # noqa: SLF001
                self.dev[row] = devices.apply(self.dev[row], reservation.devices, -1)
        task_id = reservation.task_id
        held = self.held[row]
        if type(held) is dict:
            del held[task_id]
            if len(held) == 1:
                self.held[row] = next(iter(held.values()))
        else:
            self.held[row] = None
            self.in_use -= 1
        del self.reservations[task_id]
        self.res_cpu -= r.millicpu
        self.res_memory -= r.memory_bytes
        self.res_slots -= r.slots
        self._send(row)

    def _add_extended(self, row: int, resources: Resources, sign: int) -> None:
        """Add ``sign * resources.extended`` to a row and the fleet totals. O(dimensions)."""
        amounts = dict(self.extended.get(row, ()))
        add_counts(amounts, resources.extended, sign)
        if amounts:
            self.extended[row] = amounts
        else:
            self.extended.pop(row, None)
        self._count_extended(resources, sign)

    def place(
        self, task_id: str, request: Resources, require: frozenset[str]
    ) -> Reservation | AllocationError:
        """Reserve ``request`` on the backend's choice, or return (and count) the error.

        Runtime complexity: the backend's ``choose`` (and ``diagnose`` on failure).
        """
        backend = self.backend
        name = backend.choose(request, require)
        if name is None:
            error = backend.diagnose(task_id, request, require)
            self.count_failure(error)
            return error
        reservation = Reservation(task_id, name, request)
        if request.extended._data and self.row_of[name] in self.dev:  # noqa: SLF001
            reservation = devices.with_picks(reservation, self.state(name))
        self._send(self._hold(reservation))  # reserve(), one call less
        self.allocations += 1
        return reservation

    def reserve_run(
        self, task_ids: Sequence[str], names: Sequence[str], request: Resources
    ) -> list[Reservation]:
        """Reserve ``request`` for ``task_ids[i]`` on ``names[i]``, one event per runner touched.

        Runtime complexity: O(len(names) + runners touched * dimensions).
        """
        results = list(map(Reservation, task_ids, names, repeat(request, len(names))))
        row_of, held = self.row_of, self.held
        self.reservations.update(zip(task_ids, results, strict=False))  # in task order
        in_use = 0
        for task_id, name, reservation in zip(task_ids, names, results, strict=False):
            row = row_of[name]
            h = held[row]
            if h is None:
                held[row] = reservation
                in_use += 1
            elif type(h) is dict:
                h[task_id] = reservation
            else:
                held[row] = {h.task_id: h, task_id: reservation}
        self.in_use += in_use
        counts = {row_of[name]: count for name, count in Counter(names).items()}
        cpu, memory, slots = request.millicpu, request.memory_bytes, request.slots
        for row, count in counts.items():
            self.cpu[row] += count * cpu
            self.memory[row] += count * memory
            self.slots[row] += count * slots
            for _ in range(count if request.extended._data else 0):  # noqa: SLF001
                self._add_extended(row, request, 1)
            self._send(row)
        self.res_cpu += len(results) * cpu
        self.res_memory += len(results) * memory
        self.res_slots += len(results) * slots
        self.allocations += len(results)
        return results

    def place_run(
        self, run: Sequence[tuple[str, Resources, frozenset[str]]]
    ) -> list[Reservation | AllocationError] | None:
        """Place a run of identical requests through the backend's ``plan``, or return None.

        The result equals placing them one by one: reservations in order, then
        one error per request left over when capacity ran out.

        Runtime complexity: the backend's ``plan`` plus O(len(run)).
        """
        request, require = run[0][1], run[0][2]
        kinds = self.device_kinds
        if kinds and any(kind in kinds for kind in request.extended):
            return None  # device requests one at a time: each copy picks its devices
        names = self.backend.plan(request, require, len(run))
        if names is None:
            return None
        results: list[Reservation | AllocationError] = []
        results.extend(self.reserve_run([task_id for task_id, _, _ in run], names, request))
        if len(names) < len(run):
            first = self.backend.diagnose(run[len(names)][0], request, require)
            for task_id, _, _ in run[len(names) :]:
                error = type(first)(
                    task_id, request, first.runners_total, first.reasons, first.shortfalls
                )
                self.count_failure(error)
                results.append(error)
        return results
