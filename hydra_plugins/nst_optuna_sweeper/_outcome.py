"""How a finished job ends its trial: COMPLETE with finite values, PRUNED, or FAIL with a reason."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import TrialState

from ._settings import first_line, plain

_MISSING = object()


def outcome(
    ret: JobReturn, directions: Sequence[str], objectives: Sequence[str] | None
) -> tuple[TrialState, list[float] | None, str | None]:
    """Trial state, objective values and failure reason (or, for PRUNED, the job's
    message) of one finished job."""
    if ret.status == JobStatus.COMPLETED:
        # _return_value, not return_value: the property re-raises for failed jobs.
        values, reason = job_values(ret._return_value, directions, objectives)
        if values is None:
            return TrialState.FAIL, None, reason
        return TrialState.COMPLETE, values, None
    if ret.status == JobStatus.FAILED:
        exc = ret._return_value
        if isinstance(exc, optuna.TrialPruned):  # the job's words: where it was stopped
            return TrialState.PRUNED, None, first_line(exc) if str(exc) else None
        return TrialState.FAIL, None, f"{type(exc).__name__}: {first_line(exc)}"
    return TrialState.FAIL, None, f"job status {ret.status.name}"


def objectives_error(ret: JobReturn, objectives: Sequence[str] | None) -> str | None:
    """Why ``objectives`` cannot pick values from a completed job's mapping: a setting to
    fix before any more trials run, not a trial that failed. None when they can (or when the
    job returned no mapping)."""
    if ret.status != JobStatus.COMPLETED:
        return None
    raw = plain(ret._return_value)
    if not isinstance(raw, Mapping):
        return None
    keys = sorted(map(str, raw))
    if not objectives:
        return (
            f"hydra.sweeper.objectives is null but the job returned a mapping (keys: {keys}); "
            "set it to the key(s) to optimise"
        )
    missing = [k for k in objectives if _lookup(raw, k) is _MISSING]
    if missing:
        return (
            f"hydra.sweeper.objectives={list(objectives)}: the job returned no {missing[0]!r} "
            f"(its keys: {keys}); name keys it returns"
        )
    return None


def job_values(
    raw: Any, directions: Sequence[str], objectives: Sequence[str] | None
) -> tuple[list[float] | None, str | None]:
    """The job's return value as one finite float per direction, or the reason it is not."""
    raw = plain(raw)
    if isinstance(raw, Mapping):
        if not objectives:
            return None, (
                f"returned a mapping with keys {sorted(map(str, raw))}; set "
                "hydra.sweeper.objectives to the key(s) to optimize"
            )
        missing = [k for k in objectives if _lookup(raw, k) is _MISSING]
        if missing:
            return None, f"returned a mapping without {missing} (keys: {sorted(raw)})"
        items = [_lookup(raw, k) for k in objectives]
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
    if len(values) != len(directions):
        return None, f"returned {len(values)} value(s) for {len(directions)} direction(s)"
    if not all(math.isfinite(v) for v in values):
        return None, f"returned a non-finite value {values}"
    return values, None


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


def same_failures(first: list[str | None], count: int) -> str | None:
    """The one line that stops a launch whose first ``count`` trials all failed with the same
    reason (``first``: each told trial's failure reason in order, None for one that did not
    fail), else None."""
    if count < 1 or len(first) < count or None in first[:count]:
        return None
    # The same mistake with each trial's own numbers in it ("loss.tv_weight=-1.5: must be
    # >= 0") is still the same mistake.
    if len({re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", r or "") for r in first[:count]}) != 1:
        return None
    return (
        f"the first {count} trials failed the same way, so the search stops "
        f"(hydra.sweeper.stop_after_same_failures={count}): {first[0]}"
    )
