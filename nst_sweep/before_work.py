"""A command's values checked before its work, then one line saying what loads.

Called by the preflight callback (``preflight.py``) before any MLflow run or job folder exists:
the values parse (``RunSettings``), the images read, the weights exist; then, when the progress
bar is on, one line on stdout says what loads (TensorFlow and VGG19 take seconds, before any
other output); then a weights file is loaded (it must fit VGG19), and the ImageNet weights are
downloaded if Keras does not have them, so that an offline machine is told at once, in one
line, with a command that works without them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nst_sweep.errors import UserError, first_line
from nst_sweep.images import load_images
from nst_sweep.names import OUTPUT_FILE
from nst_sweep.settings import RunSettings
from nst_sweep.tune import preview_settings, preview_side
from nst_sweep.weights import WEIGHTS_NAMES, check_weights, imagenet_cached

# A run that works without the ImageNet weights and ends in under a minute on 2 cores
# (measured: README, "Without the ImageNet weights").
TRY_OVERRIDES = "model.weights=random image.size=128 optimizer.steps=50"
WEIGHTS_KEYS = ("model", "model.weights", "score.weights")


def job_settings(config: DictConfig) -> RunSettings | None:
    """The command's values parsed as a job would, or None when they name values that exist
    only inside a job (``${hydra:...}``); a bad value raises its one-line ``UserError``."""
    node: dict[str, Any] = OmegaConf.to_container(config, resolve=False)  # type: ignore[assignment]
    node.pop("hydra", None)
    if "output" in config and OmegaConf.is_interpolation(config, "output"):
        node["output"] = OUTPUT_FILE  # in the job's folder: checked by the job (run.run)
    try:
        resolved = OmegaConf.to_container(OmegaConf.create(node), resolve=True)
    except Exception as exc:
        if "hydra" in str(exc):
            return None
        raise UserError(f"config: {first_line(exc)}; fix or remove that interpolation") from exc
    return RunSettings.from_mapping(resolved)  # type: ignore[arg-type]


def check_values(
    config: DictConfig, multirun: bool = False, swept: Iterable[str] = (), search: bool = False
) -> None:
    """Values, images and weights of the command (and for a search, what its trials render);
    keys a multirun sweeps are the jobs' own."""
    settings = job_settings(config)
    if settings is None:
        return
    swept = {key.lstrip("+~") for key in swept}
    image = settings.transfer.image
    side = preview_side(settings.tune, image.size)
    if search and side is not None and not swept & {"loss.normalize", "tune.preview_size"}:
        preview_settings(settings, side)  # previews need loss.normalize=true
    if not swept & {"content", "style", "image.size", "image.style_scale"}:
        load_images(settings.content, settings.styles, image.size, image.style_scale)
    weights = [] if swept & set(WEIGHTS_KEYS) else weights_used(settings)
    for key, value in weights:
        check_weights(value, key)
    if settings.progress:  # stdout, with the log lines: stderr is for the bar and errors
        print(loading_line(settings, multirun), flush=True)
    for key, value in weights:
        if value not in WEIGHTS_NAMES or (value == "imagenet" and not imagenet_cached()):
            load_network(key, value, settings.seed)


def weights_used(settings: RunSettings) -> list[tuple[str, str]]:
    """(key, weights) of each network a run loads: the model's and the score's."""
    used = [("model.weights", settings.transfer.model.weights)]
    if settings.score.enabled and settings.score.weights:
        used.append(("score.weights", settings.score.weights))
    return used


def loading_line(settings: RunSettings, multirun: bool = False) -> str:
    """What the next seconds are spent on, said before TensorFlow is imported."""
    weights = settings.transfer.model.weights
    if multirun:
        return f"nst-sweep: each job loads TensorFlow and VGG19 (model.weights={weights}) first"
    optimizer = settings.transfer.optimizer
    return (
        f"nst-sweep: loading TensorFlow and VGG19 (model.weights={weights}) for "
        f"{optimizer.steps} {optimizer.name} steps at {settings.transfer.image.size} px; "
        "a progress bar follows"
    )


def load_network(key: str, weights: str, seed: int) -> None:
    """A weights file that fits VGG19, or Keras' download of the ImageNet weights, loaded now
    (kept for the job in this process); offline, one line with a command to try."""
    from nst_sweep.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # only when the file is missing
    from nst_sweep.features import cached_vgg19

    try:
        cached_vgg19(weights, seed, key)  # kept in this process's cache for the job
    except UserError as exc:
        if weights != "imagenet":
            raise
        raise UserError(f"{exc}; to try the tool without them: {try_command()}") from exc


def try_command() -> str:
    """The quick run without ImageNet weights, as the user can type it here."""
    program = Path(sys.argv[0])
    if program.name != "nst-sweep":  # python -m nst_sweep
        return f"{sys.executable} -m nst_sweep {TRY_OVERRIDES}"
    if program.parent == Path(".venv/bin"):  # make run, or typed in the project's folder
        return f"make run {TRY_OVERRIDES}"
    return f"{sys.argv[0]} {TRY_OVERRIDES}"
