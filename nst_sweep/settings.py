"""Typed, validated settings for one style transfer, built from a plain mapping (Hydra's config).

Validation lives here so that every entry point (CLI, notebook, tests) reports bad values the same
way: a ``UserError`` naming the key, the value and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nst_sweep.errors import UserError
from nst_sweep.images import SAVE_SUFFIXES

# Convolution layers of Keras' VGG19, in network order (the only layers losses may use).
VGG19_CONV_LAYERS: tuple[str, ...] = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4",
)  # fmt: skip
OPTIMIZERS = ("adam", "sgd", "lbfgs")
INIT_MODES = ("content", "noise", "style")
POOLING_MODES = ("max", "avg")
MIN_SIZE, MAX_SIZE = 32, 4096
MAX_STYLE_SCALE = 4.0


def _number(value: Any, key: str, *, minimum: float | None = 0.0, strict: bool = False) -> float:
    """A finite float >= minimum (> when strict), else a UserError naming ``key``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{key}={value}: not a number; pass a numeric value") from None
    if not math.isfinite(number):
        raise UserError(f"{key}={value}: not a finite number; pass a finite value")
    if minimum is not None and (number <= minimum if strict else number < minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise UserError(f"{key}={value}: must be {bound}; pass a value {bound}")
    return number


def _integer(value: Any, key: str, low: int, high: int | None = None) -> int:
    """An integer in [low, high], else a UserError naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UserError(f"{key}={value}: not an integer; pass a whole number")
    try:
        number = int(value)
        if number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise UserError(f"{key}={value}: not an integer; pass a whole number") from None
    if number < low or (high is not None and number > high):
        span = f"between {low} and {high}" if high is not None else f">= {low}"
        raise UserError(f"{key}={value}: out of range; pass a value {span}")
    return number


def _choice(value: Any, key: str, options: tuple[str, ...]) -> str:
    if str(value) not in options:
        raise UserError(f"{key}={value}: unknown value; use one of: {', '.join(options)}")
    return str(value)


def _layers(value: Any, key: str) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else list(value or [])
    if not names:
        raise UserError(f"{key} is empty; list at least one VGG19 layer, e.g. [block1_conv1]")
    for name in names:
        if name not in VGG19_CONV_LAYERS:
            raise UserError(
                f"{key}: unknown layer '{name}'; use VGG19 conv layers such as block1_conv1 .. "
                "block5_conv4"
            )
    return tuple(str(n) for n in names)


@dataclass(frozen=True)
class ModelSettings:
    weights: str = "imagenet"  # imagenet | random | path to a .h5 / .weights.h5 file
    pooling: str = "max"  # max (Keras VGG19) | avg (what Gatys et al. recommend)


@dataclass(frozen=True)
class LayerSettings:
    style: tuple[str, ...] = (
        "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1",
    )  # fmt: skip
    content: tuple[str, ...] = ("block5_conv2",)

    @property
    def all(self) -> tuple[str, ...]:
        """Every layer the losses read, in network order, without duplicates."""
        wanted = set(self.style) | set(self.content)
        return tuple(name for name in VGG19_CONV_LAYERS if name in wanted)


@dataclass(frozen=True)
class LossSettings:
    content_weight: float = 1.0  # alpha
    style_weight: float = 1e4  # beta
    tv_weight: float = 10.0  # gamma
    tv_exponent: float = 1.25


@dataclass(frozen=True)
class OptimizerSettings:
    name: str = "adam"
    steps: int = 300
    lr: float = 0.02
    beta_1: float = 0.99  # Adam: first-moment decay
    beta_2: float = 0.999  # Adam: second-moment decay
    epsilon: float = 0.1  # Adam: large, since gradients of summed losses are large
    momentum: float = 0.9  # SGD: heavy-ball momentum
    decay_rate: float = 0.96  # SGD: lr * decay_rate ** (step / decay_steps)
    decay_steps: int = 100  # SGD: steps per decay_rate factor
    history_size: int = 10  # L-BFGS: past updates kept for the curvature estimate


@dataclass(frozen=True)
class ImageSettings:
    size: int = 256  # long side of the content image and result, px
    init: str = "content"
    style_scale: float = 1.0  # style long side = style_scale x content long side


@dataclass(frozen=True)
class TransferSettings:
    """Everything ``stylize`` needs besides the two images."""

    model: ModelSettings = field(default_factory=ModelSettings)
    layers: LayerSettings = field(default_factory=LayerSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    image: ImageSettings = field(default_factory=ImageSettings)
    seed: int = 0

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> TransferSettings:
        """Validate a (resolved) config mapping; unknown top-level keys are ignored."""
        model = dict(cfg.get("model") or {})
        layers = dict(cfg.get("layers") or {})
        loss = dict(cfg.get("loss") or {})
        opt = dict(cfg.get("optimizer") or {})
        image = dict(cfg.get("image") or {})
        defaults = OptimizerSettings()
        loss_defaults, image_defaults = LossSettings(), ImageSettings()
        return cls(
            model=ModelSettings(
                weights=_weights(model.get("weights", ModelSettings.weights)),
                pooling=_choice(
                    model.get("pooling", ModelSettings.pooling), "model.pooling", POOLING_MODES
                ),
            ),
            layers=LayerSettings(
                style=_layers(layers.get("style", LayerSettings.style), "layers.style"),
                content=_layers(layers.get("content", LayerSettings.content), "layers.content"),
            ),
            loss=LossSettings(
                content_weight=_number(
                    loss.get("content_weight", loss_defaults.content_weight), "loss.content_weight"
                ),
                style_weight=_number(
                    loss.get("style_weight", loss_defaults.style_weight), "loss.style_weight"
                ),
                tv_weight=_number(loss.get("tv_weight", loss_defaults.tv_weight), "loss.tv_weight"),
                tv_exponent=_number(
                    loss.get("tv_exponent", loss_defaults.tv_exponent),
                    "loss.tv_exponent",
                    minimum=1.0,
                ),
            ),
            optimizer=OptimizerSettings(
                name=_choice(opt.get("name", "adam"), "optimizer", OPTIMIZERS),
                steps=_integer(opt.get("steps", defaults.steps), "optimizer.steps", 1, 1_000_000),
                lr=_number(opt.get("lr", defaults.lr), "optimizer.lr", strict=True),
                beta_1=_unit(opt.get("beta_1", defaults.beta_1), "optimizer.beta_1"),
                beta_2=_unit(opt.get("beta_2", defaults.beta_2), "optimizer.beta_2"),
                epsilon=_number(
                    opt.get("epsilon", defaults.epsilon), "optimizer.epsilon", strict=True
                ),
                momentum=_unit(opt.get("momentum", defaults.momentum), "optimizer.momentum"),
                decay_rate=_number(
                    opt.get("decay_rate", defaults.decay_rate), "optimizer.decay_rate", strict=True
                ),
                decay_steps=_integer(
                    opt.get("decay_steps", defaults.decay_steps), "optimizer.decay_steps", 1
                ),
                history_size=_integer(
                    opt.get("history_size", defaults.history_size),
                    "optimizer.history_size",
                    1,
                    1000,
                ),
            ),
            image=ImageSettings(
                size=_integer(
                    image.get("size", image_defaults.size), "image.size", MIN_SIZE, MAX_SIZE
                ),
                init=_choice(image.get("init", image_defaults.init), "image.init", INIT_MODES),
                style_scale=_style_scale(image.get("style_scale", image_defaults.style_scale)),
            ),
            seed=_integer(cfg.get("seed", 0), "seed", 0, 2**32 - 1),
        )


def _unit(value: Any, key: str) -> float:
    number = _number(value, key)
    if number >= 1.0:
        raise UserError(f"{key}={value}: must be in [0, 1); pass e.g. 0.9")
    return number


def _style_scale(value: Any) -> float:
    number = _number(value, "image.style_scale", strict=True)
    if number > MAX_STYLE_SCALE:
        raise UserError(
            f"image.style_scale={value}: too large; pass a value in (0, {MAX_STYLE_SCALE:g}]"
        )
    return number


def _weights(value: Any) -> str:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise UserError("model.weights is empty; pass imagenet, random or a path to a .h5 file")
    return text


@dataclass(frozen=True)
class RunOptions:
    """Options of the command around one transfer: output file, logging cadence, scoring."""

    output: Path
    image_every: int  # steps between snapshot images; 0 = first and last only
    score_enabled: bool
    score_weights: str | None  # evaluation network; None = the run's own
    score_every: int  # steps between intermediate scores; 0 = at the end only

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> RunOptions:
        """Validate the edge options, so that a typo fails before minutes of optimisation."""
        tracking = dict(cfg.get("tracking") or {})
        score = dict(cfg.get("score") or {})
        output = Path(str(cfg.get("output") or "result.png"))
        if output.suffix.lower() not in SAVE_SUFFIXES:
            raise UserError(f"output={output}: unsupported suffix; use .png or .jpg")
        weights = score.get("weights")
        return cls(
            output=output,
            image_every=_integer(tracking.get("image_every", 0) or 0, "tracking.image_every", 0),
            score_enabled=bool(score.get("enabled", True)),
            score_weights=_weights(weights) if weights else None,
            score_every=_integer(score.get("every", 0) or 0, "score.every", 0),
        )


def flush_every(tracking: Mapping[str, Any]) -> int:
    """Steps between asynchronous metric batches (``tracking.flush_every``)."""
    return _integer(tracking.get("flush_every", 25), "tracking.flush_every", 1)
