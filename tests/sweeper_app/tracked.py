"""A cheap objective tracked by nst-sweep's own MLflow code, without TensorFlow.

For the concurrency and kill tests: several commands at once cost seconds, not minutes. The
config (``conf/tracked.yaml``; ``conf/tracked_search.yaml`` for an ``nst_optuna`` search) adds
nst-sweep's parent-run callback and a folder per command (``${nst.unique_dir:...}``); each job
opens its MLflow run as the nst-sweep command does (``nst_sweep.app.open_tracker``: the real
tracker, store lock and tags), logs its config, sleeps ``sleep`` seconds and logs the value it
returns as ``score``.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

import nst_sweep.resolvers  # noqa: F401 (its conf uses nst.unique_dir, as nst-sweep's does)
from nst_sweep.job import JobContext, log_config, open_tracker
from nst_sweep.names import SCORE_METRIC
from nst_sweep.settings import TrackingSettings


@hydra.main(
    version_base="1.3", config_path=str(Path(__file__).parent / "conf"), config_name="tracked"
)
def main(cfg: DictConfig) -> float:
    job = JobContext.current()
    config = OmegaConf.to_container(cfg, resolve=True)
    with open_tracker(TrackingSettings.from_mapping(config), job) as tracker:  # type: ignore[arg-type]
        log_config(tracker, config, job)  # type: ignore[arg-type]
        time.sleep(float(cfg.sleep))
        value = (cfg.x - 0.3) ** 2 + 0.01 * cfg.n
        tracker.log_metrics({SCORE_METRIC: value})
    return value


if __name__ == "__main__":
    main()
