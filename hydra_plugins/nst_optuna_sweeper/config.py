"""Structured config of the ``nst_optuna`` sweeper, registered as ``hydra/sweeper=nst_optuna``.

The keys and defaults are those of Hydra's official Optuna sweeper (``hydra/sweeper=optuna``),
so a config written for it works here unchanged; ``pruner``, ``objectives``, ``promote``,
``heartbeat_interval``, ``grace_period``, ``stop_after_same_failures`` and ``fixed_per_study``
are ours.
Kept free of optuna imports: Hydra imports every ``hydra_plugins`` module on each start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# Importing the samplers module registers the hydra/sweeper/sampler group; the official
# plugin's config module has these names too.
from .samplers import (
    CmaEsSamplerConfig,
    GPSamplerConfig,
    GridSamplerConfig,
    MOTPESamplerConfig,
    NSGAIIISamplerConfig,
    NSGAIISamplerConfig,
    QMCSamplerConfig,
    RandomSamplerConfig,
    SamplerConfig,
    TPESamplerConfig,
    raise_motpe_removed,
)

__all__ = [
    "DISTRIBUTION",
    "PROMOTED_KEY",
    "RESULTS_FILE",
    "SWEEPER_TARGET",
    "TRIAL_KEY",
    "CmaEsSamplerConfig",
    "Direction",
    "GPSamplerConfig",
    "GridSamplerConfig",
    "MOTPESamplerConfig",
    "NSGAIIISamplerConfig",
    "NSGAIISamplerConfig",
    "NstOptunaSweeperConf",
    "QMCSamplerConfig",
    "RandomSamplerConfig",
    "SamplerConfig",
    "TPESamplerConfig",
    "raise_motpe_removed",
]

SWEEPER_TARGET = "hydra_plugins.nst_optuna_sweeper.sweeper.NstOptunaSweeper"
# Per-job override ``++optuna_trial=<trial.number>`` that tells a job which trial it runs.
TRIAL_KEY = "optuna_trial"
# Per-job override ``++optuna_promoted=<trial.number>`` of a promotion job (``promote``): the job
# runs that finished trial's params again, e.g. at full size.
PROMOTED_KEY = "optuna_promoted"
RESULTS_FILE = "optimization_results.yaml"
# The distribution whose extras install what a sampler needs (cmaes, torch, scipy).
DISTRIBUTION = "nst-sweep"


class Direction(Enum):
    """The official plugin's direction enum; plain strings work too."""

    minimize = 1
    maximize = 2


@dataclass
class NstOptunaSweeperConf:
    """Settings under ``hydra.sweeper``; see the README next to this file for each key."""

    _target_: str = SWEEPER_TARGET
    # The sampler and pruner configs reach the sweeper as configs: it builds them itself, so a
    # bad value fails in one line that names the key, and a resumed study can be reseeded.
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])

    # hydra/sweeper/sampler=tpe|random|cmaes|nsgaii|nsgaiii|grid|qmc|gp, or any _target_.
    sampler: SamplerConfig = MISSING
    # "minimize" | "maximize", or a list of them for a multi-objective (Pareto) study.
    direction: Any = Direction.minimize.name
    # Database URL; null keeps the study in this process's memory. Relative sqlite paths mean
    # the launch directory.
    storage: str | None = None
    # Same name + storage = continue the study; null: Optuna names it (no-name-<uuid>).
    study_name: str | None = None
    # Trials this launch adds (capped at the grid's size for the grid sampler).
    n_trials: int = 20
    # Trials asked, then launched together, per batch (parallel with e.g. hydra/launcher=joblib).
    n_jobs: int = 2
    # Largest failed share of a batch that does not stop the sweep: 0.0 stops at the first
    # failed trial, 1.0 never stops.
    max_failure_rate: float = 0.0
    # override key -> Hydra sweep string: interval(a, b), int(interval(a, b)),
    # tag(log, interval(a, b)), range(a, b[, step]), choice(...), shuffle(...) or a fixed value.
    params: dict[str, str] | None = None
    # Dotpath of a function f(cfg, trial) that suggests more params on each trial.
    custom_search_space: str | None = None
    # Ours: an instantiable optuna pruner (e.g. optuna.pruners.MedianPruner) or null.
    pruner: Any = None
    # Ours: keys picked, in order, from a job that returns a mapping (one per direction).
    objectives: list[str] | None = None
    # Ours: after the trials, launch the best ``promote`` trials again (a Pareto study: spread
    # along the front) as promotion jobs with ``++optuna_promoted=<number>``; their results are
    # kept in the study. A trial is promoted once per study. 0 = none (the official behaviour).
    promote: int = 0
    # Ours: seconds between heartbeats of each running trial (database storages). A trial
    # whose process died (on this machine: at once; elsewhere: no heartbeat for grace_period)
    # is failed and its params queued again by the next sweep of the study. null: off.
    heartbeat_interval: int | None = None
    # Ours: seconds without a heartbeat before a trial counts as dead; null: 2 x the interval.
    grace_period: int | None = None
    # Ours: stop the launch when its first this-many trials all failed with the same reason
    # (a missing file, a setting every trial shares): no later trial would do better. 0: off.
    stop_after_same_failures: int = 0
    # Ours: values the study is made for (e.g. {image.size: ${image.size}}), stored in it by
    # its first launch; a launch with other values is refused in one line. null: not checked.
    fixed_per_study: dict[str, Any] | None = None


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="nst_optuna",
    node=NstOptunaSweeperConf,
    provider="nst_optuna_sweeper",
)
