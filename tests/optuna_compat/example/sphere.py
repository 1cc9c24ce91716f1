# Hydra's Optuna sweeper example (MIT License, Copyright (c) Facebook, Inc. and its
# affiliates), as in plugins/hydra_optuna_sweeper/example; its config selects nst_optuna.
import warnings

import hydra
from omegaconf import DictConfig
from optuna.exceptions import ExperimentalWarning

warnings.filterwarnings("ignore", category=ExperimentalWarning)


@hydra.main(version_base=None, config_path="conf", config_name="config")
def sphere(cfg: DictConfig) -> float:
    x: float = cfg.x
    y: float = cfg.y

    if cfg.get("error", False):
        raise RuntimeError("cfg.error is True")

    return x**2 + y**2


if __name__ == "__main__":
    sphere()
