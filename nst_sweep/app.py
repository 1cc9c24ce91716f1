"""The ``nst-sweep`` command: a thin Hydra shell over the run layer.

Hydra composes ``conf/``; this module resolves the config once, opens the job's MLflow run,
parses ``RunSettings``, calls ``run.run`` and turns the outcome into an exit code. Errors a user
can cause end with one line on stderr and exit code 2; in a multirun the failing job's MLflow
run is marked FAILED with the reason and the other jobs go on. Failure handling lives in
``_end_failed`` (a job's run) and ``main`` (the command's one line and exit code).
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

import hydra
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.nst_optuna_sweeper import (
    current_trial,
    redact,
    redact_log_records,
)
from nst_sweep.errors import Rejected, UserError, disk_full, first_line
from nst_sweep.folders import release_unused
from nst_sweep.job import JobContext, keep_trial_image, log_config, open_tracker, staged
from nst_sweep.names import (
    PRUNED_TAG,
)
from nst_sweep.progress import ScoreHook
from nst_sweep.resolvers import register_resolvers
from nst_sweep.run import run
from nst_sweep.settings import RunSettings, TrackingSettings
from nst_sweep.suggest import unknown_key_message
from nst_sweep.tracker import NullTracker, Tracker
from nst_sweep.tracking import (
    tell_where,
)

log = logging.getLogger("nst_sweep")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
register_resolvers()  # conf/ uses them; joblib workers import this module too


def resolve(cfg: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """The composed config (or a group of it) as plain Python, interpolations resolved."""
    if not isinstance(cfg, DictConfig):
        return dict(cfg)
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except Exception as exc:
        raise UserError(f"config: {first_line(exc)}; fix or remove that interpolation") from exc


def pruning_hook() -> ScoreHook:
    """Reports intermediate scores to this job's Optuna trial and stops it when told to prune.

    The trial is looked up at the first report (only searches with ``score.every`` get there);
    outside a search, or for a multi-objective study (Optuna cannot prune those), it does nothing.
    """
    state: dict[str, Any] = {}

    def report(score: float, step: int) -> None:
        if "trial" not in state:
            trial = current_trial()
            state["trial"] = trial if trial and len(trial.study.directions) == 1 else None
        trial = state["trial"]
        if trial is None:
            return
        import optuna

        trial.report(score, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"at step {step}, score {score:.4g}")

    return report


def task(cfg: DictConfig) -> dict[str, float] | float:
    """One Hydra job: a tracked transfer. Failures are recorded in MLflow before anything else."""
    job = JobContext.current()
    tracker: Tracker = NullTracker()
    try:
        # The tracking group first, so that any later failure is recorded in the job's run.
        tracking = TrackingSettings.from_mapping({"tracking": resolve(cfg.get("tracking") or {})})
        tracker = open_tracker(tracking, job)
        try:
            config = resolve(cfg)
        except UserError:
            log_config(tracker, OmegaConf.to_container(cfg, resolve=False), job)  # type: ignore[arg-type]
            raise
        log_config(tracker, config, job)
        settings = staged(RunSettings.from_mapping(config), job, tracker)
        result = run(settings, tracker, on_score=pruning_hook())
        if job.trial is not None:
            keep_trial_image(result.output)
    except BaseException as exc:
        return _end_failed(exc, tracker, job.multirun, searching=job.searched)
    tracker.finish("FINISHED")
    if not job.multirun:  # a sweep's jobs: the sweep's own line comes at its end
        tell_where(tracker, "run")
    return result.metrics


def _end_failed(
    exc: BaseException, tracker: Tracker, multirun: bool, searching: bool = False
) -> float:
    """Close the run with the reason; then exit 2 (bad input), go on (sweep) or re-raise.

    A search's job re-raises: its sweeper records the real reason (not a NaN) and can stop a
    search whose first trials all fail the same way (``stop_after_same_failures``).
    """
    if isinstance(exc, KeyboardInterrupt) or INTERRUPTED.is_set():
        tracker.finish("KILLED", "interrupted (Ctrl-C)")
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        raise KeyboardInterrupt from exc  # stops a sweep too, whatever the interrupt became
    if isinstance(exc, Exception) and not isinstance(exc, UserError) and disk_full(exc):
        exc = UserError(
            f"the disk is full ({first_line(exc)}); free space on it, or pass output= and "
            "tracking.uri= on another disk"
        )
    if isinstance(exc, UserError):
        tracker.finish("FAILED", str(exc))
        if not multirun:
            fail(str(exc))
        log.error("job failed: %s", exc)
        if searching:
            raise exc
        return math.nan
    if _is_pruned(exc):  # the sweeper records the trial as PRUNED
        tracker.set_tags({PRUNED_TAG: "true"})
        tracker.finish("KILLED", f"pruned by Optuna: {exc}")
        raise exc
    if not isinstance(exc, Exception):  # SIGTERM (SystemExit)
        tracker.finish("KILLED", f"{type(exc).__name__}: {first_line(exc)}")
        raise exc
    tracker.finish("FAILED", f"{type(exc).__name__}: {first_line(exc)}")
    if not multirun:
        raise exc
    # In a sweep one broken job (out of memory, a bug) must not stop the others.
    log.error("job failed: %s", exc, exc_info=exc)
    if searching:
        raise exc
    return math.nan


def _is_pruned(exc: BaseException) -> bool:
    optuna = sys.modules.get("optuna")  # only loaded when a sweep uses it
    return optuna is not None and isinstance(exc, optuna.TrialPruned)


hydra_task = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")(task)


def describe_hydra_error(exc: BaseException) -> str:
    """Hydra/OmegaConf errors are multi-line; fold them into one line with the fix."""
    text = str(exc).strip()
    cause = str(exc.__cause__ or "")
    try:  # the closest key: composes the config again, which must not cost the one line
        unknown = unknown_key_message(f"{text} {cause}", sys.argv[1:], CONF_DIR)
    except Exception:
        unknown = None
    if unknown is not None:
        return unknown
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    missing = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if missing:
        group, option = missing.groups()
        options = [ln for ln in lines if re.fullmatch(r"[\w.-]+", ln) and ln not in (group, option)]
        listed = f"; use one of: {', '.join(options)}" if options else ""
        return f"{group}={option}: no such config option{listed}"
    head = lines[0] if lines else type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        head = f"{head} ({str(cause).strip().splitlines()[0]})"
    return head


def fail(message: str) -> NoReturn:
    """The one line for bad input: on stderr, without URL passwords, exit code 2."""
    release_unused()  # a command rejected before its work leaves no empty run folder
    print(f"nst-sweep: error: {redact(message)}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    """Console entry point (``nst-sweep`` and ``python -m nst_sweep``)."""
    redact_log_records()  # Hydra logs each job's overrides; a URL in them may hold a password
    # Make Hydra raise instead of printing its own multi-line report and exiting 1.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    # A log line that cannot be written (the job's log file on a full disk) is dropped, not
    # reported with a traceback that would bury the command's one-line error.
    logging.raiseExceptions = False
    # A kill (CI cancel, scheduler) unwinds like Ctrl-C: runs end KILLED, not RUNNING forever.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    INTERRUPTED.clear()
    signal.signal(signal.SIGINT, _on_ctrl_c)
    try:
        hydra_task()
    except BaseException as exc:
        if INTERRUPTED.is_set():  # whatever the interrupt became on its way out
            print("nst-sweep: interrupted", file=sys.stderr)
            sys.exit(130)
        _exit_for(exc)


def _exit_for(exc: BaseException) -> None:
    """One line and exit 2 for what the user can fix; anything else goes on up (a bug)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(exc, UserError | Rejected):  # the sweeper's search space, the preflight
        fail(str(exc))
    if isinstance(exc, HydraException | OmegaConfBaseException):
        fail(describe_hydra_error(exc))
    raise exc


# Set by Ctrl-C. A library that catches the KeyboardInterrupt (or breaks while it unwinds)
# may turn it into another exception; the run must still end KILLED and the command say so.
INTERRUPTED = threading.Event()


def _on_ctrl_c(signum: int, frame: Any) -> None:
    """The first Ctrl-C unwinds (runs end KILLED); more while that happens are ignored, so the
    unwinding finishes (SIGTERM or kill still end it)."""
    if INTERRUPTED.is_set():
        return
    INTERRUPTED.set()
    raise KeyboardInterrupt
