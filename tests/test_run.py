"""The run layer in-process: one call from settings to a saved, scored, tracked image."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import synthetic_content, synthetic_style, write_png
from nst_sweep.features import FeatureExtractor, load_vgg19
from nst_sweep.images import load_pair
from nst_sweep.names import LOSS_METRICS, PROGRESS_IMAGE, SCORE_METRICS
from nst_sweep.run import run
from nst_sweep.score import SCORE_LAYERS, Scorer
from nst_sweep.settings import RunSettings
from nst_sweep.tracker import NullTracker


class RecordingTracker(NullTracker):
    """Keeps what the run layer reports, to assert on it without an MLflow store."""

    def __init__(self) -> None:
        self.metrics: list[tuple[str, float, int]] = []
        self.images: list[tuple[str, int]] = []
        self.steps: list[int] = []

    def log_step(self, record: Any) -> None:
        self.steps.append(record.step)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        self.metrics += [(k, float(v), step) for k, v in metrics.items()]

    def log_image(self, key: str, image: np.ndarray, step: int = 0) -> None:
        self.images.append((key, step))


def settings_for(tmp_path: Path, **extra: Any) -> RunSettings:
    content = write_png(tmp_path / "c.png", synthetic_content(32))
    style = write_png(tmp_path / "s.png", synthetic_style(32, 32))
    mapping = {
        "content": str(content),
        "style": str(style),
        "output": str(tmp_path / "out.png"),
        "progress": False,
        "model": {"weights": "random"},
        "image": {"size": 32},
        "optimizer": {"steps": 4},
        "tracking": {"image_every": 2},
        **extra,
    }
    return RunSettings.from_mapping(mapping)


def test_run_reports_every_step_and_scores_the_result(tmp_path: Path) -> None:
    tracker = RecordingTracker()
    result = run(settings_for(tmp_path, score={"every": 2}), tracker)
    assert (tmp_path / "out.png").is_file() and result.output == tmp_path / "out.png"
    assert tracker.steps == [0, 1, 2, 3, 4]
    assert [s for k, s in tracker.images if k == PROGRESS_IMAGE] == [0, 2, 4]
    assert set(result.metrics) == {*LOSS_METRICS, *SCORE_METRICS}
    scores = [(step, value) for key, value, step in tracker.metrics if key == "score"]
    assert [step for step, _ in scores] == [2, 4]  # every 2 steps, and the result at the end
    assert scores[-1][1] == result.metrics["score"]


def test_intermediate_scores_of_coarse_levels_are_taken_at_full_size(tmp_path: Path) -> None:
    tracker = RecordingTracker()
    mapping = {"image": {"size": 64, "levels": 2}, "optimizer": {"steps": 4}, "score": {"every": 2}}
    result = run(settings_for(tmp_path, **mapping), tracker)
    scores = [step for key, _, step in tracker.metrics if key == "score"]
    assert scores == [2, 4, 5]  # steps 2 and 4 at 32 px, the final one at 64 px
    assert result.image.shape == (64, 64, 3)


def test_score_disabled_logs_no_score(tmp_path: Path) -> None:
    tracker = RecordingTracker()
    result = run(settings_for(tmp_path, score={"enabled": False, "every": 2}), tracker)
    assert set(result.metrics) == set(LOSS_METRICS)
    assert not [k for k, _, _ in tracker.metrics if k in SCORE_METRICS]


def test_score_weights_pick_the_evaluation_network(tmp_path: Path, weights_file: Path) -> None:
    # The run optimises with seed 1's random network and is judged by the file's (seed 0).
    settings = settings_for(tmp_path, seed=1, score={"weights": str(weights_file)})
    result = run(settings)
    content, style = load_pair(settings.content, settings.style, 32, 1.0)
    judge = Scorer(content, style, FeatureExtractor(load_vgg19(str(weights_file)), SCORE_LAYERS))
    own = Scorer(content, style, FeatureExtractor(load_vgg19("random", 1), SCORE_LAYERS))
    assert result.metrics["score"] == pytest.approx(judge(result.image).score, rel=1e-6)
    assert result.metrics["score"] != pytest.approx(own(result.image).score, rel=1e-6)


def test_on_score_hook_can_stop_the_run(tmp_path: Path) -> None:
    seen: list[int] = []

    class Stop(Exception):
        pass

    def hook(score: float, step: int) -> None:
        seen.append(step)
        raise Stop

    with pytest.raises(Stop):
        run(settings_for(tmp_path, score={"every": 1}), on_score=hook)
    assert seen == [1]
    assert not (tmp_path / "out.png").exists()  # stopped before the result
