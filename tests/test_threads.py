"""Thread stress: 8 threads of mixed allocate/release on one allocator, then the invariants."""

from __future__ import annotations

import random
import threading

from runtime_alloc import AllocationError, Allocator, EvenSpreadStrategy, MaxPackingStrategy, Runner

THREADS = 8
OPERATIONS = 2_000


def run_stress(strategy, *, observe: bool = False) -> tuple[Allocator, list[int], int]:
    fleet = [Runner.parse(f"r{i}", "cpu=4,memory=16Gi,slots=8,gpu=1") for i in range(16)]
    alloc = Allocator(fleet, strategy=strategy)
    barrier = threading.Barrier(THREADS)
    placed = [0] * THREADS
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        rng = random.Random(index)
        held: list[str] = []
        barrier.wait()
        try:
            for step in range(OPERATIONS):
                if held and rng.random() < 0.45:
                    alloc.release(
                        held.pop(rng.randrange(len(held))), rng.choice(["success", "failed"])
                    )
                    continue
                task_id = f"w{index}-{step}"
                request = {"cpu": f"{rng.choice([250, 500, 1000])}m", "memory": "512Mi"}
                if rng.random() < 0.1:
                    request["gpu"] = 1
                try:
                    alloc.allocate(task_id, request)
                except AllocationError:
                    continue
                held.append(task_id)
                placed[index] += 1
            for task_id in held:
                alloc.release(task_id)
        except BaseException as error:  # surfaced below, in the main thread
            errors.append(error)

    done = threading.Event()
    observed = [0]

    def observer() -> None:
        # Snapshots taken while the workers run must each be consistent.
        try:
            while not done.is_set():
                alloc.snapshot().check()
                alloc._check()
                observed[0] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    watcher = threading.Thread(target=observer)
    if observe:
        watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    if observe:
        watcher.join()
    assert not errors, errors
    return alloc, placed, observed[0]


def test_thread_stress_even_spread() -> None:
    alloc, placed, _ = run_stress(EvenSpreadStrategy())
    alloc._check()
    metrics = alloc.metrics()
    assert metrics.tasks_running == 0
    assert metrics.allocations == sum(placed)
    assert sum(metrics.releases.values()) == sum(placed)
    assert all(s.reserved == s.reserved.__class__() for s in alloc.snapshot().runners)


def test_thread_stress_max_packing_with_snapshots() -> None:
    alloc, placed, observed = run_stress(MaxPackingStrategy(), observe=True)
    assert observed > 0
    alloc._check()
    assert alloc.metrics().allocations == sum(placed) > 0
    assert len(alloc) == 0
