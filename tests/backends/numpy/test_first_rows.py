"""A new table's rows, assigned at once (``Table._first_rows``), equal the one-by-one assignment.

The numpy assignment of a build must give every runner the row, block and group
the Python pass (``Table._next_rows``) gives when the same runners arrive one
after the other: the first runner is added alone (a new table), the rest through
the Python pass, and the two tables must agree in every piece of layout.
"""

from __future__ import annotations

import random

import pytest

pytest.importorskip("numpy")

from runtime_alloc import Resources, Runner
from runtime_alloc.backends.numpy.columns import MAX_EXACT_GROUPS, Table


def layout(t: Table) -> tuple:
    return (
        dict(t.key_of),
        list(t.fill),
        {k: list(v) for k, v in t._groups.items()},
        t.block_first_sequence[: t.nblocks].tolist(),
        t.nblocks,
        t.runners,
        t.labelset[: t.nrows].tolist(),
    )


def runners(n: int, caps: int, seed: int) -> list[Runner]:
    rng = random.Random(seed)
    shapes = [Resources(1000 * (1 + i), (1 + i % 7) << 30, 1 + i % 5) for i in range(caps)]
    return [
        Runner(f"r{i}", rng.choice(shapes), labels=frozenset({"x"}) if rng.random() < 0.3 else ())
        for i in range(n)
    ]


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize(
    ("n", "caps", "block_size"),
    [(1, 1, 4), (7, 1, 4), (300, 3, 4), (1000, 5, 64), (2000, MAX_EXACT_GROUPS + 40, 8)],
)
def test_a_new_tables_rows_equal_one_by_one(n, caps, block_size, ordered):
    fleet = runners(n, caps, seed=n + caps)
    at_once = Table((1, 1, 1), block_size, summaries=False, ordered=ordered)
    at_once.add_many(fleet)
    one_by_one = Table((1, 1, 1), block_size, summaries=False, ordered=ordered)
    one_by_one.add_many(fleet[:1])  # a new table: the numpy assignment of one runner
    for runner in fleet[1:]:
        one_by_one.add_many([runner])  # then the Python pass, one runner at a time
    assert layout(at_once) == layout(one_by_one)
    if n > 1:
        two_steps = Table((1, 1, 1), block_size, summaries=False, ordered=ordered)
        two_steps.add_many(fleet[: n // 2])
        two_steps.add_many(fleet[n // 2 :])
        assert layout(at_once) == layout(two_steps)
