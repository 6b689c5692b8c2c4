"""pytest-benchmark microbenchmarks of the numpy backend (issue 3 workload).

Run: ``pytest benchmarks/bench_decisions.py --benchmark-enable -p no:randomly``
(the test line runs them once each with benchmarking disabled, as smoke tests).
"""

from __future__ import annotations

import itertools

import pytest

pytest.importorskip("numpy")

from _workload import STRATEGIES, Churn, fleet, warm_allocator
from runtime_alloc import Allocator


@pytest.mark.parametrize("strategy", ["EvenSpreadStrategy", "MaxPackingStrategy"])
@pytest.mark.parametrize("backend", ["python", "numpy"])
def bench_step_10k(benchmark, strategy, backend):
    churn = Churn(warm_allocator(10_000, strategy, backend))
    draws = itertools.cycle(churn.draws(20_000))  # drawn before timing
    benchmark(lambda: churn.step(*next(draws)))
    churn.allocator._check()


@pytest.mark.parametrize("strategy", ["EvenSpreadStrategy", "MaxPackingStrategy"])
def bench_step_100k_numpy(benchmark, strategy):
    churn = Churn(warm_allocator(100_000, strategy, "numpy"))
    draws = itertools.cycle(churn.draws(20_000))
    benchmark(lambda: churn.step(*next(draws)))


@pytest.mark.parametrize("strategy", ["EvenSpreadStrategy", "MaxPackingStrategy"])
def bench_allocate_many_100k_tasks_on_10k_runners(benchmark, strategy):
    runners = fleet(10_000)
    items = [(f"m{i}", "slots=1") for i in range(100_000)]

    def setup():
        return (Allocator(runners, strategy=STRATEGIES[strategy](), backend="numpy"),), {}

    result = benchmark.pedantic(lambda a: a.allocate_many(items), setup=setup, rounds=3)
    assert len(result) == 100_000
