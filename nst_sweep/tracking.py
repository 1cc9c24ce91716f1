"""MLflow tracking for one transfer: params, batched loss metrics, images, status.

The loop never waits on MLflow: metrics are buffered and sent in batches asynchronously.
``MlflowTracker`` implements ``tracker.Tracker``; the run layer only sees that interface.
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nst_sweep.errors import UserError, disk_full, first_line
from nst_sweep.names import (
    FAILURE_REASON_TAG,
    LEVEL_METRIC,
    LOSS_PREFIX,
    PARENT_RUN_TAG,
    SECONDS_METRIC,
)
from nst_sweep.records import StepRecord
from nst_sweep.settings import TrackingSettings
from nst_sweep.store_lock import store_lock
from nst_sweep.stores import check_store, close_on_full_disk, sqlite_path
from nst_sweep.tracker import Tracker

log = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 6000  # MLflow's limit for one param value
MAX_TAG_LENGTH = 5000  # MLflow's limit for one tag value
BATCH_PARAMS = 100  # MLflow's limit of params per log_batch call


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> {"loss.style_weight": "10000.0", "layers.style": "[...]"}."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


class MlflowTracker(Tracker):
    """One MLflow run, driven through ``MlflowClient`` (no global active-run state)."""

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        flush_every: int = TrackingSettings.flush_every,
    ):
        from mlflow.tracking import MlflowClient

        _ensure_sqlite_folder(uri)
        self.uri = uri
        with store_lock(sqlite_path(uri)):  # a new store's schema is made by one process only
            self.client = MlflowClient(tracking_uri=uri)
            self.experiment_id = experiment_id_for(self.client, experiment, uri)
        all_tags = dict(tags or {})
        if parent_run_id:
            all_tags[PARENT_RUN_TAG] = parent_run_id
        self.run_id = self.client.create_run(
            self.experiment_id, run_name=run_name, tags=all_tags
        ).info.run_id
        self.flush_every = flush_every
        self._pending: list[Any] = []
        self._in_flight: list[Any] = []  # asynchronous batches still being written
        self._steps_buffered = 0
        self._finished = False

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for i in range(0, len(items), BATCH_PARAMS):
            self.client.log_batch(self.run_id, params=items[i : i + BATCH_PARAMS])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending.extend(Metric(k, float(v), now, step) for k, v in metrics.items())

    def log_step(self, record: StepRecord) -> None:
        metrics = {f"{LOSS_PREFIX}{name}": value for name, value in record.losses().items()}
        metrics[SECONDS_METRIC] = record.seconds
        if record.level is not None:  # multi-scale: which level each step belongs to
            metrics[LEVEL_METRIC] = record.level
        self.log_metrics(metrics, record.step)
        self._steps_buffered += 1
        if self._steps_buffered >= self.flush_every:
            self._steps_buffered = 0
            self.flush(synchronous=False)

    def flush(self, synchronous: bool = True) -> None:
        """Send buffered metrics; asynchronous inside the loop, synchronous at the end."""
        while self._pending:
            batch, self._pending = self._pending[:1000], self._pending[1000:]
            operation = self.client.log_batch(self.run_id, metrics=batch, synchronous=synchronous)
            if operation is not None:
                self._in_flight.append(operation)
        if synchronous:
            for operation in self._in_flight:
                operation.wait()
            self._in_flight.clear()

    def log_image(self, key: str, image: np.ndarray, step: int = 0) -> None:
        from nst_sweep.images import to_uint8

        self.client.log_image(self.run_id, to_uint8(image), key=key, step=step)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_artifact(self, path: str | Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self.client.log_figure(self.run_id, figure, artifact_file)

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """End the run; a FAILED run carries its reason as a tag. Safe to call twice."""
        if self._finished:
            return
        self._finished = True
        try:
            self.flush()
        except Exception as exc:  # the run must still end, and the real error must surface
            log.warning("could not send the last metrics to MLflow: %s", exc)
            status, reason = "FAILED", reason or f"logging failed: {exc}"
        reason = reason[:MAX_TAG_LENGTH] if reason else None
        try:
            if reason:
                self.client.set_tag(self.run_id, FAILURE_REASON_TAG, reason)
            self.client.set_terminated(self.run_id, status=status)
        except Exception as exc:
            if not disk_full(exc):
                raise
            # No room for MLflow's journal: close the run in place (sqlite), or say it is open.
            if not close_on_full_disk(self.uri, self.run_id, status, reason):
                log.warning("the disk is full: MLflow run %s could not be closed", self.run_id)


def experiment_id_for(client: Any, name: str, uri: str = "") -> str:
    """The id of experiment ``name``, created if missing (tolerating a concurrent creator)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=local_artifact_location(uri, name))
    except Exception:
        # Another job of the same sweep may have created it first.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def store_error(uri: str, exc: BaseException) -> UserError:
    """The one-line error for a store that cannot be opened."""
    return UserError(
        f"tracking.uri={uri}: cannot open the MLflow store ({first_line(exc)}); "
        "pass sqlite:///runs/mlflow.db, an http(s):// tracking server, or tracking=none"
    )


def _ensure_sqlite_folder(uri: str) -> None:
    """``sqlite:///runs/mlflow.db`` fails if ``runs/`` does not exist yet (or is read-only)."""
    check_store(uri)
    path = sqlite_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def local_artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of a sqlite store live beside it (``runs/mlartifacts/<experiment>``).

    MLflow's default would be ``./mlruns`` in whatever folder the command ran from. For a
    tracking server (http URIs) the server decides, so None.
    """
    path = sqlite_path(uri)
    if path is None:
        return None
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment) or "default"
    return (path.resolve().parent / "mlartifacts" / safe).as_uri()


def quiet_mlflow_logging() -> None:
    """Keep alembic's migration chatter (first use of a new store) off the console."""
    for name in ("alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="Unnamed CHECK constraint", module="alembic")
    # MLflow logs a traceback for each database error it then raises (or, logging in the
    # background, hands to the run's futures): the command reports it once, in one line.
    for name in ("mlflow.store.db.utils", "mlflow.utils.async_logging.async_logging_queue"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def git_commit() -> str:
    """The commit of the checkout the package runs from, or "unknown" (e.g. a wheel install)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
