"""The paper's loss terms, eqs (1)-(6), as pure TensorFlow functions.

Feature maps are VGG19 layer outputs (after ReLU) of shape (H, W, C) or (1, H, W, C).
Sandahl, Karlsson, Magnusson, *Using Neural Networks to Create Art*, after Gatys, Ecker, Bethge,
*A Neural Algorithm of Artistic Style* (2015).

Size-normalised form (``loss.normalize=true``, not the default). Eqs (1) and (5) are sums over
positions: their number of terms grows with the number of pixels, while eq (3) is divided by
``M_l^2`` and does not. A weight that balances the terms at 128 px is then ~8x too content-heavy
at 256 px, and a pyramid's levels would each need their own weights. With ``normalize`` the
content and TV sums are multiplied by ``size_scale = 256 * 256 / (H * W)``: each becomes its mean
over terms times the number of terms a 256 x 256 image has. alpha, beta and gamma then keep
their meaning at every size, and at 256 x 256 px (where the default weights and search ranges
were set) the normalised terms equal the paper's sums. Eq (3) is left as it is. The default
stays the paper's sums, whose step-0 values match eqs (1)-(6).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

REFERENCE_PIXELS = 256 * 256  # normalised terms equal the paper's sums at this many pixels


def size_scale(height: int, width: int) -> float:
    """The factor of the size-normalised form: ``REFERENCE_PIXELS / (height * width)``."""
    return REFERENCE_PIXELS / (height * width)


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Eq (1): sum over filters and positions of (F - P)^2."""
    return tf.reduce_sum(tf.square(features - target))


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Eq (2): G = F^T F with F the (positions x channels) matrix of a layer's activations."""
    channels = tf.shape(features)[-1]
    flat = tf.reshape(features, (-1, channels))
    return tf.matmul(flat, flat, transpose_a=True)


def style_layer_loss(features: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """Eq (3): E_l = sum((G - A)^2) / (4 N_l^2 M_l^2), N_l channels, M_l = height x width."""
    shape = tf.shape(features)
    channels = tf.cast(shape[-1], tf.float32)
    positions = tf.cast(tf.reduce_prod(shape[:-1]), tf.float32)
    squared = tf.reduce_sum(tf.square(gram_matrix(features) - target_gram))
    return squared / (4.0 * tf.square(channels) * tf.square(positions))


def style_loss(
    features: Sequence[tf.Tensor],
    target_grams: Sequence[tf.Tensor],
    layer_weights: tf.Tensor | Sequence[float] | None = None,
) -> tf.Tensor:
    """Eq (4): sum_l w_l E_l; the paper's w_l = 1 / (number of style layers) when not given."""
    terms = tf.stack([style_layer_loss(f, a) for f, a in zip(features, target_grams, strict=True)])
    if layer_weights is None:
        return tf.reduce_mean(terms)
    return tf.reduce_sum(tf.cast(layer_weights, tf.float32) * terms)


def total_variation_loss(image_255: tf.Tensor, exponent: float | tf.Tensor = 1.25) -> tf.Tensor:
    """Eq (5) on an image in the network's 0-255 scale, (H, W, C) or (1, H, W, C).

    Sum over every pixel (i, j) and colour channel of
    ``((x[i+1, j] - x[i, j])^2 + (x[i, j+1] - x[i, j])^2) ** exponent``.

    Departure from the paper's sum over i < H-1, j < W-1: the image is extended by one
    replicated row at the bottom and one replicated column at the right (differences across
    that edge are 0), so every pixel is in some term. Otherwise the bottom-right pixel is in
    none, and Adam's per-pixel step drives it to a saturated colour once TV dominates.
    """
    x = tf.convert_to_tensor(image_255, dtype=tf.float32)
    x = x if x.shape.rank == 4 else x[tf.newaxis]
    below = tf.concat([x[:, 1:], x[:, -1:]], axis=1)  # row i+1; the last row repeats itself
    right = tf.concat([x[:, :, 1:], x[:, :, -1:]], axis=2)  # column j+1, likewise
    terms = tf.pow(tf.square(below - x) + tf.square(right - x), exponent)
    return tf.reduce_sum(terms)


def weighted_total(
    content: tf.Tensor,
    style: tf.Tensor,
    tv: tf.Tensor,
    alpha: float | tf.Tensor,
    beta: float | tf.Tensor,
    gamma: float | tf.Tensor,
) -> tf.Tensor:
    """Eq (6): alpha * content + beta * style + gamma * tv."""
    return alpha * content + beta * style + gamma * tv
