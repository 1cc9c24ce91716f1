"""What a study found, worked out once for the sweeper's results file and every report.

Public: reports in other packages import these (never the private modules of this plugin).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from .config import RESULTS_FILE

if TYPE_CHECKING:  # optuna is imported lazily: Hydra imports this package on every start-up
    import optuna

log = logging.getLogger(__name__)

_COUNTED = ("complete", "fail", "pruned", "running", "waiting")  # every TrialState


def objective_names(study: optuna.Study) -> list[str]:
    """The study's metric names when set (the sweeper sets ``objectives``), else generic ones."""
    count = len(study.directions)
    names = study.metric_names
    if names and len(names) == count:
        return [str(name) for name in names]
    return ["objective"] if count == 1 else [f"objective_{i}" for i in range(count)]


def best_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Best first: complete trials by value (one objective), or the Pareto front by number.

    With one objective the first is optuna's own ``study.best_trial``, the official plugin's
    ``best_params`` and ``best_value``, also when several trials tie.
    """
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    if len(study.directions) > 1:
        return sorted(study.best_trials, key=lambda t: t.number)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    complete = [t for t in complete if t.value is not None]
    if not complete:
        return []
    maximize = study.direction == StudyDirection.MAXIMIZE
    ranked = sorted(complete, key=lambda t: (-t.value if maximize else t.value, t.number))
    best = study.best_trial
    return [best, *(t for t in ranked if t.number != best.number)]


def promotions(study: optuna.Study) -> list[dict[str, Any]]:
    """The study's completed promotions (``hydra.sweeper.promote``), best first.

    Each: ``trial`` (number), ``values`` (the promotion job's), ``trial_values`` (the trial's
    own), ``params`` and ``trial_rank`` (1 = the search's best trial by :func:`best_trials`).
    """
    from ._promote import promoted

    return promoted(study, best_trials(study))


def load_study(storage: str | None, study_name: str, base_dir: str | Path) -> optuna.Study | None:
    """The study a sweep wrote, with relative sqlite paths meaning ``base_dir`` (the launch
    folder, ``hydra.runtime.cwd``), as the sweeper resolves them. None for an in-memory study
    that lives in another process, or one that does not exist.
    """
    from ._study import load_existing_study

    return load_existing_study(storage, study_name, base_dir)


def sweep_study_name(config: DictConfig) -> str | None:
    """The study a finished sweep ran: ``hydra.sweeper.study_name``, or for a null name the one
    optuna generated, read from the sweep's results file. None when neither is known.
    """
    name = OmegaConf.select(config, "hydra.sweeper.study_name")
    if name is not None:
        return str(name)
    path = Path(str(OmegaConf.select(config, "hydra.sweep.dir"))) / RESULTS_FILE
    if not path.is_file():
        return None
    found = OmegaConf.load(path).get("study_name")
    return None if found is None else str(found)


def trial_counts(study: optuna.Study) -> dict[str, int]:
    """The study's trials: ``total``, then how many are in each of optuna's states."""
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name.lower() for t in trials)
    return {"total": len(trials), **{state: states[state] for state in _COUNTED}}


def sweep_results(
    study: optuna.Study,
    storage: str | None,
    objectives: Sequence[str] | None,
    launched: Mapping[str, int],
    seconds: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """The content of the results file: the official plugin's keys first, then ours.

    ``seconds``: this launch's wall time, ``total`` and ``trials`` (without promotions).
    """
    ranked = best_trials(study)
    results: dict[str, Any] = {"name": "optuna"}
    if len(study.directions) == 1:
        best = ranked[0] if ranked else None
        results["best_params"] = None if best is None else dict(best.params)
        results["best_value"] = None if best is None else best.value
        results["best_trial"] = None if best is None else best.number
    else:
        results["solutions"] = [
            {"params": dict(t.params), "values": list(t.values), "number": t.number} for t in ranked
        ]
    results.update(
        study_name=study.study_name,
        storage=storage,
        directions=[d.name.lower() for d in study.directions],
        objectives=None if objectives is None else list(objectives),
        n_trials=trial_counts(study),
        this_launch=_this_launch(launched, seconds or {}),
    )
    promoted = promotions(study)
    if promoted:
        best = promoted[0]
        results["promoted"] = {
            # One objective: the winner after promotion, and where the search had ranked it.
            **(
                {
                    "best_trial": best["trial"],
                    "best_value": best["values"][0],
                    "best_params": best["params"],
                    "trial_rank": best["trial_rank"],
                    "output_dir": best["output_dir"],
                }
                if len(study.directions) == 1
                else {}
            ),
            "trials": promoted,
        }
    return results


def _this_launch(launched: Mapping[str, int], seconds: Mapping[str, float | None]) -> dict:
    counts = {k: launched.get(k, 0) for k in ("complete", "fail", "pruned")}
    trials = sum(counts.values())
    trial_seconds = seconds.get("trials")
    return {
        **counts,
        "promoted": launched.get("promoted", 0),
        "promotion_failed": launched.get("promotion_failed", 0),
        "seconds": None if seconds.get("total") is None else round(float(seconds["total"]), 1),
        "seconds_per_trial": (
            round(float(trial_seconds) / trials, 1)
            if trial_seconds is not None and trials
            else None
        ),
    }


def write_results(results: Mapping[str, Any], path: Path) -> None:
    """Log what the study found and save ``results`` (from :func:`sweep_results`) to ``path``."""
    counts = results["n_trials"]
    states = ", ".join(f"{counts[state]} {state}" for state in _COUNTED)
    log.info("Study %r: %d trials (%s)", results["study_name"], counts["total"], states)
    if "solutions" in results:
        log.info("Pareto front: %d trial(s)", len(results["solutions"]))
        for item in results["solutions"]:
            log.info("  #%d values=%s params=%s", item["number"], item["values"], item["params"])
    elif results["best_trial"] is None:
        log.warning("No trial completed: no best params")
    else:
        log.info(
            "Best trial #%d: value=%s params=%s",
            results["best_trial"],
            results["best_value"],
            results["best_params"],
        )
    if "promoted" in results and "best_trial" in results["promoted"]:
        promoted = results["promoted"]
        log.info(
            "Best after promotion: trial #%d value=%s (the search ranked it #%s) params=%s",
            promoted["best_trial"],
            promoted["best_value"],
            promoted["trial_rank"],
            promoted["best_params"],
        )
    launch = results["this_launch"]
    if launch["seconds"] is not None:
        log.info(
            "This launch: %d complete, %d pruned, %d failed, %d promoted in %.0f s "
            "(%s s per trial)",
            launch["complete"],
            launch["pruned"],
            launch["fail"],
            launch["promoted"],
            launch["seconds"],
            launch["seconds_per_trial"],
        )
    OmegaConf.save(OmegaConf.create(dict(results)), path)
    log.info("Wrote %s", path)
