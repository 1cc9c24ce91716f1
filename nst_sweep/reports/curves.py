"""Loss curves of a sweep's jobs, one subplot per metric, and rendering figures to arrays.

Figures are built with ``matplotlib.figure.Figure`` directly, so nothing touches pyplot's global
state or needs a display.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nst_sweep.names import LOSS_METRICS

__all__ = ["figure_to_array", "loss_curves_figure"]


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render ``fig`` with the Agg canvas and return a uint8 RGB (H, W, 3) array."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def subplot_grid(n: int, max_cols: int) -> tuple[int, int]:
    """(rows, cols) for ``n`` subplots, at most ``max_cols`` per row."""
    cols = max(1, min(n, max_cols))
    return math.ceil(n / cols), cols


def _order_metrics(names: Sequence[str]) -> list[str]:
    """The loss terms first, in ``LOSS_METRICS`` order; any other metric after, sorted."""
    present = set(names)
    preferred = [m for m in LOSS_METRICS if m in present]
    return preferred + sorted(present - set(LOSS_METRICS))


def _apply_value_scale(ax: Any, values: np.ndarray) -> None:
    """Log when everything is positive; symlog when values span decades; linear otherwise."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    if np.all(finite > 0):
        ax.set_yscale("log")
        return
    nonzero = np.abs(finite[finite != 0])
    if nonzero.size and nonzero.max() / nonzero.min() > 100:
        ax.set_yscale("symlog", linthresh=float(nonzero.min()))


def _legend_label(label: str) -> str:
    return textwrap.fill(label.replace("\n", ", "), LEGEND_WRAP)


LEGEND_WRAP = 70  # characters per line of a job's legend entry (whole, wrapped)


def _job_colour(index: int, count: int) -> Any:
    """One colour per job, the same in every panel (one legend serves them all)."""
    import matplotlib

    if count <= 10:
        return f"C{index}"
    if count <= 20:
        return matplotlib.colormaps["tab20"](index)
    return matplotlib.colormaps["viridis"](index / (count - 1))


def loss_curves_figure(
    curves: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
) -> Figure:
    """One subplot per metric (loss/total, content, style, tv first), one line per job.

    ``curves[job_label][metric] = [(step, value), ...]``. Jobs without a metric (or with no
    points) get no line in that subplot; non-finite values are drawn as gaps. One legend below
    the panels names every job (in the panels, a legend per panel would cover the curves).
    """
    metrics = _order_metrics(
        [m for per_job in curves.values() for m, pts in per_job.items() if pts]
    )
    if not metrics:
        fig = Figure(figsize=(5, 2.5))
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no loss curves", ha="center", va="center")
        ax.set_axis_off()
        return fig

    nrows, ncols = subplot_grid(len(metrics), 2)
    labels = [_legend_label(job) for job in curves]
    columns = 1 if max(len(label) for label in labels) > 35 else 2 if len(labels) > 1 else 1
    legend_lines = sum(label.count("\n") + 1 for label in labels) / columns
    height = 3.8 * nrows + 0.3 + 0.2 * legend_lines
    fig = Figure(figsize=(6 * ncols, height), layout="constrained")
    handles: dict[str, Any] = {}
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        all_values = []
        for j, (job, per_job) in enumerate(curves.items()):
            points = sorted(per_job.get(metric, ()), key=lambda p: p[0])
            if not points:
                continue
            steps = np.array([p[0] for p in points], dtype=float)
            values = np.array([p[1] for p in points], dtype=float)
            all_values.append(values)
            # inf would wreck autoscaling (esp. on log axes); draw it as a gap like NaN.
            (line,) = ax.plot(steps, np.where(np.isfinite(values), values, np.nan),
                              color=_job_colour(j, len(curves)), label=labels[j])  # fmt: skip
            handles.setdefault(job, line)
        _apply_value_scale(ax, np.concatenate(all_values))
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.grid(True, which="major", alpha=0.3)
    shown = [job for job in curves if job in handles]
    fig.legend([handles[job] for job in shown], [_legend_label(job) for job in shown],
               loc="outside lower center", ncols=columns, fontsize="small")  # fmt: skip
    return fig
