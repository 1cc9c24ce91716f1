"""``NstOptunaSweeper``: a Hydra sweeper that runs an Optuna (>= 5) study by ask-and-tell.

Each batch asks ``n_jobs`` trials, turns their sampled params into Hydra overrides (plus
``++optuna_trial=<number>``), launches them through the configured Hydra launcher and tells
optuna how each job ended. A batch whose failed share exceeds ``max_failure_rate`` stops the
sweep, as in Hydra's official Optuna sweeper.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn
from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from .config import PROMOTED_KEY, RESULTS_FILE, TRIAL_KEY
from .results import best_trials, sweep_results, write_results

if TYPE_CHECKING:  # optuna is imported lazily: Hydra imports this module on every start-up
    import optuna
    from optuna.trial import TrialState

    from ._heartbeat import KeepAlive
    from ._search_space import SearchSpace
    from ._settings import Settings, SweeperConfigError

log = logging.getLogger(__name__)


class SweepAborted(CompactHydraException):
    """More trials of a batch failed than ``max_failure_rate`` allows (printed as one line)."""


class NstOptunaSweeper(Sweeper):
    """Optuna study over Hydra overrides; see ``config.NstOptunaSweeperConf`` for the keys."""

    def __init__(self, **options: Any) -> None:
        """Takes the keys of ``NstOptunaSweeperConf``, whose defaults are the only ones.

        A bad setting is raised by ``setup()``: raised here, Hydra would wrap it in a
        multi-line InstantiationException instead of printing its one line.
        """
        from ._settings import SweeperConfigError, read_settings

        super().__init__()
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None
        # Trials asked but not yet told, failed if the sweep is interrupted.
        self._untold: dict[int, optuna.trial.Trial] = {}
        # (trial number, reason) of each FAIL told in the current batch.
        self._failures: list[tuple[int, str]] = []
        # Failure reason (None: did not fail) of the first trials told in this launch.
        self._first_reasons: list[str | None] = []
        # Heartbeats of the trials in flight; fails other processes' dead trials (_heartbeat.py).
        self._keep_alive: KeepAlive | None = None
        # The storage's lock between processes (_study.storage_lock), set when the study opens.
        self._lock: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
        self._error: SweeperConfigError | None = None
        # Wall time of this launch, and of its trials alone (without promotions).
        self._started: float | None = None
        self._trials_seconds: float | None = None
        self._settings: Settings | None = None
        try:
            self._settings = read_settings(options)
        except SweeperConfigError as exc:
            self._error = exc

    @property
    def settings(self) -> Settings:
        """The checked ``hydra.sweeper`` keys (``setup()`` raised if they were bad)."""
        if self._settings is None:
            assert self._error is not None
            raise self._error
        return self._settings

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        """Keep Hydra's context and create the launcher that runs each batch."""
        from hydra.core.plugins import Plugins

        from .checks import check_storage

        if self._error is not None:
            raise self._error
        # Before the sweep folder and the study: a storage the sweep cannot open is one line.
        check_storage(self.settings.storage, self._base_dir(config))
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # ------------------------------------------------------------------ sweep

    def sweep(self, arguments: list[str]) -> None:
        """Run ``n_trials`` trials in batches of ``n_jobs``, promote the best ``promote`` ones,
        then write the results file."""
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from optuna.samplers import GridSampler
        from optuna.trial import TrialState

        from ._heartbeat import KeepAlive
        from ._outcome import same_failures
        from ._sampler import custom_search_space, sampler_factory
        from ._search_space import build_search_space, parse_overrides
        from ._study import storage_lock

        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        space = build_search_space(parse_overrides(self.settings.params, arguments, parser))
        extend = custom_search_space(self.settings.custom_search_space)
        make_sampler = sampler_factory(self.settings.sampler)
        sampler = make_sampler(space.grid)
        n_trials = self.settings.n_trials
        if isinstance(sampler, GridSampler):
            size = math.prod(len(values) for values in space.grid().values())
            if size < n_trials:
                log.info("Grid sampler: n_trials %d -> %d, the size of the grid", n_trials, size)
                n_trials = size

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        study, resolved_url = self._open_study(space, make_sampler, sampler, n_trials)
        self._started = time.monotonic()
        self._lock = lock = functools.partial(storage_lock, resolved_url)
        self._keep_alive = keep_alive = KeepAlive(study, self._untold, lock)
        launched: Counter[str] = Counter()
        job_idx = 0
        remaining = n_trials
        try:
            while remaining > 0:
                keep_alive.fail_dead_trials(space.distributions)  # theirs, retried in this batch
                size = min(self.settings.n_jobs, remaining)
                remaining -= size
                self._failures = []
                job_idx = self._run_batch(study, space, extend, size, job_idx, launched)
                stop_after = self.settings.stop_after_same_failures
                hopeless = same_failures(self._first_reasons, stop_after)
                if hopeless is not None:  # every further trial would fail the same way
                    self._write_results(study, resolved_url, launched)
                    raise SweepAborted(hopeless)
                if len(self._failures) / size > self.settings.max_failure_rate:
                    self._write_results(study, resolved_url, launched)
                    number, reason = self._failures[0]
                    raise SweepAborted(
                        f"hydra.sweeper.max_failure_rate={self.settings.max_failure_rate}: "
                        f"{len(self._failures)} of {size} trials of a batch failed (trial "
                        f"{number}: {reason}); raise it (1.0 never stops) to carry on"
                    )
            self._trials_seconds = time.monotonic() - self._started
            self._promote(study, space, job_idx, launched)
        except BaseException:
            # Ctrl-C or a storage error: leave no RUNNING trial behind in a shared study.
            for trial in list(self._untold.values()):
                self._tell(study, trial, TrialState.FAIL, None, "sweep interrupted", launched)
            raise
        finally:
            keep_alive.stop()
        self._write_results(study, resolved_url, launched)

    def _open_study(
        self,
        space: SearchSpace,
        make_sampler: Callable[..., optuna.samplers.BaseSampler],
        sampler: optuna.samplers.BaseSampler,
        n_trials: int,
    ) -> tuple[optuna.Study, str | None]:
        """Create or continue the study, reseeded when resumed; returns it and its URL."""
        from ._fixed import check_fixed
        from ._sampler import make_pruner, sampler_seed
        from ._study import create_study
        from .secrets import redact_url

        assert self.config is not None
        study, resolved_url = create_study(
            self.settings.storage,
            self._base_dir(self.config),
            self.settings.study_name,
            self.settings.directions,
            sampler,
            make_pruner(self.settings.pruner),
            (self.settings.heartbeat_interval, self.settings.grace_period),
        )
        self._check_directions(study)
        check_fixed(study, self.settings.fixed_per_study)  # made for these values, or refused
        if self.settings.objectives:  # reports (and optuna-dashboard) then name the values
            from optuna.exceptions import ExperimentalWarning

            with warnings.catch_warnings():  # "experimental" since optuna 3.2, still there in 5
                warnings.filterwarnings(
                    "ignore", r".*\bset_metric_names is experimental", ExperimentalWarning
                )  # only that one: any other warning of the call still shows
                study.set_metric_names(self.settings.objectives)
        existing = len(study.get_trials(deepcopy=False))
        seed = sampler_seed(self.settings.sampler)
        if existing and seed is not None:
            # The same seed again would replay the first launch's proposals; seed + trials so
            # far keeps every launch repeatable and new.
            study.sampler = make_sampler(space.grid, seed_offset=existing)
            log.info("Resumed study: sampler seed %d + %d trials so far", seed, existing)
        log.info(
            "Optuna study %r in %s: %d trials so far, adding %d (%d per batch), sampler %s",
            study.study_name,
            redact_url(resolved_url) if resolved_url else "memory",
            existing,
            n_trials,
            self.settings.n_jobs,
            type(study.sampler).__name__,
        )
        for name, dist in space.distributions.items():
            log.info("  search %s: %s", name, dist)
        if space.fixed:
            log.info("  fixed overrides: %s", " ".join(space.fixed))
        return study, resolved_url

    def _promote(
        self, study: optuna.Study, space: SearchSpace, job_idx: int, launched: Counter[str]
    ) -> None:
        """Launch the best ``promote`` trials not yet promoted, ``n_jobs`` at a time."""
        from ._outcome import outcome
        from ._promote import claim, pending, record
        from ._settings import first_line

        if self.settings.promote == 0:
            return
        todo = pending(study, best_trials(study), self.settings.promote)
        if not todo:
            log.info("Promotion: the best %d trial(s) are promoted already", self.settings.promote)
            return
        log.info("Promoting trial(s) %s", ", ".join(f"#{t.number}" for t in todo))
        for start in range(0, len(todo), self.settings.n_jobs):
            # Checked again and claimed under the storage's lock, a batch at a time: two sweeps
            # never render one trial, and a sweep that dies leaves only its batch claimed.
            with self._lock():
                ranked = best_trials(study)
                free = {t.number for t in pending(study, ranked, self.settings.promote)}
                batch = [t for t in todo[start : start + self.settings.n_jobs] if t.number in free]
                for trial in batch:
                    claim(study, trial.number)
            if not batch:
                continue
            overrides = [self._promotion_overrides(study, t, space) for t in batch]
            began = time.monotonic()
            try:
                results = self.launcher.launch(overrides, initial_job_idx=job_idx)
            except Exception as exc:
                results = []
                log.warning("launching promotions failed: %s", first_line(exc))
            job_idx += len(batch)
            seconds = (time.monotonic() - began) / len(batch)
            for i, trial in enumerate(batch):
                output_dir = None
                if i < len(results):
                    _, values, reason = outcome(
                        results[i], self.settings.directions, self.settings.objectives
                    )
                    output_dir = _output_dir(results[i])
                else:
                    values, reason = None, "no result from launcher"
                record(study, trial.number, values, reason, output_dir)
                launched["promoted" if values is not None else "promotion_failed"] += 1
                if values is None:
                    log.warning("Promotion of trial %d failed: %s", trial.number, reason)
                else:
                    log.info(
                        "Promoted trial %d: value %s (trial's own %s) in %.1f s",
                        trial.number,
                        _fmt(values),
                        _fmt(trial.values),
                        seconds,
                    )

    def _promotion_overrides(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial, space: SearchSpace
    ) -> list[str]:
        """The trial's own overrides again, marked as its promotion."""
        saved = trial.user_attrs.get("hydra_overrides")
        overrides = list(saved) if saved else space.overrides(trial.params)
        overrides.append(f"++{PROMOTED_KEY}={trial.number}")
        if self.settings.study_name is None:
            overrides.append(f"hydra.sweeper.study_name={study.study_name}")
        return overrides

    @staticmethod
    def _base_dir(config: DictConfig) -> str:
        """The launch folder, which relative sqlite paths mean."""
        return OmegaConf.select(config, "hydra.runtime.cwd") or os.getcwd()

    def _write_results(
        self, study: optuna.Study, resolved_url: str | None, launched: Counter[str]
    ) -> None:
        from .secrets import redact_url

        assert self.config is not None
        elapsed = None if self._started is None else time.monotonic() - self._started
        seconds = {"total": elapsed, "trials": self._trials_seconds}
        results = sweep_results(
            study, redact_url(resolved_url), self.settings.objectives, launched, seconds
        )
        write_results(results, Path(str(self.config.hydra.sweep.dir)) / RESULTS_FILE)

    def _check_directions(self, study: optuna.Study) -> None:
        existing = [d.name.lower() for d in study.directions]
        if existing != self.settings.directions:
            from ._settings import SweeperConfigError

            raise SweeperConfigError(
                f"hydra.sweeper.direction: study {study.study_name!r} was created with "
                f"{existing}, not {self.settings.directions}; use another hydra.sweeper.study_name"
            )

    def _run_batch(
        self,
        study: optuna.Study,
        space: SearchSpace,
        extend: Callable[[DictConfig, Any], None] | None,
        size: int,
        job_idx: int,
        launched: Counter[str],
    ) -> int:
        """Ask ``size`` trials, launch those whose config composes, tell every outcome."""
        from optuna.trial import TrialState

        from ._outcome import objectives_error, outcome
        from ._settings import SweeperConfigError, first_line

        pending: list[tuple[optuna.trial.Trial, list[str]]] = []
        for _ in range(size):
            trial = study.ask(fixed_distributions=space.distributions)
            self._untold[trial.number] = trial
            assert self._keep_alive is not None
            self._keep_alive.started(trial)
            overrides = self._configure(study, trial, space, extend)
            # A job whose config does not compose makes the launcher raise for its whole
            # batch: compose here first, unless the batch is that one job (it costs as much
            # as the launch's own composition).
            error = self._composition_error(overrides) if size > 1 else None
            if error is not None:
                self._tell(study, trial, TrialState.FAIL, None, f"config error: {error}", launched)
                continue
            pending.append((trial, overrides))
        if not pending:
            return job_idx

        batch = [overrides for _, overrides in pending]
        first_idx, job_idx = job_idx, job_idx + len(batch)
        try:
            results: Sequence[JobReturn] = self.launcher.launch(batch, initial_job_idx=first_idx)
        except Exception as exc:
            # A config that does not compose, or a broken launcher (a dead worker pool):
            # these trials failed, the sweep goes on.
            reason = f"launcher: {type(exc).__name__}: {first_line(exc)}"
            log.debug("launching trials %s failed", [t.number for t, _ in pending], exc_info=True)
            for trial, _ in pending:
                self._tell(study, trial, TrialState.FAIL, None, reason, launched)
            return job_idx

        misconfigured = None
        for (trial, _), ret in zip(pending, results, strict=False):
            misconfigured = misconfigured or objectives_error(ret, self.settings.objectives)
            output_dir = _output_dir(ret)
            if output_dir:
                self._set_attr(trial, "hydra_output_dir", output_dir)
            state, values, reason = outcome(ret, self.settings.directions, self.settings.objectives)
            self._tell(study, trial, state, values, reason, launched)
        for trial, _ in pending[len(results) :]:
            self._tell(study, trial, TrialState.FAIL, None, "no result from launcher", launched)
        if misconfigured:  # every further trial would fail the same way: stop now
            raise SweeperConfigError(misconfigured)
        return job_idx

    def _configure(
        self,
        study: optuna.Study,
        trial: optuna.trial.Trial,
        space: SearchSpace,
        extend: Callable[[DictConfig, Any], None] | None,
    ) -> list[str]:
        """The job's overrides: sampled params, fixed ones, custom ones and the trial's id."""
        from ._settings import SweeperConfigError

        fixed = space.fixed_params
        # As the official plugin: fixed values are user attrs, for custom_search_space to see.
        for key, value in fixed.items():
            trial.set_user_attr(key, value)
        if extend is not None:
            assert self.config is not None
            extend(self.config, trial)
            clash = sorted(set(trial.params) & set(fixed))
            if clash:
                raise SweeperConfigError(
                    f"hydra.sweeper.custom_search_space suggested {clash}, which the overrides "
                    "fix; drop the fixed value or the suggestion"
                )
        overrides = space.overrides(trial.params)
        trial.set_user_attr("hydra_overrides", overrides)
        overrides.append(f"++{TRIAL_KEY}={trial.number}")
        if self.settings.study_name is None:
            # Jobs find their trial by study name: hand them the one optuna generated.
            overrides.append(f"hydra.sweeper.study_name={study.study_name}")
        return overrides

    def _composition_error(self, overrides: list[str]) -> str | None:
        """Compose the job's config here, so a bad value fails its trial and not the launch."""
        from ._settings import first_line

        assert self.hydra_context is not None and self.config is not None
        try:
            self.hydra_context.config_loader.load_sweep_config(
                master_config=self.config, sweep_overrides=overrides
            )
        except Exception as exc:
            return f"{type(exc).__name__}: {first_line(exc)}"
        return None

    def _values(self, raw: Any) -> tuple[list[float] | None, str | None]:
        """The job's return value as one finite float per direction, or the reason it is not."""
        from ._outcome import job_values

        return job_values(raw, self.settings.directions, self.settings.objectives)

    def _tell(
        self,
        study: optuna.Study,
        trial: optuna.trial.Trial,
        state: TrialState,
        values: list[float] | None,
        reason: str | None,
        launched: Counter[str],
    ) -> None:
        from optuna.trial import TrialState

        if len(self._first_reasons) < self.settings.stop_after_same_failures:
            self._first_reasons.append((reason or "failed") if state == TrialState.FAIL else None)
        if state == TrialState.FAIL:
            log.warning("Trial %d failed: %s", trial.number, reason)
            self._failures.append((trial.number, reason or "failed"))
            if reason:
                self._set_attr(trial, "fail_reason", reason[:1000])
        self._untold.pop(trial.number, None)
        if state != TrialState.FAIL:
            started = trial.datetime_start
            took = "" if started is None else f" in {_elapsed(started):.1f} s"
            shown = "" if values is None else f" value {_fmt(values)}"
            if state == TrialState.PRUNED and reason:  # e.g. "at step 25, score 1.234"
                shown = f" {reason}"
            log.info("Trial %d %s%s%s: %s", trial.number, state.name, shown, took, trial.params)
        try:
            # skip_if_finished: a job may have finished its own trial through the storage.
            study.tell(trial, values=values, state=state, skip_if_finished=True)
        except RuntimeError as exc:
            # The grid sampler calls study.stop() once the grid is done, which optuna allows
            # only inside optimize(); the trial is recorded all the same.
            if "Study.stop" not in str(exc):
                log.exception("could not record the result of trial %d", trial.number)
                return
        except Exception:
            log.exception("could not record the result of trial %d", trial.number)
            return
        launched[state.name.lower()] += 1

    @staticmethod
    def _set_attr(trial: optuna.trial.Trial, key: str, value: Any) -> None:
        try:
            trial.set_user_attr(key, value)
        except Exception as exc:  # finished by the job already; the attr is only a convenience
            log.debug("trial %d: cannot set %s: %s", trial.number, key, exc)


def _output_dir(ret: JobReturn) -> str | None:
    """The job's output folder, when the launcher returned its Hydra config."""
    if not ret.hydra_cfg:
        return None
    found = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir")
    return None if found is None else str(found)


def _fmt(values: Sequence[float] | None) -> str:
    if values is None:
        return "none"
    return ", ".join(f"{v:.4g}" for v in values)


def _elapsed(start: Any) -> float:
    """Seconds since optuna's (naive, local) ``datetime_start``."""
    from datetime import datetime

    return (datetime.now() - start).total_seconds()
