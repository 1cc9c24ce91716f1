"""The sweeper's settings checked before a sweep, for apps that check before they start work.

Public: an app's Hydra callback can call :func:`check_config` at ``on_multirun_start``, which
Hydra runs before it builds the sweeper, so that a bad setting stops the command before the
app creates anything for the sweep. The sweeper itself checks the same things when it starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._settings import Settings, read_settings


@dataclass(frozen=True)
class CheckedConfig:
    """What :func:`check_config` found: the settings, and the keys the search changes."""

    settings: Settings
    searched: list[str]  # each searched param's key as written: loss.tv_weight, +w, layers


def check_config(
    sweeper: Mapping[str, Any], base_dir: str | Path, arguments: Sequence[str] = ()
) -> CheckedConfig:
    """The ``hydra.sweeper`` node's settings, storage, sampler, pruner, custom search space
    and search space (its ``params`` and the command line's ``arguments``), checked as the
    sweep will use them, without running anything. Raises the sweep's own one-line error
    naming the key. ``base_dir`` is the launch folder that relative sqlite paths mean.
    """
    from ._sampler import custom_search_space, make_pruner, sampler_factory
    from ._search_space import build_search_space, parse_overrides
    from ._study import check_storage

    settings = read_settings({str(k): v for k, v in sweeper.items()})
    check_storage(settings.storage, base_dir)
    sampler_factory(settings.sampler)(dict)  # an empty grid: the search space is the sweep's
    make_pruner(settings.pruner)
    custom_search_space(settings.custom_search_space)
    space = build_search_space(parse_overrides(settings.params, [str(a) for a in arguments]))
    return CheckedConfig(settings, list(space.distributions))
