"""Heartbeats for the trials a sweep runs; trials whose process died are failed and retried.

Optuna records heartbeats itself only inside ``study.optimize()``; this sweeper asks and tells,
so a thread beats for its trials in flight (``hydra.sweeper.heartbeat_interval``). At the start
of each batch, a RUNNING trial of another process is failed, with its reason in the user attr
``fail_reason``, and its params are queued again (WAITING, picked up by the next ``ask``) when

- its process is known to have ended: on this machine, at once (``processes.py``);
- or it has had no heartbeat for ``grace_period`` seconds (a process elsewhere; optuna's stale
  trials), unless its process is known to run here.

The retry carries optuna's ``failed_trial``/``retry_history`` system attrs, as
``optuna.storages.RetryHeartbeatStaleTrialCallback`` writes them, and is not made after
``MAX_RETRY`` retries of the same params.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import TrialState

from .processes import process_alive, process_token

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from optuna.distributions import BaseDistribution

log = logging.getLogger(__name__)

PROCESS_ATTR = "nst_optuna:process"  # system attr: the process that asked (and will tell) a trial
REASON_ATTR = "fail_reason"  # user attr, as the sweeper sets it for every FAIL
RETRY_OF_ATTR = "retry_of"  # user attr of a retry: the number of the trial whose process died
DIED_ATTR = "nst_optuna:process_died"  # system attr of a trial failed because its process died
MAX_RETRY = 3


def dead_processes(study: optuna.Study) -> set[str]:
    """Tokens of the processes whose trials were failed because they died (or lost the
    storage for longer than the grace period): their other runs can be closed too."""
    return {
        str(trial.system_attrs[PROCESS_ATTR])
        for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if trial.system_attrs.get(DIED_ATTR) and trial.system_attrs.get(PROCESS_ATTR)
    }


class KeepAlive:
    """Beats for the ``in_flight`` trials; fails and requeues other processes' dead trials.

    Does nothing unless the study's storage has optuna's heartbeat on (``heartbeat_interval``
    set, a database storage).
    """

    def __init__(
        self,
        study: optuna.Study,
        in_flight: Mapping[int, optuna.trial.Trial],
        lock: Callable[[], AbstractContextManager[Any]],
    ) -> None:
        self._study = study
        self._storage: BaseStorage = study._storage
        self._in_flight = in_flight
        self._lock = lock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.interval: int | None = None
        if is_heartbeat_enabled(self._storage):
            # This sweeper asks and tells, and beats itself: optuna's advice does not apply.
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be")
            self.interval = self._storage.get_heartbeat_interval()  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._beat, name="nst_optuna-heartbeat")
            self._thread.daemon = True  # never keeps a finished sweep's process alive
            self._thread.start()

    def started(self, trial: optuna.trial.Trial) -> None:
        """Mark a newly asked trial as this process's, with its first heartbeat."""
        if self.interval is None:
            return
        try:
            self._storage.set_trial_system_attr(trial._trial_id, PROCESS_ATTR, process_token())
        except Exception as exc:  # the trial then counts as dead only by its heartbeats
            log.warning("could not record which process runs trial %d: %s", trial.number, exc)
        self._record(trial._trial_id)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _beat(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(self.interval):
            for trial in list(self._in_flight.values()):
                self._record(trial._trial_id)

    def _record(self, trial_id: int) -> None:
        assert isinstance(self._storage, BaseHeartbeat)
        try:
            self._storage.record_heartbeat(trial_id)
        except Exception as exc:  # a missed beat is not fatal; the grace period allows for it
            log.warning("could not record the heartbeat of a trial: %s", exc)

    # ------------------------------------------------------------------ dead trials

    def fail_dead_trials(self, distributions: Mapping[str, BaseDistribution]) -> list[int]:
        """Fail other processes' dead RUNNING trials and queue their params again.

        Returns the numbers of the trials failed. The check runs under ``lock`` (a file lock
        for sqlite), so two processes never fail and requeue the same trial twice.
        """
        if self.interval is None:
            return []
        try:
            return self._fail_dead_trials(distributions)
        except Exception as exc:  # housekeeping: the sweep goes on, the next batch tries again
            log.warning("could not look for trials of dead processes: %s", exc)
            return []

    def _fail_dead_trials(self, distributions: Mapping[str, BaseDistribution]) -> list[int]:
        assert isinstance(self._storage, BaseHeartbeat)
        study_id = self._study._study_id
        failed = []
        with self._lock():
            stale = set(self._storage._get_stale_trial_ids(study_id))
            running = self._storage.get_all_trials(
                study_id, deepcopy=False, states=(TrialState.RUNNING,)
            )
            for trial in running:
                if trial.number in self._in_flight:
                    continue
                reason = self._death(trial, trial._trial_id in stale)
                if reason is not None and self._fail(trial, reason):
                    failed.append(trial.number)
                    self._retry(trial, distributions)
        return failed

    def _death(self, trial: optuna.trial.FrozenTrial, stale: bool) -> str | None:
        """Why ``trial`` is dead, or None while it may still run."""
        token = trial.system_attrs.get(PROCESS_ATTR)
        alive = process_alive(token)
        if alive is False:
            host, pid = str(token).split("/")[:2]
            return f"its process ({host} pid {pid}) ended before the trial did"
        if stale and alive is None:
            backend = getattr(self._storage, "_backend", self._storage)  # optuna's cache wraps it
            grace = getattr(backend, "grace_period", None) or 2 * self.interval
            return f"no heartbeat for over {grace} s: its process died or lost the storage"
        return None

    def _fail(self, trial: optuna.trial.FrozenTrial, reason: str) -> bool:
        try:
            self._storage.set_trial_user_attr(trial._trial_id, REASON_ATTR, reason)
            self._storage.set_trial_system_attr(trial._trial_id, DIED_ATTR, True)
            if not self._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                return False
        except UpdateFinishedTrialError:  # it ended meanwhile (told by its own process)
            return False
        log.warning("Trial %d failed: %s", trial.number, reason)
        return True

    def _retry(
        self, trial: optuna.trial.FrozenTrial, distributions: Mapping[str, BaseDistribution]
    ) -> None:
        history = [*trial.system_attrs.get("retry_history", []), trial.number]
        changed = [
            name
            for name, dist in distributions.items()
            if name in trial.distributions and trial.distributions[name] != dist
        ]
        if changed or len(history) > MAX_RETRY:
            why = f"the search space of {changed} changed" if changed else f"{MAX_RETRY} retries"
            log.warning("Trial %d is not retried: %s", trial.number, why)
            return
        self._study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params=trial.params,
                distributions=trial.distributions,
                user_attrs={RETRY_OF_ATTR: trial.number},
                system_attrs={"failed_trial": history[0], "retry_history": history},
            )
        )
        log.info("Trial %d's params are queued again: %s", trial.number, trial.params)
