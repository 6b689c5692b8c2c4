"""The ``simulate --plot`` figure: runners in use and utilization over time, and heatmaps."""

from __future__ import annotations

import math
from collections.abc import Sequence

from runtime_alloc.simulation.result import SimulationResult

__all__ = ["write_plot"]

_STYLES = ("-", "--", ":", "-.")


def write_plot(results: Sequence[SimulationResult], title: str, target: str) -> None:
    """Draw one PNG: runners in use, utilization per dimension, per-runner heatmaps.

    Every result must carry a timeline (``simulate(..., samples=N)``).
    """
    import matplotlib as mpl  # noqa: PLC0415 (optional dependency)

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    timelines = [r.timeline for r in results]
    if any(t is None for t in timelines):
        msg = "every result needs a timeline to be plotted"
        raise ValueError(msg)
    count = len(results)
    fig = plt.figure(figsize=(12, 9), layout="constrained")
    grid = fig.add_gridspec(3, count)
    ax_runners = fig.add_subplot(grid[0, :])
    ax_util = fig.add_subplot(grid[1, :], sharex=ax_runners)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    image = None
    for k, result in enumerate(results):
        timeline = result.timeline
        assert timeline is not None  # noqa: S101 (checked above)
        hours = [t / 3600 for t in timeline.times]
        color = colors[k % len(colors)]
        ax_runners.step(
            hours, timeline.runners_in_use, where="post", color=color, label=result.strategy
        )
        for d, (dim, values) in enumerate(timeline.utilization.items()):
            if all(math.isnan(v) for v in values) or result.utilization.get(dim) is None:
                continue
            ax_util.step(
                hours,
                values,
                where="post",
                color=color,
                linestyle=_STYLES[d % len(_STYLES)],
                linewidth=0.8,
                label=f"{result.strategy} {dim}",
            )
        ax_heat = fig.add_subplot(grid[2, k])
        shares = (
            list(zip(*timeline.runner_share, strict=True)) if timeline.runner_share else [[0.0]]
        )
        samples = timeline.sample_times or (0.0,)
        image = ax_heat.imshow(
            shares,
            aspect="auto",
            interpolation="nearest",
            origin="lower",
            vmin=0.0,
            vmax=1.0,
            cmap="viridis",
            extent=(samples[0] / 3600, samples[-1] / 3600, 0, len(shares)),
        )
        ax_heat.set_title(f"{result.strategy}: dominant share per runner")
        ax_heat.set_xlabel("time (h)")
        ax_heat.set_ylabel("runner (registration order)")
    ax_runners.set_ylabel("runners in use")
    ax_runners.set_title(title, loc="left", fontsize=10)
    ax_runners.legend(loc="upper right", fontsize=8)
    ax_util.set_ylabel("utilization of in-use runners")
    ax_util.set_xlabel("time (h)")
    ax_util.set_ylim(0, 1.05)
    ax_util.legend(loc="upper right", fontsize=7, ncols=2)
    if image is not None:
        fig.colorbar(image, ax=fig.axes[2:], label="dominant share", shrink=0.9)
    fig.savefig(target, dpi=110)
    plt.close(fig)
