"""Runs left RUNNING by a process that died are closed as KILLED, with the reason.

Every job and sweep run records the process that runs it (tag ``nst.process``: the sweeper
plugin's process token, ``host/pid/...``). A sweep closes, in its experiment,

- when it starts: RUNNING runs whose process is known to have ended (on this machine);
- when a search ends: RUNNING runs of its study whose Optuna trial has ended, e.g. failed by the
  sweeper because its process stopped beating (on another machine), and every RUNNING run of a
  process whose trial was failed that way (its sweep's parent run).

A run whose process still runs here is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from hydra_plugins.nst_optuna_sweeper import process_alive, process_token
from nst_sweep.names import FAILURE_REASON_TAG, PROCESS_TAG, STUDY_TAG, TRIAL_NUMBER_TAG

log = logging.getLogger(__name__)

RUNNING = "RUNNING"
KILLED = "KILLED"


def process_tags() -> dict[str, str]:
    """The tag that names this process, for a run it opens."""
    return {PROCESS_TAG: process_token()}


def owned_by_live_process(run: Any) -> bool:
    """True when the run's process still runs on this machine and is not this process."""
    token = run.data.tags.get(PROCESS_TAG)
    return bool(process_alive(token)) and token != process_token()


def close_run(client: Any, run_id: str, reason: str) -> None:
    """End a RUNNING run as KILLED with ``reason`` in ``failure.reason``."""
    client.set_tag(run_id, FAILURE_REASON_TAG, reason)
    client.set_terminated(run_id, status=KILLED)


def close_dead_runs(
    client: Any,
    experiment_id: str,
    study: str | None = None,
    trial_states: Mapping[int, str] | None = None,
    dead: Collection[str] = (),
) -> int:
    """Close the experiment's RUNNING runs of dead processes; returns how many were closed.

    With ``study`` and its ``trial_states`` (trial number -> optuna state name), a RUNNING run
    of that study whose trial has ended is closed too, and so is any RUNNING run of a process
    in ``dead`` (tokens of processes whose trials the heartbeat failed), unless its process
    runs here.
    """
    runs = client.search_runs(
        [experiment_id], filter_string=f"attributes.status = '{RUNNING}'", max_results=5000
    )
    closed = 0
    for run in runs:
        reason = _death(run, study, trial_states or {}, dead)
        if reason is not None:
            close_run(client, run.info.run_id, reason)
            log.warning(
                "MLflow run %s was left RUNNING: closed as KILLED (%s)", run.info.run_id, reason
            )
            closed += 1
    return closed


def _death(
    run: Any, study: str | None, trial_states: Mapping[int, str], dead: Collection[str]
) -> str | None:
    tags = run.data.tags
    token = tags.get(PROCESS_TAG)
    alive = process_alive(token)
    if alive is False:
        host, pid = str(token).split("/")[:2]
        return f"its process ({host} pid {pid}) ended without closing the run"
    if alive is None and token in dead:
        host, pid = str(token).split("/")[:2]
        return f"its process ({host} pid {pid}) stopped beating: the search failed its trial"
    number = tags.get(TRIAL_NUMBER_TAG, "")
    if alive is None and study is not None and tags.get(STUDY_TAG) == study and number.isdigit():
        state = trial_states.get(int(number), RUNNING)
        if state not in (RUNNING, "WAITING"):
            return f"its Optuna trial {number} ended as {state} without it: its process died"
    return None
