"""Building the sampler and pruner from their configs, with one-line errors that name the key."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ._settings import SweeperConfigError, first_line
from .config import DISTRIBUTION

# Samplers whose extra packages Optuna imports only when it first needs them, mid-sweep:
# sampler class name -> (modules, extra of DISTRIBUTION that installs them).
_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "CmaEsSampler": (("cmaes",), "cmaes"),
    "GPSampler": (("torch", "scipy"), "gp"),
    "QMCSampler": (("scipy",), "qmc"),
}


def _build(key: str, conf: Any, **kwargs: Any) -> Any:
    try:
        return instantiate(conf, **kwargs)
    except Exception as exc:
        detail = first_line(exc.__cause__ or exc)
        target = conf.get("_target_") if isinstance(conf, Mapping | DictConfig) else None
        where = f"{key} ({target})" if target else key
        raise SweeperConfigError(f"{where}: {detail}") from None


def sampler_factory(conf: Any) -> Callable[..., optuna.samplers.BaseSampler]:
    """``factory(grid, seed_offset)`` -> the configured sampler; null config -> TPE.

    A factory, not a sampler: the grid sampler needs the search space, and a resumed study
    rebuilds its sampler with ``seed + trials so far`` (see NstOptunaSweeper).
    """

    def factory(
        grid: Callable[[], dict[str, list[Any]]], seed_offset: int = 0
    ) -> optuna.samplers.BaseSampler:
        if conf is None:
            return optuna.samplers.TPESampler()
        if isinstance(conf, optuna.samplers.BaseSampler):  # built already, e.g. by a test
            return conf
        node = conf
        seed = sampler_seed(conf)
        if seed_offset and seed is not None:
            node = OmegaConf.merge(node, {"seed": seed + seed_offset})
        built = _build("hydra.sweeper.sampler", node)
        if isinstance(built, functools.partial):
            # The grid sampler's config is partial (official plugin): it takes the grid here.
            if isinstance(built.func, type) and issubclass(built.func, optuna.samplers.GridSampler):
                built = built(grid())
            else:
                built = built()
        if not isinstance(built, optuna.samplers.BaseSampler):
            raise SweeperConfigError(
                f"hydra.sweeper.sampler: {type(built).__name__} is no optuna sampler"
            )
        check_packages(built)
        return built

    return factory


def sampler_seed(conf: Any) -> int | None:
    """The ``seed`` of a sampler config, if it has one."""
    if not isinstance(conf, Mapping | DictConfig):
        return None
    seed = conf.get("seed")
    return None if seed is None else int(seed)


def check_packages(sampler: optuna.samplers.BaseSampler) -> None:
    """Fail now, in one line, when the sampler would fail on a missing package mid-sweep."""
    for cls in type(sampler).__mro__:
        if cls.__name__ not in _NEEDS:
            continue
        modules, extra = _NEEDS[cls.__name__]
        missing = [m for m in modules if not _importable(m)]
        if missing:
            raise SweeperConfigError(
                f"hydra.sweeper.sampler: {cls.__name__} needs {', '.join(missing)}; "
                f'pip install "{DISTRIBUTION}[{extra}]" (or pip install {" ".join(missing)})'
            )


def _importable(module: str) -> bool:
    # Importing, not just finding: a broken install must count as missing too.
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def make_pruner(conf: Any) -> optuna.pruners.BasePruner:
    """The pruner from its config; null -> never prune (not optuna's default MedianPruner)."""
    if conf is None:
        return optuna.pruners.NopPruner()
    pruner = (
        conf
        if isinstance(conf, optuna.pruners.BasePruner)
        else _build("hydra.sweeper.pruner", conf)
    )
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise SweeperConfigError(
            f"hydra.sweeper.pruner: {type(pruner).__name__} is no optuna pruner"
        )
    return pruner


def custom_search_space(path: str | None) -> Callable[[DictConfig, Any], None] | None:
    """The ``custom_search_space`` function ``f(cfg, trial)``, or None.

    A leading dot (the official example's ``.module.function``) means a module next to the
    app's script: found on ``sys.path``, where Python puts the script's folder.
    """
    if not path:
        return None
    target = path.lstrip(".")
    # Through instantiate, so Hydra's target policy applies as to any other _target_.
    try:
        return _build("hydra.sweeper.custom_search_space", {"_target_": target, "_partial_": True})
    except SweeperConfigError as exc:
        raise SweeperConfigError(f"{exc}; give the dotpath of a function f(cfg, trial)") from None
