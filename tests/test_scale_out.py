"""One study on PostgreSQL and an MLflow server on PostgreSQL, shared by several workers.

The deployment of the README's "Many workers" section on one machine: a throwaway PostgreSQL
and a real ``mlflow server`` (``tests/services.py``), and the README's worker command run as
separate ``nst-sweep`` processes, one of them killed with SIGKILL in the middle of a trial.

The killed worker runs in a PID namespace of its own (``unshare --pid``, as root): to the other
workers it is then a process on another machine, whose death only the missed heartbeats tell,
as on a cluster. Where ``unshare`` is not allowed it runs beside them, and they see at once
that its pid has ended.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from conftest import cli_env
from hydra_plugins.nst_optuna_sweeper._heartbeat import PROCESS_ATTR, RETRY_OF_ATTR
from nst_sweep.names import (
    FAILURE_REASON_TAG,
    PARENT_RUN_TAG,
    PROCESS_TAG,
    ROLE_TAG,
    SCORE_METRIC,
    STUDY_TAG,
    SWEEP_ROLE,
    TRIAL_NUMBER_TAG,
)

REPO = Path(__file__).resolve().parents[1]
README_DB = "postgresql://me@dbhost/optuna"  # the README's placeholders, replaced by the real ones
README_MLFLOW = "http://mlflow-host:5000"
TIMEOUT_S = 240
GRACE_S = 3  # seconds without a heartbeat before a trial of another machine counts as dead
# Cheap trials: 32 px, random weights, a few steps, no pruning, no promotion; beats every second.
CHEAP = ["image.size=32", "optimizer.steps=6", "model.weights=random", "progress=false",
         "tune.preview_size=null", "tune.promote=0", "hydra.sweeper.pruner=null",
         "hydra.sweeper.n_trials=2", "hydra.sweeper.heartbeat_interval=1",
         f"hydra.sweeper.grace_period={GRACE_S}", "tracking.experiment=scale"]  # fmt: skip
# Its own PID namespace: process tokens then tell the other workers nothing (another machine).
ELSEWHERE = ["unshare", "--pid", "--fork", "--kill-child"]


def readme_worker_command() -> list[str]:
    """The README's worker command (the line after its ``# One more worker`` comment)."""
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    match = re.search(r"# One more worker[^\n]*\n\s*(\.venv/bin/nst-sweep [^\n]+)", text)
    assert match, "README.md lost its worker command"
    return shlex.split(match.group(1))[1:]


def start_worker(
    cwd: Path, storage: str, tracking: str, prefix: list[str] | None = None
) -> subprocess.Popen:
    """The README's worker command with the real URLs, as its own process (one TF thread)."""
    args = [a.replace(README_DB, storage).replace(README_MLFLOW, tracking)
            for a in readme_worker_command()]  # fmt: skip
    assert any(storage in a for a in args) and any(tracking in a for a in args)
    env = {**cli_env(), "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
           "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip
    return subprocess.Popen(
        [*(prefix or []), sys.executable, "-m", "nst_sweep", *args, *CHEAP],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run([*ELSEWHERE, "true"], capture_output=True).returncode == 0


def worker_pid(proc: subprocess.Popen, elsewhere: bool) -> int:
    """The pid of the Python process of a worker (under ``unshare``: its only child)."""
    deadline = time.monotonic() + 30
    while elsewhere and time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):  # ended meanwhile
                continue
            if fields[1] == str(proc.pid):  # its parent is unshare
                return int(stat.parent.name)
        time.sleep(0.05)
    assert not elsewhere, "unshare started no worker"
    return proc.pid


def token_pattern(pid: int) -> str:
    """A LIKE pattern for the JSON process token (``processes.py``) of process ``pid``: its
    pid as it sees it and its PID namespace."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    inner = fields["NSpid"].split()[-1]
    namespace = os.stat(f"/proc/{pid}/ns/pid").st_ino
    return f'"%/{inner}/%.{namespace}.%'


def running_trial_with_a_run(postgres: Any, pattern: str) -> int | None:
    """The number of a RUNNING trial whose process token matches ``pattern`` and whose
    MLflow run is RUNNING, if any."""
    import psycopg

    try:
        with psycopg.connect(postgres.url("optuna")) as db:
            numbers = [row[0] for row in db.execute(
                "SELECT t.number FROM trials t JOIN trial_system_attributes a "
                "ON a.trial_id = t.trial_id WHERE t.state = 'RUNNING' AND a.key = %s "
                "AND a.value_json LIKE %s", (PROCESS_ATTR, pattern))]  # fmt: skip
        if not numbers:
            return None
        with psycopg.connect(postgres.url("mlflow")) as db:
            found = db.execute(
                "SELECT t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "WHERE r.status = 'RUNNING' AND t.key = %s AND t.value = ANY(%s)",
                (TRIAL_NUMBER_TAG, [str(n) for n in numbers]),
            ).fetchone()
    except psycopg.errors.UndefinedTable:  # the schema is not there yet
        return None
    return None if found is None else int(found[0])


def kill_mid_trial(postgres: Any, proc: subprocess.Popen, pid: int, timeout: float = 150) -> int:
    """SIGKILL worker ``pid`` (of ``proc``) while one of its trials and that trial's MLflow run
    are RUNNING; returns the trial's number.

    The process is stopped (SIGSTOP) first and the trial checked again, so that the kill
    surely lands mid-trial.
    """
    pattern = token_pattern(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0][-4000:]
        if running_trial_with_a_run(postgres, pattern) is not None:
            os.kill(pid, signal.SIGSTOP)
            number = running_trial_with_a_run(postgres, pattern)
            if number is not None:
                os.kill(pid, signal.SIGKILL)
                proc.communicate()
                return number
            os.kill(pid, signal.SIGCONT)  # it finished the trial meanwhile: the next one
        time.sleep(0.1)
    raise AssertionError("the worker never ran a trial")


def finish(*procs: subprocess.Popen) -> None:
    outputs = [proc.communicate(timeout=TIMEOUT_S)[0] for proc in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-4000:]


def test_three_workers_one_killed_mid_trial_lose_nothing(
    postgres: Any, pg_mlflow_server: Any, tmp_path: Path
) -> None:
    storage, tracking = postgres.url("optuna"), pg_mlflow_server.url
    elsewhere = can_unshare()
    procs = []
    try:
        # Two workers start together; one is killed in its first trial; one more joins after.
        procs.append(first := start_worker(tmp_path, storage, tracking))
        doomed = start_worker(tmp_path, storage, tracking, ELSEWHERE if elsewhere else None)
        procs.append(doomed)
        pid = worker_pid(doomed, elsewhere)
        dead = kill_mid_trial(postgres, doomed, pid)
        if elsewhere:  # its trial is dead to the others once it has missed beats for GRACE_S
            time.sleep(GRACE_S + 1)
        procs.append(joined := start_worker(tmp_path, storage, tracking))
        finish(first, joined)
    finally:  # a failed step leaves no worker behind
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    # How the others tell the trial (and the runs) of the killed worker are dead.
    trial_reason = f"no heartbeat for over {GRACE_S} s" if elsewhere else f"pid {pid}"
    run_reason = "stopped beating" if elsewhere else f"pid {pid}"

    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(5))  # 2 + 2 + the killed one, each once
    by_state = Counter(t.state for t in trials)
    assert by_state == {TrialState.COMPLETE: 4, TrialState.FAIL: 1}  # nothing RUNNING or WAITING
    killed = trials[dead]
    assert killed.state == TrialState.FAIL
    assert trial_reason in killed.user_attrs["fail_reason"]
    [retry] = [t for t in trials if t.user_attrs.get(RETRY_OF_ATTR) == dead]
    assert retry.number > dead and retry.params == killed.params
    assert retry.state == TrialState.COMPLETE
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sum(t.params == killed.params for t in complete) == 1  # run again once, not twice

    client = MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name("scale").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    parents = {r.data.tags[PROCESS_TAG]: r for r in runs if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE}
    jobs = [r for r in runs if PARENT_RUN_TAG in r.data.tags]
    assert len(parents) == 3 and len(jobs) == 5  # a parent per worker, a run per trial
    assert Counter(int(r.data.tags[TRIAL_NUMBER_TAG]) for r in jobs) == dict.fromkeys(range(5), 1)
    for run in jobs:
        trial = trials[int(run.data.tags[TRIAL_NUMBER_TAG])]
        assert run.data.tags[STUDY_TAG] == "shared"
        # Under the parent run of the worker that ran it.
        assert run.data.tags[PARENT_RUN_TAG] == parents[run.data.tags[PROCESS_TAG]].info.run_id
        if trial.state == TrialState.COMPLETE:
            assert run.info.status == "FINISHED" and run.data.metrics[SCORE_METRIC] == trial.value
        else:
            assert run.info.status in ("KILLED", "FAILED")
            assert run_reason in run.data.tags[FAILURE_REASON_TAG]
    statuses = Counter(p.info.status for p in parents.values())
    assert statuses == {"FINISHED": 2, "KILLED": 1}
    [closed] = [p for p in parents.values() if p.info.status == "KILLED"]
    assert run_reason in closed.data.tags[FAILURE_REASON_TAG]


def test_a_database_url_without_its_driver_fails_in_one_line_naming_the_extra(
    cli: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg fails, as uninstalled
    fix = 'its database driver psycopg is not installed; pip install -e ".[postgres]"'
    storage = "hydra.sweeper.storage=postgresql://me:pw@127.0.0.1:9/optuna"
    search = cli(["-m", "search=optuna", "tracking=none", storage], tmp_path)
    single = cli(["tracking.uri=postgresql://me:pw@127.0.0.1:9/mlflow"], tmp_path)
    for proc, key in [(search, "hydra.sweeper.storage"), (single, "tracking.uri")]:
        assert proc.returncode == 2
        [line] = proc.stderr.strip().splitlines()
        assert line.startswith(f"nst-sweep: error: {key}=postgresql://me:***@127.0.0.1:9/")
        assert line.endswith(fix) and "pw" not in line.replace("pip", "")
    assert not list(tmp_path.rglob("multirun"))  # nothing was made


def test_services_fail_in_ci_when_postgresql_is_missing(monkeypatch: Any) -> None:
    from services import missing

    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        missing("no initdb")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        missing("no initdb")


def test_a_study_database_that_is_down_fails_in_one_line(cli: Any, tmp_path: Path) -> None:
    from services import free_port

    url = f"postgresql://me:pw@127.0.0.1:{free_port()}/optuna"  # nothing listens there
    args = ["-m", "search=optuna", "model.weights=random", "tracking=none"]
    proc = cli([*args, f"hydra.sweeper.storage={url}"], tmp_path)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    shown = "hydra.sweeper.storage=" + url.replace(":pw@", ":***@")
    assert line.startswith(f"nst-sweep: error: {shown}: cannot open the study")
    assert line.endswith("check that the database is up and the URL is right")
    assert "pw@" not in line


def test_the_storage_lock_makes_workers_take_turns_on_postgresql(postgres: Any) -> None:
    """Claiming promotions and failing dead trials is check-then-write: on PostgreSQL an
    advisory lock makes it atomic between workers (on sqlite, a file lock does). A second
    worker that wants the lock while the first holds it gets it only after the release."""
    import threading

    from hydra_plugins.nst_optuna_sweeper._study import storage_lock

    url = postgres.url("optuna")
    events: list[str] = []
    held = threading.Event()

    def first() -> None:
        with storage_lock(url):
            events.append("first in")
            held.set()
            time.sleep(0.5)  # the second worker asks meanwhile
            events.append("first out")

    def second() -> None:
        held.wait(timeout=30)
        with storage_lock(url):
            events.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert events == ["first in", "first out", "second in"]
