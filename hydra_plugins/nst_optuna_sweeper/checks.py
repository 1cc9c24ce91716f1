"""The sweeper's settings checked before a sweep, for apps that check before they start work.

Public: an app's Hydra callback can call :func:`check_config` at ``on_multirun_start``, which
Hydra runs before it builds the sweeper, so that a bad setting stops the command before the
app creates anything for the sweep. The sweeper itself checks the same things when it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._settings import Settings, read_settings


def check_config(sweeper: Mapping[str, Any], base_dir: str | Path) -> Settings:
    """The ``hydra.sweeper`` node's settings, storage, sampler and pruner, checked as the sweep
    will use them, without running anything; raises ``SweeperConfigError`` (one line naming
    the key). ``base_dir`` is the launch folder that relative sqlite paths mean.
    """
    from ._sampler import make_pruner, sampler_factory
    from ._study import check_storage

    settings = read_settings({str(k): v for k, v in sweeper.items()})
    check_storage(settings.storage, base_dir)
    sampler_factory(settings.sampler)(dict)  # an empty grid: the search space is the sweep's
    make_pruner(settings.pruner)
    return settings
