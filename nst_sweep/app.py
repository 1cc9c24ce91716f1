"""The ``nst-sweep`` command: a Hydra app over ``conf/`` that runs and tracks one transfer per job.

Errors a user can cause end with one line on stderr and exit code 2; in a multirun the failing
job's MLflow run is marked FAILED with the reason and the other jobs go on.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.nst_optuna_sweeper import current_trial, trial_info
from nst_sweep.callbacks import RESULT_ARTIFACT, read_parent
from nst_sweep.errors import UserError, first_line
from nst_sweep.images import load_pair, save_image
from nst_sweep.quiet import import_tensorflow_quietly
from nst_sweep.score import SCORE_LAYERS, Scorer
from nst_sweep.settings import RunOptions, TransferSettings, flush_every
from nst_sweep.tracking import (
    MlflowTracker,
    NullTracker,
    flatten,
    quiet_mlflow_logging,
    tracking_enabled,
)

log = logging.getLogger("nst_sweep")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def git_commit() -> str:
    """The commit of the checkout the package runs from, or "unknown" (e.g. a wheel install)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def job_context(uri: str) -> tuple[str | None, str | None, dict[str, str]]:
    """(parent run id, run name, tags) of this Hydra job: nested under the sweep's parent."""
    hydra_cfg = _hydra_config()
    if hydra_cfg is None:
        return None, None, {}
    overrides = [str(o) for o in hydra_cfg.overrides.task]
    tags = {"hydra.overrides": " ".join(overrides)[:5000]}
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None, None, tags
    tags["hydra.job.num"] = str(hydra_cfg.job.num)
    name = f"job {hydra_cfg.job.num}"
    trial = trial_info()
    if trial is not None:
        study, number = trial
        tags.update({"optuna.study": study, "optuna.trial_number": str(number)})
        name = f"trial {number}"
    parent = read_parent(hydra_cfg.sweep.dir, uri)
    return parent, name, tags


def make_tracker(cfg: DictConfig) -> NullTracker:
    """The MLflow run for this job (or a no-op tracker for ``tracking=none``)."""
    if not tracking_enabled(cfg):
        return NullTracker()
    tracking = cfg.tracking
    batch_steps = flush_every(tracking)
    quiet_mlflow_logging()
    uri = str(tracking.get("uri"))
    parent, job_name, tags = job_context(uri)
    tags["mlflow.source.git.commit"] = git_commit()
    try:
        return MlflowTracker(
            uri=uri,
            experiment=str(tracking.get("experiment", "nst-sweep")),
            run_name=tracking.get("run_name") or job_name,
            parent_run_id=parent,
            tags=tags,
            flush_every=batch_steps,
        )
    except Exception as exc:
        raise UserError(
            f"tracking.uri={uri}: cannot open the MLflow store ({first_line(exc)}); pass "
            "sqlite:///runs/mlflow.db, an http(s):// tracking server, or tracking=none"
        ) from exc


def _is_pruned(exc: BaseException) -> bool:
    optuna = sys.modules.get("optuna")  # only loaded when a sweep uses it
    return optuna is not None and isinstance(exc, optuna.TrialPruned)


def _hydra_config() -> DictConfig | None:
    """Hydra's config of the running job, or None when called from plain Python."""
    return HydraConfig.get() if HydraConfig.initialized() else None


def _is_multirun() -> bool:
    hydra_cfg = _hydra_config()
    return hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN


def run_transfer(cfg: DictConfig, tracker: NullTracker) -> dict[str, float]:
    """Validate, load, stylize, save and log; returns the final metrics."""
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    settings = TransferSettings.from_mapping(config)
    options = RunOptions.from_mapping(config)
    content, style = load_pair(
        str(config["content"]),
        str(config["style"]),
        settings.image.size,
        settings.image.style_scale,
    )
    import_tensorflow_quietly()  # only now: bad paths and values fail fast, before TF loads
    import tensorflow as tf

    from nst_sweep.features import FeatureExtractor, device_name, load_vgg19
    from nst_sweep.optimize import stylize
    from nst_sweep.progress import ScoreReporter, StepReporter

    tracker.set_tags(
        {
            "device": device_name(),
            "tensorflow.version": tf.__version__,
            "model.weights": settings.model.weights,
            "seed": str(settings.seed),
        }
    )
    vgg = load_vgg19(settings.model.weights, settings.seed)
    extractor = FeatureExtractor(vgg, settings.layers.all, settings.model.pooling)
    scorer = make_scorer(options, settings, vgg, content, style)
    tracker.log_image("content", content)
    tracker.log_image("style", style)
    steps = settings.optimizer.steps
    hooks = []
    if scorer is not None and options.score_every > 0:
        hooks.append(ScoreReporter(scorer, tracker, options.score_every, steps, current_trial()))
    reporter = StepReporter(
        tracker,
        total_steps=steps,
        image_every=options.image_every,
        show=bool(config.get("progress", True)),
        hooks=hooks,
    )
    try:
        result = stylize(content, style, settings, callback=reporter, extractor=extractor)
    finally:
        reporter.close()
    save_image(result.image, options.output)
    tracker.log_image("result", result.image, step=result.final.step)
    with tempfile.TemporaryDirectory() as tmp:  # a fixed name lets the sweep summary find it
        tracker.log_artifact(save_image(result.image, Path(tmp) / RESULT_ARTIFACT))
    metrics = {f"loss/{k}": v for k, v in result.final.losses().items()}
    if scorer is not None:
        score = scorer(result.image).metrics()
        tracker.log_metrics(score, step=result.final.step)
        metrics.update(score)
        log.info("score %.4f (content %.4f, style %.4f)", *score.values())
    log.info(
        "wrote %s (loss %.4g after %d steps)", options.output, result.final.total, result.steps
    )
    return metrics


def make_scorer(
    options: RunOptions, settings: TransferSettings, vgg: Any, content: Any, style: Any
) -> Scorer | None:
    """The perceptual scorer for this run, or None when ``score.enabled`` is false.

    The evaluation network defaults to the run's own VGG19 (no second load); ``score.weights``
    picks another, e.g. ImageNet weights to judge runs optimised with something else.
    """
    from nst_sweep.features import FeatureExtractor, load_vgg19

    if not options.score_enabled:
        return None
    weights = options.score_weights or settings.model.weights
    network = (
        vgg
        if weights == settings.model.weights
        else load_vgg19(str(weights), settings.seed, key="score.weights")
    )
    # Always max pooling: scores must be comparable whatever model.pooling a run used.
    features = FeatureExtractor(network, SCORE_LAYERS, "max")
    return Scorer(content, style, features)


def log_config(tracker: NullTracker, cfg: DictConfig) -> None:
    """Params (flattened config) and the config + Hydra overrides as YAML artifacts."""
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # a broken interpolation is reported by validation; log it unresolved
        resolved = OmegaConf.to_container(cfg, resolve=False)
    tracker.log_params(flatten(resolved))  # type: ignore[arg-type]
    tracker.log_text(OmegaConf.to_yaml(resolved), "config.yaml")
    hydra_cfg = _hydra_config()
    overrides = list(hydra_cfg.overrides.task) if hydra_cfg is not None else []
    tracker.log_text(OmegaConf.to_yaml(OmegaConf.create(overrides)), "overrides.yaml")


def task(cfg: DictConfig) -> dict[str, float] | float:
    """One Hydra job: a tracked transfer. Failures are logged to MLflow before anything else."""
    multirun = _is_multirun()
    tracker: NullTracker = NullTracker()
    try:
        tracker = make_tracker(cfg)
        log_config(tracker, cfg)
        metrics = run_transfer(cfg, tracker)
    except UserError as exc:
        tracker.finish("FAILED", str(exc))
        if not multirun:
            print(f"nst-sweep: error: {exc}", file=sys.stderr)
            sys.exit(2)
        log.error("job failed: %s", exc)
        return math.nan
    except Exception as exc:
        if _is_pruned(exc):  # the sweeper records the trial as PRUNED
            tracker.set_tags({"optuna.pruned": "true"})
            tracker.finish("KILLED", f"pruned by Optuna: {exc}")
            raise
        tracker.finish("FAILED", f"{type(exc).__name__}: {first_line(exc)}")
        if not multirun:
            raise
        # In a sweep one broken job (out of memory, a bug) must not stop the others.
        log.exception("job failed")
        return math.nan
    except BaseException as exc:  # Ctrl-C, pruning, SystemExit
        tracker.finish("KILLED", f"{type(exc).__name__}: {first_line(exc)}")
        raise
    tracker.finish("FINISHED")
    return metrics


hydra_task = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")(task)


def describe_hydra_error(exc: BaseException) -> str:
    """Hydra/OmegaConf errors are multi-line; fold them into one line with the fix."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    missing = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if missing:
        group, option = missing.groups()
        options = [ln for ln in lines if re.fullmatch(r"[\w.-]+", ln) and ln not in (group, option)]
        listed = f"; use one of: {', '.join(options)}" if options else ""
        return f"{group}={option}: no such config option{listed}"
    head = lines[0] if lines else type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        head = f"{head} ({str(cause).strip().splitlines()[0]})"
    return head


def main() -> None:
    """Console entry point (``nst-sweep`` and ``python -m nst_sweep``)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    # Make Hydra raise instead of printing its own multi-line report and exiting 1.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    # A kill (CI cancel, scheduler) unwinds like Ctrl-C: runs end KILLED, not RUNNING forever.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        hydra_task()
    except UserError as exc:  # e.g. raised by the sweeper while parsing its search space
        print(f"nst-sweep: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (HydraException, OmegaConfBaseException) as exc:
        print(f"nst-sweep: error: {describe_hydra_error(exc)}", file=sys.stderr)
        sys.exit(2)
