"""Import TensorFlow without its C++ start-up chatter on stderr.

TensorFlow writes absl log lines ("oneDNN custom operations are on", "Could not find cuda
drivers") straight to file descriptor 2 before any Python logging setting applies, which would
bury the one-line error messages the command line promises. Importing it once with fd 2 pointed
at /dev/null, and touching the device list so CUDA probing happens then too, keeps them out.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    """Import tensorflow and keras once, with native stderr muted during start-up only."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
