"""Colour preservation (``image.preserve_colors``), after Gatys, Bethge, Hertzmann, Shechtman,
*Preserving Color in Neural Artistic Style Transfer* (2016).

``luminance``: transfer the style in luminance only. The result keeps its own luminance (Y of
YIQ, as jcjohnson/neural-style's ``-original_colors 1``) and takes the content's chrominance
(I, Q). Unlike a plain YIQ round trip, Y is limited per pixel to the range in which that
chrominance stays inside the RGB cube, so no channel is clipped and the chrominance is the
content's exactly (up to float rounding).

``histogram``: before the transfer, the style image's colours get the content's mean and
covariance (an affine map ``x' = A (x - mu_s) + mu_c`` with ``A = C_c^1/2 C_s^-1/2``, the
paper's "Image Analogies" variant), so the style's textures come with the content's palette.
"""

from __future__ import annotations

import numpy as np

# RGB -> YIQ (NTSC 1953); rows give Y, I, Q.
RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)
EIGEN_FLOOR = 1e-8  # covariance eigenvalues below this count as flat (a one-colour image)


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, np.float64) @ RGB_TO_YIQ.T


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, np.float64) @ YIQ_TO_RGB.T


def luminance_transfer(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """``result``'s luminance with ``content``'s chrominance (same shapes, RGB in [0, 1])."""
    if result.shape != content.shape:
        raise ValueError(f"shapes differ: result {result.shape}, content {content.shape}")
    luma = rgb_to_yiq(result)[..., 0]
    chroma = rgb_to_yiq(content)
    chroma[..., 0] = 0.0
    offsets = yiq_to_rgb(chroma)  # RGB = Y + offsets for every Y
    # Y must keep each channel in [0, 1]; the content's own Y satisfies this, so it's never empty.
    low, high = (-offsets).max(axis=-1), (1.0 - offsets).min(axis=-1)
    luma = np.clip(luma, low, np.maximum(low, high))
    return np.clip(luma[..., None] + offsets, 0.0, 1.0).astype(np.float32)


def _sqrt_and_inverse_sqrt(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, EIGEN_FLOOR)
    root = (vectors * np.sqrt(values)) @ vectors.T
    inverse_root = (vectors / np.sqrt(values)) @ vectors.T
    return root, inverse_root


def match_color_statistics(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """``style`` mapped affinely so its colour mean and covariance are the content's."""
    pixels = np.asarray(style, np.float64).reshape(-1, 3)
    target = np.asarray(content, np.float64).reshape(-1, 3)
    mu_s, mu_c = pixels.mean(axis=0), target.mean(axis=0)
    root_c, _ = _sqrt_and_inverse_sqrt(np.cov(target, rowvar=False, bias=True))
    _, inverse_root_s = _sqrt_and_inverse_sqrt(np.cov(pixels, rowvar=False, bias=True))
    transform = root_c @ inverse_root_s
    mapped = (pixels - mu_s) @ transform.T + mu_c
    return np.clip(mapped, 0.0, 1.0).reshape(style.shape).astype(np.float32)
