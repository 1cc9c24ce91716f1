"""Seconds per Adam step at 128 px: nst-sweep's ``stylize`` vs a plain tutorial-style loop,
and the same step XLA-compiled (``optimizer.jit_compile=true``).

All use the same random-weights VGG19, the same layers and the same loss formulas; they run in
alternating rounds in one process so machine load affects them alike. Prints medians and the
ratios project / tutorial and XLA / project (lower is better; 1.0 means no difference).

    python benchmarks/bench_step.py [--size 128] [--steps 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from nst_sweep.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nst_sweep.features import FeatureExtractor, load_vgg19  # noqa: E402
from nst_sweep.optimize import stylize  # noqa: E402
from nst_sweep.settings import (  # noqa: E402
    ImageSettings,
    OptimizerSettings,
    TransferSettings,
)

WARMUP = 3  # steps excluded from timing: tracing and first-call allocation


def project_seconds_per_step(extractor, content, style, settings) -> float:
    stamps: list[float] = []
    stylize(content, style, settings, lambda r: stamps.append(time.perf_counter()), extractor)
    steps = stamps[WARMUP : settings.optimizer.steps + 1]  # updates only, not the final eval
    return (steps[-1] - steps[0]) / (len(steps) - 1)


def tutorial_seconds_per_step(vgg, content, style, settings) -> float:
    """The TensorFlow tutorial's shape: Model(inputs, outputs), tf.Variable, tf.function step."""
    style_layers, content_layers = settings.layers.style, settings.layers.content
    outputs = [vgg.get_layer(n).output for n in (*style_layers, *content_layers)]
    model = keras.Model(vgg.input, outputs)
    mean = tf.constant([103.939, 116.779, 123.68])

    def features(img):
        return model(tf.reverse(img, axis=[-1]) * 255.0 - mean)

    def gram(f):
        flat = tf.reshape(f, (-1, f.shape[-1]))
        return tf.matmul(flat, flat, transpose_a=True)

    style_targets = [gram(f) for f in features(style[None])[: len(style_layers)]]
    content_targets = features(content[None])[len(style_layers) :]
    loss = settings.loss
    image = tf.Variable(content[None])
    opt = keras.optimizers.Adam(settings.optimizer.lr, settings.optimizer.beta_1,
                                settings.optimizer.beta_2, settings.optimizer.epsilon)  # fmt: skip

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            out = features(image)
            s = tf.add_n(
                [
                    tf.reduce_sum((gram(f) - a) ** 2)
                    / (4.0 * f.shape[-1] ** 2 * (f.shape[1] * f.shape[2]) ** 2)
                    for f, a in zip(out[: len(style_layers)], style_targets, strict=True)
                ]
            ) / len(style_layers)
            c = tf.add_n(
                [tf.reduce_sum((f - p) ** 2) for f, p in zip(out[len(style_layers) :],
                                                            content_targets, strict=True)]
            )  # fmt: skip
            x = image * 255.0
            a = (x[:, 1:, :-1] - x[:, :-1, :-1]) ** 2
            b = (x[:, :-1, 1:] - x[:, :-1, :-1]) ** 2
            tv = tf.reduce_sum(tf.pow(a + b, loss.tv_exponent))
            total = loss.content_weight * c + loss.style_weight * s + loss.tv_weight * tv
        opt.apply_gradients([(tape.gradient(total, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return total

    for _ in range(WARMUP):
        train_step()
    start = time.perf_counter()
    for _ in range(settings.optimizer.steps - WARMUP):
        total = train_step()
    total.numpy()  # wait for the last step
    return (time.perf_counter() - start) / (settings.optimizer.steps - WARMUP)


def main() -> None:
    tf.get_logger().setLevel("ERROR")  # each round builds new tf.functions on purpose
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    settings = TransferSettings(
        image=ImageSettings(size=args.size),
        optimizer=OptimizerSettings(name="adam", steps=args.steps),
    )
    rng = np.random.default_rng(0)
    content = rng.random((args.size, args.size, 3)).astype(np.float32)
    style = rng.random((args.size, args.size, 3)).astype(np.float32)
    vgg = load_vgg19("random", seed=0)
    extractor = FeatureExtractor(vgg, settings.layers.all)

    xla_settings = replace(settings, optimizer=replace(settings.optimizer, jit_compile=True))
    project, tutorial, xla = [], [], []
    for _ in range(args.rounds):  # alternate so drifts in machine load hit all three
        project.append(project_seconds_per_step(extractor, content, style, settings))
        tutorial.append(tutorial_seconds_per_step(vgg, content, style, settings))
        xla.append(project_seconds_per_step(extractor, content, style, xla_settings))
    p, t, x = statistics.median(project), statistics.median(tutorial), statistics.median(xla)
    print(f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}, "
          f"{args.size} px, {args.steps} steps x {args.rounds} rounds")  # fmt: skip
    print(f"project  (stylize, Adam): {p:.4f} s/step  rounds: {[round(x, 4) for x in project]}")
    print(f"tutorial (plain loop)   : {t:.4f} s/step  rounds: {[round(x, 4) for x in tutorial]}")
    print(f"project, XLA step       : {x:.4f} s/step  rounds: {[round(v, 4) for v in xla]}")
    print(f"ratio project/tutorial  : {p / t:.3f}")
    print(f"ratio XLA/project       : {x / p:.3f}")


if __name__ == "__main__":
    main()
