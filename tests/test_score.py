"""Tests for nst_sweep.score: hand-checked formulas and random-weights VGG19 behaviour."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import scipy.linalg
from PIL import Image, ImageFilter

from nst_sweep.score import (
    CONTENT_LAYERS,
    SCORE_LAYERS,
    STYLE_LAYERS,
    FeatureFn,
    Score,
    content_distance,
    frechet_distance,
    perceptual_score,
    select_layers,
    style_distance,
)

VGG_BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)
SIZE = 48


# ---------------------------------------------------------------- hand-made feature arrays


def test_layer_constants() -> None:
    assert SCORE_LAYERS == (
        "block1_conv2",
        "block2_conv2",
        "block3_conv4",
        "block4_conv4",
        "block5_conv4",
    )
    assert set(CONTENT_LAYERS) | set(STYLE_LAYERS) == set(SCORE_LAYERS)


def test_content_distance_golden() -> None:
    # Layer 1, 1x2 positions, 2 channels:
    #   pos 0: (3,4)/5=(.6,.8) vs (4,3)/5=(.8,.6) -> .2^2 + .2^2 = .08
    #   pos 1: (0,0) stays 0 (eps) vs (0,1)       -> 1
    #   mean over positions = .54
    # Layer 2, 1 position, 3 channels: (1,0,0) vs (0,0,2)/2=(0,0,1) -> 2
    # Average over layers = (.54 + 2) / 2 = 1.27
    result = [np.array([[[3.0, 4.0], [0.0, 0.0]]]), np.array([[[1.0, 0.0, 0.0]]])]
    content = [np.array([[[4.0, 3.0], [0.0, 1.0]]]), np.array([[[0.0, 0.0, 2.0]]])]
    assert content_distance(result, content) == pytest.approx(1.27, abs=1e-9)
    assert content_distance(content, result) == pytest.approx(1.27, abs=1e-9)
    assert content_distance(content, content) == 0.0


def test_content_distance_ignores_magnitude_per_position() -> None:
    rng = np.random.default_rng(1)
    feats = [rng.random((4, 5, 8)), rng.random((2, 3, 16))]
    scaled = [f * rng.uniform(0.5, 3.0, size=(*f.shape[:-1], 1)) for f in feats]
    assert content_distance(scaled, feats) == pytest.approx(0.0, abs=1e-12)


def test_content_distance_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"\(2, 2, 3\).*\(2, 3, 3\)"):
        content_distance([np.ones((2, 2, 3))], [np.ones((2, 3, 3))])
    with pytest.raises(ValueError, match="number of layers"):
        content_distance([np.ones((2, 2, 3))], [])


def _one_d(mean: float, std: float, repeats: int = 1) -> np.ndarray:
    """Samples whose ddof=0 mean and std are exactly (mean, std), as an (n, 1, 1) map."""
    return (mean + std * np.tile([-1.0, 1.0], repeats)).reshape(-1, 1, 1)


def test_frechet_one_d_gaussians() -> None:
    # FD(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2
    m1, s1, m2, s2 = 1.5, 2.0, -0.5, 0.5
    expected = (m1 - m2) ** 2 + (s1 - s2) ** 2  # 4 + 2.25
    assert frechet_distance(_one_d(m1, s1), _one_d(m2, s2)) == pytest.approx(6.25, rel=1e-12)
    assert expected == 6.25
    # Different numbers of positions describing the same Gaussian give the same value.
    assert frechet_distance(_one_d(m1, s1, 3), _one_d(m2, s2, 7)) == pytest.approx(6.25, 1e-12)


def test_frechet_rank_deficient_embedded_one_d() -> None:
    # 2 samples in 5 channels (n < c: the SVD path). Along one unit direction u the 1-D result
    # must be reproduced; along orthogonal directions u, v the cross term vanishes:
    # FD = |m1 u - m2 v|^2 + s1^2 + s2^2.
    u = np.array([1.0, 2.0, 0.0, 2.0, 0.0]) / 3.0
    v = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    m1, s1, m2, s2 = 1.5, 2.0, -0.5, 0.5
    x = _one_d(m1, s1).reshape(-1, 1) * u
    y_same = _one_d(m2, s2).reshape(-1, 1) * u
    y_orth = _one_d(m2, s2).reshape(-1, 1) * v
    assert frechet_distance(x, y_same) == pytest.approx(6.25, rel=1e-12)
    expected = m1**2 + m2**2 + s1**2 + s2**2
    assert frechet_distance(x, y_orth) == pytest.approx(expected, rel=1e-12)


def test_frechet_matches_scipy_sqrtm_full_rank() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 1.0
    y = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    cx, cy = np.cov(x, rowvar=False, ddof=0), np.cov(y, rowvar=False, ddof=0)
    d_mu = x.mean(0) - y.mean(0)
    ref = d_mu @ d_mu + np.trace(cx) + np.trace(cy) - 2 * np.trace(scipy.linalg.sqrtm(cx @ cy)).real
    assert frechet_distance(x, y) == pytest.approx(ref, rel=1e-9)
    assert frechet_distance(y, x) == pytest.approx(ref, rel=1e-9)


def test_style_distance_identical_is_zero_even_rank_deficient() -> None:
    rng = np.random.default_rng(3)
    # Includes deep-layer-like maps with far fewer positions than channels and dead channels.
    feats = [
        rng.random((16, 16, 8)),
        np.maximum(rng.normal(size=(3, 3, 64)), 0),
        rng.random((2, 2, 512)),
    ]
    assert style_distance(feats, [f.copy() for f in feats]) == pytest.approx(0.0, abs=1e-12)


def test_style_distance_normalised_one_d_golden() -> None:
    # Each layer: FD / E|x_style|^2 with E|x|^2 = m^2 + s^2 for the style's Gaussian.
    # Layer 1: (6.25) / (0.25 + 0.25) = 12.5; layer 2: ((3-1)^2 + (1-2)^2) / (1 + 4) = 1.
    result = [_one_d(1.5, 2.0), _one_d(3.0, 1.0)]
    style = [_one_d(-0.5, 0.5, 5).reshape(2, 5, 1), _one_d(1.0, 2.0, 2)]  # other sizes
    assert style_distance(result, style) == pytest.approx((12.5 + 1.0) / 2, rel=1e-12)


def test_style_distance_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="channel"):
        style_distance([np.ones((2, 2, 3))], [np.ones((2, 2, 4))])
    with pytest.raises(ValueError, match="all zero"):
        style_distance([np.ones((2, 2, 3))], [np.zeros((2, 2, 3))])


def test_score_as_dict() -> None:
    s = Score(content_distance=0.5, style_distance=0.25, score=1.875)
    assert s.as_dict() == {"content_distance": 0.5, "style_distance": 0.25, "score": 1.875}
    with pytest.raises(AttributeError):
        s.score = 0.0  # type: ignore[misc]


# ---------------------------------------------------------------- random-weights VGG19


@pytest.fixture(scope="module")
def vgg_features() -> FeatureFn:
    """FeatureFn from a random-weights VGG19 (no ImageNet download available offline)."""
    import keras  # deferred: only the VGG tests pay for the TensorFlow import

    keras.utils.set_random_seed(0)
    base = keras.applications.VGG19(weights=None, include_top=False, input_shape=(None, None, 3))
    model = keras.Model(base.input, [base.get_layer(name).output for name in SCORE_LAYERS])

    def features(image: np.ndarray) -> Sequence[np.ndarray]:
        # keras 'caffe' preprocessing: RGB [0,1] -> [0,255] -> BGR -> minus ImageNet mean.
        x = image[..., ::-1] * 255.0 - VGG_BGR_MEAN
        return [np.asarray(out[0]) for out in model(x[None].astype(np.float32), training=False)]

    return features


def _content_image(size: int = SIZE) -> np.ndarray:
    """Smooth colour gradients with a disk and a rectangle (sharp edges)."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    img = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * xx * yy], axis=-1)
    img[(xx - 0.35) ** 2 + (yy - 0.4) ** 2 < 0.2**2] = [0.9, 0.2, 0.1]
    img[(xx > 0.6) & (xx < 0.85) & (yy > 0.55) & (yy < 0.9)] = [0.1, 0.1, 0.6]
    return img.astype(np.float32)


def _stripes(height: int = SIZE, width: int = SIZE, period: float = 8.0) -> np.ndarray:
    """Diagonal yellow/teal sinusoidal stripes."""
    yy, xx = np.mgrid[0:height, 0:width]
    t = (0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy) / period))[..., None]
    return (t * np.array([0.95, 0.85, 0.2]) + (1 - t) * np.array([0.1, 0.3, 0.4])).astype(
        np.float32
    )


def _blurred(img: np.ndarray, radius: float = 2.0) -> np.ndarray:
    pil = Image.fromarray((img * 255).round().astype(np.uint8))
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255


def test_perceptual_score_identities(vgg_features: FeatureFn) -> None:
    content, style = _content_image(), _stripes()
    as_content = perceptual_score(content, style, content, vgg_features)
    assert as_content.content_distance == 0.0
    assert as_content.style_distance > 0.1
    as_style = perceptual_score(content, style, style, vgg_features)
    assert as_style.style_distance == pytest.approx(0.0, abs=1e-9)
    assert as_style.content_distance > 0.1
    for s in (as_content, as_style):
        assert s.score == pytest.approx((1 + s.content_distance) * (1 + s.style_distance), 1e-15)
        assert s.as_dict()["score"] == s.score

    # Same image through two separate forward passes (no map reuse): still ~0 both ways.
    f1, f2 = vgg_features(style), vgg_features(style)
    assert (
        content_distance(select_layers(f1, CONTENT_LAYERS), select_layers(f2, CONTENT_LAYERS))
        < 1e-9
    )
    assert style_distance(select_layers(f1, STYLE_LAYERS), select_layers(f2, STYLE_LAYERS)) < 1e-9


def test_perceptual_score_orders_degradations(vgg_features: FeatureFn) -> None:
    content, style = _content_image(), _stripes()
    rng = np.random.default_rng(0)
    results = {
        "content": content,
        "blur": _blurred(content),
        "noisy": np.clip(content + rng.normal(0, 0.1, content.shape), 0, 1).astype(np.float32),
        "noise": rng.random(content.shape, dtype=np.float32),
    }
    scores = {k: perceptual_score(content, style, r, vgg_features) for k, r in results.items()}
    base = scores["content"].content_distance
    assert scores["blur"].content_distance > base + 0.01
    assert scores["noisy"].content_distance > base + 0.01
    assert scores["noise"].content_distance > scores["noisy"].content_distance
    assert scores["noise"].score > scores["content"].score + 0.5


def test_style_of_other_size(vgg_features: FeatureFn) -> None:
    content = _content_image()
    style = _stripes(40, 64)  # different size and aspect ratio from the 48x48 result
    same_texture = perceptual_score(content, style, _stripes(), vgg_features)
    unrelated = perceptual_score(content, style, content, vgg_features)
    assert np.isfinite(same_texture.score)
    # The same stripes at another size are far closer in distribution than the content image.
    assert same_texture.style_distance < 0.25 * unrelated.style_distance


def test_perceptual_score_rejects_bad_images(vgg_features: FeatureFn) -> None:
    content, style = _content_image(), _stripes()
    with pytest.raises(ValueError, match=r"\(48, 48, 3\).*\(40, 48, 3\)"):
        perceptual_score(content, style, content[:40], vgg_features)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        perceptual_score(content, style, content * 255, vgg_features)
    with pytest.raises(ValueError, match="RGB"):
        perceptual_score(content, style, content[..., 0], vgg_features)
