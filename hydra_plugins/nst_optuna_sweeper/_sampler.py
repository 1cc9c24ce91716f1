"""Building the sampler and pruner from their configs, with one-line errors that name the key."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import optuna
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from ._settings import SweeperConfigError, first_line
from .config import DISTRIBUTION
from .samplers import SAMPLERS

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
        node = _retargeted(conf)
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


def _retargeted(conf: Any) -> Any:
    """The sampler node without the old sampler's untouched keys, when only its ``_target_``
    was swapped (``hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler`` on the
    ``tpe`` node keeps TPE's keys, which RandomSampler does not take).

    Only keys the new class does not take and that still hold the old node's defaults go; a
    key the user set stays, and fails naming itself.
    """
    if not isinstance(conf, DictConfig) or "_target_" not in conf:
        return conf
    keys = set(conf.keys())
    origin = next((c for c in SAMPLERS.values() if {f.name for f in fields(c)} == keys), None)
    if origin is None or conf.get("_target_") == origin._target_:
        return conf
    try:
        parameters = inspect.signature(get_object(str(conf.get("_target_")))).parameters
    except Exception:  # not importable, or no signature: instantiate says why
        return conf
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return conf
    defaults = {f.name: f.default for f in fields(origin) if f.default is not dataclasses.MISSING}
    plain = OmegaConf.to_container(conf, resolve=True)
    assert isinstance(plain, dict)
    for key in keys - set(parameters):
        if not key.startswith("_") and key in defaults and plain[key] == defaults[key]:
            del plain[key]
    return OmegaConf.create(plain)


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
