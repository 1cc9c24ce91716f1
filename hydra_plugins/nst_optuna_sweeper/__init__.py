"""nst-sweep's own Hydra sweeper on Optuna 5: ``hydra/sweeper=nst_optuna``.

Inside a job, :func:`current_trial` gives the running optuna trial (to report and prune) and
:func:`trial_info` its ``(study_name, trial_number)``.
"""

from .config import TRIAL_KEY
from .job import current_trial, trial_info

__all__ = ["TRIAL_KEY", "current_trial", "trial_info"]
