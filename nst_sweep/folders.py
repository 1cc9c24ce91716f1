"""A folder of its own for every run and sweep, even when several start in the same second.

``conf/config.yaml`` names run and sweep folders by the time
(``runs/multirun/<date>/<HH-MM-SS>``), so two commands started in the same second would share
one folder: job folders, results files and ``mlflow_parent.json`` overwritten, one sweep's jobs
under the other's parent run. The resolver ``${nst.unique_dir:<path>}`` (registered in
``resolvers.py``) claims the folder by creating it (``mkdir`` is atomic): the first command gets
``<path>``, the next ``<path>_2``, then ``<path>_3`` ... Hydra caches the value in the config,
as it does ``${now:...}``, and copies that cache into each job's config, also in joblib worker
processes, so a command and all its jobs agree on one folder.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path


def unique_dir(path: str) -> str:
    """Create and return ``path``, or ``path_2``, ``path_3`` ... if taken (by another command)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    for number in itertools.count(1):
        candidate = path if number == 1 else f"{path}_{number}"
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")
