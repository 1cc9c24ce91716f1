"""Checks before any work: a Hydra callback that stops a command that cannot work, in one line.

Hydra calls ``on_run_start`` before it creates the run's folder, and ``on_multirun_start``
before it builds the sweeper and before the sweep's MLflow parent run exists (this callback is
listed first in ``conf/config.yaml``). Checked there: the folder Hydra writes to, a fixed
``output``, the MLflow store, the tracking settings, and for a search the sweeper's settings and
objectives; a plain run with a search sweeper (``search=optuna`` without ``-m``) is refused.
Then the values, images and weights (``before_work.py``; in a multirun, those its sweep does
not change), so a rejected command leaves no MLflow run and no folder. The default ``output``
in the job's folder, and the values a sweep sets, are checked by each job, before TensorFlow
loads.

Hydra turns an exception raised by a callback into a warning, so a failed check is raised as
``Rejected``, which the entry point prints as one line (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.nst_optuna_sweeper import SWEEPER_TARGET, check_config
from nst_sweep.before_work import check_values
from nst_sweep.checks import as_text, writable_file, writable_folder
from nst_sweep.errors import Rejected, UserError, first_line
from nst_sweep.names import LOSS_METRICS, SCORE_METRICS
from nst_sweep.settings import ScoreSettings, TrackingSettings
from nst_sweep.stores import check_store
from nst_sweep.suggest import config_keys, did_you_mean

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class PreflightCallback(Callback):
    """Runs the checks of this module when a run or a multirun starts."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _reject_on_error(check_run, config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _reject_on_error(check_multirun, config)


def _reject_on_error(check: Callable[[DictConfig], None], config: DictConfig) -> None:
    from hydra.errors import HydraException

    try:
        check(config)
    except UserError as exc:
        raise Rejected(exc) from exc
    except HydraException as exc:  # the sweeper's own one-line errors
        raise Rejected(UserError(first_line(exc, limit=1000))) from exc


def check_run(config: DictConfig) -> None:
    """A single run: no search sweeper, a writable run folder, a usable MLflow store."""
    sweeper = str(config.hydra.sweeper.get("_target_") or BASIC_SWEEPER)
    if sweeper != BASIC_SWEEPER:
        search = OmegaConf.select(config, "hydra.runtime.choices.search")
        key = f"search={search}" if search else f"hydra.sweeper._target_={sweeper}"
        raise UserError(f"{key}: a search runs only as a multirun; add -m, e.g. nst-sweep -m {key}")
    writable_folder(str(config.hydra.run.dir), "hydra.run.dir")
    check_output(config)
    check_tracking(config)
    check_values(config)


def check_output(config: DictConfig) -> None:
    """A fixed ``output=`` path can be written. The default names the job's folder, which
    exists only inside the job: the job checks it (``run.run``) before its images load."""
    if "output" in config and not OmegaConf.is_interpolation(config, "output"):
        writable_file(as_text(config.output, "output"), "output")


def check_multirun(config: DictConfig) -> None:
    """A multirun: a writable sweep folder, a usable MLflow store; for an ``nst_optuna``
    search, the sweeper's settings and objectives the jobs return."""
    writable_folder(str(config.hydra.sweep.dir), "hydra.sweep.dir")
    check_output(config)
    check_tracking(config)
    sweeper = config.hydra.sweeper
    arguments = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    if sweeper.get("_target_") != SWEEPER_TARGET:
        swept = swept_keys(arguments)  # type: ignore[arg-type]
        for key in swept:
            check_searched_key(config, key)
        check_values(config, multirun=True, swept=swept)
        return
    checked = check_config(sweeper, str(config.hydra.runtime.cwd), arguments)  # type: ignore[arg-type]
    for key in checked.searched:
        check_searched_key(config, key)
    settings = checked.settings
    returned = list(LOSS_METRICS)
    if ScoreSettings.from_mapping(_resolved(config, "score")).enabled:
        returned += SCORE_METRICS
    unknown = [name for name in settings.objectives or [] if name not in returned]
    if settings.objectives is None or unknown:
        shown = f"[{','.join(settings.objectives)}]" if settings.objectives else "null"
        raise UserError(
            f"hydra.sweeper.objectives={shown}: a job returns {', '.join(returned)}; name one "
            "of them per direction, e.g. hydra.sweeper.objectives=[score]"
        )
    swept = [*checked.searched, *swept_keys(arguments)]  # type: ignore[arg-type]
    check_values(config, multirun=True, swept=swept, search=True)


def swept_keys(arguments: list[str]) -> list[str]:
    """The keys (or groups) a multirun's overrides sweep, e.g. ``loss.tv_weight=1,10``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(arguments)
    return [o.get_key_element() for o in parsed if o.is_sweep_override()]


def check_searched_key(config: DictConfig, key: str) -> None:
    """A searched key names a config group or a key of the config (``+key`` adds one)."""
    if key.startswith(("+", "~")) or "@" in key:
        return
    choices = OmegaConf.select(config, "hydra.runtime.choices") or {}
    if key in choices or OmegaConf.select(config, key, default=_ABSENT) is not _ABSENT:
        return
    fix = did_you_mean(key, None, config_keys(config))
    raise UserError(f"{key}: the config has no such key to search; {fix}")


_ABSENT = object()


def check_tracking(config: DictConfig) -> None:
    """The tracking settings parse, and a sqlite store can be written."""
    tracking = TrackingSettings.from_mapping({"tracking": _resolved(config, "tracking")})
    if tracking.enabled:
        check_store(tracking.uri)


def _resolved(config: DictConfig, key: str) -> dict[str, Any]:
    """One group of the config, resolved (the rest may name values set only inside a job)."""
    node = config.get(key)
    if node is None:
        return {}
    try:
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    except Exception as exc:
        raise UserError(f"{key}: {first_line(exc)}; fix or remove that interpolation") from exc
