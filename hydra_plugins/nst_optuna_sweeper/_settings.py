"""The ``hydra.sweeper`` keys, checked once: a bad value is one line naming the key and the fix.

Kept free of optuna imports, like config.py: the sweeper reads its settings when Hydra builds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from hydra.errors import CompactHydraException
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from .config import NstOptunaSweeperConf


class SweeperConfigError(CompactHydraException):
    """A bad ``hydra.sweeper`` setting; Hydra prints it as one line."""


@dataclass(frozen=True)
class Settings:
    """What the sweeper works with (see ``NstOptunaSweeperConf`` for each key)."""

    directions: list[str]
    objectives: list[str] | None
    # Configs (Hydra hands them over unbuilt: _recursive_ false) or, from Python, optuna
    # objects; the sweep builds them.
    sampler: Any
    pruner: Any
    storage: str | None
    study_name: str | None
    n_trials: int
    n_jobs: int
    max_failure_rate: float
    params: dict[str, Any]
    custom_search_space: str | None
    promote: int = 0
    heartbeat_interval: int | None = None
    grace_period: int | None = None
    stop_after_same_failures: int = 0
    fixed_per_study: dict[str, str] | None = None  # values the study is made for (_fixed.py)


def plain(value: Any) -> Any:
    """OmegaConf containers -> plain Python (unresolved interpolations stay as text)."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=False)
    return value


def read_settings(options: dict[str, Any]) -> Settings:
    """The sweeper's keyword arguments, checked."""
    known = {f.name for f in fields(NstOptunaSweeperConf)}
    unknown = sorted(set(options) - known)
    if "search_space" in unknown:
        raise SweeperConfigError(
            "hydra.sweeper.search_space is the official plugin's deprecated format; "
            "write the search space under hydra.sweeper.params"
        )
    if unknown:
        raise SweeperConfigError(
            f"hydra.sweeper.{unknown[0]}: not a key of nst_optuna; its keys are in "
            "hydra_plugins/nst_optuna_sweeper/README.md"
        )
    conf = NstOptunaSweeperConf(**options)
    directions = parse_directions(conf.direction)
    objectives = [str(o) for o in plain(conf.objectives)] if conf.objectives else None
    if objectives is not None and len(objectives) != len(directions):
        raise SweeperConfigError(
            f"hydra.sweeper.objectives has {len(objectives)} names but direction has "
            f"{len(directions)}; give one objective per direction"
        )
    if int(conf.n_trials) < 0:
        raise SweeperConfigError(f"hydra.sweeper.n_trials must be >= 0, got {conf.n_trials}")
    if int(conf.n_jobs) < 1:
        raise SweeperConfigError(f"hydra.sweeper.n_jobs must be >= 1, got {conf.n_jobs}")
    if not 0.0 <= float(conf.max_failure_rate) <= 1.0:
        raise SweeperConfigError(
            f"hydra.sweeper.max_failure_rate must be within [0, 1], got "
            f"{conf.max_failure_rate} (0.0 stops at the first failure, 1.0 never)"
        )
    if int(conf.promote) < 0:
        raise SweeperConfigError(
            f"hydra.sweeper.promote must be >= 0 (trials launched again at the end), "
            f"got {conf.promote}"
        )
    stop_after = conf.stop_after_same_failures
    if isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 0:
        raise SweeperConfigError(
            f"hydra.sweeper.stop_after_same_failures={stop_after!r}: give a whole number >= 0 "
            "(0: never stop for that)"
        )
    if conf.storage is not None and not isinstance(conf.storage, str):
        raise SweeperConfigError(
            "hydra.sweeper.storage: give a database URL such as sqlite:///optuna.db, or null"
        )
    heartbeat_interval = _seconds("heartbeat_interval", conf.heartbeat_interval)
    grace_period = _seconds("grace_period", conf.grace_period)
    if grace_period is not None and heartbeat_interval is None:
        raise SweeperConfigError(
            "hydra.sweeper.grace_period needs hydra.sweeper.heartbeat_interval; set both, "
            "or grace_period=null"
        )
    if grace_period is not None and grace_period <= (heartbeat_interval or 0):
        raise SweeperConfigError(
            f"hydra.sweeper.grace_period={grace_period} must exceed heartbeat_interval="
            f"{heartbeat_interval} (a live trial beats once per interval); raise it, or "
            "grace_period=null (2 x the interval)"
        )
    return Settings(
        directions=directions,
        objectives=objectives,
        # MISSING: built from Python without the sampler group (-> TPE).
        sampler=None if conf.sampler == MISSING else conf.sampler,
        pruner=conf.pruner,
        storage=conf.storage,
        study_name=None if conf.study_name is None else str(conf.study_name),
        n_trials=int(conf.n_trials),
        n_jobs=int(conf.n_jobs),
        max_failure_rate=float(conf.max_failure_rate),
        params=dict(plain(conf.params) or {}),
        custom_search_space=conf.custom_search_space,
        promote=int(conf.promote),
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        stop_after_same_failures=stop_after,
        fixed_per_study=as_fixed(conf.fixed_per_study),
    )


def as_fixed(raw: Any) -> dict[str, str] | None:
    """``hydra.sweeper.fixed_per_study`` as {key: value as text}, or None."""
    if isinstance(raw, DictConfig):  # from check_config: a node of the whole config
        try:
            raw = OmegaConf.to_container(raw, resolve=True)
        except Exception as exc:
            raise SweeperConfigError(f"hydra.sweeper.fixed_per_study: {first_line(exc)}") from None
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise SweeperConfigError(
            "hydra.sweeper.fixed_per_study: give a mapping of keys to values, e.g. "
            "{image.size: ${image.size}}, or null"
        )
    return {str(key): str(value) for key, value in raw.items()}


def _seconds(key: str, value: Any) -> int | None:
    """A whole positive number of seconds, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1 or value % 1:
        raise SweeperConfigError(
            f"hydra.sweeper.{key}={value!r}: give a whole number of seconds >= 1, or null"
        )
    return int(value)


def parse_directions(raw: Any) -> list[str]:
    """``hydra.sweeper.direction`` as a list of "minimize"/"maximize"."""
    raw = plain(raw)
    items: Sequence[Any] = [raw] if isinstance(raw, str) or not isinstance(raw, Sequence) else raw
    if not items:
        raise SweeperConfigError(
            "hydra.sweeper.direction: give minimize, maximize or a list of them"
        )
    out = []
    for item in items:
        name = str(getattr(item, "name", item)).strip().lower()
        if name not in ("minimize", "maximize"):
            raise SweeperConfigError(
                f"hydra.sweeper.direction: {item!r} is not minimize or maximize"
            )
        out.append(name)
    return out


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (or its type's name); with the next
    one when it ends in a colon, as Hydra's "Error loading 'x':" does.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    head = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return head[:500]
