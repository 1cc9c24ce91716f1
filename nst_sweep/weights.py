"""Where VGG19 weights come from, checked without TensorFlow (before any run is created).

``imagenet`` is Keras' download, kept in ``$KERAS_HOME/models``; ``random`` a seeded random
network; anything else the path of a Keras ``.h5`` file. ``features.py`` loads them.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from nst_sweep.errors import UserError

WEIGHTS_NAMES = ("imagenet", "random")
IMAGENET_NOTOP_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + IMAGENET_NOTOP_FILE
)


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights (``$KERAS_HOME/models``, default ~/.keras/models)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def imagenet_cached() -> bool:
    """Whether Keras has the ImageNet weights already (no download needed)."""
    return (keras_cache_dir() / IMAGENET_NOTOP_FILE).is_file()


def check_weights(weights: str, key: str = "model.weights") -> None:
    """``imagenet``, ``random`` or an existing ``.h5`` file, else a UserError naming ``key``
    (a near miss of a name, ``imagnet``, is told the name it was close to)."""
    if weights in WEIGHTS_NAMES:
        return
    path = Path(weights).expanduser()
    close = difflib.get_close_matches(weights.lower(), WEIGHTS_NAMES, n=1, cutoff=0.6)
    if close and not path.exists():
        raise UserError(f"{key}={weights}: no such weights; did you mean {key}={close[0]}?")
    if not path.is_file():
        raise UserError(
            f"{key}={weights}: no such file; pass a VGG19 .h5/.weights.h5 file, imagenet or random"
        )
    if not path.name.endswith(".h5"):
        raise UserError(
            f"{key}={weights}: not an .h5 file; pass a VGG19 weights file saved by Keras "
            "(.weights.h5 or .h5)"
        )
