"""Structured config of the ``nst_optuna`` sweeper, registered as ``hydra/sweeper=nst_optuna``.

Kept free of optuna imports: Hydra imports every ``hydra_plugins`` module on each start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

SWEEPER_TARGET = "hydra_plugins.nst_optuna_sweeper.sweeper.NstOptunaSweeper"
# Per-job override ``++optuna_trial=<trial.number>`` that tells a job which trial it runs.
TRIAL_KEY = "optuna_trial"
DEFAULT_STORAGE = "sqlite:///runs/optuna.db"
DEFAULT_STUDY_NAME = "nst-sweep"
RESULTS_FILE = "optimization_results.yaml"


def _default_sampler() -> dict[str, Any]:
    # Only keys every optuna sampler accepts, so swapping `_target_` needs no other change.
    return {"_target_": "optuna.samplers.TPESampler", "seed": None}


@dataclass
class NstOptunaSweeperConf:
    """Settings under ``hydra.sweeper`` (same key names as Hydra's official Optuna sweeper)."""

    _target_: str = SWEEPER_TARGET
    # Instantiable optuna sampler; a seed makes the proposed params repeatable.
    sampler: Any = field(default_factory=_default_sampler)
    # "minimize" | "maximize", or a list of them for a multi-objective (Pareto) study.
    direction: Any = "minimize"
    # Optuna storage URL; relative sqlite paths are resolved against the launch directory.
    # null keeps the study in memory (lost at exit; only the basic launcher can prune).
    storage: str | None = DEFAULT_STORAGE
    # A second launch with the same name and storage continues the study.
    study_name: str = DEFAULT_STUDY_NAME
    # Trials this launch adds to the study.
    n_trials: int = 20
    # Trials asked and handed to the launcher per batch (run in parallel by e.g. joblib).
    n_jobs: int = 1
    # override key -> Hydra sweep string: interval(a, b), tag(log, interval(a, b)),
    # choice(a, b), range(a, b[, step]) or a plain value (passed to every job).
    params: dict[str, str] | None = None
    # Instantiable optuna pruner (e.g. optuna.pruners.MedianPruner) or null.
    pruner: Any = None
    # Keys picked, in order, from a job that returns a mapping (one per direction).
    objectives: list[str] | None = None


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="nst_optuna",
    node=NstOptunaSweeperConf,
    provider="nst_optuna_sweeper",
)
