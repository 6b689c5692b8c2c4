"""The embedded default scenario: a seeded synthetic workload and the fleet it runs on.

The workload mixes what a task executor typically sees:

* bursts of small tasks (a DAG fanning out): each burst submits 40 to 240
  tasks within 30 s, every task asking for 1 slot and no cpu or memory; bursts
  start on average every 10 minutes (exponential gaps); durations are
  log-normal around 2 minutes;
* cpu/memory-heavy tasks arriving one by one (exponential gaps, mean 40 s),
  asking for 1 to 6 cores, 2 to 24 GiB and 1 or 2 slots, running log-normal
  around 15 minutes;
* about 1 in 200 heavy tasks asks for 24 cores, more than any runner has: these
  are counted unschedulable, as a real executor would fail them.

The fleet is 12 runners with 8 cores, 32 GiB, 16 slots and 4 runners with 16
cores, 64 GiB, 16 slots. Times are rounded to 0.1 s so the workload reads back
exactly from CSV.
"""

from __future__ import annotations

import math
import random

from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner
from runtime_alloc.simulation.tasks import SimTask

__all__ = ["DEFAULT_HOURS", "DEFAULT_SEED", "default_fleet", "default_workload"]

#: The seed of the default scenario.
DEFAULT_SEED = 2024

#: Simulated hours of arrivals in the default scenario.
DEFAULT_HOURS = 8.0

_GIB = 2**30


def default_fleet() -> tuple[Runner, ...]:
    """Return the default fleet: 12 runners of 8 cores/32 GiB and 4 of 16 cores/64 GiB.

    Runtime complexity: O(1): 16 fixed runners, parsed anew on each call.

    >>> [str(r.capacity) for r in default_fleet()[11:13]]
    ['cpu=8,memory=32Gi,slots=16', 'cpu=16,memory=64Gi,slots=16']
    """
    small = [Runner.parse(f"std-{k:02d}", "cpu=8,memory=32GiB,slots=16") for k in range(1, 13)]
    large = [Runner.parse(f"big-{k:02d}", "cpu=16,memory=64GiB,slots=16") for k in range(1, 5)]
    return (*small, *large)


def default_workload(seed: int = DEFAULT_SEED, hours: float = DEFAULT_HOURS) -> tuple[SimTask, ...]:
    """Return the seeded synthetic workload described in the module docstring.

    Args:
        seed: the random seed; the same seed gives the same tasks.
        hours: how long tasks keep arriving.

    Runtime complexity: O(tasks).

    >>> a, b = default_workload(7, 1.0), default_workload(7, 1.0)
    >>> a == b, len(a) > 100
    (True, True)
    """
    rng = random.Random(seed)  # noqa: S311 (simulation, not security)
    horizon = hours * 3600.0
    tasks: list[SimTask] = []

    def seconds(value: float) -> float:
        return round(value, 1)

    t = rng.expovariate(1 / 600.0)
    burst = 0
    while t < horizon:
        burst += 1
        for k in range(rng.randint(40, 240)):
            submit = seconds(t + rng.uniform(0.0, 30.0))
            duration = seconds(rng.lognormvariate(math.log(120.0), 0.8))
            tasks.append(SimTask(f"burst{burst:03d}-{k:03d}", submit, duration, Resources(slots=1)))
        t += rng.expovariate(1 / 600.0)
    t = rng.expovariate(1 / 40.0)
    heavy = 0
    while t < horizon:
        heavy += 1
        if rng.random() < 0.005:
            request = Resources(millicpu=24_000, memory_bytes=8 * _GIB, slots=1)
        else:
            request = Resources(
                millicpu=1000 * rng.choice((1, 2, 2, 4, 4, 6)),
                memory_bytes=_GIB * rng.choice((2, 4, 8, 8, 16, 24)),
                slots=rng.choice((1, 1, 2)),
            )
        duration = seconds(rng.lognormvariate(math.log(900.0), 0.6))
        tasks.append(SimTask(f"heavy{heavy:04d}", seconds(t), duration, request))
        t += rng.expovariate(1 / 40.0)
    return tuple(tasks)
