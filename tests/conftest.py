"""Shared fixtures: tiny synthetic images, a seeded random VGG19, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def synthetic_content(size: int = 48) -> np.ndarray:
    """A smooth gradient with a bright disc: edges and flat areas, like a photo."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    disc = ((yy - 0.5) ** 2 + (xx - 0.4) ** 2 < 0.08).astype(np.float32)
    img = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.4 * disc], axis=-1)
    return np.clip(img, 0, 1).astype(np.float32)


def synthetic_style(height: int = 40, width: int = 56) -> np.ndarray:
    """Diagonal colour stripes: a strong, repetitive texture."""
    yy, xx = np.mgrid[0:height, 0:width]
    stripes = (np.sin((xx + yy) / 2.5) > 0).astype(np.float32)
    img = np.stack([stripes, 0.3 + 0.5 * (1 - stripes), 0.8 * stripes], axis=-1)
    return img.astype(np.float32)


def write_png(path: Path, image: np.ndarray) -> Path:
    Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="session")
def vgg_random():
    """A seeded random-weights VGG19 (built once per session: it is the slow part)."""
    from nst_sweep.features import load_vgg19

    return load_vgg19("random", seed=0)


@pytest.fixture(scope="session")
def weights_file(tmp_path_factory, vgg_random) -> Path:
    """A VGG19 weights file written by save_weights, as a user with their own weights has."""
    path = tmp_path_factory.mktemp("weights") / "vgg19_random.weights.h5"
    vgg_random.save_weights(str(path))
    return path


@pytest.fixture()
def image_files(tmp_path) -> tuple[Path, Path]:
    """Content (48 x 48) and style (40 x 56) PNGs the project has never seen."""
    return (
        write_png(tmp_path / "content.png", synthetic_content()),
        write_png(tmp_path / "style.png", synthetic_style()),
    )


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    # Never reach for the network from a test, whatever Keras' cache holds.
    env.setdefault("KERAS_HOME", str(REPO / "runs" / "test-keras-home"))
    return env


def run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m nst_sweep`` (the console script's code) in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "nst_sweep", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
