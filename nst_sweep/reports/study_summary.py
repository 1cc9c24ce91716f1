"""The Optuna study, summarised in the sweep's MLflow parent run.

Best weights and score as params/metrics, the study plots (``study_plots.py``), the Pareto front
(multi-objective) and a contact sheet of the best trials' images, which may come from earlier
launches of the same study. What is "best" comes from the sweeper plugin's ``best_trials``, the
same rule as its ``optimization_results.yaml``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hydra_plugins.nst_optuna_sweeper import best_trials, load_study, objective_names, trial_counts
from nst_sweep.names import (
    BEST_METRIC_PREFIX,
    BEST_PARAM_PREFIX,
    BEST_RESULTS_ARTIFACT,
    BEST_TRIAL_PARAM,
    PARETO_FRONT_ARTIFACT,
    SCORE_METRIC,
    STUDY_STATES_TAG,
    STUDY_TAG,
    STUDY_TRIALS_TAG,
    TRIAL_NUMBER_TAG,
    study_plot_artifact,
)
from nst_sweep.reports.sheets import contact_sheet
from nst_sweep.reports.study_plots import study_figures
from nst_sweep.reports.sweep_summary import final_image
from nst_sweep.tracking import MlflowTracker

BEST_SHOWN = 6  # images on the best-results contact sheet


def trial_label(trial: Any, objectives: list[str]) -> str:
    values = ", ".join(f"{name}={v:.4g}" for name, v in zip(objectives, trial.values, strict=True))
    params = ", ".join(
        f"{key.split('.')[-1].replace('_weight', '')}={value:.3g}"
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
    if ranked:
        best = ranked[0]
        parent.log_params({f"{BEST_PARAM_PREFIX}{key}": v for key, v in best.params.items()})
        parent.log_params({BEST_TRIAL_PARAM: best.number})
        parent.log_metrics(
            {
                f"{BEST_METRIC_PREFIX}{name}": value
                for name, value in zip(objectives, best.values, strict=True)
            }
        )
    if len(study.directions) > 1:
        front = [{"number": t.number, "values": t.values, "params": t.params} for t in ranked]
        parent.log_text(json.dumps(front, indent=2), PARETO_FRONT_ARTIFACT)
    for name, figure in study_figures(study).items():
        parent.log_figure(figure, study_plot_artifact(name))

    shown = ranked[:BEST_SHOWN]
    runs = trial_runs(parent, study.study_name, [t.number for t in shown])
    images = [final_image(parent.client, runs[t.number]) if t.number in runs else None
              for t in shown]  # fmt: skip
    if shown:
        sheet = contact_sheet(
            images,
            [trial_label(t, objectives) for t in shown],
            title=f"study {study.study_name}: best trials",
            columns=min(3, len(shown)),
        )
        parent.client.log_image(parent.run_id, sheet, artifact_file=BEST_RESULTS_ARTIFACT)
    parent.flush()


def trial_runs(parent: MlflowTracker, study_name: str, numbers: list[int]) -> dict[int, Any]:
    """The finished MLflow run of each trial number of the study, in this experiment."""
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
        if number in numbers and not math.isnan(run.data.metrics.get(SCORE_METRIC, math.nan)):
            found.setdefault(number, run)
    return found
