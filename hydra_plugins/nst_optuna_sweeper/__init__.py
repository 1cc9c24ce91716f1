"""nst-sweep's own Hydra sweeper on Optuna 5: ``hydra/sweeper=nst_optuna``.

Inside a job, :func:`current_trial` gives the running optuna trial (to report and prune) and
:func:`trial_info` its ``(study_name, trial_number)``. After a sweep, :func:`sweep_study_name`,
:func:`load_study`, :func:`best_trials` and :func:`objective_names` give reports what the study
found, worked out the same way as the sweeper's own results file. :func:`redact` is the one
rule that keeps URL passwords out of its logs and results file (and any app's, see ``secrets``).
"""

from .config import PROMOTED_KEY, RESULTS_FILE, SWEEPER_TARGET, TRIAL_KEY
from .job import current_trial, promoted_trial, promotion_info, trial_info
from .results import best_trials, load_study, objective_names, promotions, sweep_study_name
from .secrets import redact, redact_log_records, redact_url

__all__ = [
    "PROMOTED_KEY",
    "RESULTS_FILE",
    "SWEEPER_TARGET",
    "TRIAL_KEY",
    "best_trials",
    "current_trial",
    "load_study",
    "objective_names",
    "promoted_trial",
    "promotion_info",
    "promotions",
    "redact",
    "redact_log_records",
    "redact_url",
    "sweep_study_name",
    "trial_info",
]
