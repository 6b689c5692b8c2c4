"""How fast the state machine of ``runtime_alloc.testing`` runs: steps per second, old vs new.

Runs ``AllocatorStateMachine`` on a fleet of ``--runners`` runners for
``--examples`` examples of at most ``--steps`` steps, in rounds, alternating
the current harness with the one at git revision ``--baseline`` (loaded from
git into a temporary package, so both run in this one process against the
same runtime_alloc), and prints the median time per step and per run.
``--profile`` prints a cProfile of one run of the current harness instead.

    python benchmarks/harness.py --baseline 4c0cb6d --rounds 7
    python benchmarks/harness.py --profile

A step is one rule call after initialization, with the invariant checks after
it. The two harnesses do not run the same rules (the current one has the
error-path rules), so compare time per step and the run times side by side.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

import runtime_alloc

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "src/runtime_alloc/testing"
GIT = shutil.which("git") or "git"


def load_baseline(revision: str, into: Path) -> Any:
    """Import the harness at ``revision`` as package ``harness_baseline`` (from git, not the tree)."""
    names = subprocess.run(
        [GIT, "ls-tree", "--name-only", f"{revision}:{PACKAGE}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    target = into / "harness_baseline"
    target.mkdir()
    for name in names:
        if not name.endswith(".py"):
            continue
        text = subprocess.run(
            [GIT, "show", f"{revision}:{PACKAGE}/{name}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (target / name).write_text(text.replace("runtime_alloc.testing", "harness_baseline"))
    sys.path.insert(0, str(into))
    return importlib.import_module("harness_baseline")


def machine(package: Any, runners: int) -> tuple[type[Any], list[int]]:
    """A machine class of ``package`` on ``runners`` runners, and its step counter."""
    counter = [0]

    class Machine(package.AllocatorStateMachine):  # type: ignore[misc, name-defined]
        def fleet_strategy(self) -> Any:
            return package.fleets(min_size=runners, max_size=runners)

        def teardown(self) -> None:
            counter[0] += self.steps

    return Machine, counter


def run(machine_class: type[Any], counter: list[int], config: settings) -> tuple[float, int]:
    counter[0] = 0
    start = time.perf_counter()
    run_state_machine_as_test(machine_class, settings=config)
    return time.perf_counter() - start, counter[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git revision of the harness to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", type=int, default=60)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--runners", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile one run of the current")
    args = parser.parse_args()
    config = settings(
        max_examples=args.examples,
        stateful_step_count=args.steps,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    import runtime_alloc.testing as current  # noqa: PLC0415

    print(
        f"python {platform.python_version()}, hypothesis {hypothesis.__version__}, "
        f"runtime_alloc {runtime_alloc.__version__}, {platform.machine()} {platform.system()}; "
        f"{args.examples} examples x {args.steps} steps max, {args.runners} runners"
    )
    variants: dict[str, tuple[type[Any], list[int]]] = {"current": machine(current, args.runners)}
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        seconds, steps = run(*variants["current"], config)
        profile.disable()
        print(f"current: {steps} steps in {seconds:.2f} s under cProfile")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            variants["baseline"] = machine(load_baseline(args.baseline, Path(tmp)), args.runners)
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in variants}
        for index in range(args.rounds):
            order = list(variants) if index % 2 == 0 else list(reversed(variants))
            for name in order:
                results[name].append(run(*variants[name], config))
        for name, rows in results.items():
            per_step = statistics.median(1000 * s / max(n, 1) for s, n in rows)
            per_run = statistics.median(s for s, _ in rows)
            steps = statistics.median(n for _, n in rows)
            print(
                f"{name:>8}: {per_step:.3f} ms/step (median of {len(rows)}), "
                f"{per_run:.2f} s per run of {steps:.0f} steps"
            )


if __name__ == "__main__":
    main()
