"""Shared fixtures: tiny synthetic images, a seeded random VGG19, and two CLI runners.

``run_cli`` starts ``python -m nst_sweep`` in a subprocess: only for the few tests where the
process boundary is what is tested (exit codes as a shell sees them, signals, concurrency).
``cli`` runs the same ``main()`` in this process, which is several seconds faster per call.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import absl.logging
import numpy as np
import pytest
from PIL import Image

from nst_sweep.quiet import import_tensorflow_quietly

REPO = Path(__file__).resolve().parent.parent
TEST_KERAS_HOME = tempfile.mkdtemp(prefix="nst-sweep-test-keras-home-")
atexit.register(shutil.rmtree, TEST_KERAS_HOME, ignore_errors=True)

# absl (imported by TensorFlow) closes its handler's stream whenever logging is reconfigured,
# which Hydra does on every in-process run; its stream must not be one of pytest's captures.
absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__

# TensorFlow is imported the way the command imports it (its C++ start-up lines muted), before any
# test: else its first device probe writes "failed call to cuInit" into a test's captured stderr.
import_tensorflow_quietly()


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


@pytest.fixture(scope="session")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty MLflow sqlite store with its tables, made once: a new store's migrations take
    seconds (they sync to disk many times; in memory, /dev/shm, they don't), a copy of this
    file milliseconds."""
    shm = Path("/dev/shm")
    use_shm = shm.is_dir() and os.access(shm, os.W_OK)
    folder = Path(tempfile.mkdtemp(dir=shm)) if use_shm else tmp_path_factory.mktemp("template")
    path = folder / "mlflow.db"
    from mlflow.tracking import MlflowClient  # here: most tests never need MLflow

    MlflowClient(f"sqlite:///{path}").search_experiments()
    yield path
    if use_shm:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def store(tmp_path: Path, template_store: Path) -> Path:
    """``<tmp_path>/mlflow.db``, a fresh MLflow store with its tables."""
    shutil.copyfile(template_store, tmp_path / "mlflow.db")
    return tmp_path / "mlflow.db"


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
    # Never reach for the network from a test, whatever Keras' cache holds; and leave nothing
    # in the checkout's runs/ (a temporary folder per test process, removed at its exit).
    env.setdefault("KERAS_HOME", TEST_KERAS_HOME)
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


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture()
def cli(monkeypatch, capfd) -> Callable[..., CliResult]:
    """``cli(args, cwd)``: ``nst-sweep <args>`` through ``nst_sweep.app.main`` in this process."""
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # main() sets it; restored after
    monkeypatch.setattr(logging, "raiseExceptions", logging.raiseExceptions)  # main() too
    monkeypatch.setenv("KERAS_HOME", cli_env()["KERAS_HOME"])

    def invoke(args: list[str], cwd: Path, entry: Callable[[], None] | None = None) -> CliResult:
        from nst_sweep.app import main

        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["nst-sweep", *args])
        sigterm, sigint = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        capfd.readouterr()
        try:
            (entry or main)()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            signal.signal(signal.SIGTERM, sigterm)
            signal.signal(signal.SIGINT, sigint)
            # Hydra points the root logger at this test's captured streams; they close with it.
            root.handlers[:] = handlers
            root.setLevel(level)
        out, err = capfd.readouterr()
        return CliResult(code, out, err)

    return invoke


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL with the databases ``optuna`` and ``mlflow`` (tests/services.py)."""
    from services import Postgres, missing, postgres_bin

    binaries = postgres_bin()
    if binaries is None:
        missing("PostgreSQL's initdb and pg_ctl are not installed (Debian package postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing('psycopg is not installed (pip install -e ".[postgres]")')
    server = Postgres(binaries)  # type: ignore[arg-type]
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_mlflow_server(postgres, tmp_path_factory):
    """``mlflow server`` whose store is the ``mlflow`` database of ``postgres``."""
    from services import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-pg"), backend=postgres.url("mlflow"))
    try:
        server.start()
        yield server
    finally:
        server.kill()
