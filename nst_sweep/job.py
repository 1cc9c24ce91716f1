"""A job as Hydra runs it: its place in a sweep (``JobContext``), its MLflow run (``open_tracker``,
``log_config``) and, in a preview search, what it renders (``staged``, ``keep_trial_image``).

``app.py`` (the command) and any Hydra app that tracks its jobs as nst-sweep does (the tests'
``sweeper_app/tracked.py``) use these.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from hydra_plugins.nst_optuna_sweeper import (
    current_trial,
    promoted_trial,
    promotion_info,
    trial_info,
)
from nst_sweep.callbacks import read_parent, read_swept
from nst_sweep.dead_runs import process_tags
from nst_sweep.errors import UserError
from nst_sweep.names import (
    CONFIG_ARTIFACT,
    GIT_COMMIT_TAG,
    JOB_NUM_TAG,
    OVERRIDES_ARTIFACT,
    OVERRIDES_TAG,
    PREVIEW_STAGE,
    PROMOTION_STAGE,
    RESULT_IMAGE_ATTR,
    STAGE_TAG,
    STUDY_TAG,
    TRIAL_NUMBER_TAG,
)
from nst_sweep.settings import RunSettings, TrackingSettings
from nst_sweep.swept import run_name
from nst_sweep.tracker import NullTracker, Tracker
from nst_sweep.tracking import (
    MAX_TAG_LENGTH,
    MlflowTracker,
    flatten,
    git_commit,
    quiet_mlflow_logging,
    store_error,
)
from nst_sweep.tune import preview_settings, preview_side, promotion_settings

log = logging.getLogger("nst_sweep")


@dataclass(frozen=True)
class JobContext:
    """What Hydra knows about this job: its overrides and, in a multirun, its place in the sweep."""

    overrides: list[str] = field(default_factory=list)
    multirun: bool = False
    job_num: int | None = None
    sweep_dir: str | None = None
    trial: tuple[str, int] | None = None  # (study name, trial number) in an nst_optuna search
    promoted: tuple[str, int] | None = None  # the same, when the job renders a trial again
    output_dir: str | None = None  # the job's folder: what MLflow did not take is kept there

    @classmethod
    def current(cls) -> JobContext:
        """The running Hydra job's context; an empty one when called from plain Python."""
        if not HydraConfig.initialized():
            return cls()
        hydra_cfg = HydraConfig.get()
        overrides = _as_typed(hydra_cfg.overrides.task)
        output_dir = hydra_cfg.runtime.output_dir
        if hydra_cfg.mode != RunMode.MULTIRUN:
            return cls(overrides, output_dir=output_dir)
        return cls(
            overrides,
            True,
            int(hydra_cfg.job.num),
            str(hydra_cfg.sweep.dir),
            trial_info(),
            promotion_info(),
            output_dir,
        )

    @property
    def searched(self) -> bool:
        """A trial of an ``nst_optuna`` search, or its promotion."""
        return self.trial is not None or self.promoted is not None

    def run_name(self) -> str | None:
        if not self.multirun:
            return None
        base = f"job {self.job_num}"
        if self.trial is not None:
            base = f"trial {self.trial[1]}"
        elif self.promoted is not None:
            base = f"trial {self.promoted[1]} full size"
        return run_name(base, self.overrides, read_swept(self.sweep_dir))  # job 3 · tv_weight=10

    def tags(self) -> dict[str, str]:
        tags = {OVERRIDES_TAG: " ".join(self.overrides)[:MAX_TAG_LENGTH]}
        if self.job_num is not None:
            tags[JOB_NUM_TAG] = str(self.job_num)
        for study, number in filter(None, (self.trial, self.promoted)):
            tags.update({STUDY_TAG: study, TRIAL_NUMBER_TAG: str(number)})
        return tags


def staged(settings: RunSettings, job: JobContext, tracker: Tracker) -> RunSettings:
    """A preview search's trial renders a preview, its promotion the full size (``tune.py``)."""
    side = preview_side(settings.tune, settings.transfer.image.size)
    if side is None or (job.trial is None and job.promoted is None):
        return settings
    if job.trial is not None:
        tracker.set_tags({STAGE_TAG: PREVIEW_STAGE})
        return preview_settings(settings, side)
    tracker.set_tags({STAGE_TAG: PROMOTION_STAGE})
    source = promoted_trial()
    preview = None if source is None else source.user_attrs.get(RESULT_IMAGE_ATTR)
    if preview is None or not Path(preview).is_file():
        log.warning("no preview image of the trial at %s: rendering it afresh", preview)
        preview = None
    return promotion_settings(settings, side, preview)


def keep_trial_image(output: Path) -> None:
    """Tell the trial where its image is: its promotion starts from it."""
    trial = current_trial()
    if trial is not None:
        trial.set_user_attr(RESULT_IMAGE_ATTR, str(output.resolve()))


def _as_typed(overrides: Any) -> list[str]:
    """Hydra's override strings unresolved: ``${...}`` in one may only resolve inside a job."""
    return [str(o) for o in OmegaConf.to_container(overrides, resolve=False)]  # type: ignore[union-attr]


def open_tracker(tracking: TrackingSettings, job: JobContext) -> Tracker:
    """The MLflow run for this job, nested under its sweep's parent (or nothing to track)."""
    if not tracking.enabled:
        return NullTracker()
    quiet_mlflow_logging()
    parent = read_parent(job.sweep_dir, tracking.uri) if job.sweep_dir else None
    try:
        return MlflowTracker(
            uri=tracking.uri,
            experiment=tracking.experiment,
            run_name=tracking.run_name or job.run_name(),
            parent_run_id=parent,
            tags={**job.tags(), GIT_COMMIT_TAG: git_commit(), **process_tags()},
            flush_every=tracking.flush_every,
            spool_dir=job.output_dir,
            timeout=tracking.timeout,
            retries=tracking.retries,
            # The sweep's store answered at its start: an outage since must not lose this job.
            start_offline=parent is not None,
        )
    except UserError:  # a read-only store: the message names it and the fix already
        raise
    except Exception as exc:
        raise store_error(tracking.uri, exc) from exc


def log_config(tracker: Tracker, config: Mapping[str, Any], job: JobContext) -> None:
    """Params (the flattened config) and the config + Hydra overrides as YAML artifacts."""
    tracker.log_params(flatten(config))
    tracker.log_text(OmegaConf.to_yaml(OmegaConf.create(dict(config))), CONFIG_ARTIFACT)
    tracker.log_text(OmegaConf.to_yaml(OmegaConf.create(job.overrides)), OVERRIDES_ARTIFACT)
