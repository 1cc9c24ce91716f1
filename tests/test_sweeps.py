"""Config groups, multirun tracking (parent + children), failures, and a real MLflow server."""

from __future__ import annotations

import itertools
import json
import urllib.request
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from services import MlflowServer

from conftest import run_cli
from nst_sweep.app import CONF_DIR
from nst_sweep.names import (
    FAILURE_REASON_TAG,
    OVERRIDES_TAG,
    SECONDS_METRIC,
    SWEEP_FAILED_TAG,
)
from nst_sweep.settings import TransferSettings

GROUPS = ["model", "layers", "loss", "optimizer", "image", "tracking", "experiment"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


@pytest.mark.parametrize(
    "override", [f"{g}={o}" for g in GROUPS for o in options(g)], ids=lambda o: o
)
def test_every_config_option_composes_and_validates(override):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[override, "output=x.png"], return_hydra_config=True)
    plain = OmegaConf.to_container(cfg, resolve=False)
    plain.pop("hydra")
    settings = TransferSettings.from_mapping(plain)
    assert settings.image.size >= 32
    group, option = override.split("=")
    if group == "optimizer":
        assert settings.optimizer.name == option
    if group == "layers":
        assert settings.layers.style[0] == "block1_conv1"


def test_paper_figure_presets():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        fig3 = compose("config", ["experiment=fig3_layers"], return_hydra_config=True)
        fig4 = compose("config", ["experiment=fig4_tv"], return_hydra_config=True)
        fig2 = compose("config", ["experiment=fig2_scream"], return_hydra_config=True)
    assert fig3.loss.content_weight == 0 and fig3.loss.tv_weight == 0
    assert fig3.image.init == "noise"
    assert fig3.hydra.sweeper.params.layers == "block_1,blocks_1_3,blocks_1_5"
    gammas = [float(v) for v in str(fig4.hydra.sweeper.params["loss.tv_weight"]).split(",")]
    assert gammas[0] == 0 and gammas == sorted(gammas) and len(set(gammas)) == len(gammas)
    assert fig2.style == "the_scream"
    for name in options("experiment"):
        first = (Path(CONF_DIR) / "experiment" / f"{name}.yaml").read_text().splitlines()[:2]
        assert first == ["# @package _global_", f"# nst-sweep -m experiment={name}"]


SMALL = ["image.size=32", "model.weights=random", "optimizer.steps=3", "tracking.image_every=2"]


def experiment_runs(uri: str, name: str):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    parents = [r for r in runs if r.data.tags.get("nst.role") == "sweep"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """The issue's check: a 2-job grid over gamma at 32 px, run once for several tests."""
    from conftest import synthetic_content, synthetic_style, write_png

    tmp = tmp_path_factory.mktemp("grid")
    content = write_png(tmp / "c.png", synthetic_content(32))
    style = write_png(tmp / "s.png", synthetic_style(32, 32))
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    args = ["-m", f"content={content}", f"style={style}", *SMALL, "loss.tv_weight=0,0.001",
            f"tracking.uri={uri}", "tracking.experiment=grid"]  # fmt: skip
    proc = run_cli(args, tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, uri


def test_multirun_logs_parent_and_children(grid_sweep):
    _, uri = grid_sweep
    client, parents, children = experiment_runs(uri, "grid")
    [parent] = parents
    assert parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "contact_sheet.png",
        "loss_curves.png",
    }
    assert parent.data.tags["sweep.jobs"] == "2" and parent.data.tags["sweep.failed_jobs"] == "0"
    assert len(children) == 2
    assert sorted(float(c.data.params["loss.tv_weight"]) for c in children) == [0.0, 0.001]
    for child in children:
        run_id = child.info.run_id
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        for tag in ("mlflow.source.git.commit", "tensorflow.version", "device", "seed"):
            assert child.data.tags[tag]
        assert child.data.tags["model.weights"] == "random" and child.data.tags["device"] == "CPU"
        steps = [m.step for m in client.get_metric_history(run_id, "loss/total")]
        assert sorted(steps) == [0, 1, 2, 3]
        seconds = sorted(
            (m.step, m.value) for m in client.get_metric_history(run_id, SECONDS_METRIC)
        )
        assert [step for step, _ in seconds] == [0, 1, 2, 3]
        assert all(0 <= a[1] <= b[1] for a, b in itertools.pairwise(seconds))
        artifacts = {a.path for a in client.list_artifacts(run_id)}
        assert {"config.yaml", "overrides.yaml", "result.png"} <= artifacts
        images = [a.path for a in client.list_artifacts(run_id, "images") if a.path.endswith("png")]
        keys_steps = {tuple(Path(p).name.split("+")[0:3:2]) for p in images}
        # content, style, progress at steps 0 (initial), 2 (image_every) and 3 (final), result
        assert {("content", "0"), ("style", "0"), ("progress", "0"), ("progress", "2"),
                ("progress", "3"), ("result", "3")} <= keys_steps  # fmt: skip
        config = client.download_artifacts(run_id, "config.yaml", str(grid_sweep[0]))
        assert "tv_weight" in Path(config).read_text()


def test_failed_and_diverging_jobs_do_not_sink_the_sweep(tmp_path, image_files, cli):
    content, style = image_files
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # -1 is refused by validation; 1e38 makes the loss overflow to inf at step 0 (divergence).
    proc = cli(
        ["-m", f"content={content}", f"style={style}", *SMALL, "image.init=noise",
         "loss.content_weight=-1,1,1e38", f"tracking.uri={uri}", "tracking.experiment=fail"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 of 3 jobs failed" in proc.stdout + proc.stderr
    _, [parent], children = experiment_runs(uri, "fail")
    by_weight = {c.data.params["loss.content_weight"]: c for c in children}
    assert by_weight["-1"].info.status == "FAILED"
    assert "loss.content_weight=-1" in by_weight["-1"].data.tags[FAILURE_REASON_TAG]
    assert by_weight["1e+38"].info.status == "FAILED"
    assert "loss became inf" in by_weight["1e+38"].data.tags[FAILURE_REASON_TAG]
    assert by_weight["1"].info.status == "FINISHED"
    assert parent.info.status == "FINISHED" and parent.data.tags[SWEEP_FAILED_TAG] == "2"


def test_fig3_layers_preset_runs_three_layer_sets(tmp_path, image_files, cli):
    content, style = image_files
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = cli(
        ["-m", "experiment=fig3_layers", f"content={content}", f"style={style}", *SMALL,
         f"tracking.uri={uri}", "tracking.experiment=fig3",
         # An interpolation that only resolves inside a job must not cost the parent run.
         "output=${hydra:runtime.output_dir}/out.jpg"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, [parent], children = experiment_runs(uri, "fig3")
    assert parent.info.status == "FINISHED" and len(children) == 3
    assert len({c.data.params["layers.style"] for c in children}) == 3
    assert len(list(tmp_path.rglob("out.jpg"))) == 3
    # Recorded unresolved (Hydra escapes it for the job as $\\{hydra\\:...\\}).
    assert all("runtime.output_dir" in c.data.tags[OVERRIDES_TAG] for c in children)
    assert {c.data.params["loss.content_weight"] for c in children} == {"0"}


def api(base: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_mlflow_server_serves_runs_and_images(grid_sweep, image_files, tmp_path, cli):
    _, uri = grid_sweep
    (tmp_path / "served").mkdir()
    server = MlflowServer(tmp_path / "served", backend=uri)
    server.start()
    base = server.url
    try:
        experiment = api(base, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=grid")
        found = api(
            base,
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [experiment["experiment"]["experiment_id"]]},
        )["runs"]
        assert len(found) == 3  # parent + 2 children
        parent = next(
            r for r in found
            if any(t["key"] == "nst.role" for t in r["data"].get("tags", []))
        )  # fmt: skip
        url = f"{base}/get-artifact?path=contact_sheet.png&run_uuid={parent['info']['run_id']}"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.read(8) == b"\x89PNG\r\n\x1a\n"

        # Nothing assumes a local store: a job logging through the server works too.
        content, style = image_files
        proc = cli(
            [f"content={content}", f"style={style}", *SMALL, f"tracking.uri={base}",
             "tracking.experiment=remote"],
            tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        client = MlflowClient(base)
        [run] = client.search_runs([client.get_experiment_by_name("remote").experiment_id])
        assert run.info.status == "FINISHED"
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        assert "result.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
        assert any((tmp_path / "served").rglob("result.png"))
    finally:
        server.kill()
