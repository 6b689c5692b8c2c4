"""The ``fill --plot`` figure: GPU allocated against GPU arrived, like the FGD paper's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime_alloc.simulation.fill import FillRun

__all__ = ["write_fill_plot"]

_POINTS = 400


def write_fill_plot(runs: Mapping[str, Sequence[FillRun]], title: str, target: str) -> None:
    """Draw the mean over seeds of GPU allocated (% of capacity) vs GPU arrived (%).

    Each run is interpolated on a common grid of arrived shares, then averaged.
    Runtime complexity: O(strategies x seeds x P).
    """
    import matplotlib as mpl  # noqa: PLC0415 (optional dependency)
    import numpy as np  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    shares = [
        100.0 * int(r.arrived[-1]) / r.capacity for g in runs.values() for r in g if len(r.arrived)
    ]
    top = max(shares, default=100.0)
    grid = np.linspace(0.0, top, _POINTS)
    for name, group in runs.items():
        curves = [
            np.interp(grid, 100.0 * r.arrived / r.capacity, 100.0 * r.allocated / r.capacity)
            if len(r.arrived)
            else np.zeros_like(grid)
            for r in group
        ]
        mean = np.mean(curves, axis=0)
        ends = [r.end_share for r in group]
        ax.plot(grid, mean, label=f"{name} (end {sum(ends) / len(ends):.2f} %)")
    ax.plot([0, 100], [0, 100], color="grey", linewidth=0.6, linestyle=":")
    ax.set_xlabel("GPU arrived (% of capacity)")
    ax.set_ylabel("GPU allocated (% of capacity)")
    seeds = len(next(iter(runs.values())))
    ax.set_title(f"{title}: mean of {seeds} seed(s)")
    ax.set_ylim(bottom=max(0.0, float(min(60.0, top))))
    ax.set_xlim(left=max(0.0, float(min(60.0, top))))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(target)
    plt.close(fig)
