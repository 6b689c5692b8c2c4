"""The pure-Python placement path: the reference every other backend must equal.

``choose`` scans runners in registration order, keeps the feasible runner with
the best score and lets an earlier runner win ties. ``diagnose`` explains a
failure the way kube-scheduler does: per reason, how many runners gave it (the
rule lives in :mod:`runtime_alloc._diagnosis`; :class:`StateColumns` feeds it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from runtime_alloc import _diagnosis
from runtime_alloc._units import _show
from runtime_alloc.devices import fits, offered
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.runners import labels_allow
from runtime_alloc.strategies._scoring import UtilizationStrategy

if TYPE_CHECKING:
    from runtime_alloc.errors import AllocationError
    from runtime_alloc.resources import Resources
    from runtime_alloc.runners import RunnerState
    from runtime_alloc.strategies import Strategy

__all__ = ["StateColumns", "choose", "diagnose", "is_feasible", "shortfalls"]

_BUILTIN_SCORE = UtilizationStrategy.score


def is_feasible(state: RunnerState, request: Resources, require: frozenset[str]) -> bool:
    """Return True when ``state`` can take ``request`` now (not draining, labels, room).

    Room for a device kind of the runner also needs the devices: one device with
    the share free, or k wholly free devices (:func:`runtime_alloc.devices.fits`).
    Runtime complexity: O(dimensions + devices of the requested kinds).
    """
    if state.draining:
        return False
    runner = state.runner
    if require and not labels_allow(require, runner.labels):
        return False
    cap = runner.capacity
    res = state.reserved
    if (
        res.millicpu + request.millicpu > cap.millicpu
        or res.memory_bytes + request.memory_bytes > cap.memory_bytes
        or res.slots + request.slots > cap.slots
    ):
        return False
    if request.extended:
        cap_ext = cap.extended
        res_ext = res.extended
        for name, count in request.extended.items():
            if (res_ext.get(name, 0) or 0) + count > (cap_ext.get(name, 0) or 0):
                return False
        devs = state.devices
        if devs._data:  # noqa: SLF001 (FrozenMap's dict: no __len__ call)
            return _devices_fit(devs, request)
    return True


def _devices_fit(devs: Mapping[str, tuple[int, ...]], request: Resources) -> bool:
    """True when every device kind of the runner that ``request`` asks fits its devices."""
    for name, count in request.extended.items():
        used = devs.get(name)
        if used is not None and not fits(used, count):
            return False
    return True


def choose(
    states: Iterable[RunnerState],
    strategy: Strategy,
    request: Resources,
    require: frozenset[str],
) -> RunnerState | None:
    """Return the runner ``strategy`` picks for ``request``, or None when none is feasible.

    The built-in strategies take an inlined loop that computes the very same
    float operations as :func:`~runtime_alloc.strategies.utilization_score`, in
    the same order; any other strategy is called through its ``score`` method,
    whose result must be a finite number.

    Raises:
        InvalidArgumentError: a custom score returned NaN, an infinity or a
            non-number (nothing has changed).

    Runtime complexity: O(N) runners, each O(number of dimensions).
    """
    if isinstance(strategy, UtilizationStrategy) and type(strategy).score is _BUILTIN_SCORE:
        return _choose_utilization(states, strategy, request, require)
    best: RunnerState | None = None
    best_score = 0.0
    maximize = strategy.maximize
    score = strategy.score
    for state in states:
        if not is_feasible(state, request, require):
            continue
        value = score(state, request)
        if value.__class__ is not float or value - value != 0.0:  # not a finite float
            value = _checked_score(value, strategy, state)
        if best is None or (value > best_score if maximize else value < best_score):
            best = state
            best_score = value
    return best


def _checked_score(value: object, strategy: Strategy, state: RunnerState) -> float:
    """Return a custom strategy's score as a finite float, or raise naming strategy and runner.

    Raises:
        InvalidArgumentError: NaN, an infinity, a bool or not a real number.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value) if abs(value) < 2**1023 else math.inf
        if math.isfinite(number):
            return number
    name = getattr(strategy, "name", type(strategy).__name__)
    msg = (
        f"strategy {_show(name)} scored runner {state.name!r} {_show(value)}; "
        "score(state, request) must return a finite number"
    )
    raise InvalidArgumentError(msg)


def _choose_utilization(
    states: Iterable[RunnerState],
    strategy: UtilizationStrategy,
    request: Resources,
    require: frozenset[str],
) -> RunnerState | None:
    """``choose`` for the built-in strategies, with feasibility and score inlined."""
    weights = strategy.weights
    w_cpu = weights.get("cpu", 1) or 0
    w_mem = weights.get("memory", 1) or 0
    w_slots = weights.get("slots", 1) or 0
    q_cpu, q_mem, q_slots = request.millicpu, request.memory_bytes, request.slots
    q_ext = tuple(
        (name, count, weights.get(name, 1) or 0) for name, count in request.extended.items()
    )
    maximize = strategy.maximize
    best: RunnerState | None = None
    best_score = 0.0
    for state in states:
        if state.draining:
            continue
        runner = state.runner
        if require and not labels_allow(require, runner.labels):
            continue
        cap = runner.capacity
        res = state.reserved
        c_cpu = cap.millicpu
        u_cpu = res.millicpu + q_cpu
        if u_cpu > c_cpu:
            continue
        c_mem = cap.memory_bytes
        u_mem = res.memory_bytes + q_mem
        if u_mem > c_mem:
            continue
        c_slots = cap.slots
        u_slots = res.slots + q_slots
        if u_slots > c_slots:
            continue
        used: list[tuple[int, int, int]] = []
        if q_ext:
            cap_ext = cap.extended
            res_ext = res.extended
            for name, count, weight in q_ext:
                c = cap_ext.get(name, 0) or 0
                u = (res_ext.get(name, 0) or 0) + count
                if u > c:
                    break
                used.append((c, u, weight))
            if len(used) < len(q_ext):
                continue
            devs = state.devices
            if devs._data and not _devices_fit(devs, request):  # noqa: SLF001
                continue
        total = 0.0
        weight_sum = 0
        if c_cpu > 0 and w_cpu:
            total += float(w_cpu * u_cpu) / float(c_cpu)
            weight_sum += w_cpu
        if c_mem > 0 and w_mem:
            total += float(w_mem * u_mem) / float(c_mem)
            weight_sum += w_mem
        if c_slots > 0 and w_slots:
            total += float(w_slots * u_slots) / float(c_slots)
            weight_sum += w_slots
        for c, u, weight in used:
            if c and weight:
                total += float(weight * u) / float(c)
                weight_sum += weight
        value = total / float(weight_sum) if weight_sum else 0.0
        if best is None or (value > best_score if maximize else value < best_score):
            best = state
            best_score = value
    return best


def shortfalls(request: Resources, available: Resources) -> tuple[tuple[str, int, int], ...]:
    """Return ``(dimension, requested, available)`` for each dimension where request > available."""
    out = [
        (dim, req, avail)
        for dim, req, avail in (
            ("cpu", request.millicpu, available.millicpu),
            ("memory", request.memory_bytes, available.memory_bytes),
            ("slots", request.slots, available.slots),
        )
        if req > avail
    ]
    for name, req in request.extended.items():
        avail = available.extended.get(name, 0) or 0
        if req > avail:
            out.append((name, req, avail))
    return tuple(out)


class StateColumns:
    """The python scan's runner states as the columns of :mod:`runtime_alloc._diagnosis`.

    Masks are lists of bools and columns lists of ints, one item per runner in
    registration order. Every method costs O(N).
    """

    def __init__(self, states: Sequence[RunnerState], require: frozenset[str]) -> None:
        self.states = states
        self.require = require
        self.size = len(states)

    def everyone(self) -> list[bool]:
        """A mask of every runner."""
        return [True] * self.size

    def labels_ok(self) -> list[bool]:
        """Runners whose labels include every required label (and one ``require_any``)."""
        require = self.require
        if not require:
            return [True] * self.size
        return [labels_allow(require, s.runner.labels) for s in self.states]

    def draining(self) -> list[bool]:
        """Runners being drained."""
        return [s.draining for s in self.states]

    def capacity(self, dimension: str) -> list[int]:
        """Each runner's capacity in ``dimension``."""
        states = self.states
        if dimension == "cpu":
            return [s.runner.capacity.millicpu for s in states]
        if dimension == "memory":
            return [s.runner.capacity.memory_bytes for s in states]
        if dimension == "slots":
            return [s.runner.capacity.slots for s in states]
        return [s.runner.capacity.extended.get(dimension, 0) or 0 for s in states]

    def free(self, dimension: str) -> list[int]:
        """Each runner's capacity minus reserved amount in ``dimension``."""
        states = self.states
        if dimension == "cpu":
            return [s.runner.capacity.millicpu - s.reserved.millicpu for s in states]
        if dimension == "memory":
            return [s.runner.capacity.memory_bytes - s.reserved.memory_bytes for s in states]
        if dimension == "slots":
            return [s.runner.capacity.slots - s.reserved.slots for s in states]
        return [
            (s.runner.capacity.extended.get(dimension, 0) or 0)
            - (s.reserved.extended.get(dimension, 0) or 0)
            for s in states
        ]

    @staticmethod
    def at_least(column: list[int], amount: int) -> list[bool]:
        """Runners whose value in ``column`` is >= ``amount``."""
        return [value >= amount for value in column]

    @staticmethod
    def both(a: list[bool], b: list[bool]) -> list[bool]:
        """Runners in ``a`` and in ``b``."""
        return [x and y for x, y in zip(a, b, strict=True)]

    @staticmethod
    def but_not(a: list[bool], b: list[bool]) -> list[bool]:
        """Runners in ``a`` and not in ``b``."""
        return [x and not y for x, y in zip(a, b, strict=True)]

    @staticmethod
    def first_and_count(mask: list[bool]) -> tuple[int, int]:
        """The position of the first runner in ``mask`` (0 when none) and their count."""
        count = mask.count(True)
        return (mask.index(True) if count else 0), count

    @staticmethod
    def largest(column: list[int], mask: list[bool]) -> int:
        """The largest value of ``column`` over the non-empty ``mask``."""
        return max(value for value, m in zip(column, mask, strict=True) if m)

    def device_offer(self, kind: str, amount: int) -> list[int] | None:
        """What each runner's ``kind`` devices offer ``amount`` (-1 without); None if none has."""
        uses = [s.devices.get(kind) for s in self.states]
        if all(use is None for use in uses):
            return None
        return [-1 if use is None else offered(use, amount) for use in uses]

    def label_sets(self, mask: list[bool]) -> list[tuple[frozenset[str], int, int]]:
        """``(labels, first position, count)`` per distinct label set of runners in ``mask``."""
        found: dict[frozenset[str], list[int]] = {}
        for i, (state, m) in enumerate(zip(self.states, mask, strict=True)):
            if m:
                entry = found.get(state.runner.labels)
                if entry is None:
                    found[state.runner.labels] = [i, 1]
                else:
                    entry[1] += 1
        return [(labels, first, count) for labels, (first, count) in found.items()]


def diagnose(
    states: Sequence[RunnerState],
    task_id: str,
    request: Resources,
    require: frozenset[str],
) -> AllocationError:
    """Build the error for a request that no runner can take now.

    :class:`UnschedulableError` when no runner with the labels could hold the
    request even empty and undrained; otherwise :class:`InsufficientCapacityError`.
    The rule lives in :func:`runtime_alloc._diagnosis.diagnose`; this feeds it
    the states as :class:`StateColumns`.

    Runtime complexity: O(N) runners.
    """
    return _diagnosis.diagnose(StateColumns(states, require), task_id, request, require)
