"""Many processes on one store, a folder per command, and kills that lose nothing.

End to end through ``tests/sweeper_app/tracked.py``: a cheap job tracked by nst-sweep's own
MLflow code (tracker, store lock, parent-run callback, folders, dead-run closing) and searched by
the ``nst_optuna`` sweeper, without TensorFlow, so several commands at once cost seconds. The
units below check the pieces (process tokens, dead trials, dead runs, the store lock) in this
process.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from conftest import cli_env
from hydra_plugins.nst_optuna_sweeper._heartbeat import PROCESS_ATTR, KeepAlive, dead_processes
from hydra_plugins.nst_optuna_sweeper._settings import SweeperConfigError, read_settings
from hydra_plugins.nst_optuna_sweeper._study import create_study, storage_lock
from hydra_plugins.nst_optuna_sweeper.processes import process_alive, process_token
from nst_sweep.dead_runs import close_dead_runs, owned_by_live_process
from nst_sweep.folders import unique_dir
from nst_sweep.names import (
    FAILURE_REASON_TAG,
    PARENT_FILE,
    PARENT_RUN_TAG,
    PROCESS_TAG,
    ROLE_TAG,
    STUDY_TAG,
    SWEEP_JOBS_TAG,
    SWEEP_ROLE,
    TRIAL_NUMBER_TAG,
)
from nst_sweep.store_lock import store_lock

REPO = Path(__file__).resolve().parents[1]
TRACKED = REPO / "tests" / "sweeper_app" / "tracked.py"
TIMEOUT_S = 180

optuna.logging.set_verbosity(optuna.logging.WARNING)


def store(cwd: Path) -> str:
    """The MLflow store in ``cwd``, absolute: in this process MLflow keeps one engine per URI."""
    return f"tracking.uri=sqlite:///{cwd / 'mlflow.db'}"


def start(cwd: Path, *overrides: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``tracked.py -m <overrides>`` in a subprocess (a command of its own)."""
    return subprocess.Popen(
        [sys.executable, str(TRACKED), "-m", store(cwd), *overrides],
        cwd=cwd,
        env={**cli_env(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(*procs: subprocess.Popen) -> None:
    outputs = [proc.communicate(timeout=TIMEOUT_S)[0] for proc in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-4000:]


def mlflow_runs(tmp_path: Path) -> tuple[list[Any], list[Any]]:
    """(parent runs, job runs) of the toy experiment."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    parents = [r for r in runs if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE]
    return parents, [r for r in runs if PARENT_RUN_TAG in r.data.tags]


def study(tmp_path: Path) -> optuna.Study:
    return optuna.load_study(study_name="toy", storage=f"sqlite:///{tmp_path / 'optuna.db'}")


def sweep_folders(tmp_path: Path) -> dict[str, str]:
    """Sweep folder name -> the parent run id its jobs nested under."""
    return {
        path.parent.name: OmegaConf.load(path)["run_id"]
        for path in (tmp_path / "multirun").glob(f"*/{PARENT_FILE}")
    }


# --------------------------------------------------------------------------- end to end


def test_four_searches_started_together_on_new_stores_lose_nothing(tmp_path: Path) -> None:
    # New MLflow and Optuna sqlite files: four processes create their schemas at once.
    finish(*[start(tmp_path, "--config-name=tracked_search") for _ in range(4)])

    trials = study(tmp_path).get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    parents, jobs = mlflow_runs(tmp_path)
    assert len(parents) == 4 and all(p.info.status == "FINISHED" for p in parents)
    by_trial = Counter(int(r.data.tags[TRIAL_NUMBER_TAG]) for r in jobs)
    assert by_trial == {0: 1, 1: 1, 2: 1, 3: 1}  # exactly one run per trial
    for run in jobs:
        trial = trials[int(run.data.tags[TRIAL_NUMBER_TAG])]
        assert run.info.status == "FINISHED" and run.data.metrics["score"] == trial.value
    # Four folders (some started in the same second), each with its own parent and one job.
    folders = sweep_folders(tmp_path)
    assert len(folders) == 4
    assert set(folders.values()) == {p.info.run_id for p in parents}
    assert Counter(r.data.tags[PARENT_RUN_TAG] for r in jobs) == dict.fromkeys(folders.values(), 1)


def test_two_multiruns_in_the_same_second_keep_their_own_folders_and_jobs(
    tmp_path: Path, cli: Any, monkeypatch: Any
) -> None:
    # The same folder name for both, as two commands started in one second get. One runs its
    # jobs in joblib workers (which compose their config again), the other in this process;
    # their jobs overlap, so each sweep's start and end see the other's jobs RUNNING.
    same = "hydra.sweep.dir=${nst.unique_dir:multirun/same}"
    workers = start(tmp_path, same, "x=0.3,0.4", "hydra/launcher=joblib",
                    "hydra.launcher.n_jobs=2", env={"TRACKED_SLEEP": "2"})  # fmt: skip
    monkeypatch.setenv("TRACKED_SLEEP", "3")
    here = cli(["-m", store(tmp_path), same, "x=0.1,0.2"], tmp_path, entry=tracked_main())
    assert here.returncode == 0, here.stderr[-4000:]
    finish(workers)

    folders = sweep_folders(tmp_path)
    assert set(folders) == {"same", "same_2"}
    parents, jobs = mlflow_runs(tmp_path)
    assert {p.info.run_id for p in parents} == set(folders.values())
    children: dict[str, set[float]] = {}
    for run in jobs:
        assert run.info.status == "FINISHED" and FAILURE_REASON_TAG not in run.data.tags
        children.setdefault(run.data.tags[PARENT_RUN_TAG], set()).add(float(run.data.params["x"]))
    assert sorted(children.values(), key=min) == [{0.1, 0.2}, {0.3, 0.4}]
    for folder in folders:  # each sweep's job folders in its own folder
        assert sorted(p.name for p in (tmp_path / "multirun" / folder).glob("[0-9]")) == ["0", "1"]
    assert [p.data.tags[SWEEP_JOBS_TAG] for p in parents] == ["2", "2"]


def test_kill_9_mid_trial_then_the_same_command_retries_it(tmp_path: Path, cli: Any) -> None:
    killed = start(tmp_path, "--config-name=tracked_search", env={"TRACKED_SLEEP": "60"})
    wait_for_a_job_run(tmp_path / "mlflow.db", killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    again = ["--config-name=tracked_search", "-m", store(tmp_path)]  # the same command
    proc = cli(again, tmp_path, entry=tracked_main())
    assert proc.returncode == 0, proc.stderr[-4000:]

    dead, retry = study(tmp_path).get_trials()
    assert dead.state == TrialState.FAIL and f"pid {killed.pid}" in dead.user_attrs["fail_reason"]
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params
    assert retry.user_attrs["retry_of"] == 0
    parents, jobs = mlflow_runs(tmp_path)
    statuses = Counter((r.data.tags.get(TRIAL_NUMBER_TAG), r.info.status) for r in parents + jobs)
    assert statuses == {(None, "KILLED"): 1, (None, "FINISHED"): 1, ("0", "KILLED"): 1,
                        ("1", "FINISHED"): 1}  # fmt: skip
    for run in parents + jobs:
        if run.info.status == "KILLED":
            assert f"pid {killed.pid}" in run.data.tags[FAILURE_REASON_TAG]
        else:
            assert run.data.tags[PROCESS_TAG] == process_token()  # this test's process
    [results] = (tmp_path / "multirun").glob("*/optimization_results.yaml")
    counts = OmegaConf.load(results)["n_trials"]
    assert counts == {"total": 2, "complete": 1, "fail": 1, "pruned": 0, "running": 0, "waiting": 0}


def wait_for_a_job_run(database: Path, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Until a job's MLflow run exists (its trial is then RUNNING and the job sleeping)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0][-4000:]
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
                query = "select count(*) from tags where key = ?"
                if db.execute(query, (TRIAL_NUMBER_TAG,)).fetchone()[0]:
                    return
        except sqlite3.Error:  # not created yet
            pass
        time.sleep(0.1)
    raise AssertionError("no job run appeared")


def tracked_main() -> Any:
    """``tracked.py``'s ``hydra.main`` entry point, imported once from its file."""
    if "tracked" not in sys.modules:
        spec = importlib.util.spec_from_file_location("tracked", TRACKED)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["tracked"] = module
        spec.loader.exec_module(module)
    return sys.modules["tracked"].main


def test_a_sweep_whose_parent_run_cannot_be_made_stops_in_one_line(
    tmp_path: Path, cli: Any
) -> None:
    (tmp_path / "file").write_text("")
    proc = cli(["-m", "tracking.uri=sqlite:///file/mlflow.db", "loss.tv_weight=0,1"], tmp_path)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("nst-sweep: error: tracking.uri=sqlite:///file/mlflow.db")
    assert not list(tmp_path.glob("runs/multirun/*/*/0"))  # no job ran


# --------------------------------------------------------------------------- units


@pytest.fixture()
def ended_token() -> str:
    """The token of a process that has ended (and been reaped)."""
    proc = subprocess.Popen(["true"])
    token = process_token(proc.pid)
    proc.wait()
    return token


def test_process_tokens_tell_running_ended_and_unknown(ended_token: str) -> None:
    assert process_alive(process_token()) is True
    assert process_alive(ended_token) is False
    host, pid, key = process_token().split("/")
    assert process_alive(f"{host}/{pid}/{key.rsplit('.', 1)[0]}.1") is False  # pid reused
    assert process_alive(f"elsewhere/{pid}/{key}") is None
    assert process_alive(None) is None


def test_dead_trials_are_failed_and_requeued_once(tmp_path: Path, ended_token: str) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    space = {"x": FloatDistribution(0.0, 1.0)}
    made, _ = create_study(url, tmp_path, "s", ["minimize"], optuna.samplers.RandomSampler(0),
                           optuna.pruners.NopPruner(), (60, None))  # fmt: skip
    storage = made._storage
    keep_alive = KeepAlive(made, {}, lambda: storage_lock(url))
    ids = []
    for token in [ended_token, process_token(), "elsewhere/1/x.y.1", "elsewhere/2/x.y.1"]:
        trial = made.ask(space)
        storage.set_trial_system_attr(trial._trial_id, PROCESS_ATTR, token)
        storage.record_heartbeat(trial._trial_id)
        ids.append(trial._trial_id)
    # Trials 1 (alive here) and 2 (elsewhere) have missed their heartbeats; 3 has not.
    with sqlite3.connect(tmp_path / "o.db") as db:
        db.execute("update trial_heartbeats set heartbeat = datetime('now', '-1 hour') "
                   "where trial_id in (?, ?)", ids[1:3])  # fmt: skip
    try:
        assert keep_alive.fail_dead_trials(space) == [0, 2]
        assert keep_alive.fail_dead_trials(space) == []  # already failed: no second retry
    finally:
        keep_alive.stop()
    trials = made.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.RUNNING, TrialState.FAIL,
                                         TrialState.RUNNING, TrialState.WAITING,
                                         TrialState.WAITING]  # fmt: skip
    assert "ended before the trial did" in trials[0].user_attrs["fail_reason"]
    assert "no heartbeat for over 120 s" in trials[2].user_attrs["fail_reason"]
    assert dead_processes(made) == {ended_token, "elsewhere/1/x.y.1"}  # their runs can go too
    assert [t.params for t in trials[4:]] == [trials[0].params, trials[2].params]
    assert made.ask(space).params == trials[0].params  # the next trial asked is the retry


def test_runs_of_dead_processes_are_closed_and_live_ones_left(
    tmp_path: Path, ended_token: str
) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path / 'm.db'}")
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "a").as_uri())
    live = subprocess.Popen(["sleep", "60"])
    try:
        tags = {
            "dead": {PROCESS_TAG: ended_token},
            "live": {PROCESS_TAG: process_token(live.pid)},
            "ours": {PROCESS_TAG: process_token()},
            "trial failed": {PROCESS_TAG: "elsewhere/1/x.y.1", STUDY_TAG: "s",
                             TRIAL_NUMBER_TAG: "0"},
            "trial running": {PROCESS_TAG: "elsewhere/1/x.y.1", STUDY_TAG: "s",
                              TRIAL_NUMBER_TAG: "1"},
            "stopped beating": {PROCESS_TAG: "elsewhere/2/x.y.1"},  # its trial was failed
            "no tag": {},
        }  # fmt: skip
        ids = {name: client.create_run(experiment, tags=t).info.run_id for name, t in tags.items()}
        dead = {"elsewhere/2/x.y.1", process_token(live.pid)}  # a live one here is never closed
        assert close_dead_runs(client, experiment, "s", {0: "FAIL", 1: "RUNNING"}, dead) == 3
        status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
        assert status == {"dead": "KILLED", "live": "RUNNING", "ours": "RUNNING",
                          "trial failed": "KILLED", "trial running": "RUNNING",
                          "stopped beating": "KILLED", "no tag": "RUNNING"}  # fmt: skip
        beat = client.get_run(ids["stopped beating"]).data.tags[FAILURE_REASON_TAG]
        assert beat == "its process (elsewhere pid 2) stopped beating: the search failed its trial"
        reason = client.get_run(ids["dead"]).data.tags[FAILURE_REASON_TAG]
        assert reason.startswith("its process (") and "ended without closing the run" in reason
        # At the end of a sweep, only a live process of another sweep keeps its run open.
        owned = {name: owned_by_live_process(client.get_run(i)) for name, i in ids.items()}
        assert owned == {"dead": False, "live": True, "ours": False, "trial failed": False,
                         "trial running": False, "stopped beating": False,
                         "no tag": False}  # fmt: skip
    finally:
        live.kill()
        live.wait()


def test_store_lock_lets_one_process_in_at_a_time(tmp_path: Path) -> None:
    database = tmp_path / "mlflow.db"
    order: list[str] = []

    def second() -> None:
        with store_lock(database):  # a separate open file: excluded like another process
            order.append("second in")

    with store_lock(database):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first out")
    thread.join(5)
    assert order == ["first out", "second in"]
    assert (tmp_path / "mlflow.db.lock").exists()
    with store_lock(None):  # not sqlite: nothing to lock
        pass


def test_unique_dir_claims_the_next_free_name(tmp_path: Path) -> None:
    base = str(tmp_path / "multirun" / "12-00-00")
    assert [unique_dir(base) for _ in range(3)] == [base, f"{base}_2", f"{base}_3"]
    assert all(os.path.isdir(p) for p in (base, f"{base}_2", f"{base}_3"))


@pytest.mark.parametrize(
    ("keys", "fragment"),
    [
        ({"heartbeat_interval": 0}, "heartbeat_interval=0: give a whole number of seconds"),
        ({"heartbeat_interval": 1.5}, "heartbeat_interval=1.5"),
        ({"grace_period": 10}, "grace_period needs hydra.sweeper.heartbeat_interval"),
        ({"heartbeat_interval": 10, "grace_period": 10}, "grace_period=10 must exceed"),
    ],
)
def test_bad_heartbeat_settings_fail_in_one_line(keys: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SweeperConfigError, match=fragment.replace(".", r"\.")) as error:
        read_settings(keys)
    assert "\n" not in str(error.value)
