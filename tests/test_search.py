"""Optuna search through the real app: score = trial value, resume, FAIL, pruning, Pareto.

The first launch of the resume test is a real subprocess (the product's one search end to end);
the other launches run ``main()`` in this process.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from PIL import Image, ImageFilter

from conftest import synthetic_content, synthetic_style, write_png
from nst_sweep.names import (
    BEST_RESULTS_ARTIFACT,
    PARETO_FRONT_ARTIFACT,
    STUDY_PLOT_FOLDER,
    STUDY_PLOTS,
    SWEEP_FAILED_TAG,
    study_plot_artifact,
)
from nst_sweep.score_cli import main as score_main

SMALL = ["image.size=32", "optimizer.steps=3", "model.weights=random", "tracking.image_every=0"]


@pytest.fixture()
def search(tmp_path, cli):
    """Run ``nst-sweep -m search=...`` in tmp_path; returns (run, storage, mlflow uri)."""
    content = write_png(tmp_path / "c.png", synthetic_content(32))
    style = write_png(tmp_path / "s.png", synthetic_style(32, 32))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def run(*extra: str, preset: str = "optuna", study: str = "study") -> str:
        args = ["-m", f"search={preset}", f"hydra.sweeper.storage={storage}",
                f"hydra.sweeper.study_name={study}", f"content={content}", f"style={style}",
                *SMALL, f"tracking.uri={uri}", "tracking.experiment=search",
                # 3 steps: a score at steps 1 and 2 (a quarter of the steps, at least 1), which
                # Hyperband would prune on; the tests of pruning set their own pruner.
                "hydra.sweeper.pruner=null", *extra]  # fmt: skip
        # In this process: the searches as a shell runs them are the Ctrl-C, offline and
        # scale-out tests' subprocesses.
        proc = cli(args, tmp_path)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return proc.stdout + proc.stderr

    return run, storage, uri


def trial_runs(uri: str) -> dict[int, object]:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("search").experiment_id])
    return {int(r.data.tags["optuna.trial_number"]): r for r in runs
            if "optuna.trial_number" in r.data.tags}  # fmt: skip


def sweep_parents(uri: str) -> list:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("search").experiment_id])
    return [r for r in runs if r.data.tags.get("nst.role") == "sweep"]


def test_search_logs_trials_whose_score_is_the_trial_value_and_resumes(search):
    run, storage, uri = search
    run("hydra.sweeper.n_trials=2")
    run("hydra.sweeper.n_trials=2")  # same study name: continues it
    study = optuna.load_study(study_name="study", storage=storage)
    assert [t.number for t in study.trials] == list(range(4))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    names = {"loss.content_weight", "loss.style_weight", "loss.tv_weight"}
    assert all(set(t.params) == names for t in study.trials)
    assert len({tuple(t.params.values()) for t in study.trials}) == 4  # resume proposes anew
    for t in study.trials:
        assert 0.1 <= t.params["loss.content_weight"] <= 10
        assert 100 <= t.params["loss.style_weight"] <= 1e6
        assert 0.01 <= t.params["loss.tv_weight"] <= 1000
    runs = trial_runs(uri)
    for t in study.trials:
        mlflow_run = runs[t.number]
        assert mlflow_run.data.tags["optuna.study"] == "study"
        assert mlflow_run.data.metrics["score"] == t.value
        assert float(mlflow_run.data.params["loss.style_weight"]) == pytest.approx(
            t.params["loss.style_weight"]
        )
    client = MlflowClient(uri)
    parents = sweep_parents(uri)
    assert len(parents) == 2
    latest = max(parents, key=lambda r: r.info.start_time)
    assert latest.data.metrics["best/score"] == pytest.approx(study.best_value)
    assert int(latest.data.params["best.trial_number"]) == study.best_trial.number
    artifacts = {a.path for a in client.list_artifacts(latest.info.run_id, STUDY_PLOT_FOLDER)}
    single_objective = {study_plot_artifact(n) for n in STUDY_PLOTS if n != "pareto_front"}
    assert {*single_objective, BEST_RESULTS_ARTIFACT} == artifacts


def test_failing_trial_is_marked_fail_and_the_search_goes_on(search):
    run, storage, uri = search
    # A negative gamma is rejected by validation: that job fails, the others complete.
    space = "{loss.tv_weight: 'choice(-1.0, 0.001)', loss.content_weight: 1, loss.style_weight: 10}"
    run("hydra.sweeper.n_trials=2", f"hydra.sweeper.params={space}",
        "hydra/sweeper/sampler=grid")  # fmt: skip
    study = optuna.load_study(study_name="study", storage=storage)
    states = {t.params["loss.tv_weight"]: t.state for t in study.trials}
    assert states[-1.0] == optuna.trial.TrialState.FAIL
    assert states[0.001] == optuna.trial.TrialState.COMPLETE
    runs = trial_runs(uri)
    failed = next(t.number for t in study.trials if t.params["loss.tv_weight"] == -1.0)
    assert runs[failed].info.status == "FAILED"


def test_pruner_stops_a_trial_early(search):
    run, storage, uri = search
    # A threshold below any possible score (>= 1) prunes every trial at its first report.
    run("hydra.sweeper.n_trials=1", "score.every=1", "hydra.sweeper.pruner=null",
        "hydra.sweeper.pruner={_target_: optuna.pruners.ThresholdPruner, upper: 0.5}")  # fmt: skip
    [trial] = optuna.load_study(study_name="study", storage=storage).trials
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [1]  # stopped at step 1 of 3
    [pruned] = trial_runs(uri).values()
    assert pruned.info.status == "KILLED" and pruned.data.tags["optuna.pruned"] == "true"
    [parent] = sweep_parents(uri)
    assert parent.data.tags[SWEEP_FAILED_TAG] == "0"  # pruned is not failed


def test_multi_objective_search_gives_a_pareto_front(search, tmp_path):
    run, storage, uri = search
    run("hydra.sweeper.n_trials=3", preset="optuna_pareto", study="pareto")
    study = optuna.load_study(study_name="pareto", storage=storage)
    assert len(study.directions) == 2 and study.best_trials
    runs = trial_runs(uri)
    for t in study.trials:
        metrics = runs[t.number].data.metrics
        assert t.values == [metrics["score/content"], metrics["score/style"]]
    results = next(Path(tmp_path, "runs", "multirun").rglob("optimization_results.yaml"))
    assert "solutions:" in results.read_text()
    client = MlflowClient(uri)
    [parent] = sweep_parents(uri)
    front = json.loads(Path(client.download_artifacts(parent.info.run_id, PARETO_FRONT_ARTIFACT,
                                                      str(tmp_path))).read_text())  # fmt: skip
    assert sorted(p["number"] for p in front) == sorted(t.number for t in study.best_trials)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, STUDY_PLOT_FOLDER)}
    assert study_plot_artifact("pareto_front") in artifacts


def test_score_cli(tmp_path, weights_file, capsys):
    content = write_png(tmp_path / "c.png", synthetic_content(48))
    style = write_png(tmp_path / "s.png", synthetic_style(40, 56))
    Image.open(content).filter(ImageFilter.GaussianBlur(2)).save(tmp_path / "blur.png")
    noise = np.random.default_rng(0).random((48, 48, 3))
    write_png(tmp_path / "noise.png", noise)
    base = ["--content", str(content), "--style", str(style), "--weights", str(weights_file)]

    def score(image: Path, *extra: str) -> dict[str, float]:
        score_main([*base, "--image", str(image), *extra])
        return json.loads(capsys.readouterr().out)

    same, blur, noisy = score(content), score(tmp_path / "blur.png"), score(tmp_path / "noise.png")
    assert same["content_distance"] == 0.0
    assert blur["content_distance"] > 0.0
    assert noisy["score"] > max(same["score"], blur["score"])
    for result in (same, blur, noisy):
        expected = (1 + result["content_distance"]) * (1 + result["style_distance"])
        assert math.isclose(result["score"], expected, rel_tol=1e-12)
    # --size judges result and content at that long side: another size, another score.
    resized = score(tmp_path / "blur.png", "--size", "32")
    assert resized["score"] != blur["score"] and resized["content_distance"] > 0.0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--image", "missing.png"], "--image=missing.png: no such file"),
        (["--image", "IMG", "--size", "8"], "--size=8: out of range"),
        (["--image", "IMG", "--weights", "nowhere.h5"], "--weights=nowhere.h5: no such file"),
        (["--image", "IMG", "--size", "big"], "--size: invalid int value: 'big'"),
    ],
)
def test_score_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, args, fragment):
    content = write_png(tmp_path / "c.png", synthetic_content(48))
    args = [str(content) if a == "IMG" else a for a in args]
    with pytest.raises(SystemExit) as exited:
        score_main(["--content", str(content), "--style", str(content), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exited.value.code == 2
    assert len(err) == 1 and err[0].startswith("nst-score: error: ") and fragment in err[0]


def test_preview_search_promotes_the_best_trials_to_full_size(search, tmp_path):
    run, storage, uri = search
    full = ["image.size=64", "tune.promote=2", "hydra.sweeper.n_trials=3"]  # previews: 32 px
    run(*full)
    study = optuna.load_study(study_name="study", storage=storage)
    previews = sorted(study.trials, key=lambda t: t.value)
    for t in study.trials:  # each trial rendered its preview at a quarter of 64, floored at 32
        assert Image.open(t.user_attrs["nst.result_image"]).size[0] == 32
    client = MlflowClient(uri)
    (parent,) = sweep_parents(uri)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    promoted = [r for r in children if r.data.tags.get("nst.stage") == "promotion"]
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in promoted) == sorted(
        t.number for t in previews[:2]
    )
    assert all(r.info.status == "FINISHED" for r in promoted)
    best = min(promoted, key=lambda r: r.data.metrics["score"])
    assert parent.data.metrics["best/score"] == best.data.metrics["score"]
    assert parent.data.params["best.trial_number"] == best.data.tags["optuna.trial_number"]
    summary = OmegaConf.load(Path(parent.data.tags["sweep.dir"]) / "optimization_results.yaml")
    assert summary.promoted.best_trial == int(best.data.tags["optuna.trial_number"])
    assert summary.promoted.best_value == best.data.metrics["score"]
    assert summary.promoted.trial_rank in (1, 2)
    # The winning image at full size, in the promotion job's folder of this sweep.
    winner = Image.open(Path(summary.promoted.output_dir) / "result.png")
    assert max(winner.size) == 64

    # Resumed: one more trial; the top two are promoted once each over both launches.
    run(*full[:-1], "hydra.sweeper.n_trials=1")
    study = optuna.load_study(study_name="study", storage=storage)
    assert len(study.trials) == 4
    runs = client.search_runs([parent.info.experiment_id], "tags.`nst.stage` = 'promotion'")
    numbers = [int(r.data.tags["optuna.trial_number"]) for r in runs]
    assert len(numbers) == len(set(numbers))
    top_two = {t.number for t in sorted(study.trials, key=lambda t: (t.value, t.number))[:2]}
    assert top_two <= set(numbers)
