"""The README stays true: its Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def test_python_api_example_runs_as_written(tmp_path, monkeypatch, capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)
    [example] = [b for b in blocks if "RunSettings.from_mapping" in b]
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    score, shape = capsys.readouterr().out.split(" ", 1)
    assert float(score) >= 1.0  # the perceptual score: 1.0 is perfect
    width, height = Image.open(tmp_path / "result.png").size
    assert shape.strip() == str((height, width, 3))
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    [logged] = client.search_runs([client.get_experiment_by_name("notebook").experiment_id])
    assert logged.info.status == "FINISHED"
    assert logged.data.metrics["score"] == pytest.approx(float(score), rel=1e-6)
