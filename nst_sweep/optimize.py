"""The style-transfer loop: ``stylize(content, style, settings, callback)``.

No Hydra, no MLflow: progress and logging happen in the ``callback``, which gets one
``StepRecord`` per step, starting with step 0 (the initial image, before any update).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from scipy.optimize import Bounds, minimize

from nst_sweep import losses
from nst_sweep.errors import DivergenceError
from nst_sweep.features import FeatureExtractor, build_extractor
from nst_sweep.images import fit_pair
from nst_sweep.records import StepRecord
from nst_sweep.settings import TransferSettings


@dataclass(frozen=True)
class StylizeResult:
    """The final image, the losses of its last record, and the number of updates made."""

    image: np.ndarray
    final: StepRecord
    steps: int  # updates actually made (L-BFGS may converge early)


StepCallback = Callable[[StepRecord], None]


class TransferObjective:
    """Eqs (1)-(6) for one content/style pair; targets are computed once, here."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        content: np.ndarray,
        style: np.ndarray,
        settings: TransferSettings,
    ):
        self.extractor = extractor
        layers = extractor.layers
        self.content_index = [layers.index(n) for n in settings.layers.content]
        self.style_index = [layers.index(n) for n in settings.layers.style]
        content_features = extractor(content)
        style_features = extractor(style)
        self.content_targets = [tf.constant(content_features[i]) for i in self.content_index]
        self.style_grams = [
            tf.constant(losses.gram_matrix(style_features[i])) for i in self.style_index
        ]
        self.loss = settings.loss

    def terms(self, image: tf.Tensor) -> tf.Tensor:
        """[total, content, style, tv] for an RGB [0, 1] image (H, W, 3)."""
        features = self.extractor(image)
        content = tf.add_n(
            [
                losses.content_loss(features[i], target)
                for i, target in zip(self.content_index, self.content_targets, strict=True)
            ]
        )
        style = losses.style_loss([features[i] for i in self.style_index], self.style_grams)
        # TV on the network's 0-255 scale; mean subtraction and BGR order don't change it.
        tv = losses.total_variation_loss(image * 255.0, self.loss.tv_exponent)
        total = losses.weighted_total(
            content,
            style,
            tv,
            self.loss.content_weight,
            self.loss.style_weight,
            self.loss.tv_weight,
        )
        return tf.stack([total, content, style, tv])


def initial_image(content: np.ndarray, style: np.ndarray, mode: str, seed: int) -> np.ndarray:
    """The starting image: the content, seeded uniform noise, or the style resized to fit."""
    if mode == "content":
        return content.astype(np.float32, copy=True)
    if mode == "noise":
        rng = np.random.default_rng(seed)
        return rng.uniform(0.0, 1.0, size=content.shape).astype(np.float32)
    if mode == "style":
        if style.shape == content.shape:
            return style.astype(np.float32, copy=True)
        resized = tf.image.resize(style, content.shape[:2], method="bicubic", antialias=True)
        return np.clip(resized.numpy(), 0.0, 1.0).astype(np.float32)
    raise ValueError(f"unknown init mode {mode!r}")


def make_keras_optimizer(settings: TransferSettings) -> keras.optimizers.Optimizer:
    """Adam, or SGD with momentum and exponential learning-rate decay (the paper's two)."""
    opt = settings.optimizer
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


def _record(
    step: int, values: np.ndarray, start: float, image: Callable[[], np.ndarray]
) -> StepRecord:
    total, content, style, tv = (float(v) for v in values)
    if not math.isfinite(total):
        raise DivergenceError(
            f"loss became {total} at step {step}; lower optimizer.lr or the loss weights"
        )
    return StepRecord(step, total, content, style, tv, time.perf_counter() - start, image)


def _run_first_order(
    objective: TransferObjective,
    start_image: np.ndarray,
    settings: TransferSettings,
    callback: StepCallback,
) -> StylizeResult:
    image = tf.Variable(start_image, dtype=tf.float32, name="image")
    optimizer = make_keras_optimizer(settings)

    @tf.function
    def train_step() -> tuple[tf.Tensor, tf.Tensor]:
        before = tf.identity(image)  # the image the returned losses belong to
        with tf.GradientTape() as tape:
            terms = objective.terms(image)
            total = terms[0]  # sliced inside the tape, or the gradient is None
        grad = tape.gradient(total, image)
        optimizer.apply_gradients([(grad, image)])
        # The network and eq (5) assume real pixels; an update may step outside [0, 1].
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return terms, before

    evaluate = tf.function(objective.terms)
    start = time.perf_counter()
    for step in range(settings.optimizer.steps):
        terms, before = train_step()
        # The copy to host happens only if the callback asks for the image.
        callback(_record(step, terms.numpy(), start, before.numpy))
    final_image = image.numpy()
    final = _record(settings.optimizer.steps, evaluate(image).numpy(), start, lambda: final_image)
    callback(final)
    return StylizeResult(final_image, final, settings.optimizer.steps)


def _run_lbfgs(
    objective: TransferObjective,
    start_image: np.ndarray,
    settings: TransferSettings,
    callback: StepCallback,
) -> StylizeResult:
    shape = start_image.shape

    @tf.function
    def value_and_grad(flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.reshape(flat, shape)
        with tf.GradientTape() as tape:
            tape.watch(image)
            terms = objective.terms(image)
            total = terms[0]
        return terms, tf.reshape(tape.gradient(total, image), [-1])

    last: dict[str, np.ndarray] = {}

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        # scipy evaluates x0 once more than we do: reuse the last evaluation at the same point.
        if "x" not in last or not np.array_equal(last["x"], x):
            terms, grad = value_and_grad(tf.constant(x, tf.float32))
            # scipy's L-BFGS-B works in float64; a float32 gradient loses the line search.
            last["x"], last["terms"] = x.copy(), terms.numpy()
            last["grad"] = grad.numpy().astype(np.float64)
        return float(last["terms"][0]), last["grad"]

    def terms_at(x: np.ndarray) -> np.ndarray:
        fun(x)  # cached when the line search ended on the accepted point (the usual case)
        return last["terms"]

    def image_of(x: np.ndarray) -> Callable[[], np.ndarray]:
        return lambda: x.reshape(shape).astype(np.float32)

    x0 = start_image.reshape(-1).astype(np.float64)
    start = time.perf_counter()
    reported = [_record(0, terms_at(x0), start, image_of(x0))]
    callback(reported[-1])

    def on_iteration(xk: np.ndarray) -> None:
        reported.append(_record(len(reported), terms_at(xk), start, image_of(xk.copy())))
        callback(reported[-1])

    result = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(0.0, 1.0),  # keeps pixels valid without clipping
        callback=on_iteration,
        options={
            "maxiter": settings.optimizer.steps,
            "maxcor": settings.optimizer.history_size,
            "maxfun": settings.optimizer.steps * 4,
        },
    )
    # The last iteration reported is the result (x_k of the final iteration is result.x).
    final = reported[-1]
    final_x = result.x
    return StylizeResult(final_x.reshape(shape).astype(np.float32), final, final.step)


def stylize(
    content: np.ndarray,
    style: np.ndarray,
    settings: TransferSettings,
    callback: StepCallback | None = None,
    extractor: FeatureExtractor | None = None,
) -> StylizeResult:
    """Run one neural style transfer; ``content`` and ``style`` are RGB float32 in [0, 1].

    The images may have any size: they are fitted to ``settings.image`` (content at long side
    ``size``, style at ``style_scale`` times that) and left alone when already so. ``extractor``
    may be passed to reuse a loaded network; its layers must cover the settings'. The callback
    may raise to stop the run early (e.g. an Optuna pruning decision).
    """
    content, style = fit_pair(content, style, settings.image.size, settings.image.style_scale)
    if extractor is None:
        extractor = build_extractor(
            settings.model.weights, settings.layers.all, settings.model.pooling, settings.seed
        )
    objective = TransferObjective(extractor, content, style, settings)
    start_image = initial_image(content, style, settings.image.init, settings.seed)
    run = _run_lbfgs if settings.optimizer.name == "lbfgs" else _run_first_order
    return run(objective, start_image, settings, callback or (lambda record: None))
