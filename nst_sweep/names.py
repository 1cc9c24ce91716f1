"""Every name a user sees in MLflow or in a run folder, once.

Metric keys, tags, image keys, artifact and file names. The README's tables are checked against
this module by ``tests/test_names.py``; code that writes or reads one of these names imports it
from here. The sweeper plugin's own names (``optuna_trial``, ``optimization_results.yaml``) live
in the plugin, which any Hydra app can use without this package.
"""

from __future__ import annotations

from nst_sweep.records import LOSS_NAMES

# ------------------------------------------------------------------ metrics
LOSS_PREFIX = "loss/"  # loss/total, loss/content, loss/style, loss/tv: eqs (6), (1), (4), (5)
LOSS_METRICS: tuple[str, ...] = tuple(f"{LOSS_PREFIX}{name}" for name in LOSS_NAMES)
SECONDS_METRIC = "perf/seconds"  # wall time since the loop started, per step
LEVEL_METRIC = "level"  # multi-scale renders: the pyramid level of each step (0 = coarsest)
SCORE_METRIC = "score"  # the perceptual score (nst_sweep/score.py), lower is better
SCORE_CONTENT_METRIC = "score/content"
SCORE_STYLE_METRIC = "score/style"
SCORE_METRICS: tuple[str, ...] = (SCORE_METRIC, SCORE_CONTENT_METRIC, SCORE_STYLE_METRIC)
BEST_METRIC_PREFIX = "best/"  # parent run of a search: best/score, ...
BEST_PARAM_PREFIX = "best."  # parent run of a search: best.loss.style_weight, ...
BEST_TRIAL_PARAM = "best.trial_number"
BEST_RANK_PARAM = "best.trial_rank"  # after promotion: where the search's trials ranked the winner

# ------------------------------------------------------------------ tags of a job run
FAILURE_REASON_TAG = "failure.reason"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
DEVICE_TAG = "device"
TENSORFLOW_VERSION_TAG = "tensorflow.version"
WEIGHTS_TAG = "model.weights"
SEED_TAG = "seed"
OVERRIDES_TAG = "hydra.overrides"
JOB_NUM_TAG = "hydra.job.num"
STUDY_TAG = "optuna.study"
TRIAL_NUMBER_TAG = "optuna.trial_number"
PRUNED_TAG = "optuna.pruned"
STAGE_TAG = "nst.stage"  # a preview search's jobs: PREVIEW_STAGE (a trial) or PROMOTION_STAGE
PREVIEW_STAGE = "preview"
PROMOTION_STAGE = "promotion"
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own: nests a run under another
PROCESS_TAG = "nst.process"  # host/pid/... of the process that runs it (job and sweep runs)

# ------------------------------------------------------------------ tags of a sweep run
ROLE_TAG = "nst.role"
SWEEP_ROLE = "sweep"
SWEEP_DIR_TAG = "sweep.dir"
SWEEP_OVERRIDES_TAG = "sweep.overrides"
SWEEPER_TAG = "sweeper"
SWEEP_JOBS_TAG = "sweep.jobs"
SWEEP_FAILED_TAG = "sweep.failed_jobs"
NOTE_TAG = "mlflow.note.content"  # MLflow's own: the run's description (the swept keys)
STUDY_TRIALS_TAG = "optuna.trials"
STUDY_STATES_TAG = "optuna.trial_states"  # "complete=3 fail=1 pruned=0 running=0 waiting=0"

# ------------------------------------------------------------------ images (MLflow image keys)
CONTENT_IMAGE = "content"
STYLE_IMAGE = "style"
PROGRESS_IMAGE = "progress"
RESULT_IMAGE = "result"

# ------------------------------------------------------------------ artifacts
RESULT_ARTIFACT = "result.png"  # a job's final image; the sweep summary fetches it by name
CONFIG_ARTIFACT = "config.yaml"
OVERRIDES_ARTIFACT = "overrides.yaml"
CONTACT_SHEET_ARTIFACT = "contact_sheet.png"
LOSS_CURVES_ARTIFACT = "loss_curves.png"
STUDY_PLOT_FOLDER = "study"  # study/optimization_history.png, study/param_slice.png, ...
HISTORY_PLOT = "optimization_history"
IMPORTANCES_PLOT = "param_importances"
SLICE_PLOT = "param_slice"
PARETO_PLOT = "pareto_front"
STUDY_PLOTS: tuple[str, ...] = (HISTORY_PLOT, IMPORTANCES_PLOT, SLICE_PLOT, PARETO_PLOT)
BEST_RESULTS_ARTIFACT = f"{STUDY_PLOT_FOLDER}/best_results.png"
PARETO_FRONT_ARTIFACT = "pareto_front.json"

# ------------------------------------------------------------------ files on disk
OUTPUT_FILE = "result.png"  # where a run writes its image by default (the command: its folder)
PARENT_FILE = "mlflow_parent.json"  # how the jobs of a sweep find its parent run
SPOOL_FOLDER = "mlflow_spool"  # what a run could not send to MLflow (nst_sweep/spool.py)

# ------------------------------------------------------------------ optuna trial user attrs
RESULT_IMAGE_ATTR = "nst.result_image"  # a trial's image file, which its promotion starts from


def study_plot_artifact(name: str) -> str:
    """``study/<name>.png`` for one of ``STUDY_PLOTS``."""
    return f"{STUDY_PLOT_FOLDER}/{name}.png"
