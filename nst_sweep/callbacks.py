"""Hydra callback: one MLflow parent run per multirun, closed with a summary of its jobs.

The parent's id is written to ``<sweep dir>/mlflow_parent.json`` so that every job, in this
process or in a joblib worker, nests its run under it. At the end the parent gets a contact sheet
of the jobs' final images labelled with what differs between them, and their loss curves.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from nst_sweep.records import LOSS_NAMES
from nst_sweep.tracking import MlflowTracker, quiet_mlflow_logging, tracking_enabled

# MLflow draws a progress bar for every artifact the summary downloads.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

log = logging.getLogger(__name__)

PARENT_FILE = "mlflow_parent.json"
RESULT_ARTIFACT = "result.png"
CURVE_METRICS = tuple(f"loss/{name}" for name in LOSS_NAMES)


def read_parent(sweep_dir: str | Path, uri: str) -> str | None:
    """The parent run id recorded for this sweep folder and tracking store, if any."""
    path = Path(sweep_dir) / PARENT_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record["run_id"] if record.get("uri") == uri else None


class MlflowSweepCallback(Callback):
    """Creates the parent run at multirun start and summarises the children at the end."""

    def __init__(self) -> None:
        self.parent: MlflowTracker | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not tracking_enabled(config):
            return
        tracking = config.tracking
        from nst_sweep.app import git_commit  # local: the app imports this module's helpers

        quiet_mlflow_logging()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        uri = str(tracking.uri)
        overrides = list(OmegaConf.to_container(config.hydra.overrides.task))  # type: ignore[arg-type]
        self.parent = MlflowTracker(
            uri=uri,
            experiment=str(tracking.experiment),
            run_name=tracking.get("run_name") or f"sweep {sweep_dir.name}",
            tags={
                "nst.role": "sweep",
                "sweep.dir": str(sweep_dir.resolve()),
                "sweep.overrides": " ".join(overrides),
                "sweeper": str(config.hydra.sweeper.get("_target_", "")),
                "mlflow.source.git.commit": git_commit(),
            },
        )
        (sweep_dir / PARENT_FILE).write_text(json.dumps({"run_id": self.parent.run_id, "uri": uri}))
        atexit.register(self._abandon)  # Ctrl-C or a crash: don't leave the parent RUNNING
        log.info("MLflow parent run %s (%s)", self.parent.run_id, uri)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent is None:
            return
        try:
            summarize_children(self.parent)
            if config.hydra.sweeper.get("_target_", "").endswith("NstOptunaSweeper"):
                from nst_sweep.study_report import log_study_summary

                log_study_summary(self.parent, config.hydra.sweeper)
        except Exception:
            log.exception("could not summarise the sweep in its parent run")
        finally:
            self.parent.finish("FINISHED")
            self.parent = None

    def _abandon(self) -> None:
        if self.parent is not None:
            self.parent.finish("KILLED", "the sweep process ended before the sweep finished")


def child_runs(parent: MlflowTracker) -> list[Any]:
    """The parent's children, in job order."""
    client = parent.client
    runs = client.search_runs(
        [parent.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}'"
    )
    return sorted(runs, key=lambda r: int(r.data.tags.get("hydra.job.num", 0)))


def final_image(client: Any, run: Any) -> np.ndarray | None:
    from nst_sweep.images import load_image

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
    from nst_sweep.report import contact_sheet, job_labels, loss_curves_figure

    client = parent.client
    runs = child_runs(parent)
    if not runs:
        return
    for run in runs:  # a worker killed from outside (e.g. out of memory) never closed its run
        if run.info.status == "RUNNING":
            client.set_tag(run.info.run_id, "failure.reason", "the job's process died")
            client.set_terminated(run.info.run_id, status="KILLED")
    runs = child_runs(parent)
    labels = job_labels([r.data.params for r in runs])
    labels = [
        label if r.info.status == "FINISHED" else f"{label}\n{r.info.status}"
        for label, r in zip(labels, runs, strict=True)
    ]
    images = [final_image(client, r) for r in runs]
    sheet = contact_sheet(images, labels, title=client.get_run(parent.run_id).info.run_name)
    parent.client.log_image(parent.run_id, sheet, artifact_file="contact_sheet.png")
    curves = {
        label: {
            metric: [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, metric)]
            for metric in CURVE_METRICS
        }
        for label, r in zip(labels, runs, strict=True)
    }
    parent.log_figure(loss_curves_figure(curves), "loss_curves.png")
    failed = sum(r.info.status != "FINISHED" for r in runs)
    parent.set_tags({"sweep.jobs": str(len(runs)), "sweep.failed_jobs": str(failed)})
    if failed:
        log.warning("%d of %d jobs failed; their reasons are in the runs' failure.reason tag",
                    failed, len(runs))  # fmt: skip
    parent.flush()
