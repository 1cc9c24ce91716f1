"""A folder of its own for every run and sweep, even when several start in the same second.

``conf/config.yaml`` names run and sweep folders by the time
(``runs/multirun/<date>/<HH-MM-SS>``), so two commands started in the same second would share
one folder: job folders, results files and ``mlflow_parent.json`` overwritten, one sweep's jobs
under the other's parent run. The resolver ``${nst.unique_dir:<path>}`` (registered in
``resolvers.py``) claims the folder by creating it (``mkdir`` is atomic): the first command gets
``<path>``, the next ``<path>_2``, then ``<path>_3`` ... Hydra caches the value in the config,
as it does ``${now:...}``, and copies that cache into each job's config, also in joblib worker
processes, so a command and all its jobs agree on one folder. A command rejected before its
work (``release_unused``) removes the folders it claimed while they are still empty.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

# Folders this process created, innermost first: a rejected command removes the empty ones.
_CLAIMED: list[Path] = []


def unique_dir(path: str) -> str:
    """Create and return ``path``, or ``path_2``, ``path_3`` ... if taken (by another command)."""
    parent = Path(path).parent
    missing = [p for p in (parent, *parent.parents) if not p.exists()]
    for number in itertools.count(1):
        candidate = path if number == 1 else f"{path}_{number}"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(candidate)
        except FileExistsError:
            continue
        except OSError:  # read-only, full: the checks before the work name the folder and fix
            return path
        _CLAIMED.extend([Path(candidate), *missing])
        return candidate
    raise AssertionError("unreachable")


def release_unused() -> None:
    """Remove the folders this process claimed that are still empty (a rejected command)."""
    while _CLAIMED:
        with contextlib.suppress(OSError):  # not empty (a job wrote there), or gone already
            _CLAIMED.pop(0).rmdir()
