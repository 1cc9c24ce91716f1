"""The ``hydra/sweeper/sampler`` config group: one node per Optuna 5 sampler.

The option names and keys are those of Hydra's official Optuna sweeper. Defaults are Optuna 5's
own (``None`` where Optuna picks), so ``sampler=tpe`` is ``TPESampler()`` plus an optional seed.
Kept free of optuna imports: Hydra imports this module on every start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

MOTPE_REMOVED = (
    "The 'motpe' sampler was removed in Optuna 4.0; use hydra/sweeper/sampler=tpe "
    "(TPESampler handles several objectives)"
)


def raise_motpe_removed(*args: Any, **kwargs: Any) -> NoReturn:
    """Target of ``sampler=motpe``: a clear error instead of an import failure."""
    raise ValueError(MOTPE_REMOVED)


@dataclass
class SamplerConfig:
    """Any instantiable optuna sampler."""

    _target_: str = MISSING


@dataclass
class TPESamplerConfig(SamplerConfig):
    """optuna.samplers.TPESampler (Bayesian: tree-structured Parzen estimator)."""

    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    # Deprecated by Optuna 4.x; kept so configs written for the official plugin still load.
    consider_prior: bool | None = None
    prior_weight: float | None = None
    consider_magic_clip: bool | None = None
    consider_endpoints: bool | None = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    # null: Optuna 5 decides (multivariate for one objective). The official plugin pins false.
    multivariate: bool | None = None
    group: bool = False
    warn_independent_sampling: bool | None = None
    # Optuna 5's default; it keeps a batch of n_jobs trials from proposing the same point.
    # The official plugin pins false.
    constant_liar: bool = True
    constraints_func: Any = None


@dataclass
class RandomSamplerConfig(SamplerConfig):
    """optuna.samplers.RandomSampler."""

    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class CmaEsSamplerConfig(SamplerConfig):
    """optuna.samplers.CmaEsSampler (needs the ``cmaes`` package)."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: int | None = None
    x0: dict[str, Any] | None = None
    sigma0: float | None = None
    n_startup_trials: int = 1
    independent_sampler: Any = None
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: str | None = None
    popsize: int | None = None
    inc_popsize: int = -1
    use_separable_cma: bool = False
    with_margin: bool = False
    lr_adapt: bool = False
    source_trials: Any = None


@dataclass
class NSGAIISamplerConfig(SamplerConfig):
    """optuna.samplers.NSGAIISampler (genetic, for several objectives)."""

    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: int | None = None
    population_size: int = 50
    mutation_prob: float | None = None
    mutation: Any = None
    crossover: Any = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5
    constraints_func: Any = None


@dataclass
class NSGAIIISamplerConfig(NSGAIISamplerConfig):
    """optuna.samplers.NSGAIIISampler (NSGA-II with reference points, many objectives)."""

    _target_: str = "optuna.samplers.NSGAIIISampler"
    reference_points: Any = None
    dividing_parameter: int = 3


@dataclass
class GridSamplerConfig(SamplerConfig):
    """optuna.samplers.GridSampler; the sweeper builds the grid from the search space."""

    _target_: str = "optuna.samplers.GridSampler"
    _partial_: bool = True
    seed: int | None = None


@dataclass
class QMCSamplerConfig(SamplerConfig):
    """optuna.samplers.QMCSampler (quasi-Monte Carlo; needs ``scipy``)."""

    _target_: str = "optuna.samplers.QMCSampler"
    seed: int | None = None
    qmc_type: str = "sobol"
    scramble: bool = False
    independent_sampler: Any = None
    warn_asynchronous_seeding: bool = True
    warn_independent_sampling: bool = True


@dataclass
class GPSamplerConfig(SamplerConfig):
    """optuna.samplers.GPSampler (Gaussian process; needs ``torch`` and ``scipy``)."""

    _target_: str = "optuna.samplers.GPSampler"
    seed: int | None = None
    independent_sampler: Any = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False
    constraints_func: Any = None
    warn_independent_sampling: bool = True


@dataclass
class MOTPESamplerConfig(SamplerConfig):
    """Removed from Optuna; selecting it fails with a pointer to ``tpe``."""

    _target_: str = f"{__name__}.raise_motpe_removed"


SAMPLERS: dict[str, type[SamplerConfig]] = {
    "tpe": TPESamplerConfig,
    "random": RandomSamplerConfig,
    "cmaes": CmaEsSamplerConfig,
    "nsgaii": NSGAIISamplerConfig,
    "nsgaiii": NSGAIIISamplerConfig,
    "grid": GridSamplerConfig,
    "qmc": QMCSamplerConfig,
    "gp": GPSamplerConfig,
    "motpe": MOTPESamplerConfig,
}

for _name, _node in SAMPLERS.items():
    ConfigStore.instance().store(
        group="hydra/sweeper/sampler", name=_name, node=_node, provider="nst_optuna_sweeper"
    )
