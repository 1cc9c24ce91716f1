"""A sweep's parent run: a contact sheet and the loss curves of its child runs (from MLflow)."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import numpy as np

from nst_sweep.dead_runs import RUNNING, close_run, owned_by_live_process
from nst_sweep.images import load_image
from nst_sweep.names import (
    CONTACT_SHEET_ARTIFACT,
    FAILURE_REASON_TAG,
    JOB_NUM_TAG,
    LOSS_CURVES_ARTIFACT,
    LOSS_METRICS,
    PARENT_RUN_TAG,
    PRUNED_TAG,
    RESULT_ARTIFACT,
    SWEEP_FAILED_TAG,
    SWEEP_JOBS_TAG,
)
from nst_sweep.reports.curves import loss_curves_figure
from nst_sweep.reports.labels import job_labels
from nst_sweep.reports.sheets import contact_sheet
from nst_sweep.tracking import MlflowTracker

# MLflow draws a progress bar for every artifact the summary downloads.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

log = logging.getLogger(__name__)


def child_runs(parent: MlflowTracker) -> list[Any]:
    """The parent's children, in job order."""
    runs = parent.client.search_runs(
        [parent.experiment_id], filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent.run_id}'"
    )
    return sorted(runs, key=lambda r: int(r.data.tags.get(JOB_NUM_TAG, 0)))


def final_image(client: Any, run: Any) -> np.ndarray | None:
    """The ``result.png`` of a FINISHED run, or None (failed, pruned, or not uploaded)."""
    if run.info.status != "FINISHED":
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run.info.run_id, RESULT_ARTIFACT, tmp)
        except Exception:
            return None
        return load_image(path)


def summarize_children(parent: MlflowTracker) -> None:
    """Contact sheet and loss curves of every child run, logged to the parent."""
    client = parent.client
    runs = child_runs(parent)
    if not runs:
        return
    # The launcher has returned every job: a child still RUNNING lost its process (a worker
    # killed from outside, e.g. out of memory). One whose process runs on is not this sweep's
    # job to close (another sweep's, nested here through a shared sweep folder).
    dead = [r for r in runs if r.info.status == RUNNING and not owned_by_live_process(r)]
    for run in dead:
        close_run(client, run.info.run_id, "the job's process died")
    runs = child_runs(parent) if dead else runs
    labels = job_labels([r.data.params for r in runs])
    labels = [
        label if r.info.status == "FINISHED" else f"{label}\n{r.info.status}"
        for label, r in zip(labels, runs, strict=True)
    ]
    images = [final_image(client, r) for r in runs]
    sheet = contact_sheet(images, labels, title=client.get_run(parent.run_id).info.run_name)
    client.log_image(parent.run_id, sheet, artifact_file=CONTACT_SHEET_ARTIFACT)
    curves = {
        label: {
            metric: [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, metric)]
            for metric in LOSS_METRICS
        }
        for label, r in zip(labels, runs, strict=True)
    }
    parent.log_figure(loss_curves_figure(curves), LOSS_CURVES_ARTIFACT)
    # A pruned trial's run ends KILLED by design (Optuna stopped it early): not a failure.
    failed = sum(
        r.info.status != "FINISHED" and r.data.tags.get(PRUNED_TAG) != "true" for r in runs
    )
    parent.set_tags({SWEEP_JOBS_TAG: str(len(runs)), SWEEP_FAILED_TAG: str(failed)})
    if failed:
        log.warning(
            "%d of %d jobs failed; their reasons are in the runs' %s tag",
            failed,
            len(runs),
            FAILURE_REASON_TAG,
        )
    parent.flush()
