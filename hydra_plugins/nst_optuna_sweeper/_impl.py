"""The official plugin's ``_impl`` names, for code and tests written against
``hydra_plugins.hydra_optuna_sweeper``: rename the package and they import from here.
"""

from ._search_space import create_optuna_distribution_from_override, create_params_from_overrides
from .sweeper import NstOptunaSweeper as OptunaSweeperImpl

__all__ = [
    "OptunaSweeperImpl",
    "create_optuna_distribution_from_override",
    "create_params_from_overrides",
]
