"""Typed, validated settings for one run, parsed once from a plain mapping (Hydra's config).

Validation lives here so that every entry point (CLI, notebook, tests) reports bad values the same
way: a ``UserError`` naming the key, the value and the fix. The defaults below equal those of
``conf/`` (``tests/test_settings.py`` composes ``conf/`` and compares), so the Python API and the
command line agree; a key missing from the mapping takes the default written here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nst_sweep.errors import UserError
from nst_sweep.images import SAVE_SUFFIXES
from nst_sweep.names import OUTPUT_FILE

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
COLOR_MODES = ("none", "luminance", "histogram")
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

    @classmethod
    def from_mapping(cls, model: Mapping[str, Any]) -> ModelSettings:
        return cls(
            weights=_weights(model.get("weights", cls.weights)),
            pooling=_choice(model.get("pooling", cls.pooling), "model.pooling", POOLING_MODES),
        )


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

    @classmethod
    def from_mapping(cls, layers: Mapping[str, Any]) -> LayerSettings:
        return cls(
            style=_layers(layers.get("style", cls.style), "layers.style"),
            content=_layers(layers.get("content", cls.content), "layers.content"),
        )


@dataclass(frozen=True)
class LossSettings:
    content_weight: float = 1.0  # alpha
    style_weight: float = 1e4  # beta
    tv_weight: float = 10.0  # gamma
    tv_exponent: float = 1.25
    normalize: bool = False  # content and TV as means: weights mean the same at every size
    style_layer_weights: tuple[float, ...] | None = None  # w_l of eq (4); None = 1/L each
    style_blend: tuple[float, ...] | None = None  # one weight per style image; None = equal

    @classmethod
    def from_mapping(cls, loss: Mapping[str, Any]) -> LossSettings:
        def weight(name: str) -> float:
            return _number(loss.get(name, getattr(cls, name)), f"loss.{name}")

        return cls(
            content_weight=weight("content_weight"),
            style_weight=weight("style_weight"),
            tv_weight=weight("tv_weight"),
            tv_exponent=_number(
                loss.get("tv_exponent", cls.tv_exponent), "loss.tv_exponent", minimum=1.0
            ),
            normalize=_flag(loss.get("normalize", cls.normalize), "loss.normalize"),
            style_layer_weights=_weights_list(
                loss.get("style_layer_weights"), "loss.style_layer_weights"
            ),
            style_blend=_weights_list(loss.get("style_blend"), "loss.style_blend"),
        )


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
    level_steps: tuple[int, ...] | None = None  # per pyramid level, coarsest first; see below
    jit_compile: bool = False  # XLA for the step (Adam, SGD); see benchmarks/bench_step.py

    @classmethod
    def defaults(cls, name: str = "adam") -> OptimizerSettings:
        """Defaults of optimizer ``name``: the fields above, then its own in ``PER_OPTIMIZER``."""
        return replace(cls(name=name), **PER_OPTIMIZER.get(name, {}))

    @classmethod
    def from_mapping(cls, opt: Mapping[str, Any]) -> OptimizerSettings:
        name = _choice(opt.get("name", cls.name), "optimizer", OPTIMIZERS)
        base = cls.defaults(name)

        def get(key: str) -> Any:
            return opt.get(key, getattr(base, key))

        return cls(
            name=name,
            steps=_integer(get("steps"), "optimizer.steps", 1, 1_000_000),
            lr=_number(get("lr"), "optimizer.lr", strict=True),
            beta_1=_unit(get("beta_1"), "optimizer.beta_1"),
            beta_2=_unit(get("beta_2"), "optimizer.beta_2"),
            epsilon=_number(get("epsilon"), "optimizer.epsilon", strict=True),
            momentum=_unit(get("momentum"), "optimizer.momentum"),
            decay_rate=_number(get("decay_rate"), "optimizer.decay_rate", strict=True),
            decay_steps=_integer(get("decay_steps"), "optimizer.decay_steps", 1),
            history_size=_integer(get("history_size"), "optimizer.history_size", 1, 1000),
            level_steps=_steps_list(opt.get("level_steps")),
            jit_compile=_flag(get("jit_compile"), "optimizer.jit_compile"),
        )

    def steps_per_level(self, levels: int) -> tuple[int, ...]:
        """Steps of each pyramid level, coarsest first: ``level_steps``, or by default
        ``steps`` at the coarsest level and half as many at each finer one (a finer level
        starts from the upsampled result of the last, and each of its steps costs ~4x more).
        """
        if self.level_steps is not None:
            return self.level_steps
        return tuple(max(1, self.steps // 2**level) for level in range(levels))


# Where an optimizer's own default differs from the shared one above (conf/optimizer/<name>.yaml).
PER_OPTIMIZER: dict[str, dict[str, Any]] = {
    # SGD is not scale-invariant like Adam: its step is lr x gradient of the summed losses,
    # which are ~1e8 at 256 px, so its learning rate is tiny.
    "sgd": {"lr": 1.0e-8},
    # L-BFGS takes no learning rate (lr is kept so sweeps over optimizer.lr compose); each of
    # its iterations does a line search, so it needs fewer of them.
    "lbfgs": {"steps": 100, "lr": 1.0},
}


@dataclass(frozen=True)
class ImageSettings:
    size: int = 256  # long side of the content image and result, px
    init: str = "content"  # content | noise | style | path of an image (e.g. a preview)
    style_scale: float = 1.0  # style long side = style_scale x content long side
    levels: int = 1  # pyramid levels, each half the next, ending at size; 1 = single scale
    preserve_colors: str = "none"  # none | luminance | histogram

    @classmethod
    def from_mapping(cls, image: Mapping[str, Any]) -> ImageSettings:
        size = _integer(image.get("size", cls.size), "image.size", MIN_SIZE, MAX_SIZE)
        levels = _integer(image.get("levels", cls.levels), "image.levels", 1, 8)
        coarsest = round(size / 2 ** (levels - 1))
        if coarsest < MIN_SIZE:
            raise UserError(
                f"image.levels={levels}: the coarsest level would be {coarsest} px at "
                f"image.size={size}; lower image.levels or raise image.size (>= {MIN_SIZE} px)"
            )
        return cls(
            size=size,
            init=_init(image.get("init", cls.init)),
            style_scale=_style_scale(image.get("style_scale", cls.style_scale)),
            levels=levels,
            preserve_colors=_choice(
                image.get("preserve_colors", cls.preserve_colors),
                "image.preserve_colors",
                COLOR_MODES,
            ),
        )

    def level_sizes(self) -> tuple[int, ...]:
        """Long side of each pyramid level, coarsest first, each half the next."""
        return tuple(round(self.size / 2 ** (self.levels - 1 - i)) for i in range(self.levels))


@dataclass(frozen=True)
class TransferSettings:
    """Everything ``stylize`` needs besides the two images."""

    model: ModelSettings = field(default_factory=ModelSettings)
    layers: LayerSettings = field(default_factory=LayerSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    image: ImageSettings = field(default_factory=ImageSettings)
    seed: int = 0  # seeds noise init and random weights

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> TransferSettings:
        """Validate a (resolved) config mapping; unknown top-level keys are ignored."""
        settings = cls(
            model=ModelSettings.from_mapping(_section(cfg, "model")),
            layers=LayerSettings.from_mapping(_section(cfg, "layers")),
            loss=LossSettings.from_mapping(_section(cfg, "loss")),
            optimizer=OptimizerSettings.from_mapping(_section(cfg, "optimizer")),
            image=ImageSettings.from_mapping(_section(cfg, "image")),
            seed=_integer(cfg.get("seed", cls.seed), "seed", 0, 2**32 - 1),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Rules across groups: one step count per level, one w_l per style layer."""
        level_steps = self.optimizer.level_steps
        if level_steps is not None and len(level_steps) != self.image.levels:
            raise UserError(
                f"optimizer.level_steps has {len(level_steps)} entries for image.levels="
                f"{self.image.levels}; give one step count per level, coarsest first"
            )
        weights = self.loss.style_layer_weights
        if weights is not None and len(weights) != len(self.layers.style):
            raise UserError(
                f"loss.style_layer_weights has {len(weights)} entries for "
                f"{len(self.layers.style)} layers.style; give one weight per style layer"
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
class TrackingSettings:
    """Where and how often a run is logged (``tracking=none`` sets ``enabled: false``)."""

    enabled: bool = True
    uri: str = "sqlite:///runs/mlflow.db"  # a sqlite file or an http(s):// tracking server
    experiment: str = "nst-sweep"
    run_name: str | None = None  # None: "job N" / "trial N" in sweeps, MLflow's pick otherwise
    flush_every: int = 25  # steps between asynchronous metric batches
    image_every: int = 50  # steps between snapshot images; 0 = first and last only

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> TrackingSettings:
        """From the whole config (its ``tracking`` section)."""
        tracking = _section(cfg, "tracking")
        run_name = tracking.get("run_name", cls.run_name)
        return cls(
            enabled=_flag(tracking.get("enabled", cls.enabled), "tracking.enabled"),
            uri=_text(tracking.get("uri", cls.uri), "tracking.uri"),
            experiment=_text(tracking.get("experiment", cls.experiment), "tracking.experiment"),
            run_name=None if run_name in (None, "") else str(run_name),
            flush_every=_integer(
                tracking.get("flush_every", cls.flush_every), "tracking.flush_every", 1
            ),
            image_every=_integer(
                tracking.get("image_every", cls.image_every), "tracking.image_every", 0
            ),
        )


@dataclass(frozen=True)
class ScoreSettings:
    """The perceptual score of the result (``nst_sweep/score.py``)."""

    enabled: bool = True
    weights: str | None = None  # evaluation VGG19; None = the run's own model.weights
    every: int = 0  # steps between intermediate scores; 0 = at the end only

    @classmethod
    def from_mapping(cls, score: Mapping[str, Any]) -> ScoreSettings:
        weights = score.get("weights", cls.weights)
        return cls(
            enabled=_flag(score.get("enabled", cls.enabled), "score.enabled"),
            weights=_weights(weights) if weights not in (None, "") else None,
            every=_integer(score.get("every", cls.every), "score.every", 0),
        )


@dataclass(frozen=True)
class RunSettings:
    """One run: the images, where the result goes, the transfer, its tracking and scoring."""

    content: str = "astronaut"  # a path or a bundled sample name
    style: str | tuple[str, ...] = "the_scream"  # one, or several blended (loss.style_blend)
    output: Path = Path(OUTPUT_FILE)  # the command line puts it in the run's folder
    progress: bool = True  # a progress bar on stderr
    transfer: TransferSettings = field(default_factory=TransferSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    score: ScoreSettings = field(default_factory=ScoreSettings)

    @property
    def seed(self) -> int:
        return self.transfer.seed

    @property
    def styles(self) -> tuple[str, ...]:
        return (self.style,) if isinstance(self.style, str) else self.style

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> RunSettings:
        """Validate the whole (resolved) config, so a typo fails before minutes of work."""
        transfer = TransferSettings.from_mapping(cfg)
        output = Path(_text(cfg.get("output", cls.output), "output"))
        if output.suffix.lower() not in SAVE_SUFFIXES:
            raise UserError(f"output={output}: unsupported suffix; use .png or .jpg")
        return cls(
            content=_text(cfg.get("content", cls.content), "content"),
            style=_styles(cfg.get("style", cls.style), transfer.loss.style_blend),
            output=output,
            progress=_flag(cfg.get("progress", cls.progress), "progress"),
            transfer=transfer,
            tracking=TrackingSettings.from_mapping(cfg),
            score=ScoreSettings.from_mapping(_section(cfg, "score")),
        )


def _section(cfg: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UserError(f"{key}={value}: not a group of settings; pass {key}.<key>=<value>")
    return value


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise UserError(f"{key}={value}: not true or false; pass {key}=true or {key}=false")


def _text(value: Any, key: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise UserError(f"{key} is empty; pass a value, e.g. {key}=<value>")
    return text


def _styles(value: Any, blend: tuple[float, ...] | None) -> str | tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        styles: str | tuple[str, ...] = _text(value, "style")
        count = 1
    else:
        styles = tuple(_text(v, "style") for v in value)
        if not styles:
            raise UserError("style=[]: no style image; pass style=<image> or style=[a,b]")
        count = len(styles)
        styles = styles[0] if count == 1 else styles
    if blend is not None and len(blend) != count:
        raise UserError(
            f"loss.style_blend has {len(blend)} weights for {count} style image(s); "
            "give one weight per image of style=[...]"
        )
    return styles


def _weights_list(value: Any, key: str) -> tuple[float, ...] | None:
    """A list of weights >= 0 with a positive sum, or None."""
    if value is None:
        return None
    items = [value] if isinstance(value, int | float | str) else list(value)
    numbers = tuple(_number(v, key) for v in items)
    if not numbers or sum(numbers) <= 0:
        raise UserError(f"{key}={list(items)}: needs weights >= 0 with a positive sum")
    return numbers


def _steps_list(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, int | str) else list(value)
    if not items:
        raise UserError("optimizer.level_steps=[]: give one step count per level, or null")
    return tuple(_integer(v, "optimizer.level_steps", 1, 1_000_000) for v in items)


def _init(value: Any) -> str:
    """content, noise, style, or the path of an existing image (e.g. an earlier preview)."""
    text = _text(value, "image.init")
    if text in INIT_MODES or Path(text).expanduser().is_file():
        return text
    raise UserError(
        f"image.init={text}: neither {', '.join(INIT_MODES)} nor an existing image file; "
        "pass one of those or the path of an image"
    )
