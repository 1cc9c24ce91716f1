"""MLflow tracking for one transfer: params, batched loss metrics, images, status.

The loop never waits on MLflow: metrics and images go to MLflow from a background thread. A
store that stops answering costs one bounded call (``connection.py``); from then on the run's
calls are kept on disk beside it (``spool.py``) and the run goes on, its image written as
always. ``MlflowTracker`` implements ``tracker.Tracker``; the run layer only sees that interface.
Every text it sends passes the one redaction rule, so no URL password reaches MLflow.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from hydra_plugins.nst_optuna_sweeper import redact
from nst_sweep.connection import bound_requests, quick_requests, without_credentials
from nst_sweep.errors import UserError, disk_full, first_line
from nst_sweep.links import view_line
from nst_sweep.names import LEVEL_METRIC, LOSS_PREFIX, PARENT_RUN_TAG, SECONDS_METRIC
from nst_sweep.records import StepRecord
from nst_sweep.settings import TrackingSettings
from nst_sweep.spool import SYNC_COMMAND, Op, Spool, is_outage, outage_reason, send, shown, sync
from nst_sweep.store_lock import store_lock
from nst_sweep.stores import SQLITE_PREFIX, check_store, close_on_full_disk, sqlite_path
from nst_sweep.tracker import Tracker

log = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 6000  # MLflow's limit for one param value
MAX_TAG_LENGTH = 5000  # MLflow's limit for one tag value


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


def _tags(tags: Mapping[str, Any]) -> dict[str, str]:
    return {k: redact(str(v))[:MAX_TAG_LENGTH] for k, v in tags.items()}


class MlflowTracker(Tracker):
    """One MLflow run, driven through ``MlflowClient`` (no global active-run state).

    ``spool_dir`` is where calls MLflow did not take are kept (``<spool_dir>/mlflow_spool/``;
    the current folder by default); ``timeout`` and ``retries`` bound each HTTP request (None:
    the user's ``MLFLOW_HTTP_REQUEST_*`` variables, else ``connection.py``'s defaults). With
    ``start_offline`` (a job of a sweep whose store answered before) a store that does not
    answer now does not stop the run: it starts kept, and ``nst-sweep-sync`` creates it later.
    """

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        flush_every: int = TrackingSettings.flush_every,
        spool_dir: str | Path | None = None,
        timeout: int | None = None,
        retries: int | None = None,
        start_offline: bool = False,
    ):
        from mlflow.tracking import MlflowClient

        bound_requests(timeout, retries)
        self.uri = without_credentials(uri)
        _ensure_sqlite_folder(self.uri)
        all_tags = dict(tags or {})
        if parent_run_id:
            all_tags[PARENT_RUN_TAG] = parent_run_id
        run_name = redact(run_name) if run_name else None  # names carry swept values
        run = {"experiment": experiment, "run_name": run_name, "tags": _tags(all_tags)}
        self.run_name = run_name
        self.outage: str | None = None  # why MLflow stopped taking calls; then they are kept
        self._lock = threading.Lock()
        self.spool_dir = Path(spool_dir) if spool_dir is not None else Path.cwd()
        try:
            # One process at a time opens a sqlite store: the first makes a new store's schema.
            with store_lock(sqlite_path(self.uri)):
                self.client = MlflowClient(tracking_uri=self.uri)
                self.experiment_id, self.run_id = create_run(self.client, self.uri, run)
            self.spool = Spool(self.spool_dir, self.run_id, kept_uri(self.uri))
        except Exception as exc:
            if not (start_offline and is_outage(exc)):
                raise
            self.experiment_id, self.run_id = None, f"offline-{uuid.uuid4().hex}"
            self.spool = Spool(self.spool_dir, self.run_id, kept_uri(self.uri), create=run)
            self.lost_contact(exc)
        self.flush_every = flush_every
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="mlflow-tracker")
        self._in_flight: list[Future[None]] = []
        self._pending: list[list[Any]] = []
        self._steps_buffered = 0
        self._finished = False

    # ------------------------------------------------------------------ the Tracker interface
    def log_params(self, params: Mapping[str, Any]) -> None:
        values = {k: redact(str(v))[:MAX_PARAM_LENGTH] for k, v in params.items()}
        self._do(Op("params", {"params": values}))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._do(Op("tags", {"tags": _tags(tags)}))

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        self._pending.extend([k, float(v), now, step] for k, v in metrics.items())

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
        """Send buffered metrics from the background thread; wait for it when synchronous."""
        if self._pending:
            batch, self._pending = self._pending, []
            self._later(Op("metrics", {"metrics": batch}))
        if synchronous:
            in_flight, self._in_flight = self._in_flight, []
            for future in in_flight:
                future.result()  # a call MLflow refused (not an outage) raises here

    def log_image(self, key: str, image: np.ndarray, step: int = 0) -> None:
        from nst_sweep.images import to_uint8

        data = {"key": key, "step": step, "timestamp": int(time.time() * 1000)}
        self._later(Op("image", data, to_uint8(image)))

    def log_text(self, text: str, artifact_file: str) -> None:
        self._do(Op("text", {"text": redact(text), "artifact_file": artifact_file}))

    def log_artifact(self, path: str | Path) -> None:
        self._do(Op("artifact", {"artifact_path": None}, str(path)))

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self._do(Op("figure", {"artifact_file": artifact_file}, figure))

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """End the run; a FAILED run carries its reason as a tag. Safe to call twice.

        After an outage, one quick try sends what was kept; if MLflow still does not answer,
        the end is kept too and one line says where and how to send it.
        """
        if self._finished:
            return
        self._finished = True
        try:
            self.flush()
        except Exception as exc:  # the run must still end, and the real error must surface
            log.warning("could not send the last metrics to MLflow: %s", exc)
            status, reason = "FAILED", reason or f"logging failed: {exc}"
        finally:
            self._worker.shutdown()
        if self.outage is not None:
            self._retry_kept()
        end = {"status": status, "reason": redact(reason or "")[:MAX_TAG_LENGTH] or None}
        try:
            self._do(Op("end", {**end, "end_time": int(time.time() * 1000)}))
        except Exception as exc:
            if not disk_full(exc):
                raise
            # No room for MLflow's journal: close the run in place (sqlite), or say it is open.
            if not close_on_full_disk(self.uri, self.run_id, status, end["reason"]):
                log.warning("the disk is full: MLflow run %s could not be closed", self.run_id)
        if self.outage is not None:
            log.warning(
                "tracking: MLflow at %s did not answer (%s); kept %s in %s; send them with: "
                "%s %s", redact(self.uri), self.outage, self.spool.describe(), self.spool.path,
                SYNC_COMMAND, shown(self.spool_dir),
            )  # fmt: skip

    # ------------------------------------------------------------------ sending or keeping
    def _do(self, op: Op) -> None:
        """Send ``op`` now; after an outage (now or before), keep it in the spool instead."""
        if self.outage is None:
            try:
                send(self.client, self.run_id, op)
                return
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self.lost_contact(exc)
        self.spool.add(op)

    def _later(self, op: Op) -> None:
        """``_do`` from the background thread, so that the loop does not wait for MLflow."""
        self._in_flight.append(self._worker.submit(self._do, op))

    def _create(self, client: Any, run: Mapping[str, Any]) -> str:
        """For a run that started kept: create it once the store answers."""
        self.experiment_id, run_id = create_run(client, self.uri, run)
        return run_id

    def lost_contact(self, exc: Exception) -> None:
        """From now on keep calls instead of sending them (``exc``: why the store is away)."""
        with self._lock:
            if self.outage is not None:
                return
            self.outage = outage_reason(exc)
        log.warning(
            "tracking: MLflow at %s did not answer (%s); keeping this run's metrics and images "
            "in %s", redact(self.uri), self.outage, self.spool.path,
        )  # fmt: skip

    def _retry_kept(self) -> None:
        """One quick try to send what the outage held back (the store may be back)."""
        try:
            with quick_requests():
                if self.spool.is_empty():
                    self.client.get_run(self.run_id)  # nothing kept yet: is it back?
                else:
                    self.run_id = sync(self.spool.path, self.client, self._create)
        except Exception:  # still away: everything stays kept, in order
            return
        self.spool = Spool(self.spool_dir, self.run_id, self.spool.uri)
        self.outage = None
        log.info("tracking: MLflow answers again; sent what was kept")


def create_run(client: Any, uri: str, run: Mapping[str, Any]) -> tuple[str, str]:
    """Create ``run`` (experiment, run_name, tags), its experiment too if missing.

    Returns the experiment's and the run's ids.
    """
    experiment_id = experiment_id_for(client, run["experiment"], uri)
    created = client.create_run(experiment_id, run_name=run["run_name"], tags=run["tags"])
    return experiment_id, created.info.run_id


def kept_uri(uri: str) -> str:
    """The store's URI as a spool keeps it: no password, a sqlite file's path absolute (the
    sync may run from another folder)."""
    path = sqlite_path(uri)
    return redact(uri if path is None else f"{SQLITE_PREFIX}{path.resolve()}")


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
        f"tracking.uri={redact(uri)}: cannot open the MLflow store ({redact(first_line(exc))}); "
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


def tell_where(tracker: Tracker, kind: str) -> None:
    """One line with the link to the run's experiment in MLflow's runs table (``links.py``)."""
    if not isinstance(tracker, MlflowTracker) or tracker.outage is not None:
        return  # a kept run is not in MLflow yet: the outage's own line says how to send it
    line = view_line(kind, tracker.run_name, tracker.uri, tracker.experiment_id)
    if line is not None:
        log.info("%s", line)


def quiet_mlflow_logging() -> None:
    """Keep alembic's migration chatter (first use of a new store) and urllib3's "Retrying"
    lines off the console: a tracking server that does not answer gets one line of ours. So
    does a finished run: MLflow's own "View run at" line (a tracking server's run page, which
    MLflow 3 opens in its GenAI view) gives way to ours (``tell_where``)."""
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    for name in ("alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
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
