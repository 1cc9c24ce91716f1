"""Eqs (1)-(6) against values computed by hand and in numpy on small arrays."""

import numpy as np
import pytest
import tensorflow as tf

from nst_sweep import losses


def test_content_loss_by_hand():
    f = np.array([[[1.0, 2.0], [3.0, 4.0]]], np.float32)  # (1, 2, 2): 2 positions, 2 filters
    p = np.array([[[0.0, 2.0], [1.0, 1.0]]], np.float32)
    # (1-0)^2 + 0 + (3-1)^2 + (4-1)^2 = 1 + 4 + 9
    assert float(losses.content_loss(f, p)) == pytest.approx(14.0)


def test_gram_by_hand():
    f = np.array([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [2.0, 0.0]]], np.float32)  # 2x2x2
    flat = f.reshape(-1, 2)  # rows: (1,2) (3,4) (0,1) (2,0)
    expected = [[1 + 9 + 0 + 4, 2 + 12 + 0 + 0], [2 + 12 + 0 + 0, 4 + 16 + 1 + 0]]
    np.testing.assert_allclose(losses.gram_matrix(f).numpy(), expected)
    np.testing.assert_allclose(losses.gram_matrix(f[None]).numpy(), flat.T @ flat)


def test_style_layer_loss_normalisation():
    rng = np.random.default_rng(1)
    f = rng.random((3, 5, 4)).astype(np.float32)  # M = 15 positions, N = 4 channels
    a = rng.random((4, 4)).astype(np.float32)
    g = f.reshape(-1, 4).T @ f.reshape(-1, 4)
    expected = ((g - a) ** 2).sum() / (4 * 4**2 * 15**2)
    assert float(losses.style_layer_loss(f, a)) == pytest.approx(expected, rel=1e-5)


def test_style_loss_weights_each_layer_equally():
    rng = np.random.default_rng(2)
    feats = [rng.random((4, 4, 3)).astype(np.float32), rng.random((2, 2, 6)).astype(np.float32)]
    grams = [np.zeros((3, 3), np.float32), np.ones((6, 6), np.float32)]
    per_layer = [float(losses.style_layer_loss(f, a)) for f, a in zip(feats, grams, strict=True)]
    assert float(losses.style_loss(feats, grams)) == pytest.approx(np.mean(per_layer), rel=1e-6)


def test_total_variation_by_hand():
    x = np.zeros((3, 3, 1), np.float32)
    x[1, 1, 0] = 2.0
    # Every pixel (i, j); d = x[i+1,j]-x[i,j], r = x[i,j+1]-x[i,j], the last row and column
    # repeated: (0,1): d=2 -> 4; (1,0): r=2 -> 4; (1,1): d=-2, r=-2 -> 8; all others 0.
    expected = 0 + 4**1.25 + 4**1.25 + 8**1.25
    assert float(losses.total_variation_loss(x, 1.25)) == pytest.approx(expected, rel=1e-6)
    assert float(losses.total_variation_loss(x, 1.0)) == pytest.approx(16.0)


def test_total_variation_reaches_the_bottom_right_pixel():
    x = np.zeros((3, 3, 1), np.float32)
    x[2, 2, 0] = 3.0
    # (1,2): d = 3 -> 9 and (2,1): r = 3 -> 9; the paper's i < H-1, j < W-1 would give 0.
    assert float(losses.total_variation_loss(x, 1.0)) == pytest.approx(18.0)


def numpy_tv(x: np.ndarray, exponent: float) -> float:
    """Eq (5) over every pixel of the image extended by a replicated last row and column."""
    p = np.pad(x.astype(np.float64), ((0, 1), (0, 1), (0, 0)), mode="edge")
    down = (p[1:, :-1] - p[:-1, :-1]) ** 2
    right = (p[:-1, 1:] - p[:-1, :-1]) ** 2
    return float(((down + right) ** exponent).sum())


def test_total_variation_is_per_channel_and_matches_numpy():
    rng = np.random.default_rng(3)
    x = rng.random((5, 6, 3)).astype(np.float32) * 255
    expected = numpy_tv(x, 1.25)
    assert float(losses.total_variation_loss(x, 1.25)) == pytest.approx(expected, rel=1e-5)
    assert float(losses.total_variation_loss(x[None], 1.25)) == pytest.approx(expected, rel=1e-5)


def test_size_scale_is_one_at_the_reference_size():
    assert losses.size_scale(256, 256) == 1.0
    assert losses.size_scale(64, 128) == pytest.approx(256 * 256 / (64 * 128))


def test_style_loss_with_per_layer_weights():
    rng = np.random.default_rng(5)
    feats = [rng.random((4, 4, 3)).astype(np.float32), rng.random((2, 2, 6)).astype(np.float32)]
    grams = [np.zeros((3, 3), np.float32), np.ones((6, 6), np.float32)]
    per_layer = [float(losses.style_layer_loss(f, a)) for f, a in zip(feats, grams, strict=True)]
    weighted = float(losses.style_loss(feats, grams, [0.25, 2.0]))
    assert weighted == pytest.approx(0.25 * per_layer[0] + 2.0 * per_layer[1], rel=1e-6)


def test_total_variation_gradient_is_finite_on_flat_image():
    x = tf.Variable(tf.fill((4, 4, 3), 100.0))
    with tf.GradientTape() as tape:
        loss = losses.total_variation_loss(x, 1.25)
    assert np.all(np.isfinite(tape.gradient(loss, x).numpy()))


def test_weighted_total():
    assert float(losses.weighted_total(2.0, 3.0, 5.0, 0.5, 2.0, 1e-6)) == pytest.approx(
        1.0 + 6.0 + 5e-6
    )
