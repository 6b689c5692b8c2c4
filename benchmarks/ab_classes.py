"""Compare a variant of the numpy class index with the repository's, in one process.

Usage (from the repository root, numpy installed)::

    cp src/runtime_alloc/backends/numpy/shape_classes.py /tmp/variant.py   # then edit the copy
    python benchmarks/ab_classes.py /tmp/variant.py --strategy MaxPackingStrategy --runners 100000

On a shared machine the speed moves by tens of percent between runs, so two runs
of ``decisions.py`` cannot show a change of a few percent. This script builds two
allocators on the same warm state (the issue-3 workload of ``_workload.py``), gives
the second one the variant's ``ClassIndex``, times them in alternating rounds of
churn steps and prints the median decisions/s of each and their ratio. Both must
end in the same state (checked), so the variant's decisions are compared as well.
Run it with the unmodified file first: the ratio of an A/A run shows the noise.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runtime_alloc.backends.numpy.backend as numpy_backend
from _workload import STRATEGIES, Churn, warm_allocator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "variant", type=Path, help="a modified copy of backends/numpy/shape_classes.py"
    )
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="MaxPackingStrategy")
    parser.add_argument("--runners", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--steps", type=int, default=1000, help="steps per round")
    args = parser.parse_args(argv)
    spec = importlib.util.spec_from_file_location("variant_classes", args.variant)
    if spec is None or spec.loader is None:
        parser.error(f"variant: cannot load {args.variant}")
    variant = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(variant)
    base = warm_allocator(args.runners, args.strategy, "numpy")
    other = warm_allocator(args.runners, args.strategy, "numpy")
    if base._backend.classes is None:
        parser.error("the fleet does not use the class index")
    repository_index = numpy_backend.ClassIndex
    numpy_backend.ClassIndex = variant.ClassIndex  # type: ignore[misc]
    try:
        other._backend.rebuild()  # the same states, indexed by the variant's code
    finally:
        numpy_backend.ClassIndex = repository_index  # type: ignore[misc]
    assert type(other._backend.classes) is variant.ClassIndex
    churns = (Churn(base), Churn(other))
    for churn in churns:
        churn.rate(500)
    rates: tuple[list[float], list[float]] = ([], [])
    for _ in range(args.rounds):
        for churn, out in zip(churns, rates, strict=True):
            out.append(churn.rate(args.steps))
    if base.snapshot() != other.snapshot():
        print("the variant made different decisions", file=sys.stderr)
        return 1
    a, b = (statistics.median(r) for r in rates)
    pairwise = statistics.median(y / x for x, y in zip(*rates, strict=True))
    print(
        f"{args.strategy} {args.runners:,} runners, median of {args.rounds} x {args.steps} steps: "
        f"repository {a:.0f}/s, variant {b:.0f}/s, variant / repository {b / a:.3f} "
        f"(median of the per-round ratios {pairwise:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
