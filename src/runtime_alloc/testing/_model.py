"""The state machine's model of placement (feasibility, best runner) and machine-drawn strategies.

Written from the documented semantics only (no runtime_alloc internals), so
the state machine can check the allocator against it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from runtime_alloc import Resources, Runner, RunnerState, Strategy, UndeclaredWeightWarning
from runtime_alloc.dimensions import near_miss

if TYPE_CHECKING:
    from runtime_alloc.testing.machine import AllocatorStateMachine

__all__ = [
    "best_runner",
    "device_kinds",
    "expected_devices",
    "from_machine",
    "infeasibility",
    "mistyped_resource",
    "parse_request",
    "quiet_weights",
    "request_text",
]


class _Fleet(list[Runner]):
    """A list of runners whose repr is Python that rebuilds it (readable counterexamples)."""

    def __repr__(self) -> str:
        items = []
        for r in self:
            labels = f", labels={sorted(r.labels)!r}" if r.labels else ""
            items.append(f"Runner.parse({r.name!r}, {str(r.capacity)!r}{labels})")
        return "[" + ", ".join(items) + "]"


_CACHE: dict[tuple[object, ...], st.SearchStrategy[Any]] = {}


def from_machine(
    build: Callable[[AllocatorStateMachine], st.SearchStrategy[Any]],
) -> st.SearchStrategy[Any]:
    """A strategy drawn from the running machine, so subclasses can change what is generated.

    The strategy is built once per machine class (and slot limit) and reused:
    building and validating strategies is the slow part of a step otherwise.
    """

    def cached(machine: AllocatorStateMachine) -> st.SearchStrategy[Any]:
        key = (build, type(machine), getattr(machine.allocator, "max_task_slots", None))
        strategy = _CACHE.get(key)
        if strategy is None:
            strategy = _CACHE[key] = build(machine)
        return strategy

    return st.runner().flatmap(cached)


def infeasibility(state: RunnerState, request: Resources, require: Iterable[str] = ()) -> str:
    """Say why ``state`` cannot take ``request`` now ("" when it can).

    Feasible means: not draining, every required label, and for every
    dimension reserved + request <= capacity.

    >>> from runtime_alloc import Runner, RunnerState, Resources
    >>> infeasibility(RunnerState(Runner.parse("r0", "cpu=1")), Resources(2000, slots=1))
    'cpu 0+2000 > 1000'
    """
    reasons = []
    if state.draining:
        reasons.append("draining")
    missing = sorted(set(require) - state.runner.labels)
    if missing:
        reasons.append(f"missing label(s) {', '.join(missing)}")
    cap, res = state.runner.capacity, state.reserved
    reasons.extend(
        f"{dim} {res.get(dim)}+{request.get(dim)} > {cap.get(dim)}"
        for dim in request.dimensions()
        if res.get(dim) + request.get(dim) > cap.get(dim)
    )
    for kind, used in state.devices.items():
        if request.get(kind) and expected_devices(used, request.get(kind)) is None:
            reasons.append(f"no {kind} devices for {request.get(kind)}m (device use {list(used)})")
    return ", ".join(reasons)


def expected_devices(used: Sequence[int], milli: int) -> tuple[tuple[int, int], ...] | None:
    """The devices the documented rule picks for ``milli`` on devices with ``used`` milli.

    A share (at most 1000) goes to the device left with the least free, the lowest
    index on ties; k whole devices (k * 1000) to the k lowest wholly free indexes.
    None when they do not fit.
    """
    if milli <= 1000:  # one device
        fitting = [(1000 - u - milli, i) for i, u in enumerate(used) if 1000 - u >= milli]
        return ((min(fitting)[1], milli),) if fitting else None
    free = [i for i, u in enumerate(used) if u == 0]
    count = milli // 1000
    return tuple((i, 1000) for i in free[:count]) if len(free) >= count else None


def device_kinds(states: Iterable[RunnerState]) -> frozenset[str]:
    """The kinds some runner has as devices (requests give them in devices)."""
    return frozenset(kind for s in states for kind in s.runner.devices)


def request_text(request: Resources, kinds: Iterable[str]) -> str:
    """``str(request)``, device ``kinds`` written in milli (``gpu=500m``): reads back equal."""
    kinds = set(kinds)
    parts = str(request).split(",")
    return ",".join(
        f"{part}m" if part.split("=")[0] in kinds and not part.endswith("=0") else part
        for part in parts
    )


def parse_request(text: str, states: Iterable[RunnerState]) -> Resources:
    """A request text as the allocator reads it, device kinds in devices."""
    return Resources.parse(text, default_slots=1, device_kinds=device_kinds(states))


def best_runner(
    states: Sequence[RunnerState],
    strategy: Strategy,
    request: Resources,
    require: Iterable[str] = (),
) -> RunnerState | None:
    """Return the runner the placement rules pick: best score among feasible ones, earliest on ties.

    Written from the documented semantics only (no runtime_alloc internals).
    Runtime complexity: O(N).
    """
    best: RunnerState | None = None
    best_score = 0.0
    for state in states:
        if infeasibility(state, request, require):
            continue
        value = strategy.score(state, request)
        better = value > best_score if strategy.maximize else value < best_score
        if best is None or better:
            best, best_score = state, value
    return best


@contextlib.contextmanager
def quiet_weights() -> Iterator[None]:
    """Ignore :class:`~runtime_alloc.errors.UndeclaredWeightWarning` in the block.

    Generated fleets often lack a resource the strategy under test weighs; the
    warning is meant for a real fleet.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndeclaredWeightWarning)
        yield


def mistyped_resource(request: Resources, runners: Iterable[RunnerState]) -> str | None:
    """Return the request's extended name the allocator refuses as a typo, or None.

    The documented rule (docs/concepts.md): a name no runner declares that is a
    near miss of a built-in dimension or of a declared name
    (:func:`runtime_alloc.dimensions.near_miss`) is refused with
    ``InvalidResourcesError``; any other name no runner declares is placed
    (and fails as unschedulable).
    """
    declared = {name for s in runners for name in s.runner.capacity.extended}
    for name in request.extended:
        if name not in declared and near_miss(name, declared) is not None:
            return name
    return None
