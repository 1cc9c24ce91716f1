"""The result survives the tracker, and secrets stay secret (RELIABILITY.md).

A real ``mlflow server`` (its own process group, one worker) is killed in the middle of a run:
the run ends within seconds with its image, keeps what MLflow did not take beside it, and
``nst-sweep-sync`` sends that to the restarted server, which then holds the whole run. A
password typed into ``tracking.uri`` or handed to the sweeper's storage never shows in what
MLflow stores, in the sweep's files or in the output.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from services import MlflowServer, free_port

import nst_sweep.run as run_module
from hydra_plugins.nst_optuna_sweeper import RESULTS_FILE, redact, redact_log_records
from nst_sweep import connection
from nst_sweep.names import (
    FAILURE_REASON_TAG,
    OUTPUT_FILE,
    PARENT_FILE,
    PARENT_RUN_TAG,
    PROGRESS_IMAGE,
    RESULT_ARTIFACT,
    ROLE_TAG,
    SPOOL_FOLDER,
    SWEEP_ROLE,
)
from nst_sweep.progress import StepReporter
from nst_sweep.spool import pending
from nst_sweep.sync import main as sync_main

SMALL = ["image.size=32", "model.weights=random", "progress=false"]
HTTP_PW = "hunter2-http"  # what must never show
DB_PW = "hunter2-db"


@pytest.fixture()
def server(tmp_path):
    (tmp_path / "mlflow-server").mkdir()
    found = MlflowServer(tmp_path / "mlflow-server")
    found.start()
    yield found
    found.kill()


@pytest.fixture(autouse=True)
def mlflow_environment():
    """Runs in this process set MLflow's variables (limits, credentials): undo that after."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        del os.environ[key]
    os.environ.update(saved)


# ------------------------------------------------------------------ a real tracking server
def test_a_server_killed_mid_sweep_and_passwords_kept_out(
    server, cli, image_files, tmp_path, monkeypatch, capfd
):
    """Both checks on one server: starting one costs several seconds."""
    for part in ("secrets", "outage"):
        (tmp_path / part).mkdir()
    no_password_reaches_mlflow_the_sweep_files_or_the_output(
        server, cli, image_files, tmp_path / "secrets", monkeypatch
    )
    a_server_killed_mid_sweep_costs_seconds_and_loses_nothing(
        server, cli, image_files, tmp_path / "outage", monkeypatch, capfd
    )


def a_server_killed_mid_sweep_costs_seconds_and_loses_nothing(
    server, cli, image_files, tmp_path, monkeypatch, capfd
):
    """Killed in job 0 of 2: job 0 goes on kept, job 1 starts kept, the sweep ends in seconds
    with both images; after a restart the sync makes the server hold all three runs whole."""
    content, style = image_files
    steps, kill_step = 8, 3
    killed: list[float] = []

    class KillingReporter(StepReporter):
        """Kills the server as the first job's loop reaches ``kill_step``: a known point."""

        def __call__(self, record):
            if record.step == kill_step and not killed:
                server.kill()
                killed.append(time.monotonic())
            super().__call__(record)

    monkeypatch.setattr(run_module, "StepReporter", KillingReporter)
    sweep = tmp_path / "sweep"
    proc = cli(
        ["-m", f"content={content}", f"style={style}", *SMALL, f"optimizer.steps={steps}",
         "tracking.image_every=2", "tracking.flush_every=1", f"tracking.uri={server.url}",
         "tracking.experiment=outage", f"hydra.sweep.dir={sweep}", "seed=0,1",
         "tracking.retries=1"],  # the default 2 adds 2-3 s per failed call: see the next test
        tmp_path,
    )  # fmt: skip
    seconds = time.monotonic() - killed[0]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert seconds < 30, f"the sweep took {seconds:.0f} s to end after the kill"
    assert (sweep / "0" / OUTPUT_FILE).is_file() and (sweep / "1" / OUTPUT_FILE).is_file()
    last = proc.stdout.strip().splitlines()[-1]
    assert last.endswith("send them with: nst-sweep-sync sweep"), last
    kept = pending(sweep)
    assert {p.parent.parent for p in kept} == {sweep, sweep / "0", sweep / "1"}

    monkeypatch.setenv(connection.RETRIES_ENV, "0")  # the user's own value is kept: no waiting
    capfd.readouterr()
    with pytest.raises(SystemExit) as still_away:
        sync_main([str(sweep)])
    [line] = capfd.readouterr().err.strip().splitlines()
    assert still_away.value.code == 1 and "still kept" in line and "Connection refused" in line
    assert pending(sweep) == kept  # nothing lost while the server is away

    server.start()
    sync_main([str(sweep)])
    said = capfd.readouterr().out.strip().splitlines()[-1]
    assert said.startswith("nst-sweep-sync: sent ") and "the run's end" in said
    assert pending(sweep) == [] and not list(sweep.rglob(SPOOL_FOLDER))
    client = MlflowClient(server.url)
    runs = client.search_runs([client.get_experiment_by_name("outage").experiment_id])
    [parent] = [r for r in runs if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE]
    children = [r for r in runs if r.data.tags.get(PARENT_RUN_TAG) == parent.info.run_id]
    assert len(runs) == 3 and len(children) == 2
    for run in runs:
        assert run.info.status == "FINISHED" and FAILURE_REASON_TAG not in run.data.tags
    for child in children:
        history = client.get_metric_history(child.info.run_id, "loss/total")
        assert sorted(m.step for m in history) == list(range(steps + 1))  # each step once
        assert "score" in child.data.metrics and "optimizer.steps" in child.data.params
        run_id = child.info.run_id
        assert RESULT_ARTIFACT in {a.path for a in client.list_artifacts(run_id)}
        images = [a.path for a in client.list_artifacts(run_id, "images")]
        seen = {int(p.split("+step+")[1].split("+")[0]) for p in images if PROGRESS_IMAGE in p}
        assert seen == {0, 2, 4, 6, 8}

    sync_main([str(sweep)])  # again: nothing is sent twice
    assert capfd.readouterr().out.strip() == f"nst-sweep-sync: sent nothing from {sweep}"


def test_an_unreachable_or_silent_server_fails_in_one_line_within_seconds(
    cli, image_files, tmp_path
):
    content, style = image_files
    args = [f"content={content}", f"style={style}", *SMALL, "optimizer.steps=1"]
    dead = free_port()  # nothing listens: refused, as a stopped server
    start = time.monotonic()
    proc = cli([*args, f"tracking.uri=http://bob:{HTTP_PW}@127.0.0.1:{dead}"], tmp_path)
    seconds = time.monotonic() - start
    assert proc.returncode == 2 and seconds < 20, (seconds, proc.stderr)
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"nst-sweep: error: tracking.uri=http://bob:***@127.0.0.1:{dead}:")
    assert HTTP_PW not in proc.stdout + proc.stderr

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/?token={HTTP_PW}"
        start = time.monotonic()
        limits = ["tracking.timeout=1", "tracking.retries=0"]
        proc = cli([*args, f"tracking.uri='{url}'", *limits], tmp_path)
        seconds = time.monotonic() - start
    assert proc.returncode == 2 and seconds < 10, (seconds, proc.stderr)
    [line] = proc.stderr.strip().splitlines()
    assert "?token=***" in line and HTTP_PW not in proc.stdout + proc.stderr


def test_http_limits_keep_the_users_own_variables(monkeypatch):
    for name in (connection.TIMEOUT_ENV, connection.RETRIES_ENV, connection.BACKOFF_ENV):
        monkeypatch.delenv(name, raising=False)
    connection.bound_requests()
    assert os.environ[connection.TIMEOUT_ENV] == str(connection.TIMEOUT_S)
    assert os.environ[connection.RETRIES_ENV] == str(connection.RETRIES)
    monkeypatch.setenv(connection.TIMEOUT_ENV, "42")  # the user's
    connection.bound_requests()
    assert os.environ[connection.TIMEOUT_ENV] == "42"
    connection.bound_requests(timeout=3, retries=0)  # tracking.timeout / tracking.retries
    assert (os.environ[connection.TIMEOUT_ENV], os.environ[connection.RETRIES_ENV]) == ("3", "0")
    with connection.quick_requests():
        assert os.environ[connection.RETRIES_ENV] == "0"
    assert os.environ[connection.TIMEOUT_ENV] == "3"
    assert connection.without_credentials("http://bob:p%40ss@h:5000/x") == "http://h:5000/x"
    assert os.environ[connection.PASSWORD_ENV] == "p@ss"
    assert connection.without_credentials("sqlite:///a.db") == "sqlite:///a.db"


# ------------------------------------------------------------------ secrets stay secret
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://me:s3cret@db:5432/o", "postgresql://me:***@db:5432/o"),
        ("postgresql+psycopg2://me:p@ss@db/o", "postgresql+psycopg2://me:***@db/o"),
        ("sqlite:///o.db?password=s3cret", "sqlite:///o.db?password=***"),
        (
            "pg://db/o?user=me&PGPASSWORD=x&sslmode=on",
            "pg://db/o?user=me&PGPASSWORD=***&sslmode=on",
        ),
        ("x=http://h:5000/?token=abc done", "x=http://h:5000/?token=*** done"),
        ("['a=http://u:pw@h:1', 'b']", "['a=http://u:***@h:1', 'b']"),
        ("http://h:5000/api and me@example.org", "http://h:5000/api and me@example.org"),
        ("sqlite:////abs/o.db user@host", "sqlite:////abs/o.db user@host"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_log_records_are_redacted_whatever_the_logger(caplog):
    redact_log_records()
    redact_log_records()  # twice is harmless
    logger = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        logger.info("connecting to %s", f"http://bob:{HTTP_PW}@h")
        try:
            raise RuntimeError(f"no route to postgresql://me:{DB_PW}@db/o")
        except RuntimeError:
            logger.exception("failed")
    assert HTTP_PW not in caplog.text and DB_PW not in caplog.text
    assert "http://bob:***@h" in caplog.text and "postgresql://me:***@db/o" in caplog.text


def no_password_reaches_mlflow_the_sweep_files_or_the_output(
    server, cli, image_files, tmp_path, monkeypatch
):
    """A search with the tracking password typed into the URI and the storage's password (query
    form) passed as the README says, through ``${oc.env:...}``."""
    content, style = image_files
    monkeypatch.setenv("NST_TEST_STORAGE", f"sqlite:///{tmp_path / 'optuna.db'}?password={DB_PW}")
    sweep = tmp_path / "sweep"
    proc = cli(
        ["-m", "hydra/sweeper=nst_optuna", "hydra.sweeper.n_trials=1",
         "hydra.sweeper.objectives=[score]", "hydra.sweeper.study_name=secrets",
         "hydra.sweeper.storage=${oc.env:NST_TEST_STORAGE}",
         "loss.tv_weight=interval(1, 10)", f"content={content}", f"style={style}", *SMALL,
         "optimizer.steps=1", f"tracking.uri=http://bob:{HTTP_PW}@127.0.0.1:{server.port}",
         "tracking.experiment=secrets", f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert HTTP_PW not in output and DB_PW not in output
    assert f"bob:***@127.0.0.1:{server.port}" in output  # the sweep's log line, redacted
    # Only our link, without the user: MLflow's own "View run at" line is silenced.
    assert f"view sweep 'sweep sweep': http://127.0.0.1:{server.port}/#/" in output
    assert "View run" not in output

    # Everything MLflow holds: params, tags, every artifact's bytes.
    client = MlflowClient(server.url)
    runs = client.search_runs([client.get_experiment_by_name("secrets").experiment_id])
    assert len(runs) == 2  # the sweep and its trial
    for run in runs:
        stored = [*run.data.params.values(), *run.data.tags.values()]
        into = str(tmp_path / run.info.run_id)
        folder = Path(client.download_artifacts(run.info.run_id, "", into))
        stored += [f.read_bytes().decode("latin-1") for f in folder.rglob("*") if f.is_file()]
        assert not [s for s in stored if HTTP_PW in s or DB_PW in s]
    [trial] = [r for r in runs if "optuna.trial_number" in r.data.tags]
    assert trial.data.params["tracking.uri"] == f"http://bob:***@127.0.0.1:{server.port}"
    typed = f"tracking.uri=http://bob:***@127.0.0.1:{server.port}"
    assert typed in trial.data.tags["hydra.overrides"]

    # The sweep's files; Hydra's own .hydra/ and multirun.yaml keep the command line as typed.
    results = yaml.safe_load((sweep / RESULTS_FILE).read_text())
    assert results["storage"].endswith("?password=***")
    assert "bob:***@" in (sweep / PARENT_FILE).read_text()
    for path in (p for p in sweep.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("latin-1")
        assert DB_PW not in text, path  # ${oc.env:...}: not even in .hydra/
        hydras_own = ".hydra" in path.parts or path.name == "multirun.yaml"
        assert hydras_own or HTTP_PW not in text, path
