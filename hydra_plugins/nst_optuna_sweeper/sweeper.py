"""``NstOptunaSweeper``: a Hydra sweeper that runs an Optuna (>= 5) study by ask-and-tell.

Each batch asks ``n_jobs`` trials, turns their sampled params into Hydra overrides (plus
``++optuna_trial=<number>``), launches them through the configured Hydra launcher and tells
optuna how each job ended. A job that fails never stops the sweep.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig, OmegaConf

from .config import RESULTS_FILE, TRIAL_KEY, NstOptunaSweeperConf
from .results import best_trials

if TYPE_CHECKING:  # optuna is imported lazily: Hydra imports this module on every start-up
    import optuna
    from optuna.trial import TrialState

    from ._search_space import SearchSpace

log = logging.getLogger(__name__)

_DIRECTIONS = ("minimize", "maximize")


def _plain(value: Any) -> Any:
    """OmegaConf containers -> plain Python (unresolved interpolations stay as text)."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=False)
    return value


def _directions(direction: Any) -> list[str]:
    raw = _plain(direction)
    items = [raw] if isinstance(raw, str) else list(raw or [])
    if not items:
        raise HydraException("hydra.sweeper.direction: give minimize, maximize or a list of them")
    out = []
    for item in items:
        name = str(getattr(item, "name", item)).strip().lower()
        if name not in _DIRECTIONS:
            raise HydraException(f"hydra.sweeper.direction: {item!r} is not minimize or maximize")
        out.append(name)
    return out


class NstOptunaSweeper(Sweeper):
    """Optuna study over Hydra overrides; see ``config.NstOptunaSweeperConf`` for the keys."""

    def __init__(self, **options: Any) -> None:
        """Takes the keys of ``NstOptunaSweeperConf``, whose defaults are the only ones."""
        conf = NstOptunaSweeperConf(**options)
        sampler, direction, storage = conf.sampler, conf.direction, conf.storage
        study_name, n_trials, n_jobs = conf.study_name, conf.n_trials, conf.n_jobs
        params, pruner, objectives = conf.params, conf.pruner, conf.objectives
        super().__init__()
        self.directions = _directions(direction)
        self.objectives = [str(o) for o in _plain(objectives)] if objectives else None
        if self.objectives is not None and len(self.objectives) != len(self.directions):
            raise HydraException(
                f"hydra.sweeper.objectives has {len(self.objectives)} names but direction has "
                f"{len(self.directions)}; give one objective per direction"
            )
        if int(n_trials) < 0:
            raise HydraException(f"hydra.sweeper.n_trials must be >= 0, got {n_trials}")
        if int(n_jobs) < 1:
            raise HydraException(f"hydra.sweeper.n_jobs must be >= 1, got {n_jobs}")
        # Hydra usually hands these over already instantiated (recursive instantiation), but a
        # config or null is accepted too; sweep() turns them into optuna objects.
        self.sampler_conf = sampler
        self.pruner_conf = pruner
        self.storage = None if storage is None else str(storage)
        self.study_name = str(study_name)
        self.n_trials = int(n_trials)
        self.n_jobs = int(n_jobs)
        self.params: dict[str, Any] = dict(_plain(params) or {})

        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None
        # Trials asked but not yet told, failed if the sweep is interrupted.
        self._untold: dict[int, optuna.trial.Trial] = {}

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        """Keep Hydra's context and create the launcher that runs each batch."""
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # ------------------------------------------------------------------ sweep

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        """Run ``n_trials`` trials in batches of ``n_jobs``; returns the job results per batch."""
        import optuna
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from optuna.trial import TrialState

        from ._search_space import build_search_space, parse_overrides
        from ._study import create_study, make_pruner, make_sampler, redact_url

        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        space = build_search_space(parse_overrides(self.params, arguments, parser))

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        base_dir = OmegaConf.select(self.config, "hydra.runtime.cwd") or os.getcwd()
        study, resolved_url = create_study(
            self.storage,
            base_dir,
            self.study_name,
            self.directions,
            make_sampler(self.sampler_conf),
            make_pruner(self.pruner_conf),
        )
        self._check_directions(study)
        if self.objectives:  # reports (and optuna-dashboard) then name the values
            with warnings.catch_warnings():  # "experimental" since optuna 3.2, still there in 5
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(self.objectives)
        self._reseed_for_resume(study, make_sampler)
        storage_text = redact_url(resolved_url) if resolved_url else "memory"
        log.info(
            "Optuna study %r in %s: %d trials so far, adding %d (%d per batch)",
            self.study_name,
            storage_text,
            len(study.get_trials(deepcopy=False)),
            self.n_trials,
            self.n_jobs,
        )
        for name, dist in space.distributions.items():
            log.info("  search %s: %s", name, dist)
        if space.fixed:
            log.info("  fixed overrides: %s", " ".join(space.fixed))

        launched: Counter[str] = Counter()
        returns: list[Sequence[JobReturn]] = []
        job_idx = 0
        remaining = self.n_trials
        try:
            while remaining > 0:
                size = min(self.n_jobs, remaining)
                remaining -= size
                results, job_idx = self._run_batch(study, space, size, job_idx, launched)
                returns.append(results)
        except BaseException:
            # Ctrl-C or a storage error: leave no RUNNING trial behind in a shared study.
            for trial in list(self._untold.values()):
                self._tell(study, trial, TrialState.FAIL, None, "sweep interrupted", launched)
            raise

        summary = self._summary(study, redact_url(resolved_url), launched)
        self._log_best(summary)
        OmegaConf.save(OmegaConf.create(summary), sweep_dir / RESULTS_FILE)
        log.info("Wrote %s", sweep_dir / RESULTS_FILE)
        return returns

    def _reseed_for_resume(self, study: optuna.Study, make_sampler: Any) -> None:
        """A resumed study with a seeded sampler gets seed + (trials so far).

        The same seed again would replay the first launch's start-up proposals, repeating
        trials; offsetting by the study's size keeps every launch repeatable and new.
        """
        existing = len(study.get_trials(deepcopy=False))
        # Hydra hands the sweeper an already-built sampler; its config is still in hydra.sweeper.
        sampler_conf = OmegaConf.select(self.config, "hydra.sweeper.sampler")
        if not isinstance(sampler_conf, DictConfig) or "_target_" not in sampler_conf:
            return
        seed = sampler_conf.get("seed")
        if existing and seed is not None:
            conf = OmegaConf.merge(sampler_conf, {"seed": int(seed) + existing})
            study.sampler = make_sampler(conf)
            log.info("resumed study: sampler seed %d + %d trials so far", int(seed), existing)

    def _check_directions(self, study: optuna.Study) -> None:
        existing = [d.name.lower() for d in study.directions]
        if existing != self.directions:
            raise HydraException(
                f"study {self.study_name!r} was created with direction {existing}, not "
                f"{self.directions}; use another hydra.sweeper.study_name"
            )

    def _run_batch(
        self,
        study: optuna.Study,
        space: SearchSpace,
        size: int,
        job_idx: int,
        launched: Counter[str],
    ) -> tuple[Sequence[JobReturn], int]:
        """Ask ``size`` trials, launch those whose config composes, tell every outcome."""
        from optuna.trial import TrialState

        pending: list[tuple[optuna.trial.Trial, list[str]]] = []
        for _ in range(size):
            trial = study.ask(fixed_distributions=space.distributions)
            self._untold[trial.number] = trial
            overrides = space.overrides(trial.params)
            error = self._composition_error([*overrides, f"++{TRIAL_KEY}={trial.number}"])
            if error is not None:
                self._tell(study, trial, TrialState.FAIL, None, f"config error: {error}", launched)
                continue
            trial.set_user_attr("hydra_overrides", overrides)
            pending.append((trial, overrides))
        if not pending:
            return [], job_idx

        batch = [[*overrides, f"++{TRIAL_KEY}={trial.number}"] for trial, overrides in pending]
        first_idx, job_idx = job_idx, job_idx + len(batch)
        try:
            results = self.launcher.launch(batch, initial_job_idx=first_idx)
        except Exception as exc:
            # The launcher itself broke (e.g. a dead worker pool): these trials failed, the
            # sweep goes on with the next batch.
            log.exception("launching trials %s failed", [t.number for t, _ in pending])
            for trial, _ in pending:
                self._tell(study, trial, TrialState.FAIL, None, f"launcher: {exc}", launched)
            return [], job_idx

        for (trial, _), ret in zip(pending, results, strict=False):
            hydra_cfg = ret.hydra_cfg
            output_dir = (
                OmegaConf.select(hydra_cfg, "hydra.runtime.output_dir") if hydra_cfg else None
            )
            if output_dir:
                self._set_attr(trial, "hydra_output_dir", str(output_dir))
            state, values, reason = self._outcome(ret)
            self._tell(study, trial, state, values, reason, launched)
        for trial, _ in pending[len(results) :]:
            self._tell(study, trial, TrialState.FAIL, None, "no result from launcher", launched)
        return results, job_idx

    def _composition_error(self, overrides: list[str]) -> str | None:
        """Compose the job's config here, so a bad value fails its trial and not the launch."""
        assert self.hydra_context is not None and self.config is not None
        try:
            self.hydra_context.config_loader.load_sweep_config(
                master_config=self.config, sweep_overrides=overrides
            )
        except Exception as exc:
            return f"{type(exc).__name__}: {_one_line(exc)}"
        return None

    def _outcome(self, ret: JobReturn) -> tuple[TrialState, list[float] | None, str | None]:
        """Trial state, objective values and failure reason of one finished job."""
        import optuna
        from optuna.trial import TrialState

        if ret.status == JobStatus.COMPLETED:
            # _return_value, not return_value: the property re-raises for failed jobs.
            values, reason = self._values(ret._return_value)
            if values is None:
                return TrialState.FAIL, None, reason
            return TrialState.COMPLETE, values, None
        if ret.status == JobStatus.FAILED:
            exc = ret._return_value
            if isinstance(exc, optuna.TrialPruned):
                return TrialState.PRUNED, None, None
            return TrialState.FAIL, None, f"{type(exc).__name__}: {_one_line(exc)}"
        return TrialState.FAIL, None, f"job status {ret.status.name}"

    def _values(self, raw: Any) -> tuple[list[float] | None, str | None]:
        """The job's return value as one finite float per direction, or the reason it is not."""
        raw = _plain(raw)
        if isinstance(raw, Mapping):
            if not self.objectives:
                return None, (
                    f"returned a mapping with keys {sorted(map(str, raw))}; set "
                    "hydra.sweeper.objectives to the key(s) to optimize"
                )
            missing = [k for k in self.objectives if _lookup(raw, k) is _MISSING]
            if missing:
                return None, f"returned a mapping without {missing} (keys: {sorted(raw)})"
            items = [_lookup(raw, k) for k in self.objectives]
        elif raw is None or isinstance(raw, str | bytes | bool):
            return None, f"returned {raw!r}, not a number"
        elif isinstance(raw, numbers.Number):
            items = [raw]
        else:
            try:
                items = list(raw)
            except TypeError:  # e.g. a 0-d numpy array
                items = [raw]
        try:
            values = [float(v) for v in items]
        except (TypeError, ValueError):
            return None, f"returned {items!r}, not numbers"
        if len(values) != len(self.directions):
            return None, (
                f"returned {len(values)} value(s) for {len(self.directions)} direction(s)"
            )
        if not all(math.isfinite(v) for v in values):
            return None, f"returned a non-finite value {values}"
        return values, None

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

        if state == TrialState.FAIL:
            log.warning("Trial %d failed: %s", trial.number, reason)
            if reason:
                self._set_attr(trial, "fail_reason", reason[:1000])
        self._untold.pop(trial.number, None)
        try:
            # skip_if_finished: a job may have finished its own trial through the storage.
            study.tell(trial, values=values, state=state, skip_if_finished=True)
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

    # ---------------------------------------------------------------- results

    def _summary(
        self, study: optuna.Study, storage: str | None, launched: Counter[str]
    ) -> dict[str, Any]:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        by_state = Counter(t.state for t in trials)
        summary: dict[str, Any] = {
            "study_name": self.study_name,
            "storage": storage,
            "directions": list(self.directions),
            "objectives": self.objectives,
            "n_trials": {
                "total": len(trials),
                "complete": by_state[TrialState.COMPLETE],
                "fail": by_state[TrialState.FAIL],
                "pruned": by_state[TrialState.PRUNED],
                "running": by_state[TrialState.RUNNING],
                "waiting": by_state[TrialState.WAITING],
            },
            "this_launch": {k: launched[k] for k in ("complete", "fail", "pruned")},
        }
        ranked = best_trials(study)
        if len(self.directions) == 1:
            best = ranked[0] if ranked else None
            summary["best_trial"] = None if best is None else best.number
            summary["best_value"] = None if best is None else best.value
            summary["best_params"] = None if best is None else dict(best.params)
        else:
            summary["pareto_front"] = [
                {"number": t.number, "values": list(t.values), "params": dict(t.params)}
                for t in ranked
            ]
        return summary

    @staticmethod
    def _log_best(summary: dict[str, Any]) -> None:
        counts = summary["n_trials"]
        log.info(
            "Study %r: %d trials (%d complete, %d failed, %d pruned)",
            summary["study_name"],
            counts["total"],
            counts["complete"],
            counts["fail"],
            counts["pruned"],
        )
        if "pareto_front" in summary:
            log.info("Pareto front: %d trial(s)", len(summary["pareto_front"]))
            for item in summary["pareto_front"]:
                log.info(
                    "  #%d values=%s params=%s", item["number"], item["values"], item["params"]
                )
        elif summary["best_trial"] is None:
            log.warning("No trial completed: no best params")
        else:
            log.info(
                "Best trial #%d: value=%s params=%s",
                summary["best_trial"],
                summary["best_value"],
                summary["best_params"],
            )


_MISSING = object()


def _lookup(mapping: Mapping[str, Any], key: str) -> Any:
    """``mapping[key]``; else a dotted path into nested mappings (``loss.total``)."""
    if key in mapping:
        return mapping[key]
    node: Any = mapping
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:500] if lines else type(exc).__name__
