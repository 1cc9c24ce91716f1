"""The Optuna study, summarised in the sweep's MLflow parent run.

Best weights and score as params/metrics, the study plots (``study_plots.py``), the Pareto front
(multi-objective) and a contact sheet of the best trials' images, which may come from earlier
launches of the same study. What is "best" comes from the sweeper plugin's ``best_trials``, the
same rule as its ``optimization_results.yaml``; in a preview search, once trials have been
promoted, from their full-size renders (``promotions``) instead of the previews.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hydra_plugins.nst_optuna_sweeper import (
    best_trials,
    load_study,
    objective_names,
    promotions,
    trial_counts,
)
from nst_sweep.names import (
    BEST_METRIC_PREFIX,
    BEST_PARAM_PREFIX,
    BEST_RANK_PARAM,
    BEST_RESULTS_ARTIFACT,
    BEST_TRIAL_PARAM,
    PARETO_FRONT_ARTIFACT,
    PROMOTION_STAGE,
    SCORE_METRIC,
    STAGE_TAG,
    STUDY_STATES_TAG,
    STUDY_TAG,
    STUDY_TRIALS_TAG,
    TRIAL_NUMBER_TAG,
    study_plot_artifact,
)
from nst_sweep.reports.labels import format_value
from nst_sweep.reports.sheets import contact_sheet
from nst_sweep.reports.study_plots import study_figures
from nst_sweep.reports.sweep_summary import final_image
from nst_sweep.tracking import MlflowTracker

BEST_SHOWN = 6  # images on the best-results contact sheet


def trial_label(trial: Any, objectives: list[str]) -> str:
    """``trial 3: score=1.234`` over its params, numbers to 3 digits, categories as they are
    (``layers=blocks_1_3`` from a ``choice(...)`` search)."""
    values = ", ".join(f"{name}={v:.4g}" for name, v in zip(objectives, trial.values, strict=True))
    params = ", ".join(
        f"{key.split('.')[-1].replace('_weight', '')}={format_value(value)}"
        for key, value in trial.params.items()
    )
    return f"trial {trial.number}: {values}\n{params}"


def log_study_summary(
    parent: MlflowTracker, storage: str | None, study_name: str, base_dir: str | Path
) -> None:
    """Best params/metrics, study plots and a contact sheet of the best trials."""
    study = load_study(storage, study_name, base_dir)
    if study is None:
        return
    objectives = objective_names(study)
    counts = trial_counts(study)
    states = " ".join(f"{state}={n}" for state, n in counts.items() if state != "total")
    parent.set_tags(
        {
            STUDY_TAG: study.study_name,
            STUDY_TRIALS_TAG: str(counts["total"]),
            STUDY_STATES_TAG: states,
        }
    )
    ranked = best_trials(study)
    promoted = promotions(study)
    if promoted and len(study.directions) == 1:
        # The full-size renders decide: a preview's score ranks previews, not final images.
        winner = promoted[0]
        _log_best(parent, winner["params"], winner["trial"], winner["values"], objectives)
        parent.log_params({BEST_RANK_PARAM: winner["trial_rank"]})
    elif ranked:
        best = ranked[0]
        _log_best(parent, best.params, best.number, best.values, objectives)
    if len(study.directions) > 1:
        front = [{"number": t.number, "values": t.values, "params": t.params} for t in ranked]
        parent.log_text(json.dumps(front, indent=2), PARETO_FRONT_ARTIFACT)
    for name, figure in study_figures(study).items():
        parent.log_figure(figure, study_plot_artifact(name))

    if promoted:
        shown_numbers = [p["trial"] for p in promoted[:BEST_SHOWN]]
        by_number = {t.number: t for t in ranked}
        labels = [
            promotion_label(p, by_number.get(p["trial"]), objectives) for p in promoted[:BEST_SHOWN]
        ]
        title = f"study {study.study_name}: best trials at full size"
    else:
        shown_numbers = [t.number for t in ranked[:BEST_SHOWN]]
        labels = [trial_label(t, objectives) for t in ranked[:BEST_SHOWN]]
        title = f"study {study.study_name}: best trials"
    runs = trial_runs(parent, study.study_name, shown_numbers, promoted=bool(promoted))
    images = [final_image(parent.client, runs[n]) if n in runs else None for n in shown_numbers]
    if shown_numbers:
        sheet = contact_sheet(images, labels, title=title, columns=min(3, len(shown_numbers)))
        parent.client.log_image(parent.run_id, sheet, artifact_file=BEST_RESULTS_ARTIFACT)
    parent.flush()


def _log_best(
    parent: MlflowTracker,
    params: dict[str, Any],
    number: int,
    values: list[float],
    objectives: list[str],
) -> None:
    parent.log_params({f"{BEST_PARAM_PREFIX}{key}": v for key, v in params.items()})
    parent.log_params({BEST_TRIAL_PARAM: number})
    parent.log_metrics(
        {f"{BEST_METRIC_PREFIX}{name}": v for name, v in zip(objectives, values, strict=True)}
    )


def promotion_label(promoted: dict[str, Any], trial: Any, objectives: list[str]) -> str:
    """The full-size values, then the trial's preview values and rank."""
    values = ", ".join(
        f"{name}={v:.4g}" for name, v in zip(objectives, promoted["values"], strict=True)
    )
    label = f"trial {promoted['trial']} full size: {values}"
    if trial is not None:
        label += f"\n(preview rank {promoted['trial_rank']}) {trial_label(trial, objectives)}"
    return label


def trial_runs(
    parent: MlflowTracker, study_name: str, numbers: list[int], promoted: bool = False
) -> dict[int, Any]:
    """The finished MLflow run of each trial number of the study, in this experiment: the
    trial's own run, or with ``promoted`` its promotion's."""
    if not numbers:
        return {}
    runs = parent.client.search_runs(  # tag filters have no IN: select the numbers here
        [parent.experiment_id],
        filter_string=f"tags.`{STUDY_TAG}` = '{study_name}' and attributes.status = 'FINISHED'",
        max_results=5000,
    )
    found: dict[int, Any] = {}
    for run in runs:
        number = int(run.data.tags.get(TRIAL_NUMBER_TAG, -1))
        if (run.data.tags.get(STAGE_TAG) == PROMOTION_STAGE) != promoted:
            continue
        if number in numbers and not math.isnan(run.data.metrics.get(SCORE_METRIC, math.nan)):
            found.setdefault(number, run)
    return found
