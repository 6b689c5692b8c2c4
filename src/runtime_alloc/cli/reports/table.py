"""The ``simulate`` comparison table: one row per metric, one column per strategy, a verdict."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import IO

from runtime_alloc.simulation.result import SimulationResult

__all__ = ["print_table", "summary", "unschedulable_lines", "verdict"]

#: Task ids listed per unschedulable reason before "and N more".
_SHOW_TASKS = 5

_Row = tuple[str, Callable[[SimulationResult], float | None], str, bool | None]


def _short(strategy: str) -> str:
    return strategy.removesuffix("Strategy")


def verdict(
    values: Sequence[float | None],
    names: Sequence[str],
    *,
    lower_wins: bool,
    unit: str = "float",
) -> str:
    """One line saying which strategy wins a metric and by how much.

    Runtime complexity: O(S log S) for S values.

    Values that print the same in ``unit`` (as the table shows them) are a tie.

    >>> verdict([10.0, 8.0], ["EvenSpreadStrategy", "MaxPackingStrategy"], lower_wins=True)
    'MaxPacking, 20% lower'
    >>> verdict([0.5, 0.5], ["A", "B"], lower_wins=False)
    'tie'
    >>> verdict([0.0, 5.2e-07], ["EvenSpread", "MaxPacking"], lower_wins=True, unit="%")
    'tie'
    >>> verdict([0.0, 0.004], ["EvenSpread", "MaxPacking"], lower_wins=True, unit="%")
    'EvenSpread (0.0% vs 0.4%)'
    """
    known = [(v, n) for v, n in zip(values, names, strict=True) if v is not None]
    if len(known) < 2:
        return "-"
    ordered = sorted(known, key=lambda item: item[0], reverse=not lower_wins)
    (best, winner), (second, _) = ordered[0], ordered[1]
    if _fmt(best, unit) == _fmt(second, unit) or math.isclose(
        best, second, rel_tol=1e-9, abs_tol=1e-12
    ):
        return "tie"
    word = "lower" if lower_wins else "higher"
    if second == 0 or best == 0:
        return f"{_short(winner)} ({_fmt(best, unit)} vs {_fmt(second, unit)})"
    change = abs(best - second) / abs(second)
    return f"{_short(winner)}, {change:.0%} {word}"


def _utilization(dim: str) -> Callable[[SimulationResult], float | None]:
    return lambda r: r.utilization[dim]


def _stranded(dim: str) -> Callable[[SimulationResult], float | None]:
    return lambda r: r.stranded.get(dim)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.1%}"
    if unit == "int":
        return f"{value:,.0f}"
    if unit == "s":
        return f"{value:,.1f} s"
    if unit == "/s":
        return f"{value:,.0f}/s"
    return f"{value:.3f}"


def _rows(results: Sequence[SimulationResult]) -> list[_Row]:
    dims = [d for d in results[0].utilization if any(r.utilization[d] is not None for r in results)]
    rows: list[_Row] = [
        ("tasks placed", lambda r: r.placed, "int", None),
        ("unschedulable (never fit)", lambda r: r.unschedulable, "int", None),
        ("mean wait", lambda r: r.mean_wait_s, "s", True),
        ("p95 wait", lambda r: r.p95_wait_s, "s", True),
        ("max wait", lambda r: r.max_wait_s, "s", True),
        ("peak runners in use", lambda r: r.peak_runners_in_use, "int", True),
        ("  lower bound at peak demand", lambda r: r.runners_lower_bound, "int", None),
        ("mean runners in use", lambda r: r.mean_runners_in_use, "float", True),
    ]
    rows.extend(
        (f"{dim} utilization (in-use runners)", _utilization(dim), "%", False) for dim in dims
    )
    rows.extend(
        [
            ("imbalance: std of shares", lambda r: r.imbalance_std, "float", True),
            ("imbalance: max - min share", lambda r: r.imbalance_max_minus_min, "float", True),
        ]
    )
    rows.extend(
        (f"stranded {dim} (of fleet)", _stranded(dim), "%", True) for dim in results[0].stranded
    )
    rows.append(("decisions/s (wall clock, noisy)", lambda r: r.decisions_per_s, "/s", False))
    return rows


def summary(results: Sequence[SimulationResult]) -> str:
    """A closing sentence comparing the first two strategies on runners, balance and waiting.

    Runtime complexity: O(1): it reads the first two results.

    Each value is named with its strategy; values that print the same are said once.
    """
    if len(results) < 2:
        r = results[0]
        return (
            f"{r.strategy} placed {r.placed} of {r.tasks} tasks using "
            f"{r.mean_runners_in_use:.1f} runners on average (peak {r.peak_runners_in_use})."
        )
    a, b = results[0], results[1]
    fewer, more = (a, b) if a.mean_runners_in_use <= b.mean_runners_in_use else (b, a)
    low, high = f"{fewer.mean_runners_in_use:.1f}", f"{more.mean_runners_in_use:.1f}"
    if low == high:
        runners = f"{a.strategy} and {b.strategy} kept {low} runners busy on average"
    else:
        saved = 1 - fewer.mean_runners_in_use / more.mean_runners_in_use
        amount = f"{saved:.0%}" if f"{saved:.0%}" != "0%" else "slightly"
        runners = (
            f"{fewer.strategy} kept {amount} fewer runners busy on average "
            f"({low} vs {high} for {more.strategy})"
        )
    even, uneven = (a, b) if a.imbalance_std <= b.imbalance_std else (b, a)
    low, high = f"{even.imbalance_std:.3f}", f"{uneven.imbalance_std:.3f}"
    if low == high:
        balance = f"both spread load alike (std {low})"
    else:
        balance = (
            f"{even.strategy} spread load more evenly (std {low} vs {high} for {uneven.strategy})"
        )
    wait_a, wait_b = f"{a.mean_wait_s:.1f} s", f"{b.mean_wait_s:.1f} s"
    if wait_a == wait_b:
        wait = f"mean wait {wait_a} for both"
    else:
        wait = f"mean wait {wait_a} for {a.strategy} vs {wait_b} for {b.strategy}"
    return f"{runners}; {balance}; {wait}."


def unschedulable_lines(results: Sequence[SimulationResult]) -> list[str]:
    """Which tasks no runner could ever hold, grouped by the allocator's reason.

    Runtime complexity: O(U) for U unschedulable tasks.

    The fleet alone decides this, so every strategy has the same list; it is read
    from the first result.
    """
    tasks = results[0].unschedulable_tasks
    if not tasks:
        return []
    by_reason: dict[str, list[str]] = {}
    for task_id, reason in tasks:
        by_reason.setdefault(reason, []).append(task_id)
    noun = "task" if len(tasks) == 1 else "tasks"
    lines = [f"{len(tasks)} {noun} unschedulable (no runner could hold them even when empty):"]
    for reason, ids in by_reason.items():
        shown = ", ".join(ids[:_SHOW_TASKS])
        more = f" and {len(ids) - _SHOW_TASKS} more" if len(ids) > _SHOW_TASKS else ""
        lines.append(f"  {shown}{more}: {reason}")
    return lines


def print_table(results: Sequence[SimulationResult], title: str, file: IO[str]) -> None:
    """Print the comparison with rich (no colour when ``file`` is not a terminal).

    Runtime complexity: O(M * S log S) for M metric rows and S results.
    """
    from rich.console import Console  # noqa: PLC0415 (optional dependency)
    from rich.table import Table  # noqa: PLC0415

    console = Console(file=file, width=max(120, Console(file=file).width))
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    names = [r.strategy for r in results]
    for name in names:
        table.add_column(name, justify="right")
    if len(results) > 1:
        table.add_column("verdict (who wins)")
    for label, get, unit, lower_wins in _rows(results):
        values = [get(r) for r in results]
        cells = [_fmt(v, unit) for v in values]
        if len(results) > 1:
            cells.append(
                ""
                if lower_wins is None
                else verdict(values, names, lower_wins=lower_wins, unit=unit)
            )
        table.add_row(label, *cells)
    console.print(table)
    for line in unschedulable_lines(results):
        console.print(line, markup=False, highlight=False)
    console.print(summary(results), markup=False, highlight=False)
