"""The console app, checked against an independent numpy implementation of eqs (1)-(6), and
every bad-input case: exit 2, one line, no traceback.

The issue's exact command, a missing image and SIGTERM go through a real subprocess; the rest run
``main()`` in this process (the ``cli`` fixture), which exercises the same code.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from conftest import cli_env, run_cli, synthetic_content, synthetic_style, write_png

STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
CONTENT_LAYER = "block5_conv2"
ALPHA, BETA, GAMMA = 0.5, 2.0, 1e-6


def reference_losses(weights: Path, content_png: Path, style_png: Path, start_png: Path):
    """Eqs (1)-(6) written again from the paper, in float64 numpy, with Keras' own VGG19."""
    vgg = keras.applications.VGG19(weights=None, include_top=False)
    vgg.load_weights(str(weights))
    names = [*STYLE_LAYERS, CONTENT_LAYER]
    probe = keras.Model(vgg.input, [vgg.get_layer(n).output for n in names])

    def feats(png: Path) -> list[np.ndarray]:
        rgb = np.asarray(Image.open(png).convert("RGB"), np.float64)  # 0-255
        bgr = rgb[..., ::-1] - np.array([103.939, 116.779, 123.68])
        return [np.asarray(f, np.float64)[0] for f in probe(bgr[None].astype(np.float32))]

    def gram(f: np.ndarray) -> np.ndarray:
        flat = f.reshape(-1, f.shape[-1])
        return flat.T @ flat

    x, p, a = feats(start_png), feats(content_png), feats(style_png)
    content = ((x[-1] - p[-1]) ** 2).sum()
    per_layer = [
        ((gram(fx) - gram(fa)) ** 2).sum()
        / (4 * fx.shape[-1] ** 2 * (fx.shape[0] * fx.shape[1]) ** 2)
        for fx, fa in zip(x[:-1], a[:-1], strict=True)
    ]
    style = sum(per_layer) / len(per_layer)
    img = np.asarray(Image.open(start_png).convert("RGB"), np.float64)
    # Eq (5) over every pixel: the image extended by a replicated last row and column.
    ext = np.pad(img, ((0, 1), (0, 1), (0, 0)), mode="edge")
    down = (ext[1:, :-1] - ext[:-1, :-1]) ** 2
    right = (ext[:-1, 1:] - ext[:-1, :-1]) ** 2
    tv = ((down + right) ** 1.25).sum()
    return {
        "loss/content": content,
        "loss/style": style,
        "loss/tv": tv,
        "loss/total": ALPHA * content + BETA * style + GAMMA * tv,
    }


@pytest.mark.parametrize("init", ["content", "style"])
def test_step_zero_matches_independent_implementation(tmp_path, weights_file, init, cli):
    content = write_png(tmp_path / "photo.png", synthetic_content(64))
    style = write_png(tmp_path / "art.png", synthetic_style(64, 64))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "result.png"
    args = [
        f"content={content}", f"style={style}", "image.size=64", f"image.init={init}",
        f"model.weights={weights_file}", "optimizer=adam", "optimizer.steps=1",
        f"loss.content_weight={ALPHA}", f"loss.style_weight={BETA}", f"loss.tv_weight={GAMMA}",
        f"tracking.uri={uri}", "tracking.experiment=e2e", f"output={out}",
    ]  # fmt: skip
    # In this process (the command as a shell runs it: the SIGTERM and missing-content tests).
    proc = cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (64, 64)

    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("e2e").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["loss.style_weight"] == "2.0"
    assert run.data.params["image.init"] == init
    assert run.data.tags["model.weights"] == str(weights_file)
    expected = reference_losses(
        weights_file, content, style, content if init == "content" else style
    )
    for key, value in expected.items():
        history = client.get_metric_history(run.info.run_id, key)
        assert sorted(m.step for m in history) == [0, 1]
        logged = next(m.value for m in history if m.step == 0)
        assert logged == pytest.approx(value, rel=1e-3, abs=1e-9), key
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "images")}
    assert any("result" in path for path in artifacts)


def test_missing_content_is_one_line_before_any_run(tmp_path):
    """Found before the work (issue 13): no MLflow run, no run folder."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_cli(
        ["content=no/such/photo.jpg", f"tracking.uri={uri}", "tracking.experiment=bad"], tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "nst-sweep: error: content=no/such/photo.jpg: no such file; pass an existing image path"
        " or a sample name (astronaut, chelsea, coffee, starry_night, the_scream)"
    ]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "runs").exists()


def _bad_weights(tmp_path: Path) -> str:
    small = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    small.save_weights(str(tmp_path / "small.weights.h5"))
    return str(tmp_path / "small.weights.h5")


BAD_INPUTS = {
    "unreadable image": (["content=junk.png"], "not a readable image"),
    "unknown sample": (["style=mona_lisa"], "unknown sample name"),
    "unknown layer": (["layers.style=[block1_conv1,block9_conv9]"], "unknown layer 'block9_conv9'"),
    "negative weight": (["loss.style_weight=-1"], "loss.style_weight=-1: must be >= 0"),
    "non-finite": (["loss.tv_weight=inf"], "loss.tv_weight=inf: not a finite number"),
    "nan": (["loss.content_weight=nan"], "not a finite number"),
    "size too small": (["image.size=16"], "image.size=16: out of range"),
    "size too large": (["image.size=100000"], "image.size=100000: out of range"),
    "steps below 1": (["optimizer.steps=0"], "optimizer.steps=0: out of range"),
    "missing weights": (["model.weights=nowhere.weights.h5"], "no such file"),
    "weights not vgg": (["model.weights=SMALL"], "does not fit VGG19"),
    "unknown optimizer": (["optimizer=rmsprop"], "optimizer=rmsprop: no such config option"),
    "unknown key": (["loss.gamma=1"], "loss.gamma"),
    "output suffix": (["output=result.tif"], "output=result.tif: unsupported suffix"),
    "score interval": (["score.every=-5"], "score.every=-5: out of range"),
    "style too small": (["image.style_scale=0.25"], "image.style_scale=0.25: the style image"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2(tmp_path, image_files, case, cli):
    args, fragment = BAD_INPUTS[case]
    (tmp_path / "junk.png").write_text("this is not a PNG")
    content, style = image_files
    base = [f"content={content}", f"style={style}", "image.size=32", "model.weights=random",
            "optimizer.steps=1", "tracking=none"]  # fmt: skip
    args = [a.replace("SMALL", _bad_weights(tmp_path)) if "SMALL" in a else a for a in args]
    # One case as a shell sees it (exit code of the real process); the rest in this process.
    proc = run_cli(base + args, tmp_path) if case == "unknown key" else cli(base + args, tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nst-sweep: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_tracking_none_run_succeeds_and_writes_the_image(tmp_path, image_files, cli):
    content, style = image_files
    out = tmp_path / "out" / "result.jpg"
    proc = cli(
        [f"content={content}", f"style={style}", "image.size=32", "model.weights=random",
         "optimizer.steps=2", "tracking=none", f"output={out}", "progress=false"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (32, 32)
    assert not (tmp_path / "runs" / "mlflow.db").exists()  # nothing tracked


def test_sigterm_ends_the_run_killed(tmp_path, image_files, store):
    """A kill (scheduler, CI cancel) closes the MLflow run as KILLED, exit 128 + 15."""
    import signal
    import subprocess
    import sys
    import time

    content, style = image_files
    # The store exists before the process starts: this test's client polls it, and MLflow's
    # migration of a new store is not safe against a second process opening it meanwhile.
    uri = f"sqlite:///{store}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nst_sweep", f"content={content}", f"style={style}",
         "image.size=32", "model.weights=random", "optimizer.steps=100000",
         f"tracking.uri={uri}", "tracking.experiment=term", "tracking.flush_every=1"],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        client = MlflowClient(uri)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the loop has logged a few steps
            time.sleep(0.5)
            found = client.get_experiment_by_name("term")
            runs = client.search_runs([found.experiment_id]) if found else []
            if runs and len(client.get_metric_history(runs[0].info.run_id, "loss/total")) > 3:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    [run] = client.search_runs([client.get_experiment_by_name("term").experiment_id])
    assert run.info.status == "KILLED"
    assert "SystemExit" in run.data.tags["failure.reason"]
