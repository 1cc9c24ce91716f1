"""The run layer: one transfer from settings to a saved, scored and tracked image.

No Hydra and no MLflow here: the command line (``app.py``) composes the config, parses it into
``RunSettings`` and hands in a tracker; a notebook calls ``run(settings)`` the same way::

    from nst_sweep.run import run
    from nst_sweep.settings import RunSettings
    settings = RunSettings.from_mapping({"content": "chelsea", "style": "starry_night",
                                         "model": {"weights": "random"}, "image": {"size": 64},
                                         "optimizer": {"steps": 10}, "output": "out.png"})
    result = run(settings)        # result.image, result.metrics["score"], out.png written
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst_sweep.checks import writable_file
from nst_sweep.images import load_images, save_image
from nst_sweep.names import (
    CONTENT_IMAGE,
    DEVICE_TAG,
    LOSS_PREFIX,
    RESULT_ARTIFACT,
    RESULT_IMAGE,
    SEED_TAG,
    STYLE_IMAGE,
    TENSORFLOW_VERSION_TAG,
    WEIGHTS_TAG,
)
from nst_sweep.progress import ScoreHook, ScoreReporter, StepReporter
from nst_sweep.quiet import import_tensorflow_quietly
from nst_sweep.score import SCORE_LAYERS, Scorer
from nst_sweep.settings import RunSettings
from nst_sweep.tracker import NullTracker, Tracker

log = logging.getLogger("nst_sweep")


@dataclass(frozen=True)
class RunResult:
    """The final image (RGB float32 in [0, 1]), where it was written, and the final metrics."""

    image: np.ndarray
    output: Path
    steps: int  # updates made (L-BFGS may stop early)
    metrics: dict[str, float]  # loss/total, loss/content, ..., and score* when scoring is on


def run(
    settings: RunSettings, tracker: Tracker | None = None, on_score: ScoreHook | None = None
) -> RunResult:
    """Load the images, stylize, save to ``settings.output``, score, and report to ``tracker``.

    ``on_score(score, step)`` is called after every intermediate score (``score.every``) and
    may raise to stop the run (a search's pruner). Bad input raises ``UserError`` before the
    heavy imports.
    """
    tracker = tracker or NullTracker()
    transfer = settings.transfer
    image = transfer.image
    writable_file(settings.output, "output")  # now, not after minutes of work
    content, styles = load_images(settings.content, settings.styles, image.size, image.style_scale)
    import_tensorflow_quietly()  # only now: bad paths and values fail fast, before TF loads
    import tensorflow as tf

    from nst_sweep.features import cached_extractor, device_name
    from nst_sweep.optimize import stylize

    tracker.set_tags(
        {
            DEVICE_TAG: device_name(),
            TENSORFLOW_VERSION_TAG: tf.__version__,
            WEIGHTS_TAG: transfer.model.weights,
            SEED_TAG: str(transfer.seed),
        }
    )
    model = transfer.model
    extractor = cached_extractor(model.weights, transfer.seed, transfer.layers.all, model.pooling)
    scorer = make_scorer(settings, content, styles)
    tracker.log_image(CONTENT_IMAGE, content)
    for number, style in enumerate(styles):  # several styles: one image per step number
        tracker.log_image(STYLE_IMAGE, style, step=number)
    steps = sum(transfer.optimizer.steps_per_level(image.levels))
    hooks = []
    if scorer is not None and settings.score.every > 0:
        hooks.append(ScoreReporter(scorer, tracker, settings.score.every, steps, on_score))
    reporter = StepReporter(
        tracker,
        total_steps=steps,
        image_every=settings.tracking.image_every,
        show=settings.progress,
        hooks=hooks,
    )
    try:
        result = stylize(content, styles, transfer, callback=reporter, extractor=extractor)
    finally:
        reporter.close()
    save_image(result.image, settings.output)  # the product, before anything goes to the tracker
    tracker.log_image(RESULT_IMAGE, result.image, step=result.final.step)
    with tempfile.TemporaryDirectory() as tmp:  # a fixed name lets the sweep summary find it
        tracker.log_artifact(save_image(result.image, Path(tmp) / RESULT_ARTIFACT))
    metrics = {f"{LOSS_PREFIX}{k}": v for k, v in result.final.losses().items()}
    if scorer is not None:
        score = scorer(result.image)
        tracker.log_metrics(score.metrics(), step=result.final.step)
        metrics.update(score.metrics())
        log.info(
            "score %.4f (content %.4f, style %.4f)",
            score.score,
            score.content_distance,
            score.style_distance,
        )
    log.info(
        "wrote %s (loss %.4g after %d steps)", settings.output, result.final.total, result.steps
    )
    return RunResult(result.image, settings.output, result.steps, metrics)


def make_scorer(
    settings: RunSettings, content: np.ndarray, styles: Sequence[np.ndarray]
) -> Scorer | None:
    """The perceptual scorer for this run, or None when ``score.enabled`` is false.

    The evaluation network defaults to the run's own VGG19 (loaded once per process);
    ``score.weights`` picks another, e.g. ImageNet weights to judge runs optimised with
    something else. With several style images the score's style is the most weighted one.
    """
    from nst_sweep.features import cached_extractor

    if not settings.score.enabled:
        return None
    weights = settings.score.weights or settings.transfer.model.weights
    blend = settings.transfer.loss.style_blend or (1.0,) * len(styles)
    style = styles[int(np.argmax(blend))]
    # Always max pooling: scores must be comparable whatever model.pooling a run used.
    features = cached_extractor(weights, settings.seed, SCORE_LAYERS, "max", key="score.weights")
    return Scorer(content, style, features)
