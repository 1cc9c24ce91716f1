"""Hydra callback: one MLflow parent run per multirun, closed with a summary of its jobs.

The parent's id is written to ``<sweep dir>/mlflow_parent.json`` so that every job, in this
process or in a joblib worker, nests its run under it. At the end the parent gets a contact sheet
of the jobs' final images labelled with what differs between them, their loss curves and, for an
``nst_optuna`` search, the study's summary (``reports/``).
"""

from __future__ import annotations

import atexit
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.nst_optuna_sweeper import (
    SWEEPER_TARGET,
    dead_processes,
    load_study,
    redact,
    sweep_study_name,
)
from nst_sweep.dead_runs import close_dead_runs, process_tags
from nst_sweep.errors import Rejected, first_line
from nst_sweep.names import (
    GIT_COMMIT_TAG,
    NOTE_TAG,
    PARENT_FILE,
    ROLE_TAG,
    SPOOL_FOLDER,
    SWEEP_DIR_TAG,
    SWEEP_OVERRIDES_TAG,
    SWEEP_ROLE,
    SWEEPER_TAG,
)
from nst_sweep.settings import TrackingSettings
from nst_sweep.spool import SYNC_COMMAND, is_outage, pending, shown
from nst_sweep.swept import sweep_note, swept_keys
from nst_sweep.tracking import (
    MlflowTracker,
    git_commit,
    quiet_mlflow_logging,
    store_error,
    tell_where,
)

log = logging.getLogger(__name__)


def read_parent(sweep_dir: str | Path, uri: str) -> str | None:
    """The parent run id recorded for this sweep folder and tracking store, if any."""
    path = Path(sweep_dir) / PARENT_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record["run_id"] if record.get("uri") == redact(uri) else None  # no password kept


def read_swept(sweep_dir: str | Path | None) -> list[str]:
    """The keys this sweep varies (``swept.py``), as its parent run recorded them."""
    path = Path(sweep_dir) / PARENT_FILE if sweep_dir else None
    if path is None or not path.is_file():
        return []
    return list(json.loads(path.read_text()).get("swept", []))


class MlflowSweepCallback(Callback):
    """Creates the parent run at multirun start and summarises the children at the end."""

    def __init__(self) -> None:
        self.parent: MlflowTracker | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Hydra's joblib launcher sends its callbacks to the worker processes; the parent run
        # (threads, locks) stays with the sweep process, which alone closes it.
        return {**self.__dict__, "parent": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Only the tracking group is resolved: the rest may name job-time values (output dir).
        node = config.get("tracking")
        section = OmegaConf.to_container(node, resolve=True) if node is not None else {}
        tracking = TrackingSettings.from_mapping({"tracking": section})
        if not tracking.enabled:
            return
        quiet_mlflow_logging()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # Unresolved: an override may hold ${hydra:runtime.output_dir}, set only inside a job.
        typed = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        overrides = [str(o) for o in typed]  # type: ignore[union-attr]
        params = config.hydra.sweeper.get("params")  # presets and searches sweep here
        params = {} if params is None else OmegaConf.to_container(params, resolve=False)
        swept = swept_keys(overrides, params)  # type: ignore[arg-type]
        try:
            self.parent = MlflowTracker(
                uri=tracking.uri,
                experiment=tracking.experiment,
                run_name=tracking.run_name or f"sweep {sweep_dir.name}",
                tags={
                    ROLE_TAG: SWEEP_ROLE,
                    SWEEP_DIR_TAG: str(sweep_dir.resolve()),
                    SWEEP_OVERRIDES_TAG: " ".join(overrides),
                    NOTE_TAG: sweep_note(swept, overrides),
                    SWEEPER_TAG: str(config.hydra.sweeper.get("_target_", "")),
                    GIT_COMMIT_TAG: git_commit(),
                    **process_tags(),
                },
                spool_dir=sweep_dir,
                timeout=tracking.timeout,
                retries=tracking.retries,
            )
        except Exception as exc:
            # Raised as it is, Hydra would print a warning and run every job without a parent.
            raise Rejected(store_error(tracking.uri, exc)) from exc
        self._close_dead_runs()
        record = {"run_id": self.parent.run_id, "uri": redact(tracking.uri), "swept": list(swept)}
        (sweep_dir / PARENT_FILE).write_text(json.dumps(record))
        atexit.register(self._abandon)  # Ctrl-C or a crash: don't leave the parent RUNNING
        log.info("MLflow parent run %s (%s)", self.parent.run_id, redact(tracking.uri))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent is None:
            return
        from nst_sweep.reports.sweep_summary import summarize_children

        try:
            summarize_children(self.parent)
            sweeper = config.hydra.sweeper
            # study_name may be null (Optuna then names the study): the sweep's results file
            # has the generated name.
            study_name = sweep_study_name(config)
            if sweeper.get("_target_") == SWEEPER_TARGET and study_name is not None:
                from nst_sweep.reports.study_summary import log_study_summary

                storage, cwd = sweeper.get("storage"), str(config.hydra.runtime.cwd)
                self._close_dead_runs(load_study(storage, study_name, cwd))
                log_study_summary(self.parent, storage, study_name, cwd)
        except Exception as exc:
            if not is_outage(exc):
                log.exception("could not summarise the sweep in its parent run")
            else:  # MLflow is away: the summary reads the children's runs from it
                log.warning("could not summarise the sweep: %s", first_line(exc))
                self.parent.lost_contact(exc)  # its end is kept at once, not tried again
        finally:
            self.parent.finish("FINISHED")
            tell_where(self.parent, "sweep")
            self.parent = None
        _tell_kept(Path(str(config.hydra.sweep.dir)))

    def _close_dead_runs(self, study: Any = None) -> None:
        """Close runs of this experiment left RUNNING by dead processes (``dead_runs.py``)."""
        assert self.parent is not None
        states = {t.number: t.state.name for t in study.get_trials(deepcopy=False)} if study else {}
        try:
            close_dead_runs(
                self.parent.client,
                self.parent.experiment_id,
                study.study_name if study else None,
                states,
                dead_processes(study) if study else (),
            )
        except Exception:  # housekeeping: the sweep goes on without it
            log.exception("could not close the runs left RUNNING by dead processes")

    def _abandon(self) -> None:
        if self.parent is not None:
            self.parent.finish("KILLED", "the sweep process ended before the sweep finished")


def _tell_kept(sweep_dir: Path) -> None:
    """The sweep's last line, when some of its runs could not send everything to MLflow."""
    kept = pending(sweep_dir)
    if kept:
        log.warning(
            "tracking: %d run(s) of this sweep kept what MLflow did not take, in %s/**/%s; "
            "send them with: %s %s", len(kept), sweep_dir, SPOOL_FOLDER, SYNC_COMMAND,
            shown(sweep_dir),
        )  # fmt: skip
