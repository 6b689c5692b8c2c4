"""How close pure Python can come to the floor: a least-work exact EvenSpread model.

Usage (from the repository root, numpy installed)::

    python benchmarks/least_work.py --sizes 10000 100000 --rounds 9 --steps 3000

Issue 11 asks for a decision (allocate + release) within 5x the Python floor of
``decisions.py`` (one attrs object + a dict insert/delete under a lock). This
script times, in one process with rotating rounds on the issue-3 churn, the
floor, the numpy backend, and :class:`LeastWork`: the least an exact EvenSpread
allocator can do per step in pure Python. Per runner shape it keeps a binary
heap of ``(K(r), row, version)`` with ``K(r) = sum_d r_d / c_d``, the order of a
shape's runners for any request (see ``backends/numpy/shape_classes.py``);
stale entries are skipped by version when they reach the root. A decision
peeks each shape's root, checks it fits and computes its exact float score; the
best score wins, ties to the lower row. It leaves out what a real allocator
must also do, so it is a lower bound of that cost, not a competitor: no request
validation, no labels, draining or extended resources, no near-tie window (two
runners of one shape whose keys differ by a rounding error), no search past a
root that cannot take the request (counted as a short cut), and no compaction
of stale heap entries.

A fourth subject, ``numpy, no index``, is the numpy backend with its class
index's ``choose`` answering row 0 and its ``set`` doing nothing (the ledger
trusts the index, so runner 0 is over-committed: timing only): the cost of the
layers above the index (front door, ledger, backend events), which an index of
any speed leaves.

Before the timing, the model and the numpy backend run the same steps from the
same state; the script prints how many consecutive decisions agreed before the
first short cut or difference.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _workload
from _baselines import Floor, FloorReservation
from _workload import Churn
from runtime_alloc import Allocator, EvenSpreadStrategy, Resources, Runner


class LeastWork:
    """Per shape, a heap of (K(r), row, version); a decision compares the shapes' roots."""

    def __init__(self, runners: list[Runner], reservations: dict[str, Any]) -> None:
        self._lock = threading.RLock()
        self.names = [r.name for r in runners]
        self.row_of = {name: i for i, name in enumerate(self.names)}
        self.cap = [
            (r.capacity.millicpu, r.capacity.memory_bytes, r.capacity.slots) for r in runners
        ]
        self.capf = [(float(a), float(b), float(c)) for a, b, c in self.cap]
        n = len(runners)
        self.rc, self.rm, self.rs = [0] * n, [0] * n, [0] * n
        self._reservations: dict[str, FloorReservation] = {}
        for task_id, held in reservations.items():
            i, q = self.row_of[held.runner], held.resources
            self.rc[i] += q.millicpu
            self.rm[i] += q.memory_bytes
            self.rs[i] += q.slots
            self._reservations[task_id] = FloorReservation(task_id, held.runner, q)
        self.version = [0] * n
        rows: dict[tuple[int, int, int], list[int]] = {}
        for i, cap in enumerate(self.cap):
            rows.setdefault(cap, []).append(i)
        self.heap_of: list[list[tuple[float, int, int]]] = [[] for _ in range(n)]
        self.shapes = []
        for cap, members in rows.items():
            heap = [(self._key(i), i, 0) for i in members]
            heapq.heapify(heap)
            for i in members:
                self.heap_of[i] = heap
            self.shapes.append((cap, tuple(map(float, cap)), heap))
        self.short_cuts = 0

    def _key(self, i: int) -> float:
        c0, c1, c2 = self.capf[i]
        return self.rc[i] / c0 + self.rm[i] / c1 + self.rs[i] / c2

    def try_allocate(self, task_id: str, request: Resources) -> FloorReservation | None:
        with self._lock:
            version, rc, rm, rs = self.version, self.rc, self.rm, self.rs
            q0, q1, q2 = request.millicpu, request.memory_bytes, request.slots
            best, best_row = 0.0, -1
            for (c0, c1, c2), (f0, f1, f2), heap in self.shapes:
                while heap and heap[0][2] != version[heap[0][1]]:
                    heapq.heappop(heap)
                if not heap:
                    continue
                i = heap[0][1]
                if rc[i] + q0 <= c0 and rm[i] + q1 <= c1 and rs[i] + q2 <= c2:
                    s = ((rc[i] + q0) / f0 + (rm[i] + q1) / f1 + (rs[i] + q2) / f2) / 3.0
                    if best_row < 0 or s < best or (s == best and i < best_row):
                        best, best_row = s, i
                else:
                    self.short_cuts += 1  # an exact allocator would search past this root
            if best_row < 0:
                return None
            i = best_row
            f0, f1, f2 = self.capf[i]
            reservation = FloorReservation(task_id, self.names[i], request)
            self._reservations[task_id] = reservation
            a = rc[i] = rc[i] + q0
            b = rm[i] = rm[i] + q1
            c = rs[i] = rs[i] + q2
            v = version[i] = version[i] + 1
            heapq.heapreplace(self.heap_of[i], (a / f0 + b / f1 + c / f2, i, v))
            return reservation

    def release(self, task_id: str) -> FloorReservation:
        with self._lock:
            reservation = self._reservations.pop(task_id)
            i, q = self.row_of[reservation.runner], reservation.resources
            a = self.rc[i] = self.rc[i] - q.millicpu
            b = self.rm[i] = self.rm[i] - q.memory_bytes
            c = self.rs[i] = self.rs[i] - q.slots
            f0, f1, f2 = self.capf[i]
            v = self.version[i] = self.version[i] + 1
            heapq.heappush(self.heap_of[i], (a / f0 + b / f1 + c / f2, i, v))
            return reservation


def agreement(n: int, seed: int, steps: int) -> int:
    """Consecutive decisions in which the model and the numpy backend agree (from the warm state)."""
    snap = _workload.warm_snapshot(n, seed)
    model = LeastWork([s.runner for s in snap.runners], snap.reservations)
    alloc = Allocator.from_snapshot(snap, strategy=EvenSpreadStrategy(), backend="numpy")
    ours = Churn(alloc, seed)
    for index, (request, pick) in enumerate(ours.draws(steps)):
        before = model.short_cuts
        placed = alloc.try_allocate(f"a{index}", request)
        other = model.try_allocate(f"a{index}", request)
        if model.short_cuts != before or (placed is None) != (other is None):
            return index
        if placed is not None and other is not None:
            if placed.runner != other.runner:
                return index
            ours.held.append(f"a{index}")
        held = ours.held
        j = int(pick * len(held))
        held[j], held[-1] = held[-1], held[j]
        task = held.pop()
        alloc.release(task)
        model.release(task)
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC | {platform.platform()} | "
        f"Python {platform.python_version()} | numpy {np.__version__} | attrs {attrs.__version__}"
    )
    for n in args.sizes:
        agreed = agreement(n, args.seed, 1000)
        snap = _workload.warm_snapshot(n, args.seed)
        runners = [s.runner for s in snap.runners]
        floor = Floor(runners)
        floor._reservations.update(snap.reservations)
        subjects = {
            "floor": Churn(floor, args.seed),
            "least work": Churn(LeastWork(runners, snap.reservations), args.seed),
            "numpy": Churn(
                Allocator.from_snapshot(snap, strategy=EvenSpreadStrategy(), backend="numpy"),
                args.seed,
            ),
        }
        hollow = Allocator.from_snapshot(snap, strategy=EvenSpreadStrategy(), backend="numpy")
        index = hollow._backend.classes
        if index is not None:  # the class index (10,000 runners and more)
            index.choose = lambda *_: 0
            index.set = lambda *_: None
            subjects["numpy, no index"] = Churn(hollow, args.seed)
        del snap
        for churn in subjects.values():
            churn.rate(2000)
        gc.collect()
        names = list(subjects)
        rates: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                rates[name].append(subjects[name].rate(args.steps))
        print(
            f"\n{n:,} runners, EvenSpread, {args.rounds} rounds of {args.steps} steps "
            f"(model and numpy agreed on the first {agreed} of 1000 decisions)"
        )
        for name in names:
            ratio = statistics.median(
                f / x for f, x in zip(rates["floor"], rates[name], strict=True)
            )
            print(
                f"  {name:15s} {statistics.median(rates[name]):9.0f} decisions/s  "
                f"{ratio:5.2f} x the floor's time"
            )


if __name__ == "__main__":
    main()
