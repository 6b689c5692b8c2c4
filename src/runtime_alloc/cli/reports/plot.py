"""The ``simulate --plot`` figure: runners in use and utilization over time, and heatmaps."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runtime_alloc.simulation.result import SimulationResult, Timeline

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.image import AxesImage

__all__ = ["EMPTY_NOTE", "write_plot"]

_STYLES = ("-", "--", ":", "-.")

#: What the figure says when no task was ever placed (an empty workload).
EMPTY_NOTE = "No task was placed (the workload is empty or nothing fits): nothing to plot."

#: Gamma of the heatmaps' colour scale: shares of a few percent get distinct colours.
_GAMMA = 0.4


def write_plot(results: Sequence[SimulationResult], title: str, target: str) -> None:
    """Draw one figure: runners in use, utilization per dimension, per-runner heatmaps.

    Every result must carry a timeline (``simulate(..., samples=N)``). The heatmaps
    show only the runners that held a task at some sampled instant (a fleet of
    thousands of mostly idle runners would otherwise be one colour), on a power
    colour scale that separates small shares. Legends sit beside the axes, not
    over the data. When no task was placed the figure holds one note saying so.

    Cost: O(S x R) for S samples and R runners, plus matplotlib's rendering.
    """
    import matplotlib as mpl  # noqa: PLC0415 (optional dependency)

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.colors import PowerNorm  # noqa: PLC0415

    timelines = [r.timeline for r in results]
    if any(t is None for t in timelines):
        msg = "every result needs a timeline to be plotted"
        raise ValueError(msg)
    with mpl.rc_context({"svg.fonttype": "none"}):
        if not any(_placed_any(t) for t in timelines if t is not None):
            fig = plt.figure(figsize=(8, 2.5))
            fig.text(0.5, 0.6, title, ha="center", fontsize=10)
            fig.text(0.5, 0.4, EMPTY_NOTE, ha="center", fontsize=11)
            fig.savefig(target, dpi=110)
            plt.close(fig)
            print(f"note: --plot {target}: {EMPTY_NOTE}", file=sys.stderr)
            return
        count = len(results)
        fig = plt.figure(figsize=(12, 10), layout="constrained")
        grid = fig.add_gridspec(3, count)
        ax_runners = fig.add_subplot(grid[0, :])
        ax_util = fig.add_subplot(grid[1, :], sharex=ax_runners)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        norm = PowerNorm(gamma=_GAMMA, vmin=0.0, vmax=1.0)
        image = None
        heat_axes: list[Axes] = []
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
            heat_axes.append(ax_heat)
            image = _heatmap(ax_heat, result.strategy, timeline, norm)
        ax_runners.set_ylabel("runners in use")
        ax_runners.set_xlabel("time (h)")
        ax_runners.set_title(title, loc="left", fontsize=10)
        ax_runners.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax_util.set_ylabel("utilization of in-use runners")
        ax_util.set_xlabel("time (h)")
        ax_util.set_ylim(0, 1.05)
        ax_util.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
        if image is not None:
            fig.colorbar(
                image,
                ax=heat_axes,
                label=f"dominant share (power scale, gamma {_GAMMA})",
                shrink=0.9,
                ticks=[0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0],
            )
        fig.savefig(target, dpi=110)
        plt.close(fig)


def _placed_any(timeline: Timeline) -> bool:
    return any(n > 0 for n in timeline.runners_in_use)


def _heatmap(ax: Axes, strategy: str, timeline: Timeline, norm: Normalize) -> AxesImage:
    """One strategy's heatmap of the runners that held a task at some sampled instant."""
    columns = list(zip(*timeline.runner_share, strict=True)) if timeline.runner_share else []
    used: list[tuple[float, ...]] = [row for row in columns if any(s > 0 for s in row)]
    total = len(timeline.runner_names)
    samples = timeline.sample_times or (0.0,)
    start, end = samples[0] / 3600, samples[-1] / 3600
    if end <= start:
        end = start + 1 / 3600
    image = ax.imshow(
        used or [(0.0,)],
        aspect="auto",
        interpolation="nearest",
        origin="lower",
        norm=norm,
        cmap="viridis",
        extent=(start, end, 0, max(len(used), 1)),
    )
    ax.set_title(f"{strategy}: dominant share per in-use runner", fontsize=9)
    ax.set_xlabel("time (h)")
    ax.set_ylabel(f"{len(used):,} of {total:,} runners that held a task")
    return image
