"""Thread stress through runtime_alloc.testing: 8 threads of mixed operations on one allocator.

Each worker applies its own seeded sequence of :class:`Operation` values
(allocate, release, drain, undrain, remove with or without force, re-add).
Meanwhile a checker thread runs ``check_invariants`` on live snapshots. After
the join, the invariants must hold and the reservations held must be exactly
those allocated, minus those released, minus those evicted.

``python tests/test_thread_stress_harness.py`` prints the figures quoted in
docs/testing.md.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time

import pytest

from runtime_alloc import (
    Allocator,
    EvenSpreadStrategy,
    MaxPackingStrategy,
    Reservation,
    Resources,
    Runner,
    RuntimeAllocError,
)
from runtime_alloc.testing import Operation, check_invariants

THREADS = 8
OPS_PER_THREAD = 500

FLEET = [
    Runner.parse("r0", "cpu=8,memory=16Gi,slots=16"),
    Runner.parse("r1", "cpu=4,memory=8Gi,slots=8", labels=["ssd"]),
    Runner.parse("r2", "cpu=16,memory=64Gi,slots=32,gpu=4", labels=["gpu"]),
    Runner.parse("r3", "cpu=2,memory=4Gi,slots=4"),
    Runner.parse("r4", "cpu=8,memory=32Gi,slots=16", labels=["ssd"]),
    Runner.parse("r5", "cpu=1,memory=2Gi,slots=2"),
]
SHAPES = [
    "cpu=500m,memory=512Mi",
    "cpu=1,memory=1Gi",
    "cpu=2,memory=4Gi,slots=2",
    "gpu=1,cpu=1",
    "slots=1",
]


def numpy_unavailable() -> str | None:
    try:
        Allocator(FLEET, backend="numpy")
    except (RuntimeAllocError, ImportError) as exc:
        return f"numpy backend unavailable: {exc}"
    return None


class Ledger:
    """What the workers did, merged after the join."""

    def __init__(self) -> None:
        self.allocated: dict[str, Reservation] = {}
        self.released: set[str] = set()
        self.evicted: set[str] = set()
        self.lock = threading.Lock()


def worker(  # noqa: PLR0917 (a thread target's arguments)
    alloc: Allocator,
    index: int,
    seed: int,
    ledger: Ledger,
    barrier: threading.Barrier,
    errors: list[BaseException],
) -> None:
    rng = random.Random(seed * 1000 + index)
    held: list[str] = []
    count = 0
    barrier.wait()
    try:
        for _ in range(OPS_PER_THREAD):
            roll = rng.random()
            name = rng.choice(FLEET).name
            if roll < 0.5 or not held:
                task = f"w{index}-{count}"
                count += 1
                request = Resources.parse(rng.choice(SHAPES), default_slots=1)
                op = Operation("allocate", task, request, frozenset(rng.choice([(), (), ("ssd",)])))
            elif roll < 0.85:
                op = Operation("release", held.pop(rng.randrange(len(held))))
            elif roll < 0.92:
                op = Operation(rng.choice(["drain_runner", "undrain_runner"]), runner=name)
            else:
                op = Operation("remove_runner", runner=name, force=rng.random() < 0.5)
            try:
                result = op.apply(alloc)
            except RuntimeAllocError:
                continue
            with ledger.lock:
                if op.kind == "allocate":
                    ledger.allocated[op.task_id] = result
                    held.append(op.task_id)
                elif op.kind == "release":
                    ledger.released.add(op.task_id)
                elif op.kind == "remove_runner":
                    ledger.evicted.update(r.task_id for r in result)
            if op.kind == "remove_runner":
                # Bring the runner back so the fleet does not die out.
                runner = next(r for r in FLEET if r.name == op.runner)
                with contextlib.suppress(RuntimeAllocError):
                    alloc.add_runner(runner)
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)


def run_stress(backend: str, strategy, seed: int) -> dict[str, int]:
    alloc = Allocator(FLEET, strategy=strategy, backend=backend)
    ledger = Ledger()
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS + 1)
    stop = threading.Event()
    checks = 0

    def checker() -> None:
        nonlocal checks
        barrier.wait()
        while not stop.is_set():
            try:
                check_invariants(alloc, round_trip=checks % 10 == 0, concurrent=True)
            except BaseException as exc:
                errors.append(exc)
                return
            checks += 1

    threads = [
        threading.Thread(target=worker, args=(alloc, i, seed, ledger, barrier, errors))
        for i in range(THREADS)
    ]
    watcher = threading.Thread(target=checker)
    start = time.perf_counter()
    for t in [*threads, watcher]:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    snapshot = check_invariants(alloc)
    expected = set(ledger.allocated) - ledger.released - ledger.evicted
    assert set(snapshot.reservations) == expected
    for task_id in expected:
        assert snapshot.reservations[task_id] == ledger.allocated[task_id]
    assert ledger.released.isdisjoint(ledger.evicted)
    return {
        "operations": THREADS * OPS_PER_THREAD,
        "allocated": len(ledger.allocated),
        "released": len(ledger.released),
        "evicted": len(ledger.evicted),
        "held_at_end": len(expected),
        "live_checks": checks,
        "ms": round(seconds * 1000),
    }


_NO_NUMPY = numpy_unavailable()
BACKENDS = [
    "python",
    pytest.param("numpy", marks=pytest.mark.skipif(_NO_NUMPY is not None, reason=_NO_NUMPY or "")),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "strategy", [EvenSpreadStrategy(), MaxPackingStrategy()], ids=lambda s: s.name
)
def test_threads_keep_the_invariants(backend: str, strategy) -> None:
    figures = run_stress(backend, strategy, seed=1)
    # The run did real work: tasks were placed, released and evicted, and checked live.
    assert figures["allocated"] > 0
    assert figures["released"] > 0
    assert figures["live_checks"] > 0


if __name__ == "__main__":
    for backend in ["python"] + ([] if _NO_NUMPY else ["numpy"]):
        for strategy in (EvenSpreadStrategy(), MaxPackingStrategy()):
            for seed in (1, 2, 3):
                print(backend, strategy.name, seed, run_stress(backend, strategy, seed))  # noqa: T201
