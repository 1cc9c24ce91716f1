"""Issue 13, the first run and the first search: what a new user types works, fails early or
stops, in one line.

- ``make run key=value`` / ``make tune key=value`` pass the words on (``make -n``);
- a line says what loads before TensorFlow is imported, and the progress bar follows it;
- offline, the missing ImageNet weights are one line, before any run, with a command to try;
- rejected commands (bad key, value, file, weights name) leave no MLflow run and no folder;
- an unknown key names the closest valid one;
- a search whose first trials all fail the same way stops (exit 2) with the real reason;
- a study keeps the values it was made for; the preset names one study per question;
- ``make tune``'s composed settings let Hyperband prune before the last step, and a pruned
  trial says so in its line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from conftest import REPO, cli_env, synthetic_content, synthetic_style, write_png
from hydra_plugins.nst_optuna_sweeper._outcome import same_failures
from nst_sweep.app import CONF_DIR
from nst_sweep.before_work import TRY_OVERRIDES
from nst_sweep.names import FAILURE_REASON_TAG
from nst_sweep.settings import RunSettings

TINY = ["image.size=32", "model.weights=random", "optimizer.steps=2"]
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make not installed")


@pytest.fixture()
def images(tmp_path: Path) -> list[str]:
    content = write_png(tmp_path / "c.png", synthetic_content(32))
    style = write_png(tmp_path / "s.png", synthetic_style(32, 32))
    return [f"content={content}", f"style={style}"]


# Stands in for .venv/bin/nst-sweep: prints the words the shell handed it.
ECHO_ARGV = "#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def make_words(*words: str) -> list[str]:
    """The words ``make <words>`` hands nst-sweep, through make's real shell (``BIN`` pointed at
    a script that prints its argv)."""
    with tempfile.TemporaryDirectory() as bin_dir:
        script = Path(bin_dir, "nst-sweep")
        script.write_text(ECHO_ARGV)
        script.chmod(0o755)
        # Not the variables of a make that runs this test: `make test ARGS=...` exports them.
        outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "ARGS")
        env = {k: v for k, v in os.environ.items() if k not in outer}
        out = subprocess.run(
            ["make", "-s", "--no-print-directory", "-C", str(REPO), *words, f"BIN={bin_dir}"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def composed(overrides: list[str]) -> Any:
    """The config (with Hydra's) that ``nst-sweep <overrides>`` composes; nothing resolved."""
    import nst_sweep.resolvers  # noqa: F401 (the presets use them)

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def mlflow_runs(db: Path) -> list[Any]:
    if not db.exists():
        return []
    client = MlflowClient(f"sqlite:///{db}")
    return [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


def one_error_line(proc: Any) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("nst-sweep: error: ") and "Traceback" not in proc.stdout
    return lines[0].removeprefix("nst-sweep: error: ")


# ------------------------------------------------------------------ make run / make tune


@needs_make
def test_make_run_tune_and_worker_pass_key_value_words_on_as_typed() -> None:
    typed = [
        "model.weights=random", "content=my photo.png", "+extra=1", "loss.tv_weight=1,10",
        "hydra.sweeper.params.loss.tv_weight=interval(1, 10)",  # parentheses: shell syntax
        "tracking.uri=${oc.env:MLFLOW_URI}", "output=it's.png",  # `$` and a quote, as typed
    ]  # fmt: skip
    args = make_words("run", *typed[:2], "PYTHON=python3", "ARGS=image.size=64 optimizer.steps=5",
                      *typed[2:])  # fmt: skip
    assert args == [*typed, "image.size=64", "optimizer.steps=5"]
    tune = make_words("tune", "image.size=64", "hydra.sweeper.n_trials=2")
    assert tune[:2] == ["-m", "search=optuna"]
    assert tune[-2:] == ["image.size=64", "hydra.sweeper.n_trials=2"]  # after, so they win
    assert make_words("run") == []
    worker = make_words(
        "worker", "STORAGE=sqlite:///s.db", "TRACKING=http://h:5000", "image.size=64"
    )
    assert "hydra.sweeper.storage=sqlite:///s.db" in worker and worker[-1] == "image.size=64"
    assert not any(w.startswith(("STORAGE", "TRACKING")) for w in worker)


# ------------------------------------------------------------------ the first line


WATCH = """
import os, runpy, sys
class Watch:
    def __init__(self, inner): self.inner = inner
    def write(self, text):
        if "loading TensorFlow" in text:
            self.inner.write(text + f"\\ntensorflow imported: {'tensorflow' in sys.modules}\\n")
            self.inner.flush()
            os._exit(0)
        return self.inner.write(text)
    def __getattr__(self, name): return getattr(self.inner, name)
sys.stdout = Watch(sys.stdout)
sys.argv = ["nst-sweep", *sys.argv[1:]]
runpy.run_module("nst_sweep", run_name="__main__")
"""


def test_the_first_line_says_what_loads_before_tensorflow_is_imported(tmp_path, images):
    """A subprocess: only a fresh process shows what was imported when the line came."""
    proc = subprocess.run(
        [sys.executable, "-c", WATCH, *images, *TINY, "tracking=none"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, imported = proc.stdout.strip().splitlines()[:2]
    assert first == (
        "nst-sweep: loading TensorFlow and VGG19 (model.weights=random) for 2 adam steps at "
        "32 px; a progress bar follows"
    )
    assert imported == "tensorflow imported: False"


def test_the_progress_bar_follows_the_first_line(tmp_path, images, cli):
    """The line on stdout (stderr is the bar's and the errors'), before the bar begins."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    both = io.StringIO()  # one stream for both, to see their order
    with redirect_stdout(both), redirect_stderr(both):
        proc = cli([*images, *TINY, "tracking=none", "progress=true"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = both.getvalue()
    assert text.startswith("nst-sweep: loading TensorFlow and VGG19 (model.weights=random)")
    assert text.index("nst-sweep: loading") < text.index("0/2 [") < text.index("2/2 [")
    quiet = cli([*images, *TINY, "tracking=none", "progress=false"], tmp_path)
    assert "loading TensorFlow" not in quiet.stdout + quiet.stderr  # no bar, no line


# ------------------------------------------------------------------ offline


@pytest.mark.parametrize("search", [False, True], ids=["run", "search"])
def test_offline_imagenet_is_one_line_before_any_run_with_a_command_to_try(
    tmp_path, images, search
):
    """A subprocess: Keras reads KERAS_HOME when it is imported. The proxy is a closed port,
    so the download fails as it does offline (and no test reaches the network). A search (as
    `make tune` starts it) stops before its first trial, with no study made."""
    env = {**cli_env(), "KERAS_HOME": str(tmp_path / "keras-home")}
    env.update({k: "http://127.0.0.1:9" for k in ("HTTPS_PROXY", "https_proxy")})
    env.pop("NO_PROXY", None), env.pop("no_proxy", None)
    db, study = tmp_path / "mlflow.db", tmp_path / "optuna.db"
    searching = ["-m", "search=optuna", "hydra.sweeper.n_trials=2",
                 f"hydra.sweeper.storage=sqlite:///{study}"] if search else []  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "nst_sweep", *searching, *images, "image.size=32",
         "progress=false", f"tracking.uri=sqlite:///{db}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    line = one_error_line(proc)
    assert line.startswith("model.weights=imagenet: cannot get the VGG19 ImageNet weights")
    python = f"{sys.executable} -m nst_sweep"
    assert line.endswith(f"to try the tool without them: {python} {TRY_OVERRIDES}")
    assert not db.exists() and not study.exists() and not (tmp_path / "runs").exists()


def test_the_command_to_try_offline_needs_no_imagenet_weights() -> None:
    """It runs as written: its overrides compose and pass every check, with random weights
    (README: under a minute on 2 cores, measured)."""
    cfg = composed(TRY_OVERRIDES.split())
    job = OmegaConf.to_container(cfg, resolve=False)
    job.pop("hydra"), job.pop("output")
    settings = RunSettings.from_mapping(OmegaConf.to_container(OmegaConf.create(job), resolve=True))
    assert settings.transfer.model.weights == "random" and settings.score.weights is None
    assert settings.transfer.image.size <= 128 and settings.transfer.optimizer.steps <= 50


# ------------------------------------------------------------------ rejected commands


REJECTED = {
    "unknown key": (["optimizer.step=10"], "optimizer.step=10: no such key; did you mean "
                    "optimizer.steps=10?"),
    "bad value": (["optimizer.steps=0"], "optimizer.steps=0: out of range"),
    "missing file": (["content=no/such.png"], "content=no/such.png: no such file"),
    "weights name": (["model.weights=imagnet"], "did you mean model.weights=imagenet?"),
    "weights file": (["model.weights=gone.weights.h5"], "model.weights=gone.weights.h5: no such"),
    "all weights 0": (["loss.content_weight=0", "loss.style_weight=0", "loss.tv_weight=0"],
                      "are all 0"),
    "swept unknown key": (["-m", "optimzer.steps=1,2"], "did you mean optimizer.steps?"),
    "searched unknown key": (["-m", "search=optuna", "loss.tv_weigth=interval(1,2)"],
                             "did you mean loss.tv_weight?"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REJECTED))
def test_a_rejected_command_leaves_no_run_and_no_folder(tmp_path, images, cli, case):
    args, fragment = REJECTED[case]
    db = tmp_path / "mlflow.db"
    given = {a.split("=")[0] for a in args}
    base = [a for a in [*images, *TINY, f"tracking.uri=sqlite:///{db}", "progress=false"]
            if a.split("=")[0] not in given]  # fmt: skip
    flags = [a for a in args if a == "-m"]
    proc = cli([*flags, *base, *(a for a in args if a != "-m")], tmp_path)
    assert fragment in one_error_line(proc)
    assert mlflow_runs(db) == [] and not db.exists()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*"))


# ------------------------------------------------------------------ searches


def search_args(tmp_path: Path, images: list[str], *extra: str) -> list[str]:
    return ["-m", "search=optuna", f"hydra.sweeper.storage=sqlite:///{tmp_path / 'optuna.db'}",
            *images, *TINY, f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            "tracking.image_every=0", "progress=false", *extra]  # fmt: skip


def test_a_search_whose_first_trials_fail_the_same_way_stops_with_the_reason(tmp_path, images, cli):
    # A range of negative gammas: every trial fails the same way (each with its own number).
    proc = cli(search_args(tmp_path, images, "hydra.sweeper.study_name=doomed",
                           "hydra.sweeper.n_trials=8", "loss.tv_weight=interval(-2.0, -1.0)"),
               tmp_path)  # fmt: skip
    line = one_error_line(proc)
    assert line.startswith(
        "the first 3 trials failed the same way, so the search stops "
        "(hydra.sweeper.stop_after_same_failures=3): UserError: loss.tv_weight=-1."
    )
    assert line.endswith(": must be >= 0; pass a value >= 0")
    study = optuna.load_study(study_name="doomed", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 3
    reasons = [t.user_attrs["fail_reason"] for t in study.trials]  # the job's, not "non-finite"
    assert all(r.startswith("UserError: loss.tv_weight=-1.") for r in reasons), reasons
    children = [r for r in mlflow_runs(tmp_path / "mlflow.db") if "optuna.trial_number" in
                r.data.tags]  # fmt: skip
    assert len(children) == 3
    for run in children:
        value = run.data.params["loss.tv_weight"]
        assert run.data.tags[FAILURE_REASON_TAG] == f"loss.tv_weight={value}: must be >= 0; " \
            "pass a value >= 0"  # fmt: skip


def test_previews_without_normalized_losses_are_refused_before_the_search(tmp_path, images, cli):
    proc = cli(search_args(tmp_path, images, "image.size=64", "loss.normalize=false"), tmp_path)
    assert one_error_line(proc).startswith("tune.preview_size needs loss.normalize=true")
    assert mlflow_runs(tmp_path / "mlflow.db") == [] and not (tmp_path / "optuna.db").exists()


def test_same_failures_needs_the_first_trials_all_failed_alike() -> None:
    assert same_failures(["E: x=1.5 bad", "E: x=2 bad", "E: x=3e-05 bad"], 3) is not None
    assert same_failures(["E: a", "E: a", None], 3) is None  # one completed: it can work
    assert same_failures(["E: a", "E: b", "E: a"], 3) is None
    assert same_failures(["E: a", "E: a"], 3) is None  # not yet 3
    assert same_failures(["E: a"] * 3, 0) is None  # off


def test_a_study_refuses_other_values_before_the_sweep_starts(tmp_path, images, cli):
    args = search_args(tmp_path, images, "hydra.sweeper.study_name=mine",
                       "hydra.sweeper.n_trials=0")  # fmt: skip
    assert cli(args, tmp_path).returncode == 0  # creates the study, made for these values
    runs = len(mlflow_runs(tmp_path / "mlflow.db"))
    sweeps = set((tmp_path / "runs" / "multirun").rglob("*"))
    proc = cli([*args, "image.size=48"], tmp_path)
    assert one_error_line(proc) == (
        "hydra.sweeper.study_name=mine: this study was made for other values; this launch has "
        "image.size=48 (the study's: 32); its scores would not compare: pass another "
        "hydra.sweeper.study_name, or the study's values"
    )
    assert len(mlflow_runs(tmp_path / "mlflow.db")) == runs
    assert set((tmp_path / "runs" / "multirun").rglob("*")) == sweeps


def test_the_preset_names_one_study_per_question() -> None:
    def name(*overrides: str) -> str:
        return OmegaConf.select(composed(["search=optuna", *overrides]), "hydra.sweeper.study_name")

    assert name() == "nst-sweep-astronaut-the_scream-256px"
    assert name("image.size=128", "model.weights=random") == (
        "nst-sweep-astronaut-the_scream-128px-random"
    )
    assert name("content=/photos/my cat.jpg", "tune.preview_size=null") == (
        "nst-sweep-my_cat-the_scream-256px-full"
    )
    assert name("model.weights=random", "score.weights=imagenet") == name()
    assert name("loss.tv_weight=5") == name()  # searched values are the study's own business


# ------------------------------------------------------------------ pruning


@needs_make
def test_make_tune_settings_let_hyperband_prune_before_the_last_step() -> None:
    cfg = composed([w for w in make_words("tune") if w != "-m"])
    steps, every = cfg.optimizer.steps, cfg.score.every
    reports = list(range(every, steps, every))  # ScoreReporter: not at the last step
    assert len(reports) >= 2, (steps, every)
    pruner = instantiate(OmegaConf.to_container(cfg.hydra.sweeper.pruner, resolve=True))
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    study = optuna.create_study(pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruned_at = []
    for number in range(30):  # good trials first, then bad ones: some must be cut early
        trial = study.ask()
        score = 1.0 + number if number >= 10 else 1.0 - 0.01 * number
        for step in reports:
            trial.report(score, step)
            if trial.should_prune():
                pruned_at.append(step)
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, score)
    assert pruned_at and max(pruned_at) < steps


def test_a_pruned_trial_prints_one_line_saying_where(tmp_path, images, cli):
    proc = cli(search_args(tmp_path, images, "hydra.sweeper.study_name=cut",
                           "hydra.sweeper.n_trials=1", "optimizer.steps=3", "score.every=1",
                           "hydra.sweeper.pruner=null",
                           "hydra.sweeper.pruner={_target_: optuna.pruners.ThresholdPruner, "
                           "upper: 0.5}"), tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "Trial 0 PRUNED" in ln]
    assert len(lines) == 1
    assert "Trial 0 PRUNED at step 1, score " in lines[0]
