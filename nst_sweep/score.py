"""Perceptual score of a style-transfer result, independent of the loss weights.

The optimisation loss changes scale with alpha/beta/gamma, so it cannot rank runs of a sweep.
This module judges a result by two distances computed in a fixed VGG19 feature space and
combines them like ArtFID (lower is better, 1.0 is perfect)::

    score = (1 + content_distance) * (1 + style_distance)

content_distance (LPIPS-like, result vs content image)
    For each layer in ``CONTENT_LAYERS`` every position's channel vector is unit-normalised
    (L2, ``+ eps``), the squared difference is summed over channels and averaged over positions;
    the per-layer values (each in [0, 4]) are averaged over layers. Unlike LPIPS there are no
    learned per-channel weights: all channels count equally. ``result == content`` gives 0.

style_distance (result vs style image, any sizes)
    For each layer in ``STYLE_LAYERS`` a Gaussian (mean, covariance with ddof=0) is fitted to the
    feature vectors of all positions and the squared Fréchet distance is taken,
    ``|mu_r - mu_s|^2 + tr(C_r) + tr(C_s) - 2 tr sqrt(C_r C_s)`` (as in FID), in float64. Each
    layer is divided by the style's second moment ``E|x_s|^2 = |mu_s|^2 + tr(C_s)``, which is
    the Fréchet distance from the style to an all-zero feature map: every layer becomes
    dimensionless whatever its channel count or activation scale, 1.0 means "as far as a blank
    response", and for a fixed style image the normaliser is a constant per-layer weight, so
    ranking runs by this value is ranking them by a weighted sum of plain Fréchet distances.
    Layers are then averaged. ``result == style`` gives ~0.

    ``tr sqrt(C_r C_s)`` is computed without ``scipy.linalg.sqrtm``: with factors ``F F^T = C``
    it equals the nuclear norm of ``F_r^T F_s``. The factors come from an SVD of the centred
    features when there are fewer positions than channels (deep layers of small images, where
    the covariance is rank deficient and sqrtm becomes unstable) and from ``eigh`` of the
    covariance otherwise; eigenvalues below numerical resolution are dropped. This is exact in
    exact arithmetic, never complex, and gives ~1e-15 relative error for identical inputs.

Layers
    ``block1_conv2, block2_conv2, block3_conv4, block4_conv4, block5_conv4``: the last conv
    (post-ReLU) of each VGG19 block, the VGG19 analogue of LPIPS' VGG16 taps relu1_2 ... relu5_3.
    They are disjoint from the layers a Gatys optimiser usually matches (``blockN_conv1`` for
    style, ``block4_conv2``/``block5_conv2`` for content), so the score is a held-out view
    rather than a re-reading of the objective. Style skips block5: at 48 px it has 3x3 = 9
    positions for 512 channels, too few to fit a distribution, and it is mostly semantic.

Relation to the Gram loss
    A Gaussian fit is a function of mean and covariance, and the Gram matrix is the uncentred
    second moment ``C + mu mu^T``, so matching Grams at the same layers would nearly match
    these Gaussians. What keeps this measure apart from the objective is the different layers,
    the mean term and the Wasserstein-2 geometry (``sqrt`` of the spectrum), not new
    statistics; a sliced-Wasserstein distance would also see non-Gaussian marginals.

Known blind spots
    * Only as meaningful as the features: with random or non-ImageNet weights (as in the tests)
      the numbers are well defined but say nothing about human perception.
    * Content is per-position direction only: unit normalisation discards feature magnitude, so
      contrast/brightness changes that keep channel directions are invisible, and there are no
      learned LPIPS calibration weights.
    * Style uses first and second moments only: global colour shifts or textures that keep the
      mean/covariance of the features are invisible, and spatial arrangement is ignored.
    * Fréchet distances are biased upwards and noisy with few positions (deep layers of
      32-64 px images: block4 has 16-64 positions for 512 channels); compare scores only
      between results of the same size and style image.
    * The two terms are not calibrated against each other; the product form only makes the
      score 1.0 at perfection and penalises a bad term multiplicatively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from nst_sweep.names import SCORE_CONTENT_METRIC, SCORE_METRIC, SCORE_STYLE_METRIC

FeatureFn = Callable[[np.ndarray], Sequence[np.ndarray]]
"""Image (H, W, 3) float32 RGB in [0, 1] -> one feature map (h, w, c) per ``SCORE_LAYERS``."""

CONTENT_LAYERS: tuple[str, ...] = (
    "block1_conv2",
    "block2_conv2",
    "block3_conv4",
    "block4_conv4",
    "block5_conv4",
)
STYLE_LAYERS: tuple[str, ...] = (
    "block1_conv2",
    "block2_conv2",
    "block3_conv4",
    "block4_conv4",
)


def _network_order(name: str) -> tuple[int, int]:
    """Sort key for VGG layer names ``block<B>_conv<K>``: block first, then conv index."""
    match = re.fullmatch(r"block(\d+)_conv(\d+)", name)
    if match is None:
        raise ValueError(f"not a VGG conv layer name: {name!r}")
    return int(match[1]), int(match[2])


SCORE_LAYERS: tuple[str, ...] = tuple(
    sorted(set(CONTENT_LAYERS) | set(STYLE_LAYERS), key=_network_order)
)

# Same epsilon as LPIPS' normalize_tensor; keeps all-zero (dead ReLU) positions at zero.
NORM_EPS = 1e-10


@dataclass(frozen=True)
class Score:
    """Perceptual score of one result; lower is better, ``score == 1`` is perfect."""

    content_distance: float
    style_distance: float
    score: float

    def metrics(self) -> dict[str, float]:
        """The names runs log and searches optimise: score, score/content, score/style."""
        return {
            SCORE_METRIC: self.score,
            SCORE_CONTENT_METRIC: self.content_distance,
            SCORE_STYLE_METRIC: self.style_distance,
        }

    def as_dict(self) -> dict[str, float]:
        """Plain dict for logging (keys: content_distance, style_distance, score)."""
        return {key: float(value) for key, value in asdict(self).items()}


def _check_pairs(a: Sequence[np.ndarray], b: Sequence[np.ndarray], what: str) -> None:
    if len(a) == 0 or len(a) != len(b):
        raise ValueError(
            f"{what}: need the same non-zero number of layers, got {len(a)} and {len(b)}"
        )


def unit_normalise(feats: np.ndarray, eps: float = NORM_EPS) -> np.ndarray:
    """Scale each position's channel vector (last axis) to unit L2 norm, in float64."""
    x = np.asarray(feats, dtype=np.float64)
    return x / (np.sqrt(np.sum(x * x, axis=-1, keepdims=True)) + eps)


def content_distance(
    result_feats: Sequence[np.ndarray], content_feats: Sequence[np.ndarray]
) -> float:
    """LPIPS-like distance: mean over layers of the mean over positions of |n(r) - n(c)|^2."""
    _check_pairs(result_feats, content_feats, "content_distance")
    per_layer = []
    for i, (r, c) in enumerate(zip(result_feats, content_feats, strict=True)):
        r, c = np.asarray(r), np.asarray(c)
        if r.shape != c.shape:
            raise ValueError(
                f"content_distance: layer {i} shapes differ: result {r.shape}, content {c.shape}"
            )
        diff = unit_normalise(r) - unit_normalise(c)
        per_layer.append(float(np.mean(np.sum(diff * diff, axis=-1))))
    return float(np.mean(per_layer))


def _as_samples(feats: np.ndarray) -> np.ndarray:
    """Feature map (..., c) -> (positions, c) float64."""
    x = np.asarray(feats, dtype=np.float64)
    if x.ndim < 2 or x.size == 0:
        raise ValueError(f"expected a non-empty feature map (..., channels), got {x.shape}")
    return x.reshape(-1, x.shape[-1])


def _gaussian_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and a factor F (c, r) with F @ F.T == covariance (ddof=0) of samples x (n, c)."""
    n, c = x.shape
    mu = x.mean(axis=0)
    xc = x - mu
    if n < c:
        # Rank <= n - 1 < c: factor the small data matrix instead of the singular covariance.
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        variances = s * s / n
        basis = vt.T
    else:
        variances, basis = np.linalg.eigh(xc.T @ xc / n)
    # Drop directions below numerical resolution (matrix_rank-style tolerance); their
    # eigenvalues are rounding noise, possibly negative, and would only add sqrt(noise).
    top = variances.max(initial=0.0)
    keep = variances > top * max(n, c) * np.finfo(np.float64).eps
    return mu, basis[:, keep] * np.sqrt(variances[keep])


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Squared Fréchet (W2) distance between Gaussians fitted to feature sets x and y.

    x and y are feature maps (..., c) with the same channel count and any number of
    positions. Un-normalised; ``tr sqrt(Cx Cy)`` is the nuclear norm of ``Fx.T @ Fy``.
    """
    xs, ys = _as_samples(x), _as_samples(y)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"frechet_distance: channel counts differ: {xs.shape} vs {ys.shape}")
    mu_x, f_x = _gaussian_fit(xs)
    mu_y, f_y = _gaussian_fit(ys)
    cross = f_x.T @ f_y
    tr_sqrt = float(np.linalg.svd(cross, compute_uv=False).sum()) if cross.size else 0.0
    d_mu = mu_x - mu_y
    value = float(d_mu @ d_mu) + float(np.sum(f_x * f_x)) + float(np.sum(f_y * f_y)) - 2 * tr_sqrt
    return max(value, 0.0)  # rounding can leave -1e-16 for identical inputs


def style_distance(result_feats: Sequence[np.ndarray], style_feats: Sequence[np.ndarray]) -> float:
    """Mean over layers of Fréchet(result, style) / E|style feature|^2; sizes may differ."""
    _check_pairs(result_feats, style_feats, "style_distance")
    per_layer = []
    for i, (r, s) in enumerate(zip(result_feats, style_feats, strict=True)):
        s_samples = _as_samples(s)
        second_moment = float(np.mean(np.sum(s_samples * s_samples, axis=1)))
        if second_moment <= 0.0:
            # An all-zero style response has no distribution to match; fail loudly once per
            # sweep rather than return inf/nan to the optimiser.
            raise ValueError(f"style_distance: style features of layer {i} are all zero")
        per_layer.append(frechet_distance(r, s_samples) / second_moment)
    return float(np.mean(per_layer))


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite values")
    # Catches the common 0..255 mix-up; a little slack for unclipped optimiser output.
    if x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise ValueError(f"{name} must be RGB in [0, 1], got range [{x.min()}, {x.max()}]")
    return x


def select_layers(
    feats: Sequence[np.ndarray],
    layers: Sequence[str],
    available: Sequence[str] = SCORE_LAYERS,
) -> list[np.ndarray]:
    """Pick the maps of ``layers`` out of maps given in the order of ``available``."""
    if len(feats) != len(available):
        raise ValueError(f"expected {len(available)} feature maps ({available}), got {len(feats)}")
    index = {name: i for i, name in enumerate(available)}
    return [feats[index[name]] for name in layers]


class Scorer:
    """Scores results against one content/style pair; their features are computed once.

    ``features(image)`` must return the maps of ``SCORE_LAYERS`` in that order. Use one Scorer
    for the intermediate scores of a run (pruning) and its final score.
    """

    def __init__(self, content: np.ndarray, style: np.ndarray, features: FeatureFn):
        self.content = _check_image(content, "content")
        self.style = _check_image(style, "style")
        self.features = features
        self._content_f = list(features(self.content))
        same = np.array_equal(self.style, self.content)
        self._style_f = self._content_f if same else list(features(self.style))

    def __call__(self, result: np.ndarray) -> Score:
        result = _check_image(result, "result")
        if self.content.shape != result.shape:
            raise ValueError(
                f"content and result must have the same shape, got content {self.content.shape} "
                f"and result {result.shape}"
            )
        # Reuse maps for identical images: saves a forward pass and makes the perfect cases exact.
        if np.array_equal(result, self.content):
            result_f = self._content_f
        elif np.array_equal(result, self.style):
            result_f = self._style_f
        else:
            result_f = list(self.features(result))
        c = content_distance(
            select_layers(result_f, CONTENT_LAYERS), select_layers(self._content_f, CONTENT_LAYERS)
        )
        s = style_distance(
            select_layers(result_f, STYLE_LAYERS), select_layers(self._style_f, STYLE_LAYERS)
        )
        return Score(content_distance=c, style_distance=s, score=(1.0 + c) * (1.0 + s))


def perceptual_score(
    content: np.ndarray, style: np.ndarray, result: np.ndarray, features: FeatureFn
) -> Score:
    """Score ``result`` against ``content`` (same size) and ``style`` (any size).

    ``features(image)`` must return the maps of ``SCORE_LAYERS`` in that order.
    """
    return Scorer(content, style, features)(result)
