"""Bytes per runner of each structure of a numpy-backed allocator holding one task per runner.

Usage (from the repository root, numpy installed)::

    python benchmarks/memory_structures.py 200000
    python benchmarks/memory_structures.py 200000 --index compiled   # numba installed

Builds the state ``decisions.py --memory`` measures as "reserved one by one" (the
issue-3 fleet, one random request per runner reserved through ``Ledger.reserve``,
then one decision), then walks each structure with ``sys.getsizeof`` and prints
its bytes per runner. Every object is counted once, under the first structure
listed that reaches it (so ints an r-class shares with a request count under the
reservations); numpy arrays count their buffer. The sum is close to the RSS per
runner of ``decisions.py --memory`` (which adds the allocator's free space).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workload import fleet, random_request
from runtime_alloc import Allocator
from runtime_alloc.reservations import Reservation


class Sizer:
    """Deep sizes with one shared set of objects already counted."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def size(self, root: Any) -> int:
        total = 0
        stack = [root]
        while stack:
            x = stack.pop()
            if id(x) in self.seen or isinstance(x, type):
                continue
            self.seen.add(id(x))
            if isinstance(x, np.ndarray):
                total += x.nbytes + sys.getsizeof(np.empty(0))
                continue
            total += sys.getsizeof(x)
            if isinstance(x, dict):
                stack.extend(x.keys())
                stack.extend(x.values())
            elif isinstance(x, (list, tuple, set, frozenset)):
                stack.extend(x)
            elif not isinstance(x, (str, int, float, bytes, bytearray, bool, type(None))):
                if hasattr(x, "__dict__"):
                    stack.append(x.__dict__)
                for cls in type(x).__mro__:
                    stack.extend(
                        getattr(x, s) for s in getattr(cls, "__slots__", ()) if hasattr(x, s)
                    )
        return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runners", type=int, nargs="?", default=200_000)
    parser.add_argument(
        "--index",
        choices=("auto", "classes", "blocks", "compiled"),
        default="auto",
        help="the numpy backend's index (compiled needs numba, the fast extra)",
    )
    args = parser.parse_args(argv)
    n = args.runners
    runners = fleet(n)
    backend_name = "numpy"
    if args.index != "auto":
        from runtime_alloc.backends import register_backend  # noqa: PLC0415
        from runtime_alloc.backends.numpy import NumpyBackend  # noqa: PLC0415

        backend_name = f"numpy-{args.index}"
        register_backend(
            backend_name, lambda states, strategy: NumpyBackend(states, strategy, index=args.index)
        )
    alloc = Allocator(runners, backend=backend_name)
    alloc.allocate("t", "cpu=1")
    alloc.release("t")
    ledger = alloc._ledger
    rng = random.Random(1)
    for r in ledger.runners:
        ledger.reserve(Reservation("w-" + r.name, r.name, random_request(rng)))
    alloc.allocate("t", "cpu=1")
    backend: Any = ledger.backend
    table, classes = backend.table, backend.classes
    rows: list[tuple[str, Any]] = [
        ("fleet Runner objects (the user's)", runners),
        ("ledger: name -> row map", ledger.row_of),
        ("ledger: runner list, reserved columns, drain flags",
         [ledger.runners, ledger.cpu, ledger.memory, ledger.slots, ledger.drain]),
        ("ledger: held reservations, task ids, requests", ledger.held),
        ("ledger: task -> reservation map", ledger.reservations),
        ("numpy table: name -> key map", table.key_of),
        ("numpy table: runners list", table.runners),
        ("numpy table: columns",
         [v for v in vars(table).values() if isinstance(v, (np.ndarray, list))
          and not (isinstance(v, list) and v and not isinstance(v[0], np.ndarray))]),
    ]  # fmt: skip
    sizer = Sizer()
    for label, root in rows:
        print(f"{label:52s} {sizer.size(root) / n:8.1f}")
    if type(classes).__name__ == "CompiledIndex":  # index="compiled"
        for label, part in (
            ("rows (reserved, position, state, member)", classes.ri),
            ("positions", classes.pm),
            ("tree nodes (nf is a float view of ni)", classes.ni),
            ("trees, shapes", [classes.tr, classes.sh, classes.sf]),
        ):
            print(f"{'compiled index: ' + label:52s} {sizer.size(part) / n:8.1f}")
    elif classes is not None:
        print(
            f"{'class index: r-class tuple per row':52s} {sizer.size(classes.rclass_of) / n:8.1f}"
        )
        parts: Counter[str] = Counter()
        for g in classes.groups.values():
            for part in ("count", "members", "tiers"):
                parts[part] += sizer.size(getattr(g, part))
        for part, size in parts.items():
            print(f"{'class index: ' + part:52s} {size / n:8.1f}")
        print(f"{'class index: the rest (group list)':52s} {sizer.size(classes) / n:8.1f}")
    print(f"{'everything else of the allocator':52s} {sizer.size(alloc) / n:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
