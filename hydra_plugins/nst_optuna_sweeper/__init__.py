"""nst-sweep's own Hydra sweeper on Optuna 5: ``hydra/sweeper=nst_optuna``.

Inside a job, :func:`current_trial` gives the running optuna trial (to report and prune) and
:func:`trial_info` its ``(study_name, trial_number)``. After a sweep, :func:`sweep_study_name`,
:func:`load_study`, :func:`best_trials` and :func:`objective_names` give reports what the study
found, worked out the same way as the sweeper's own results file (:func:`trial_counts`: trials
by state). :func:`process_token` names this process and :func:`process_alive` tells whether a
named process still runs (``processes.py``); :func:`dead_processes` names those whose trials the
heartbeat failed. Before a sweep, :func:`check_config` checks the
sweeper's settings as the sweep will use them, and :func:`missing_driver` names what to install
for a database URL whose driver is missing. :func:`redact` is the one
rule that keeps URL passwords out of its logs and results file (and any app's, see ``secrets``).
"""

from typing import Any

from .checks import CheckedConfig, check_config, missing_driver
from .config import PROMOTED_KEY, RESULTS_FILE, SWEEPER_TARGET, TRIAL_KEY
from .job import current_trial, promoted_trial, promotion_info, trial_info
from .processes import process_alive, process_token
from .results import (
    best_trials,
    load_study,
    objective_names,
    promotions,
    sweep_study_name,
    trial_counts,
)
from .secrets import redact, redact_log_records, redact_url


def dead_processes(study: Any) -> set[str]:
    """Tokens of the processes whose trials the heartbeat failed (their other runs can be
    closed too). Imported on use: this package's top stays free of optuna for the reports."""
    from ._heartbeat import dead_processes as from_heartbeat

    return from_heartbeat(study)


__all__ = [
    "PROMOTED_KEY",
    "RESULTS_FILE",
    "SWEEPER_TARGET",
    "TRIAL_KEY",
    "CheckedConfig",
    "best_trials",
    "check_config",
    "current_trial",
    "dead_processes",
    "load_study",
    "missing_driver",
    "objective_names",
    "process_alive",
    "process_token",
    "promoted_trial",
    "promotion_info",
    "promotions",
    "redact",
    "redact_log_records",
    "redact_url",
    "sweep_study_name",
    "trial_counts",
    "trial_info",
]
