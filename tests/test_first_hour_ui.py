"""A new user's first hour (issue 13): the links open MLflow's runs table, a sweep's runs are
named by their values, ``--help`` helps, no TensorFlow or Optuna warnings in normal output,
pictures that read, and tests that leave nothing in the checkout."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from matplotlib.backends.backend_agg import FigureCanvasAgg
from mlflow.tracking import MlflowClient
from services import missing

from conftest import REPO, cli_env
from nst_sweep.before_work import TRY_OVERRIDES
from nst_sweep.links import view_line
from nst_sweep.names import NOTE_TAG, PARENT_RUN_TAG, ROLE_TAG, SLICE_PLOT, SWEEP_ROLE
from nst_sweep.reports.curves import loss_curves_figure
from nst_sweep.reports.labels import job_labels
from nst_sweep.reports.sheets import _wrap
from nst_sweep.reports.study_plots import study_figures
from nst_sweep.swept import run_name, swept_keys

SMALL = ["model.weights=random", "progress=false", "optimizer.steps=2"]
# MLflow 3's runs table in its model-training view; without the parameter it opens on GenAI.
RUNS_TABLE = "#/experiments/{}/runs?workflowType=machine_learning"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ a sweep, as a user sees it
def test_a_sweep_names_its_runs_by_their_values_and_prints_the_runs_table(
    cli, image_files, tmp_path
):
    # Five sizes: five traced graphs, which made TensorFlow warn of "retracing" from the 5th.
    content, style = image_files
    store = (tmp_path / "mlflow.db").resolve()
    sizes = [32, 36, 40, 44, 48]
    result = cli(
        ["-m", f"content={content}", f"style={style}", *SMALL, "score.enabled=false",
         f"image.size={','.join(map(str, sizes))}", f"tracking.uri=sqlite:///{store}",
         f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "retracing" not in output

    client = MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("nst-sweep").experiment_id
    runs = client.search_runs([experiment])
    jobs = sorted(r.info.run_name for r in runs if PARENT_RUN_TAG in r.data.tags)
    assert jobs == [f"job {i} · size={size}" for i, size in enumerate(sizes)]
    (parent,) = [r for r in runs if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE]
    assert "- `image.size`: `32,36,40,44,48`" in parent.data.tags[NOTE_TAG]

    # One line, ours: how to serve this store, and the experiment's runs table.
    link = "http://127.0.0.1:5000/" + RUNS_TABLE.format(experiment)
    serve = f"make -C {REPO} ui ARGS=sqlite:///{store}"
    assert f"view sweep '{parent.info.run_name}': {serve}, then open {link}" in output
    assert output.count("view ") == 1


def test_the_printed_link_opens_the_runs_table_in_a_browser(tmp_path):
    """``make ui``'s launcher, a sweep's runs, and the link's form in headless Chromium: it
    shows the runs (MLflow's GenAI overview, where a link without the view opens, shows none)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        missing("no chromium")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "nst_sweep.links", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--port", str(port)],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, start_new_session=True,  # its own process group, ended as a whole
    )  # fmt: skip
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith(f"MLflow UI: http://127.0.0.1:{port} (no runs")
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow ui did not start"
                time.sleep(0.25)
        # The server made the store's tables; runs through it cost no second migration.
        client = MlflowClient(f"http://127.0.0.1:{port}")
        experiment = client.create_experiment("nst-sweep")
        parent = client.create_run(experiment, run_name="sweep 12-00-00")
        client.create_run(experiment, run_name="job 0 · tv_weight=10",
                          tags={PARENT_RUN_TAG: parent.info.run_id})  # fmt: skip
        link = f"http://127.0.0.1:{port}/" + RUNS_TABLE.format(experiment)
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1400,900", "--virtual-time-budget=15000", "--dump-dom", link],
            capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert "sweep 12-00-00" in dom and "matching runs" in dom


def test_view_lines_name_the_run_and_hide_passwords():
    line = view_line("run", "trial 3", "http://bob:pw@mlflow-host:5000", "7")
    assert line == f"view run 'trial 3': http://mlflow-host:5000/{RUNS_TABLE.format(7)}"
    assert view_line("run", None, "sqlite:///x.db", None) is None  # kept offline: no link yet


# ------------------------------------------------------------------ run names and the note
def test_swept_keys_come_from_the_command_line_and_the_sweepers_params():
    found = swept_keys(
        ["image.size=64", "loss.tv_weight=1,10", "layers=choice(block_1, blocks_1_3)"],
        {"loss.style_weight": "tag(log, interval(100.0, 1e6))", "loss.content_weight": "1.0"},
    )
    assert found == {
        "loss.style_weight": "tag(log, interval(100.0, 1e6))",
        "loss.tv_weight": "1,10",
        "layers": "choice(block_1, blocks_1_3)",
    }


def test_run_names_carry_short_keys_and_numbers():
    overrides = ["loss.style_weight=32000.12345", "loss.tv_weight=10.0", "++optuna_trial=7"]
    keys = ["loss.style_weight", "loss.tv_weight"]
    assert run_name("trial 7", overrides, keys) == "trial 7 · style_weight=3.2e4 tv_weight=10"
    # A last component that two keys share keeps more of each.
    assert run_name("job 0", ["a.size=1", "b.size=2"], ["a.size", "b.size"]) == (
        "job 0 · a.size=1 b.size=2"
    )
    assert run_name("job 1", ["seed=1"], []) == "job 1"


def test_a_search_names_its_trials_and_ends_without_an_optuna_warning(cli, image_files, tmp_path):
    content, style = image_files
    store = tmp_path / "mlflow.db"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli(
            ["-m", "search=optuna", "hydra.sweeper.n_trials=1", "hydra.sweeper.study_name=hour",
             f"hydra.sweeper.storage=sqlite:///{tmp_path / 'optuna.db'}",
             "hydra.sweeper.pruner=null",
             "tune.preview_size=null", "tune.promote=0", "score.every=0", "image.size=32",
             f"content={content}", f"style={style}", *SMALL, f"tracking.uri=sqlite:///{store}",
             f"hydra.sweep.dir={tmp_path / 'sweep'}"],
            tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    experimental = [
        w for w in caught if issubclass(w.category, optuna.exceptions.ExperimentalWarning)
    ]
    assert experimental == [] and "ExperimentalWarning" not in result.stdout + result.stderr
    client = MlflowClient(f"sqlite:///{store}")
    runs = client.search_runs([client.get_experiment_by_name("nst-sweep").experiment_id])
    names = sorted(r.info.run_name for r in runs if PARENT_RUN_TAG in r.data.tags)
    number = r"[0-9.e-]+"
    assert len(names) == 1 and re.fullmatch(
        rf"trial 0 · content_weight={number} style_weight={number} tv_weight={number}", names[0]
    ), names


# ------------------------------------------------------------------ --help
def test_help_shows_the_main_keys_groups_and_three_examples_that_compose(cli, tmp_path):
    result = cli(["--help"], tmp_path)
    assert result.returncode == 0
    text = result.stdout
    for word in ("content", "style", "model.weights", "image.size", "search=optuna"):
        assert word in text, word
    assert "search: optuna, optuna_pareto" in text  # the groups, from conf/
    # The offline try is the same command wherever the tool or the README suggests it.
    assert f"nst-sweep {TRY_OVERRIDES}" in text
    assert f"make run {TRY_OVERRIDES}" in (REPO / "README.md").read_text()
    examples = text.split("== Examples ==")[1].split("==")[0]
    commands = [shlex.split(line.split("#")[0]) for line in examples.strip().splitlines()]
    assert len(commands) == 3 and all(c[0] == "nst-sweep" for c in commands)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for command in commands:
            compose("config", overrides=[a for a in command[1:] if a != "-m"])


# ------------------------------------------------------------------ pictures that read
def test_contact_sheet_labels_keep_the_whole_values():
    # Two layer lists that differ only after 40 characters: cut there, they read the same.
    common = "['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1'"
    jobs = [{"layers.style": common + "]"}, {"layers.style": common + ", 'block5_conv1']"}]
    labels = job_labels(jobs)
    assert labels[1].endswith("block4_conv1,block5_conv1") and labels[0] != labels[1]
    from PIL import Image, ImageDraw

    from nst_sweep.reports.sheets import _font

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = _wrap(draw, labels[1], _font(10), 96)  # a 96 px tile: several lines, nothing cut
    assert len(lines) > 1 and "".join(lines).replace(" ", "") == labels[1]


def test_param_slice_tick_labels_do_not_overlap():
    five = "['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1']"
    layer_sets = ["['block1_conv1', 'block2_conv1', 'block3_conv1']", five, "block_1"]
    space = {
        "loss.content_weight": optuna.distributions.FloatDistribution(0.1, 10.0, log=True),
        "loss.style_weight": optuna.distributions.FloatDistribution(100.0, 1e6, log=True),
        "layers.style": optuna.distributions.CategoricalDistribution(layer_sets),
    }
    study = optuna.create_study()
    for i in range(8):  # values within less than a decade: where log axes label minor ticks
        params = {"loss.content_weight": 0.6 + 0.15 * i, "loss.style_weight": 2e4 + 5e3 * i,
                  "layers.style": layer_sets[i % 3]}  # fmt: skip
        study.add_trial(optuna.trial.create_trial(params=params, distributions=space, value=i))
    figure = study_figures(study)[SLICE_PLOT]
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    whole = figure.bbox
    for ax in figure.axes:
        ticks = [t for t in ax.get_xticklabels(which="both") if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in ticks]
        assert len(boxes) >= 2
        for i, box in enumerate(boxes):
            assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0
            others = [b for j, b in enumerate(boxes) if j != i]
            others += [o.get_window_extent(renderer) for o in figure.axes if o is not ax]
            assert not any(box.overlaps(other) for other in others), ticks[i].get_text()


def test_tests_keep_keras_out_of_the_checkout_and_out_is_ignored():
    assert not Path(cli_env()["KERAS_HOME"]).resolve().is_relative_to(REPO)
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    # The README's `output=out/photo.png` example writes there.
    ignored = subprocess.run(["git", "check-ignore", "-q", "out/photo.png"], cwd=REPO)
    assert ignored.returncode == 0


def test_loss_curves_of_a_search_keep_their_panels_and_name_every_job_once():
    # Twenty trials with long labels: a legend per panel squeezed the panels to nothing.
    params = [
        {"loss.content_weight": str(0.1 + i), "loss.style_weight": str(100.0 * 3**i),
         "layers.style": str(["block1_conv1", "block2_conv1", "block3_conv1"][: 1 + i % 3])}
        for i in range(20)
    ]  # fmt: skip
    labels = job_labels(params)
    points = [(step, 1.0 + step) for step in range(5)]
    curves = {label: {"loss/total": points, "loss/style": points} for label in labels}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied ..." fails the test
        figure = loss_curves_figure(curves)
        renderer = FigureCanvasAgg(figure).get_renderer()
        figure.draw(renderer)
    (legend,) = figure.legends
    assert len(legend.get_texts()) == 20
    box = legend.get_window_extent(renderer)
    for ax in figure.axes:
        panel = ax.get_window_extent(renderer)
        assert panel.height > 100 and not box.overlaps(panel)
