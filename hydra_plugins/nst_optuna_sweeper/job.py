"""Job-side helpers: the optuna trial a job runs for, when launched by ``nst_optuna``.

Everything goes through the study's storage, so this works in the sweep process (basic
launcher) and in worker processes (joblib launcher) alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .config import PROMOTED_KEY, SWEEPER_TARGET, TRIAL_KEY

if TYPE_CHECKING:  # optuna is imported only when a trial handle is asked for
    import optuna


def _sweeper_hydra_config() -> DictConfig | None:
    """The job's Hydra config if it is a multirun job of this sweeper, else None."""
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    if OmegaConf.select(hydra_cfg, "sweeper._target_") != SWEEPER_TARGET:
        return None
    return hydra_cfg


def _trial_number(
    cfg: DictConfig | None, hydra_cfg: DictConfig, key: str = TRIAL_KEY
) -> int | None:
    if cfg is not None and cfg.get(key) is not None:
        return int(cfg[key])
    # Without the job's cfg: the sweeper passed it as ++<key>=<n> in the task overrides.
    for override in OmegaConf.select(hydra_cfg, "overrides.task") or []:
        name, sep, value = str(override).partition("=")
        if sep and name.lstrip("+") == key:
            return int(value)
    return None


def trial_info(cfg: DictConfig | None = None) -> tuple[str, int] | None:
    """``(study_name, trial_number)`` of the running job, e.g. for MLflow tags.

    None outside a multirun of the ``nst_optuna`` sweeper. Cheap: no storage access.
    """
    hydra_cfg = _sweeper_hydra_config()
    if hydra_cfg is None:
        return None
    number = _trial_number(cfg, hydra_cfg)
    if number is None:
        return None
    return str(hydra_cfg.sweeper.study_name), number


def promotion_info(cfg: DictConfig | None = None) -> tuple[str, int] | None:
    """``(study_name, trial_number)`` when the running job is the promotion of a finished trial
    (``hydra.sweeper.promote``); None otherwise. Cheap: no storage access.
    """
    hydra_cfg = _sweeper_hydra_config()
    if hydra_cfg is None:
        return None
    number = _trial_number(cfg, hydra_cfg, PROMOTED_KEY)
    if number is None:
        return None
    return str(hydra_cfg.sweeper.study_name), number


def promoted_trial(cfg: DictConfig | None = None) -> optuna.trial.FrozenTrial | None:
    """The finished trial this promotion job runs again (its params, values, user attrs), or
    None outside a promotion job or for a study in another process's memory.
    """
    info = promotion_info(cfg)
    if info is None:
        return None
    from ._study import load_existing_study

    study = load_existing_study(
        HydraConfig.get().sweeper.get("storage"), info[0], str(HydraConfig.get().runtime.cwd)
    )
    if study is None:
        return None
    return next((t for t in study.get_trials(deepcopy=False) if t.number == info[1]), None)


def current_trial(cfg: DictConfig | None = None) -> optuna.trial.Trial | None:
    """The optuna trial this job runs for, or None when not launched by ``nst_optuna``.

    Use it to ``trial.report(value, step)`` and, when ``trial.should_prune()``, to
    ``raise optuna.TrialPruned()`` (the sweeper then records the trial as PRUNED). The study is
    loaded with the sweeper's pruner; pruning needs a single-objective study.
    """
    info = trial_info(cfg)
    if info is None:
        return None
    from ._sampler import make_pruner
    from ._study import load_trial

    study_name, number = info
    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.sweeper
    return load_trial(
        sweeper.get("storage"),
        # Relative sqlite paths mean the launch directory, whatever the job's cwd is.
        str(hydra_cfg.runtime.cwd),
        study_name,
        number,
        make_pruner(sweeper.get("pruner")),
    )
