"""Toy Hydra app for the sweeper tests: a cheap objective, no TensorFlow.

``mode`` picks what a job does: return a float, a list (multi-objective) or a dict; fail or
return NaN on chosen trial numbers; report intermediate values for pruning.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import hydra
import optuna
from omegaconf import DictConfig

from hydra_plugins.nst_optuna_sweeper import current_trial, trial_info

log = logging.getLogger(__name__)


def _objective(cfg: DictConfig) -> float:
    penalty = 0.0 if cfg.opt == "adam" else 0.1
    return (cfg.x - 0.3) ** 2 + 0.01 * (math.log10(cfg.lr) + 3) ** 2 + 0.01 * cfg.n + penalty


# An absolute config path: the tests also import this file as a module and call main().
@hydra.main(
    version_base="1.3", config_path=str(Path(__file__).parent / "conf"), config_name="config"
)
def main(cfg: DictConfig) -> Any:
    number = cfg.get("optuna_trial")
    if cfg.check_not_sweeping:
        # Single run: not launched by the sweeper, so no trial.
        assert number is None and trial_info() is None and current_trial() is None
        return _objective(cfg)
    if number is not None and number == cfg.raise_on_trial:
        raise RuntimeError(f"toy failure on trial {number}")
    if number is not None and number == cfg.nan_on_trial:
        return math.nan
    value = _objective(cfg)
    if cfg.report_steps:
        trial = current_trial()
        assert trial is not None and trial.number == number
        assert trial_info() == (trial.study.study_name, number)
        bad = 1000.0 if number == cfg.bad_trial else 0.0
        for step in range(cfg.report_steps):
            trial.report(value + bad + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
    if cfg.ret == "list":
        return [cfg.x**2, (cfg.x - 1) ** 2]
    if cfg.ret == "dict":
        return {"score": value, "score/neg": -value, "other": 7.0}
    return value


if __name__ == "__main__":
    main()
