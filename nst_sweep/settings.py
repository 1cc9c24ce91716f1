"""Typed, validated settings for one run, parsed once from a plain mapping (Hydra's config).

Validation lives here so that every entry point (CLI, notebook, tests) reports bad values the same
way: a ``UserError`` naming the key, the value and the fix. The defaults below equal those of
``conf/`` (``tests/test_settings.py`` composes ``conf/`` and compares), so the Python API and the
command line agree; a key missing from the mapping takes the default written here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nst_sweep.checks import (
    as_choice,
    as_flag,
    as_integer,
    as_name,
    as_number,
    as_section,
    as_step_list,
    as_text,
    as_unit,
    as_weight_list,
)
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
            pooling=as_choice(model.get("pooling", cls.pooling), "model.pooling", POOLING_MODES),
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
            return as_number(loss.get(name, getattr(cls, name)), f"loss.{name}")

        alpha, beta, gamma = weight("content_weight"), weight("style_weight"), weight("tv_weight")
        if alpha == beta == gamma == 0:
            raise UserError(
                "loss.content_weight, loss.style_weight and loss.tv_weight are all 0: nothing to "
                "optimise; make at least one of them > 0"
            )
        return cls(
            content_weight=alpha,
            style_weight=beta,
            tv_weight=gamma,
            tv_exponent=as_number(
                loss.get("tv_exponent", cls.tv_exponent), "loss.tv_exponent", minimum=1.0
            ),
            normalize=as_flag(loss.get("normalize", cls.normalize), "loss.normalize"),
            style_layer_weights=as_weight_list(
                loss.get("style_layer_weights"), "loss.style_layer_weights"
            ),
            style_blend=as_weight_list(loss.get("style_blend"), "loss.style_blend"),
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
        name = as_choice(opt.get("name", cls.name), "optimizer", OPTIMIZERS)
        base = cls.defaults(name)

        def get(key: str) -> Any:
            return opt.get(key, getattr(base, key))

        return cls(
            name=name,
            steps=as_integer(get("steps"), "optimizer.steps", 1, 1_000_000),
            lr=as_number(get("lr"), "optimizer.lr", strict=True),
            beta_1=as_unit(get("beta_1"), "optimizer.beta_1"),
            beta_2=as_unit(get("beta_2"), "optimizer.beta_2"),
            epsilon=as_number(get("epsilon"), "optimizer.epsilon", strict=True),
            momentum=as_unit(get("momentum"), "optimizer.momentum"),
            decay_rate=as_number(get("decay_rate"), "optimizer.decay_rate", strict=True),
            decay_steps=as_integer(get("decay_steps"), "optimizer.decay_steps", 1),
            history_size=as_integer(get("history_size"), "optimizer.history_size", 1, 1000),
            level_steps=as_step_list(opt.get("level_steps")),
            jit_compile=as_flag(get("jit_compile"), "optimizer.jit_compile"),
        )

    def steps_per_level(self, levels: int) -> tuple[int, ...]:
        """Steps of each pyramid level, coarsest first: ``level_steps``, or by default
        ``steps`` at the coarsest level and a third as many at each finer one. A finer level
        starts from the upsampled result of the last and each of its steps costs ~4x more; a
        third keeps a 3-level render at about a third of a single-scale one's time
        (benchmarks/bench_multiscale.py, README).
        """
        if self.level_steps is not None:
            return self.level_steps
        return tuple(max(1, self.steps // 3**level) for level in range(levels))


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
        size = as_integer(image.get("size", cls.size), "image.size", MIN_SIZE, MAX_SIZE)
        levels = as_integer(image.get("levels", cls.levels), "image.levels", 1, 8)
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
            preserve_colors=as_choice(
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
            model=ModelSettings.from_mapping(as_section(cfg, "model")),
            layers=LayerSettings.from_mapping(as_section(cfg, "layers")),
            loss=LossSettings.from_mapping(as_section(cfg, "loss")),
            optimizer=OptimizerSettings.from_mapping(as_section(cfg, "optimizer")),
            image=ImageSettings.from_mapping(as_section(cfg, "image")),
            seed=as_integer(cfg.get("seed", cls.seed), "seed", 0, 2**32 - 1),
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


def _style_scale(value: Any) -> float:
    number = as_number(value, "image.style_scale", strict=True)
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


MAX_HTTP_RETRIES = 10  # MLflow refuses more retries per request


@dataclass(frozen=True)
class TrackingSettings:
    """Where and how often a run is logged (``tracking=none`` sets ``enabled: false``)."""

    enabled: bool = True
    uri: str = "sqlite:///runs/mlflow.db"  # a sqlite file or an http(s):// tracking server
    experiment: str = "nst-sweep"
    run_name: str | None = None  # None: "job N" / "trial N" in sweeps, MLflow's pick otherwise
    flush_every: int = 25  # steps between asynchronous metric batches
    image_every: int = 50  # steps between snapshot images; 0 = first and last only
    # Seconds and retries per request to a tracking server; None: the user's
    # MLFLOW_HTTP_REQUEST_TIMEOUT / _MAX_RETRIES, else nst_sweep/connection.py's 10 s and 2.
    timeout: int | None = None
    retries: int | None = None

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> TrackingSettings:
        """From the whole config (its ``tracking`` section)."""
        tracking = as_section(cfg, "tracking")
        run_name = tracking.get("run_name", cls.run_name)
        timeout, retries = tracking.get("timeout"), tracking.get("retries")
        return cls(
            enabled=as_flag(tracking.get("enabled", cls.enabled), "tracking.enabled"),
            uri=as_text(tracking.get("uri", cls.uri), "tracking.uri"),
            experiment=as_name(tracking.get("experiment", cls.experiment), "tracking.experiment"),
            run_name=None if run_name in (None, "") else str(run_name),
            flush_every=as_integer(
                tracking.get("flush_every", cls.flush_every), "tracking.flush_every", 1
            ),
            image_every=as_integer(
                tracking.get("image_every", cls.image_every), "tracking.image_every", 0
            ),
            timeout=None if timeout is None else as_integer(timeout, "tracking.timeout", 1),
            retries=None
            if retries is None
            else as_integer(retries, "tracking.retries", 0, MAX_HTTP_RETRIES),
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
            enabled=as_flag(score.get("enabled", cls.enabled), "score.enabled"),
            weights=_weights(weights) if weights not in (None, "") else None,
            every=as_integer(score.get("every", cls.every), "score.every", 0),
        )


PREVIEW_AUTO = "auto"


@dataclass(frozen=True)
class TuneSettings:
    """What a search (``-m search=optuna``) does with its trials; ignored outside a search."""

    preview_size: int | str | None = PREVIEW_AUTO  # trials' side: auto = image.size/4; null = full
    promote: int = 3  # best trials re-rendered at image.size after the search; 0 = none

    @classmethod
    def from_mapping(cls, tune: Mapping[str, Any]) -> TuneSettings:
        preview = tune.get("preview_size", cls.preview_size)
        if preview is not None and preview != PREVIEW_AUTO:
            preview = as_integer(preview, "tune.preview_size", MIN_SIZE, MAX_SIZE)
        return cls(
            preview_size=preview,
            promote=as_integer(tune.get("promote", cls.promote), "tune.promote", 0),
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
    tune: TuneSettings = field(default_factory=TuneSettings)

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
        output = Path(as_text(cfg.get("output", cls.output), "output"))
        if output.suffix.lower() not in SAVE_SUFFIXES:
            raise UserError(f"output={output}: unsupported suffix; use .png or .jpg")
        return cls(
            content=as_text(cfg.get("content", cls.content), "content"),
            style=_styles(cfg.get("style", cls.style), transfer.loss.style_blend),
            output=output,
            progress=as_flag(cfg.get("progress", cls.progress), "progress"),
            transfer=transfer,
            tracking=TrackingSettings.from_mapping(cfg),
            score=ScoreSettings.from_mapping(as_section(cfg, "score")),
            tune=TuneSettings.from_mapping(as_section(cfg, "tune")),
        )


def _styles(value: Any, blend: tuple[float, ...] | None) -> str | tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        styles: str | tuple[str, ...] = as_text(value, "style")
        count = 1
    else:
        styles = tuple(as_text(v, "style") for v in value)
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


def _init(value: Any) -> str:
    """content, noise, style, or the path of an existing image (e.g. an earlier preview)."""
    text = as_text(value, "image.init")
    if text in INIT_MODES or Path(text).expanduser().is_file():
        return text
    raise UserError(
        f"image.init={text}: neither {', '.join(INIT_MODES)} nor an existing image file; "
        "pass one of those or the path of an image"
    )
