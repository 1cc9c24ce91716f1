"""The style-transfer loop: ``stylize(content, style, settings, callback)``.

No Hydra, no MLflow: progress and logging happen in the ``callback``, which gets one
``StepRecord`` per step, starting with step 0 (the initial image, before any update).

Multi-scale (``image.levels > 1``): the optimisation runs coarse to fine at sizes that double
up to ``image.size``; each level starts from the last level's result upsampled, with content
and style targets computed at that level's size. Step numbers continue across levels.

Cheap repeats: what a run builds is kept for the next run in this process (a sweep's jobs): the
traced step of each image shape, layer set and optimizer (``_TransferGraph``, whose loss weights,
targets, learning rate and optimizer state are variables it resets, so results do not depend on
earlier runs) and the targets of each image.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from scipy.optimize import Bounds, minimize

from nst_sweep import losses
from nst_sweep.cache import Cache
from nst_sweep.colors import luminance_transfer, match_color_statistics
from nst_sweep.errors import DivergenceError
from nst_sweep.features import FeatureExtractor, cached_extractor
from nst_sweep.images import fit_pair, load_image, resize_long_side, resize_to
from nst_sweep.records import StepRecord
from nst_sweep.settings import OptimizerSettings, TransferSettings

StepCallback = Callable[[StepRecord], None]
# Per process: traced graphs (one per image shape, layer set, optimizer) and image targets.
GRAPHS: Cache[_TransferGraph] = Cache(kept=8)
TARGETS: Cache[np.ndarray] = Cache(kept=32)


@dataclass(frozen=True)
class StylizeResult:
    """The final image, the losses of its last record, and the number of updates made."""

    image: np.ndarray
    final: StepRecord
    steps: int  # updates actually made, over all levels (L-BFGS may converge early)


class _TransferGraph:
    """Eqs (1)-(6) and one optimizer step, traced once for an image shape and layer set.

    Everything that changes between runs is a variable: the image, alpha/beta/gamma, the TV
    exponent, w_l, the targets, the learning rate and the optimizer's state.
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        shape: tuple[int, ...],
        content_index: tuple[int, ...],
        style_index: tuple[int, ...],
        normalize: bool,
        optimizer: OptimizerSettings,
    ):
        self.extractor, self.normalize = extractor, normalize
        self.content_index, self.style_index = content_index, style_index
        self.image = tf.Variable(tf.zeros(shape), name="image")
        self.weights = tf.Variable(tf.zeros(3), name="alpha_beta_gamma")
        self.tv_exponent = tf.Variable(1.25, name="tv_exponent")
        self.layer_weights = tf.Variable(tf.zeros(len(style_index)), name="style_layer_weights")
        probe = extractor(np.zeros(shape, np.float32))
        self.content_targets = [tf.Variable(tf.zeros_like(probe[i])) for i in content_index]
        self.style_grams = [
            tf.Variable(tf.zeros((probe[i].shape[-1], probe[i].shape[-1]))) for i in style_index
        ]
        self.optimizer = None if optimizer.name == "lbfgs" else make_keras_optimizer(optimizer)
        if self.optimizer is not None:  # its variables now, so a level can continue another's
            self.optimizer.build([self.image])
        # Each graph traces its functions once. TensorFlow counts traces per Python function
        # (its code object), so the graphs of a sweep's jobs (other shapes, layer sets) added
        # up to a false "retracing" warning from the 5th; a partial is a function of its own
        # to that count, so only a graph that really traces again would warn.
        self.train_step = tf.function(partial(self._train_step), jit_compile=optimizer.jit_compile)
        self.evaluate = tf.function(partial(self.terms))
        self.value_and_grad = tf.function(partial(self._value_and_grad))

    def terms(self, image: tf.Tensor) -> tf.Tensor:
        """[total, content, style, tv] for an RGB [0, 1] image (H, W, 3)."""
        features = self.extractor(image)
        content = tf.add_n(
            [
                losses.content_loss(features[i], target)
                for i, target in zip(self.content_index, self.content_targets, strict=True)
            ]
        )
        style = losses.style_loss(
            [features[i] for i in self.style_index], self.style_grams, self.layer_weights
        )
        # TV on the network's 0-255 scale; mean subtraction and BGR order don't change it.
        tv = losses.total_variation_loss(image * 255.0, self.tv_exponent)
        if self.normalize:  # the sums as a 256 x 256 image would have them (losses.py)
            scale = losses.size_scale(*self.image.shape[:2])
            content, tv = scale * content, scale * tv
        alpha, beta, gamma = self.weights[0], self.weights[1], self.weights[2]
        total = losses.weighted_total(content, style, tv, alpha, beta, gamma)
        return tf.stack([total, content, style, tv])

    def optimizer_state(self) -> list[np.ndarray] | None:
        """The optimizer's variables but the learning rate (step count, per-pixel moments)."""
        if self.optimizer is None:
            return None
        return [v.numpy() for v in self.optimizer.variables if not _is_lr(v)]

    def continue_optimizer(self, state: list[np.ndarray]) -> None:
        """Go on from a coarser level's optimizer state, its per-pixel moments upsampled.

        Adam restarted at every level would take sign-like steps of size lr for its first
        ~1 / (1 - beta_1) steps (bias correction), shaking every pixel by lr; a finer level's
        few steps would be spent undoing that. Continuing keeps its moment estimates.
        """
        variables = [v for v in self.optimizer.variables if not _is_lr(v)]  # type: ignore[union-attr]
        for variable, value in zip(variables, state, strict=True):
            if value.ndim == len(self.image.shape):  # per pixel: resized (sign kept, no clip)
                value = tf.image.resize(value, variable.shape[:2], method="bilinear")
            variable.assign(tf.cast(value, variable.dtype))

    def _train_step(self) -> tuple[tf.Tensor, tf.Tensor]:
        before = tf.identity(self.image)  # the image the returned losses belong to
        with tf.GradientTape() as tape:
            terms = self.terms(self.image)
            total = terms[0]  # sliced inside the tape, or the gradient is None
        grad = tape.gradient(total, self.image)
        self.optimizer.apply_gradients([(grad, self.image)])  # type: ignore[union-attr]
        # The network and eq (5) assume real pixels; an update may step outside [0, 1].
        self.image.assign(tf.clip_by_value(self.image, 0.0, 1.0))
        return terms, before

    def _value_and_grad(self, flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.reshape(flat, self.image.shape)
        with tf.GradientTape() as tape:
            tape.watch(image)
            terms = self.terms(image)
            total = terms[0]
        return terms, tf.reshape(tape.gradient(total, image), [-1])

    def load(self, settings: TransferSettings, targets: _Targets, start: np.ndarray) -> None:
        """Set this run's weights, targets, start image; reset the optimizer to its first step."""
        loss = settings.loss
        self.weights.assign([loss.content_weight, loss.style_weight, loss.tv_weight])
        self.tv_exponent.assign(loss.tv_exponent)
        count = len(self.style_index)
        layer_weights = loss.style_layer_weights or (1.0 / count,) * count
        self.layer_weights.assign(layer_weights)
        for variable, value in zip(self.content_targets, targets.content, strict=True):
            variable.assign(value)
        for variable, value in zip(self.style_grams, targets.grams, strict=True):
            variable.assign(value)
        self.image.assign(start)
        if self.optimizer is not None:
            for variable in self.optimizer.variables:
                if not _is_lr(variable):
                    variable.assign(tf.zeros_like(variable))  # iteration 0, zero moments
            if settings.optimizer.name == "adam":
                self.optimizer.learning_rate = settings.optimizer.lr


def _is_lr(variable: Any) -> bool:
    """Keras keeps a float learning rate as an optimizer variable; it is set, not reset."""
    return variable.path.endswith("learning_rate")


def _optimizer_key(opt: OptimizerSettings) -> tuple[Any, ...]:
    """What is traced into the step (Adam's lr is a variable; SGD's schedule is not)."""
    if opt.name == "adam":
        return ("adam", opt.beta_1, opt.beta_2, opt.epsilon, opt.jit_compile)
    if opt.name == "sgd":
        return ("sgd", opt.lr, opt.momentum, opt.decay_rate, opt.decay_steps, opt.jit_compile)
    return ("lbfgs",)


def _graph(
    extractor: FeatureExtractor, shape: tuple[int, ...], settings: TransferSettings
) -> _TransferGraph:
    layers = extractor.layers
    content_index = tuple(layers.index(n) for n in settings.layers.content)
    style_index = tuple(layers.index(n) for n in settings.layers.style)
    key = (id(extractor), shape, content_index, style_index, settings.loss.normalize,
           _optimizer_key(settings.optimizer))  # fmt: skip
    return GRAPHS.get(key, lambda: _TransferGraph(
        extractor, shape, content_index, style_index, settings.loss.normalize, settings.optimizer
    ))  # fmt: skip


@dataclass(frozen=True)
class _Targets:
    content: list[np.ndarray]  # P of eq (1) per content layer
    grams: list[np.ndarray]  # A of eq (3) per style layer (blended over the style images)


def _features(extractor: FeatureExtractor, image: np.ndarray, index: int, gram: bool) -> np.ndarray:
    """One layer's features (or their Gram matrix) of an image, remembered per image."""
    digest = hashlib.sha1(np.ascontiguousarray(image, np.float32).tobytes()).hexdigest()
    key = (id(extractor), digest, image.shape, index, gram)

    def compute() -> np.ndarray:
        features = extractor(image)[index]
        return (losses.gram_matrix(features) if gram else features).numpy()

    return TARGETS.get(key, compute)


def _targets(
    extractor: FeatureExtractor,
    graph: _TransferGraph,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    blend: Sequence[float],
) -> _Targets:
    content_targets = [_features(extractor, content, i, False) for i in graph.content_index]
    grams = [
        np.sum([w * _features(extractor, s, i, True) for w, s in zip(blend, styles, strict=True)],
               axis=0, dtype=np.float32)
        for i in graph.style_index
    ]  # fmt: skip
    return _Targets(content_targets, grams)


def initial_image(content: np.ndarray, style: np.ndarray, mode: str, seed: int) -> np.ndarray:
    """The starting image: the content, seeded uniform noise, the style resized to fit, or an
    image file (e.g. an earlier preview) resized to the content's shape."""
    if mode == "content":
        return content.astype(np.float32, copy=True)
    if mode == "noise":
        rng = np.random.default_rng(seed)
        return rng.uniform(0.0, 1.0, size=content.shape).astype(np.float32)
    source = style if mode == "style" else load_image(mode, "image.init")
    return resize_to(source, *content.shape[:2])


def make_keras_optimizer(opt: OptimizerSettings) -> keras.optimizers.Optimizer:
    """Adam, or SGD with momentum and exponential learning-rate decay (the paper's two)."""
    if opt.name == "adam":
        return keras.optimizers.Adam(
            learning_rate=opt.lr, beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon
        )
    if opt.name == "sgd":
        schedule = keras.optimizers.schedules.ExponentialDecay(
            opt.lr, decay_steps=opt.decay_steps, decay_rate=opt.decay_rate
        )
        return keras.optimizers.SGD(learning_rate=schedule, momentum=opt.momentum)
    raise ValueError(f"{opt.name} is not a first-order Keras optimizer")


class _Clock:
    """Step numbering and wall time across levels; raises on a non-finite loss."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.offset = 0  # steps of the levels before this one

    def record(
        self, step: int, values: np.ndarray, image: Callable[[], np.ndarray],
        level: int | None, last: bool = False,
    ) -> StepRecord:  # fmt: skip
        total, content, style, tv = (float(v) for v in values)
        if not math.isfinite(total):
            raise DivergenceError(
                f"loss became {total} at step {self.offset + step}; lower optimizer.lr or the "
                "loss weights"
            )
        seconds = time.perf_counter() - self.start
        return StepRecord(self.offset + step, total, content, style, tv, seconds, image, level,
                          last)  # fmt: skip


def _run_first_order(
    graph: _TransferGraph, steps: int, clock: _Clock, level: int | None, callback: StepCallback,
    skip_first: bool,
) -> tuple[np.ndarray, StepRecord, int]:  # fmt: skip
    for step in range(steps):
        terms, before = graph.train_step()
        if step or not skip_first:  # the copy to host happens only if the callback asks
            callback(clock.record(step, terms.numpy(), before.numpy, level))
    image = graph.image.numpy()
    final = clock.record(steps, graph.evaluate(graph.image).numpy(), lambda: image, level, True)
    callback(final)
    return image, final, steps


def _run_lbfgs(
    graph: _TransferGraph, steps: int, history: int, clock: _Clock, level: int | None,
    callback: StepCallback, skip_first: bool,
) -> tuple[np.ndarray, StepRecord, int]:  # fmt: skip
    shape = tuple(graph.image.shape)
    last: dict[str, np.ndarray] = {}

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        # scipy evaluates x0 once more than we do: reuse the last evaluation at the same point.
        if "x" not in last or not np.array_equal(last["x"], x):
            terms, grad = graph.value_and_grad(tf.constant(x, tf.float32))
            # scipy's L-BFGS-B works in float64; a float32 gradient loses the line search.
            last["x"], last["terms"] = x.copy(), terms.numpy()
            last["grad"] = grad.numpy().astype(np.float64)
        return float(last["terms"][0]), last["grad"]

    def terms_at(x: np.ndarray) -> np.ndarray:
        fun(x)  # cached when the line search ended on the accepted point (the usual case)
        return last["terms"]

    def image_of(x: np.ndarray) -> Callable[[], np.ndarray]:
        return lambda: x.reshape(shape).astype(np.float32)

    x0 = graph.image.numpy().reshape(-1).astype(np.float64)
    reported = [clock.record(0, terms_at(x0), image_of(x0), level)]
    # Each record is passed on when the next arrives, so the last can say it is the last.
    pending = [] if skip_first else [reported[-1]]

    def on_iteration(xk: np.ndarray) -> None:
        reported.append(clock.record(len(reported), terms_at(xk), image_of(xk.copy()), level))
        if pending:
            callback(pending.pop())
        pending.append(reported[-1])

    result = minimize(
        fun, x0, jac=True, method="L-BFGS-B",
        bounds=Bounds(0.0, 1.0),  # keeps pixels valid without clipping
        callback=on_iteration,
        options={"maxiter": steps, "maxcor": history, "maxfun": steps * 4},
    )  # fmt: skip
    # The last iteration reported is the result (x_k of the final iteration is result.x).
    final = replace(reported[-1], last_of_level=True)
    callback(final)
    return result.x.reshape(shape).astype(np.float32), final, final.step - clock.offset


def stylize(
    content: np.ndarray,
    style: np.ndarray | Sequence[np.ndarray],
    settings: TransferSettings,
    callback: StepCallback | None = None,
    extractor: FeatureExtractor | None = None,
) -> StylizeResult:
    """Run one neural style transfer; ``content`` and each style are RGB float32 in [0, 1].

    The images may have any size: they are fitted to ``settings.image`` at each level (content
    at that level's long side, style at ``style_scale`` times it). Several style images are
    blended by ``loss.style_blend`` (their Gram targets' weighted mean). ``extractor`` may be
    passed to use a loaded network; its layers must cover the settings'. The callback may raise
    to stop the run early (e.g. an Optuna pruning decision).
    """
    callback = callback or (lambda record: None)
    if extractor is None:
        model = settings.model
        extractor = cached_extractor(model.weights, settings.seed, settings.layers.all,
                                     model.pooling)  # fmt: skip
    styles = [style] if isinstance(style, np.ndarray) else list(style)
    blend = np.asarray(settings.loss.style_blend or [1.0] * len(styles), np.float64)
    blend = blend / blend.sum()  # the weighted mean of the Gram targets
    image_settings, opt = settings.image, settings.optimizer
    multi = image_settings.levels > 1
    clock, image, final, updates = _Clock(), None, None, 0
    carried: list[np.ndarray] | None = None  # the optimizer's state at the end of a level
    level_steps = opt.steps_per_level(image_settings.levels)
    for level, (size, steps) in enumerate(
        zip(image_settings.level_sizes(), level_steps, strict=True)
    ):
        content_l = resize_long_side(content, size)
        styles_l = [fit_pair(content_l, s, size, image_settings.style_scale)[1] for s in styles]
        if image_settings.preserve_colors == "histogram":
            styles_l = [match_color_statistics(s, content_l) for s in styles_l]
        if image is None:
            start = initial_image(content_l, styles_l[0], image_settings.init, settings.seed)
        else:  # the last level's result, upsampled
            start = resize_to(image, *content_l.shape[:2])
        graph = _graph(extractor, start.shape, settings)
        graph.load(settings, _targets(extractor, graph, content_l, styles_l, blend), start)
        if carried is not None:
            graph.continue_optimizer(carried)
        # After the first level, step 0 of a level is the last level's result: not repeated.
        skip_first, tag = level > 0, level if multi else None
        if opt.name == "lbfgs":
            image, final, made = _run_lbfgs(graph, steps, opt.history_size, clock, tag, callback,
                                            skip_first)  # fmt: skip
        else:
            image, final, made = _run_first_order(graph, steps, clock, tag, callback, skip_first)
        clock.offset += made
        updates += made
        carried = graph.optimizer_state()
    assert image is not None and final is not None
    if image_settings.preserve_colors == "luminance":
        image = luminance_transfer(image, resize_to(content, *image.shape[:2]))
    return StylizeResult(image, final, updates)
