"""The issue-3 workload, shared by ``decisions.py`` and the pytest-benchmark files.

Fleet: a random mix of 4 cpu/16 GiB/16 slots, 8 cpu/32 GiB/16 slots and
16 cpu/64 GiB/32 slots runners. Warm-up: one task per runner (restored from a
snapshot, so warming is not part of any timing). Workload: alternating
allocate and release of random requests of 250m-1.5 cpu, 256 MiB-2 GiB and
1-2 slots (the released task is a random held one).
"""

from __future__ import annotations

import random
import time
from typing import Any

from runtime_alloc import Allocator, EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner
from runtime_alloc.reservations import Reservation
from runtime_alloc.runners import RunnerState
from runtime_alloc.snapshot import FleetSnapshot

MI = 1 << 20
CAPACITIES = (
    Resources(4000, 16 << 30, 16),
    Resources(8000, 32 << 30, 16),
    Resources(16000, 64 << 30, 32),
)
STRATEGIES = {"EvenSpreadStrategy": EvenSpreadStrategy, "MaxPackingStrategy": MaxPackingStrategy}


def random_request(rng: random.Random) -> Resources:
    return Resources(rng.randint(250, 1500), rng.randint(256, 2048) * MI, rng.randint(1, 2))


def request_pool(count: int, seed: int = 0) -> tuple[list[Resources], list[dict[str, Any]]]:
    """``count`` distinct random requests, as Resources and as the equal dicts users write."""
    rng = random.Random(seed + 4)
    pool: dict[Resources, None] = {}
    while len(pool) < count:
        pool[random_request(rng)] = None
    resources = list(pool)
    dicts: list[dict[str, Any]] = [
        {"cpu": f"{r.millicpu}m", "memory": f"{r.memory_bytes >> 20}Mi", "slots": r.slots}
        for r in resources
    ]
    return resources, dicts


def many_shapes(count: int, seed: int = 0) -> tuple[Resources, ...]:
    """``count`` distinct capacities (cpu 4-54 cores in 125m steps, 16-64 GiB, 16-32 slots)."""
    rng = random.Random(seed + 3)
    caps: set[Resources] = set()
    while len(caps) < count:
        cpu = rng.choice((4000, 6000, 8000, 12000, 16000, 24000, 32000, 48000))
        caps.add(
            Resources(
                cpu + rng.randrange(64) * 125,
                rng.choice((16, 24, 32, 48, 64)) << 30,
                rng.choice((16, 24, 32)),
            )
        )
    return tuple(sorted(caps, key=str))


def fleet(n: int, seed: int = 0) -> list[Runner]:
    rng = random.Random(seed)
    return [Runner(f"r{i}", rng.choice(CAPACITIES)) for i in range(n)]


def warm_snapshot(n: int, seed: int = 0) -> FleetSnapshot:
    """A fleet of ``n`` runners holding one random task each."""
    rng = random.Random(seed + 1)
    states = []
    reservations = {}
    for runner in fleet(n, seed):
        request = random_request(rng)
        task = f"w-{runner.name}"
        reservations[task] = Reservation(task, runner.name, request)
        states.append(RunnerState(runner, request))
    return FleetSnapshot(tuple(states), reservations)


def warm_allocator(n: int, strategy: str, backend: str, seed: int = 0) -> Allocator:
    return Allocator.from_snapshot(
        warm_snapshot(n, seed), strategy=STRATEGIES[strategy](), backend=backend
    )


class Churn:
    """Alternating random allocate and release on one allocator.

    The random requests and release picks are drawn before the clock starts
    (:meth:`rate`), so the timing covers the allocator, not ``random``.
    """

    def __init__(self, allocator: Allocator, seed: int = 0) -> None:
        self.allocator = allocator
        self.rng = random.Random(seed + 2)
        self.held = list(allocator._reservations)
        self.counter = 0

    def draws(self, steps: int, pool: list[Any] | None = None) -> list[tuple[Any, float]]:
        """``steps`` pairs of (request, uniform number picking the task to release).

        The requests are random :class:`Resources`, or drawn from ``pool`` when
        given (repeated request specs, e.g. :func:`request_pool`).
        """
        rng = self.rng
        if pool is not None:
            return [(pool[rng.randrange(len(pool))], rng.random()) for _ in range(steps)]
        return [(random_request(rng), rng.random()) for _ in range(steps)]

    def step(self, request: Resources | None = None, pick: float | None = None) -> None:
        """One allocate (a decision) and one release of a random held task."""
        if request is None or pick is None:
            request, pick = self.draws(1)[0]
        self.counter += 1
        task = f"c{self.counter}"
        if self.allocator.try_allocate(task, request) is not None:
            self.held.append(task)
        held = self.held
        j = int(pick * len(held))
        held[j], held[-1] = held[-1], held[j]
        self.allocator.release(held.pop())

    def rate(self, steps: int, pool: list[Any] | None = None) -> float:
        """Decisions per second over ``steps`` steps (release time included)."""
        draws = self.draws(steps, pool)
        step = self.step
        start = time.perf_counter()
        for request, pick in draws:
            step(request, pick)
        return steps / (time.perf_counter() - start)
