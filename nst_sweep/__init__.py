"""nst-sweep: hyperparameter sweeps for Gatys-style neural style transfer.

The core (images, features, losses, optimize, score) is plain Python + TensorFlow and can be used
from a notebook; the Hydra app, MLflow tracking and the Optuna sweeper live at the edges.
"""

import os

# TensorFlow's C++ INFO/WARNING lines drown the messages users need; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
