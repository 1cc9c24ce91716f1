"""Bad input and full disks: one line naming the key and the fix, exit 2, before the work.

One row per bad input (``BAD_INPUTS``), each run through ``main()`` in this process; every row
also checks what it leaves behind: no MLflow run or Optuna trial RUNNING, no half-written file.
Most rows stop before TensorFlow is used. A full disk is simulated by ``/dev/full`` (the
output) and, where this process may mount file systems, by a tiny tmpfs that fills mid-run;
read-only folders by permission bits or, for root (who ignores them), a read-only bind mount.
Ctrl-C goes through a real process. RELIABILITY.md lists these promises and their tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from PIL import Image

from conftest import cli_env
from hydra_plugins.nst_optuna_sweeper._sampler import sampler_factory
from hydra_plugins.nst_optuna_sweeper._settings import SweeperConfigError
from hydra_plugins.nst_optuna_sweeper._study import create_study, load_existing_study
from nst_sweep.app import CONF_DIR
from nst_sweep.names import FAILURE_REASON_TAG

EXPERIMENT = "rel"


# ----------------------------------------------------------------------------- helpers


def _can_write(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def _command(*args: str) -> bool:
    return subprocess.run(args, capture_output=True, check=False).returncode == 0


@pytest.fixture()
def read_only() -> Iterator[Callable[[Path], Path]]:
    """``read_only(folder)``: the folder, made (and kept) read-only for this test."""
    made: list[tuple[Path, bool]] = []

    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        made.append((folder, False))
        if _can_write(folder):  # root: a read-only bind mount of the folder on itself
            if _command("mount", "--bind", str(folder), str(folder)):
                made[-1] = (folder, True)
                _command("mount", "-o", "remount,ro,bind", str(folder))
            if _can_write(folder):
                pytest.skip("cannot make a read-only folder here")
        return folder

    yield make
    for folder, mounted in reversed(made):
        if mounted:
            _command("umount", "-l", str(folder))
        folder.chmod(0o755)


def statuses(db: Path) -> list[tuple[str, str | None]]:
    """(status, failure.reason) of every run in a sqlite MLflow store; [] if there is none."""
    if not db.exists():
        return []
    client = MlflowClient(f"sqlite:///{db}")
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    return [(r.info.status, r.data.tags.get(FAILURE_REASON_TAG)) for r in runs]


def trial_states(db: Path) -> list[str]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return [state for (state,) in connection.execute("SELECT state FROM trials")]


def leftovers(folder: Path) -> list[Path]:
    """Half-written images and write probes: none may stay behind."""
    return [
        *folder.rglob("*.part"),
        *folder.rglob(".nst-probe-*"),
        *folder.rglob(".optuna-probe-*"),
    ]


def assert_one_line(proc: Any, fragment: str, prog: str = "nst-sweep") -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    return lines[0]


# ----------------------------------------------------------------------------- the table

# name: (overrides, the fragment of the one line, where it stops: "before" (no MLflow run,
# nothing under runs/) or "run" (the job's run is FAILED with the line as its reason)).
# {tmp} is the test's folder (the cwd), {ro} a read-only folder in it; RUNS_RO makes runs/
# read-only; a row's tracking.uri replaces the default store {tmp}/mlflow.db.
BAD_INPUTS: dict[str, tuple[list[str], str, str]] = {
    "output in a read-only folder": (
        ["output={ro}/result.png"], "output={ro}/result.png: cannot write in {ro} (", "before"
    ),
    "output below a read-only folder": (
        ["output={ro}/new/result.png"], "output={ro}/new/result.png: cannot write in {ro}", "before"
    ),
    "output in a read-only folder, multirun": (
        ["-m", "output={ro}/result.png"], "output={ro}/result.png: cannot write in {ro}", "before"
    ),
    "empty output": (["output="], "output is empty", "before"),
    "output is a folder": (
        ["output={tmp}/folder.png"], "output={tmp}/folder.png: is a folder", "before"
    ),
    "output below a file": (
        ["output={tmp}/notes.txt/result.png"], "{tmp}/notes.txt is a file, not a folder", "before"
    ),
    "read-only runs/": (["RUNS_RO"], "hydra.run.dir=runs/outputs/", "before"),
    "read-only runs/, multirun": (["-m", "RUNS_RO"], "hydra.sweep.dir=runs/multirun/", "before"),
    "read-only sqlite store": (
        ["tracking.uri=sqlite:///{ro}/mlflow.db"],
        "tracking.uri=sqlite:///{ro}/mlflow.db: cannot write in {ro} (",
        "before",
    ),
    "empty tracking.uri": (["tracking.uri="], "tracking.uri is empty", "before"),
    "empty tracking.uri, multirun": (["-m", "tracking.uri="], "tracking.uri is empty", "before"),
    "unknown tracking scheme, multirun": (
        ["-m", "tracking.uri=foo://bar"], "tracking.uri=foo://bar: MLflow has no store", "before"
    ),
    "a folder as tracking store": (
        ["tracking.uri={tmp}/mlruns"], "tracking.uri={tmp}/mlruns: a folder is not an", "before"
    ),
    "experiment outside runs/": (["tracking.experiment=.."], "tracking.experiment=..: ", "before"),
    "all loss weights 0": (
        ["loss.content_weight=0", "loss.style_weight=0", "loss.tv_weight=0"],
        "loss.content_weight, loss.style_weight and loss.tv_weight are all 0",
        "before",
    ),
    "huge image": (
        ["content={tmp}/huge.png"], "content={tmp}/huge.png: 8000x7000 px is above the limit",
        "before",
    ),
    "search without -m": (["search=optuna"], "search=optuna: a search runs only as a", "before"),
    "unknown study storage": (
        ["-m", "search=optuna", "hydra.sweeper.storage=foo://bar"],
        "hydra.sweeper.storage=foo://bar: no database driver for 'foo'",
        "before",
    ),
    "read-only study storage": (
        ["-m", "search=optuna", "hydra.sweeper.storage=sqlite:///{ro}/optuna.db"],
        "hydra.sweeper.storage=sqlite:///{ro}/optuna.db: cannot write in {ro}",
        "before",
    ),
    "search over a missing key": (
        ["-m", "search=optuna", "nope=interval(0,1)"],
        "nope: the config has no such key to search",
        "before",
    ),
    "empty search interval": (
        ["-m", "search=optuna", "loss.tv_weight=interval(10,1)"],
        "loss.tv_weight=interval(10,1): `low <= high` must hold",
        "before",
    ),
    "unknown objective": (
        ["-m", "search=optuna", "hydra.sweeper.objectives=[nope]"],
        "hydra.sweeper.objectives=[nope]: a job returns loss/total",
        "before",
    ),
    "objective not returned": (
        ["-m", "search=optuna", "score.enabled=false"],
        "hydra.sweeper.objectives=[score]: a job returns loss/total, loss/content",
        "before",
    ),
}  # fmt: skip
NEEDS_READ_ONLY = [name for name, (args, _, _) in BAD_INPUTS.items() if "{ro}" in " ".join(args)]


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_before_the_work_in_one_line(
    tmp_path: Path,
    image_files: tuple[Path, Path],
    cli: Any,
    read_only: Any,
    template_store: Path,
    case: str,
) -> None:
    args, fragment, stops = BAD_INPUTS[case]
    ro = read_only(tmp_path / "ro") if case in NEEDS_READ_ONLY else tmp_path / "ro"
    if "RUNS_RO" in args:
        read_only(tmp_path / "runs")
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "notes.txt").write_text("a file")
    if case == "huge image":  # 56 megapixels in a few KB: refused from the header
        Image.new("1", (8000, 7000)).save(tmp_path / "huge.png")
    content, style = image_files
    store = tmp_path / "mlflow.db"
    if stops == "run":
        shutil.copyfile(template_store, store)
    base = [f"content={content}", f"style={style}", "image.size=32", "model.weights=random",
            "optimizer.steps=1", "progress=false", f"tracking.uri=sqlite:///{store}",
            f"tracking.experiment={EXPERIMENT}", "hydra.sweeper.n_trials=1"]  # fmt: skip
    given = [a.format(tmp=tmp_path, ro=ro) for a in args if a != "RUNS_RO"]
    keys = {a.split("=")[0] for a in given}
    base = [a for a in base if a.split("=")[0] not in keys]
    if "search=optuna" not in given:
        base.remove("hydra.sweeper.n_trials=1")
    flags = [a for a in given if a == "-m"]
    proc = cli([*flags, *base, *(a for a in given if a != "-m")], tmp_path)

    line = assert_one_line(proc, fragment.format(tmp=tmp_path, ro=ro))
    runs = statuses(store)
    if stops == "before":  # nothing created: no MLflow store, no run or sweep folder
        assert not store.exists() and not any((tmp_path / "runs").glob("*/*"))
    else:
        assert runs == [("FAILED", line.removeprefix("nst-sweep: error: "))]
    assert "RUNNING" not in trial_states(tmp_path / "runs" / "optuna.db")
    assert leftovers(tmp_path) == [] and not (tmp_path / "mlruns").exists()


def test_a_job_checks_its_output_before_its_images(tmp_path: Path, read_only: Any) -> None:
    """The default output is in the job's folder, which only the job knows: ``run`` checks
    it first (a notebook's ``run`` too), before the images are read."""
    from nst_sweep.errors import UserError
    from nst_sweep.run import run
    from nst_sweep.settings import RunSettings

    folder = read_only(tmp_path / "ro")
    settings = RunSettings.from_mapping(
        {"content": "no/such.png", "output": str(folder / "result.png"), "tracking": {}}
    )
    with pytest.raises(UserError, match=rf"^output={folder}/result.png: cannot write in {folder}"):
        run(settings)


# ----------------------------------------------------------------------------- full disks


def test_an_output_on_a_full_disk_is_one_line_and_a_failed_run(
    tmp_path: Path, image_files: tuple[Path, Path], cli: Any, store: Path
) -> None:
    """The output is written at the end; /dev/full refuses it as a full disk does."""
    content, style = image_files
    (tmp_path / "full.png").symlink_to("/dev/full")
    proc = cli(
        [f"content={content}", f"style={style}", "image.size=32", "model.weights=random",
         "optimizer.steps=1", "progress=false", f"tracking.uri=sqlite:///{store}",
         f"output={tmp_path / 'full.png'}"],
        tmp_path,
    )  # fmt: skip
    line = assert_one_line(proc, f"output={tmp_path / 'full.png'}: cannot write it (No space")
    assert statuses(store) == [("FAILED", line.removeprefix("nst-sweep: error: "))]
    assert leftovers(tmp_path) == []


@contextlib.contextmanager
def tiny_disk(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` until ``leave`` bytes are free (0: until not one more byte fits)."""
    stat = os.statvfs(disk)
    with open(disk / "ballast", "ab", buffering=0) as ballast:
        if leave:
            ballast.write(b"\0" * (stat.f_bavail * stat.f_frsize - leave))
            return
        for chunk in (1 << 20, 65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    ballast.write(b"\0" * chunk)


def test_a_full_disk_is_found_before_the_run(
    tmp_path: Path, image_files: tuple[Path, Path], cli: Any
) -> None:
    content, style = image_files
    with tiny_disk(tmp_path / "disk", "256k") as disk:
        fill(disk)
        proc = cli([f"content={content}", f"style={style}"], disk)
        assert_one_line(proc, f"cannot write in {disk}")
        assert "(No space left on device); free space" in proc.stderr
        assert sorted(p.name for p in disk.iterdir()) == ["ballast"]


def test_a_disk_that_fills_mid_run_ends_in_one_line_and_a_failed_run(
    tmp_path: Path, image_files: tuple[Path, Path], cli: Any, template_store: Path
) -> None:
    """Store, artifacts, run folder and output on one disk, which fills while the loop logs:
    one line, exit 2, and the run closed FAILED."""
    content, style = image_files
    with tiny_disk(tmp_path / "disk", "4m") as disk:
        uri = f"sqlite:///{disk / 'runs' / 'mlflow.db'}"
        (disk / "runs").mkdir()
        shutil.copyfile(template_store, disk / "runs" / "mlflow.db")
        fill(disk, leave=150_000)
        proc = cli(
            [f"content={content}", f"style={style}", "image.size=32", "model.weights=random",
             "optimizer.steps=100", "progress=false", f"tracking.uri={uri}",
             "tracking.image_every=1", "tracking.flush_every=1"],
            disk,
        )  # fmt: skip
        # Tracking calls go out in the background, so the full disk may first stop the loop
        # (the store) or the image (the output): either way one line with where to point.
        line = assert_one_line(proc, "")
        assert "No space left on device" in line or "the disk is full (" in line, line
        assert "output=" in line
        [(status, reason)] = statuses(disk / "runs" / "mlflow.db")
        assert (status, reason) == ("FAILED", line.removeprefix("nst-sweep: error: "))
        assert leftovers(disk) == []


def test_a_run_is_closed_on_a_disk_with_no_byte_left(tmp_path: Path, template_store: Path) -> None:
    """MLflow cannot close a run on a full disk (SQLite needs room for its journal); the
    tracker then closes it in place, FAILED with its reason."""
    from nst_sweep.tracking import MlflowTracker

    with tiny_disk(tmp_path / "disk", "2m") as disk:
        shutil.copyfile(template_store, disk / "mlflow.db")
        uri = f"sqlite:///{disk / 'mlflow.db'}"
        tracker = MlflowTracker(uri, EXPERIMENT, spool_dir=tmp_path)
        fill(disk)
        with pytest.raises(Exception, match="database or disk is full"):
            tracker.client.set_terminated(tracker.run_id, "FAILED")  # MLflow alone fails
        tracker.finish("FAILED", "the disk is full")
        assert statuses(disk / "mlflow.db") == [("FAILED", "the disk is full")]


# ----------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_is_one_line_exit_130_and_nothing_left_running(
    tmp_path: Path, image_files: tuple[Path, Path], store: Path
) -> None:
    """Ctrl-C in a search's trial: the job's run and the sweep's parent run end KILLED, the
    trial FAIL; the command says "interrupted" and exits 130."""
    content, style = image_files
    proc = subprocess.Popen(
        [sys.executable, "-m", "nst_sweep", "-m", "search=optuna", f"content={content}",
         f"style={style}", "image.size=32", "model.weights=random", "optimizer.steps=100000",
         "progress=false", f"tracking.uri=sqlite:///{store}", "tracking.experiment=int",
         f"hydra.sweeper.storage=sqlite:///{tmp_path / 'optuna.db'}"],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the trial's run is open
            time.sleep(0.2)
            with contextlib.closing(sqlite3.connect(store)) as db:
                if db.execute("SELECT COUNT(*) FROM params").fetchone()[0] > 0:
                    break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert [line for line in err.splitlines() if line.strip()] == ["nst-sweep: interrupted"]
    assert sorted(statuses(store)) == [
        ("KILLED", "interrupted (Ctrl-C)"),  # the trial's run
        ("KILLED", "the sweep process ended before the sweep finished"),  # the parent
    ]
    assert trial_states(tmp_path / "optuna.db") == ["FAIL"]


# ----------------------------------------------------------------------------- nst-score

SCORE_INPUTS = {
    "huge image": (["--image", "{tmp}/huge.png"], "--image={tmp}/huge.png: 8000x7000 px is above"),
    "1x1 image": (["--image", "{tmp}/dot.png"], "--image: 1x1 px to score has a side below 16"),
    "negative seed": (["--seed", "-1"], "--seed=-1: out of range"),
    "size out of range": (["--size", "8"], "--size=8: out of range"),
}


@pytest.mark.parametrize("case", list(SCORE_INPUTS))
def test_nst_score_bad_input_is_one_line(
    tmp_path: Path, image_files: tuple[Path, Path], capsys: Any, case: str
) -> None:
    from nst_sweep.score_cli import main

    args, fragment = SCORE_INPUTS[case]
    content, style = image_files
    Image.new("1", (8000, 7000)).save(tmp_path / "huge.png")
    Image.new("RGB", (1, 1), (10, 20, 30)).save(tmp_path / "dot.png")
    argv = ["--content", str(content), "--style", str(style), "--image", str(content),
            "--weights", "random", *(a.format(tmp=tmp_path) for a in args)]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    proc = type("Proc", (), {"returncode": exit_info.value.code, "stdout": out, "stderr": err})
    assert_one_line(proc, fragment.format(tmp=tmp_path), prog="nst-score")


# ----------------------------------------------------------------------------- searches


def test_a_categorical_search_is_summarised(tmp_path: Path, store: Path) -> None:
    """The README's ``layers=choice(...)`` search: labels and plots take a category."""
    from nst_sweep.reports.study_summary import log_study_summary, trial_label
    from nst_sweep.tracking import MlflowTracker

    sampler, pruner = optuna.samplers.RandomSampler(), optuna.pruners.NopPruner()
    study, _ = create_study(None, tmp_path, "cat", ["minimize"], sampler, pruner)  # in memory
    layers = optuna.distributions.CategoricalDistribution(["blocks_1_3", "blocks_1_5"])
    beta = optuna.distributions.FloatDistribution(100.0, 1e6, log=True)
    for number, (choice, value) in enumerate([("blocks_1_3", 1.5), ("blocks_1_5", 1.25)]):
        study.add_trial(
            optuna.trial.create_trial(
                params={"layers": choice, "loss.style_weight": 1234.5 * (number + 1)},
                distributions={"layers": layers, "loss.style_weight": beta},
                value=value,
            )
        )
    assert trial_label(study.trials[0], ["score"]) == (
        "trial 0: score=1.5\nlayers=blocks_1_3, style=1.23e3"
    )
    with MlflowTracker(f"sqlite:///{store}", "cat", spool_dir=tmp_path) as parent:
        log_study_summary(parent, None, "cat", tmp_path)
    client = MlflowClient(f"sqlite:///{store}")
    run = client.get_run(parent.run_id)
    assert run.data.params["best.layers"] == "blocks_1_5"
    plots = {a.path for a in client.list_artifacts(parent.run_id, "study")}
    assert {"study/best_results.png", "study/param_slice.png"} <= plots


def _sampler_node(*overrides: str) -> Any:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", ["search=optuna", *overrides], return_hydra_config=True)
    return cfg.hydra.sweeper.sampler


def test_swapping_the_samplers_target_keeps_only_what_it_takes() -> None:
    """``search=optuna`` + ``_target_=RandomSampler`` works; a TPE key the user set fails."""
    node = _sampler_node("hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler")
    assert isinstance(sampler_factory(node)(dict), optuna.samplers.RandomSampler)
    node = _sampler_node(
        "hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler",
        "hydra.sweeper.sampler.n_startup_trials=3",
    )
    with pytest.raises(SweeperConfigError, match=r"^hydra.sweeper.sampler \(.*n_startup_trials"):
        sampler_factory(node)(dict)


def test_objectives_a_job_does_not_return_stop_the_sweep_after_one_batch(
    tmp_path: Path, cli: Any
) -> None:
    """Any app (the sweeper's toy): not every trial run in full, and no trial left RUNNING."""
    from test_sweeper import run_toy_failing

    overrides = ["ret=dict", "hydra.sweeper.objectives=[nope]", "hydra.sweeper.n_trials=6",
                 "hydra.sweeper.storage=null", "hydra.sweeper.study_name=nope"]  # fmt: skip
    code, lines = run_toy_failing(cli, tmp_path, *overrides)
    assert code == 1  # the toy app's Hydra exit code; nst-sweep's main() makes it 2
    [line] = lines
    assert line.startswith("hydra.sweeper.objectives=['nope']: the job returned no 'nope'")
    study = load_existing_study(None, "nope", tmp_path)
    assert study is not None  # one batch (n_jobs=2) ran, and failed; no trial RUNNING
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]


def test_a_storage_without_a_driver_fails_before_the_study(tmp_path: Path, cli: Any) -> None:
    from test_sweeper import run_toy_failing

    code, lines = run_toy_failing(cli, tmp_path, "hydra.sweeper.storage=foo://user:pw@bar")
    assert code == 1
    assert lines == [
        "hydra.sweeper.storage=foo://user:***@bar: no database driver for 'foo'; pass a "
        "sqlite://, postgresql:// or mysql:// URL, or null (in memory)"
    ]
    assert not (tmp_path / "multirun").exists()
