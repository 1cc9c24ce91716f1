"""The paper's loss terms, eqs (1)-(6), as pure TensorFlow functions.

Feature maps are VGG19 layer outputs (after ReLU) of shape (H, W, C) or (1, H, W, C).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


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


def style_loss(features: Sequence[tf.Tensor], target_grams: Sequence[tf.Tensor]) -> tf.Tensor:
    """Eq (4): sum_l w_l E_l with w_l = 1 / (number of style layers)."""
    terms = [style_layer_loss(f, a) for f, a in zip(features, target_grams, strict=True)]
    return tf.add_n(terms) / float(len(terms))


def total_variation_loss(image_255: tf.Tensor, exponent: float = 1.25) -> tf.Tensor:
    """Eq (5) on an image in the network's 0-255 scale, (H, W, C) or (1, H, W, C).

    Sum over i < H-1, j < W-1 and each colour channel of
    ((x[i+1, j] - x[i, j])^2 + (x[i, j+1] - x[i, j])^2) ** exponent.
    """
    x = tf.convert_to_tensor(image_255, dtype=tf.float32)
    x = x if x.shape.rank == 4 else x[tf.newaxis]
    corner = x[:, :-1, :-1, :]
    down = tf.square(x[:, 1:, :-1, :] - corner)
    right = tf.square(x[:, :-1, 1:, :] - corner)
    return tf.reduce_sum(tf.pow(down + right, exponent))


def weighted_total(
    content: tf.Tensor, style: tf.Tensor, tv: tf.Tensor, alpha: float, beta: float, gamma: float
) -> tf.Tensor:
    """Eq (6): alpha * content + beta * style + gamma * tv."""
    return alpha * content + beta * style + gamma * tv
