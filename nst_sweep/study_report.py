"""The Optuna study, summarised in the sweep's MLflow parent run.

Best weights and score as params/metrics, the optimisation history, parameter importances, the
Pareto front (multi-objective) and a contact sheet of the best trials' images, which may come
from earlier launches of the same study.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any

from nst_sweep.tracking import MlflowTracker

log = logging.getLogger(__name__)

BEST_SHOWN = 6  # images on the best-results contact sheet


def load_study(sweeper_cfg: Any) -> Any:
    """The study named in ``hydra.sweeper`` (None for an in-memory study)."""
    import optuna

    from hydra_plugins.nst_optuna_sweeper._study import resolve_storage_url

    storage = sweeper_cfg.get("storage")
    if not storage:
        return None
    url = resolve_storage_url(str(storage), os.getcwd())
    return optuna.load_study(study_name=str(sweeper_cfg.study_name), storage=url)


def best_trials(study: Any) -> list[Any]:
    """Best first: by value (one objective) or the Pareto front (several)."""
    import optuna

    if len(study.directions) > 1:
        return sorted(study.best_trials, key=lambda t: t.number)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(complete, key=lambda t: t.value, reverse=reverse)


def trial_label(trial: Any, objectives: list[str]) -> str:
    values = ", ".join(f"{name}={v:.4g}" for name, v in zip(objectives, trial.values, strict=True))
    params = ", ".join(
        f"{key.split('.')[-1].replace('_weight', '')}={value:.3g}"
        for key, value in trial.params.items()
    )
    return f"trial {trial.number}: {values}\n{params}"


def log_study_summary(parent: MlflowTracker, sweeper_cfg: Any) -> None:
    """Best params/metrics, study plots and a contact sheet of the best trials."""
    from nst_sweep.callbacks import final_image
    from nst_sweep.report import contact_sheet, study_figures

    study = load_study(sweeper_cfg)
    if study is None:
        return
    objectives = list(sweeper_cfg.get("objectives") or [])
    if len(objectives) != len(study.directions):
        objectives = [f"objective{i}" for i in range(len(study.directions))]
    study.set_metric_names(objectives)
    parent.set_tags({"optuna.study": study.study_name, "optuna.trials": str(len(study.trials))})
    ranked = best_trials(study)
    if ranked:
        best = ranked[0]
        parent.log_params({f"best.{key}": value for key, value in best.params.items()})
        parent.log_params({"best.trial_number": best.number})
        parent.log_metrics(
            {f"best/{name}": value for name, value in zip(objectives, best.values, strict=True)}
        )
    if len(study.directions) > 1:
        front = [{"number": t.number, "values": t.values, "params": t.params} for t in ranked]
        parent.log_text(json.dumps(front, indent=2), "pareto_front.json")
    for name, figure in study_figures(study).items():
        parent.log_figure(figure, f"study/{name}.png")

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
        parent.client.log_image(parent.run_id, sheet, artifact_file="study/best_results.png")
    parent.flush()


def trial_runs(parent: MlflowTracker, study_name: str, numbers: list[int]) -> dict[int, Any]:
    """The finished MLflow run of each trial number of the study, in this experiment."""
    if not numbers:
        return {}
    client = parent.client
    runs = client.search_runs(  # tag filters have no IN: select the numbers here
        [parent.experiment_id],
        filter_string=f"tags.`optuna.study` = '{study_name}' and attributes.status = 'FINISHED'",
        max_results=5000,
    )
    found: dict[int, Any] = {}
    for run in runs:
        number = int(run.data.tags.get("optuna.trial_number", -1))
        if number in numbers and not math.isnan(run.data.metrics.get("score", math.nan)):
            found.setdefault(number, run)
    return found
