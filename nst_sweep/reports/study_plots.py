"""Summary plots of an Optuna study: history, parameter slices and importances, Pareto front.

The only module of :mod:`nst_sweep.reports` that imports optuna. Objective names and the Pareto
front come from the sweeper plugin's public helpers, so plots and results file agree.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from matplotlib.figure import Figure

from hydra_plugins.nst_optuna_sweeper import best_trials, objective_names
from nst_sweep.names import HISTORY_PLOT, IMPORTANCES_PLOT, PARETO_PLOT, SLICE_PLOT
from nst_sweep.reports.curves import subplot_grid
from nst_sweep.reports.labels import format_value

__all__ = ["study_figures"]


def _complete_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.values is not None
    ]


def _state_summary(trials: Sequence[optuna.trial.FrozenTrial]) -> str:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


def _history_figure(study: optuna.Study, complete: Sequence[optuna.trial.FrozenTrial]) -> Figure:
    names = objective_names(study)
    nrows, ncols = subplot_grid(len(names), 2)
    fig = Figure(figsize=(6 * ncols, 3.8 * nrows), layout="constrained")
    numbers = np.array([t.number for t in complete], dtype=float)
    for k, (name, direction) in enumerate(zip(names, study.directions, strict=True)):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        values = np.array([t.values[k] for t in complete], dtype=float)
        ax.scatter(numbers, values, s=18, label=name, zorder=3)
        maximize = direction == optuna.study.StudyDirection.MAXIMIZE
        best = np.fmax.accumulate(values) if maximize else np.fmin.accumulate(values)
        ax.step(numbers, best, where="post", color="tab:red", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(name)
        ax.set_title(f"{name} ({'max' if maximize else 'min'}imize)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"optimization history: {_state_summary(study.get_trials(deepcopy=False))}")
    return fig


def _importance_target(study: optuna.Study) -> Callable[[optuna.trial.FrozenTrial], float] | None:
    if len(study.directions) == 1:
        return None
    # Importance for the first objective only; evaluators assume "lower is better" for targets.
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return lambda t: sign * t.values[0]


def _importances_figure(study: optuna.Study) -> Figure | None:
    try:
        with warnings.catch_warnings():
            # The evaluator warns whenever a custom target is passed; we already fixed the sign.
            warnings.simplefilter("ignore", UserWarning)
            importances = optuna.importance.get_param_importances(
                study, target=_importance_target(study)
            )
    except Exception:
        # Degenerate studies (constant params, dynamic search spaces, inf values) can make any
        # evaluator raise; a missing plot is better than a failed summary.
        return None
    items = [(k, float(v)) for k, v in importances.items() if math.isfinite(float(v))]
    if not items:
        return None
    items.sort(key=lambda kv: kv[1])
    fig = Figure(figsize=(6, 1.2 + 0.4 * len(items)), layout="constrained")
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color="tab:blue")
    ax.set_xlabel("importance")
    target = objective_names(study)[0]
    ax.set_title(f"parameter importances for {target}")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def _slice_figure(study: optuna.Study, complete: Sequence[optuna.trial.FrozenTrial]) -> Figure:
    """Objective (first one) against each parameter's value."""
    params = sorted({p for t in complete for p in t.params})
    nrows, ncols = subplot_grid(len(params), 3)
    lines = max((_category_lines(complete, name) for name in params), default=1)
    fig = Figure(figsize=(4.5 * ncols, (3.3 + 0.2 * lines) * nrows), layout="constrained")
    target = objective_names(study)[0]
    for i, name in enumerate(params):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        trials = [t for t in complete if name in t.params]
        ys = [t.values[0] for t in trials]
        dist = trials[-1].distributions[name]
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            choices = _choices(trials, name)
            xs = [choices.index(str(t.params[name])) for t in trials]
            ax.set_xticks(range(len(choices)), [_wrapped(c) for c in choices], fontsize="small")
        else:
            xs = [float(t.params[name]) for t in trials]
            _few_ticks(ax, xs, log=getattr(dist, "log", False))
        ax.scatter(xs, ys, c=[t.number for t in trials], cmap="viridis", s=18)
        ax.set_xlabel(name)
        ax.set_ylabel(target)
        ax.grid(True, alpha=0.3)
    return fig


SLICE_TICKS = 4  # numeric ticks per slice: short labels (format_value) that never touch
TICK_WRAP = 22  # characters per line of a categorical tick label (layer lists wrap)


def _choices(trials: Sequence[optuna.trial.FrozenTrial], name: str) -> list[str]:
    """A categorical parameter's choices, and any an earlier distribution had."""
    dist = trials[-1].distributions[name]
    choices = [str(c) for c in dist.choices]  # type: ignore[attr-defined]
    return choices + sorted({str(t.params[name]) for t in trials} - set(choices))


def _wrapped(choice: str) -> str:
    """A tick label on lines of ``TICK_WRAP`` characters, whole (never cut)."""
    return textwrap.fill(format_value(choice).replace(",", ", "), TICK_WRAP)


def _category_lines(complete: Sequence[optuna.trial.FrozenTrial], name: str) -> int:
    trials = [t for t in complete if name in t.params]
    if not isinstance(trials[-1].distributions[name], optuna.distributions.CategoricalDistribution):
        return 1
    return max(_wrapped(c).count("\n") + 1 for c in _choices(trials, name))


def _few_ticks(ax: Any, xs: Sequence[float], log: bool) -> None:
    """``SLICE_TICKS`` ticks across the values tried, labelled compactly; no minor labels.

    Matplotlib's log axis labels minor ticks in scientific notation when the values span less
    than a decade or two, and those labels run into each other.
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    lo, hi = min(xs), max(xs)
    if log:
        ax.set_xscale("log")
    if hi > lo:
        ticks = (
            np.geomspace(lo, hi, SLICE_TICKS)
            if log and lo > 0
            else np.linspace(lo, hi, SLICE_TICKS)
        )
        ticks = [float(f"{t:.2g}") for t in ticks]
    else:
        ticks = [lo]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ticks, [format_value(t) for t in ticks])


def _pareto_figure(study: optuna.Study, complete: Sequence[optuna.trial.FrozenTrial]) -> Figure:
    names = objective_names(study)
    front = {t.number for t in best_trials(study)}
    pairs = [(a, b) for a in range(len(names)) for b in range(a + 1, len(names))]
    nrows, ncols = subplot_grid(len(pairs), 3)
    fig = Figure(figsize=(5 * ncols, 4 * nrows), layout="constrained")
    on = [t for t in complete if t.number in front]
    off = [t for t in complete if t.number not in front]
    for i, (a, b) in enumerate(pairs):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        groups = ((off, "trial", {"color": "tab:blue", "alpha": 0.5, "s": 18}),
                  (on, "Pareto front", {"color": "tab:red", "s": 28}))  # fmt: skip
        for trials, label, style in groups:
            if trials:
                xs, ys = [t.values[a] for t in trials], [t.values[b] for t in trials]
                ax.scatter(xs, ys, label=label, **style)
        ax.set_xlabel(names[a])
        ax.set_ylabel(names[b])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Pareto front")
    return fig


def study_figures(study: optuna.Study) -> dict[str, Figure]:
    """Summary plots for an Optuna study, keyed by name; absent when there's nothing to draw.

    ``optimization_history`` and ``param_slice`` need >= 1 complete trial (``param_slice`` also
    >= 1 param); ``param_importances`` needs >= 2 complete trials with params and is omitted if
    the evaluator fails (first objective for multi-objective studies); ``pareto_front`` is only
    for multi-objective studies. Failed/pruned trials are counted in the history title only.
    """
    complete = _complete_trials(study)
    figures: dict[str, Figure] = {}
    if not complete:
        return figures
    figures[HISTORY_PLOT] = _history_figure(study, complete)
    has_params = any(t.params for t in complete)
    if has_params:
        figures[SLICE_PLOT] = _slice_figure(study, complete)
    if has_params and len(complete) >= 2:
        importances = _importances_figure(study)
        if importances is not None:
            figures[IMPORTANCES_PLOT] = importances
    if len(study.directions) > 1:
        figures[PARETO_PLOT] = _pareto_figure(study, complete)
    return figures
