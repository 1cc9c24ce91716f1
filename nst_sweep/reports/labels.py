"""Captions for a sweep's jobs: the parameters that differ between them, compactly formatted."""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from hydra_plugins.nst_optuna_sweeper import TRIAL_KEY
from nst_sweep.names import JOB_NUM_TAG

__all__ = ["DEFAULT_IGNORE", "differing_keys", "format_value", "job_labels", "short_names"]

# Keys that differ between jobs without describing the experiment (paths, bookkeeping).
DEFAULT_IGNORE: frozenset[str] = frozenset(
    {
        "output",
        "output_dir",
        TRIAL_KEY,
        "trial_number",
        "run_name",
        JOB_NUM_TAG,
        "hydra.job.id",
        "hydra.runtime.output_dir",
    }
)

UNSET = "(unset)"


def differing_keys(
    param_sets: Sequence[Mapping[str, str]],
    ignore: Collection[str] = DEFAULT_IGNORE,
) -> list[str]:
    """Keys whose values differ between jobs (missing in some counts as differing).

    Order is first appearance across ``param_sets``; keys in ``ignore`` are skipped.
    """
    ignored = set(ignore)
    order: dict[str, None] = {}
    for params in param_sets:
        for key in params:
            if key not in ignored:
                order.setdefault(key, None)
    sentinel = object()
    result = []
    for key in order:
        values = [params.get(key, sentinel) for params in param_sets]
        if any(v is sentinel for v in values) or len({str(v) for v in values}) > 1:
            result.append(key)
    return result


def _format_number(x: float) -> str:
    text = f"{x:.3g}"
    # "1e-05" -> "1e-5", "1e+09" -> "1e9": shorter and still unambiguous.
    return re.sub(r"e([+-])0*(\d+)", lambda m: "e" + ("-" if m[1] == "-" else "") + m[2], text)


def format_value(value: Any) -> str:
    """Compact, readable rendering of a (string) parameter value for a caption.

    Integers and booleans are kept, floats use 3 significant digits (``1e-5``, ``0.001``,
    ``1e9``), list/tuple reprs become comma-joined items. Nothing is cut: two values that
    differ only in their tail (layer lists) must read differently; the sheet wraps them.
    """
    if value is None:
        return "None"
    text = str(value).strip()
    parsed: Any = value
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            parsed = text
    if isinstance(parsed, list | tuple):
        out = ",".join(format_value(item) for item in parsed)
    elif isinstance(parsed, bool):
        out = str(parsed)
    elif isinstance(parsed, float):
        out = _format_number(parsed)
    elif isinstance(parsed, int):
        out = str(parsed)
    else:
        out = text
    return out


def short_names(keys: Sequence[str]) -> dict[str, str]:
    """Shortest dotted suffix of each key that is unique among ``keys``."""
    parts = {key: key.split(".") for key in keys}
    names: dict[str, str] = {}
    for key in keys:
        for n in range(1, len(parts[key]) + 1):
            suffix = ".".join(parts[key][-n:])
            clashes = [
                other for other in keys if other != key and ".".join(parts[other][-n:]) == suffix
            ]
            if not clashes:
                names[key] = suffix
                break
        else:
            names[key] = key
    return names


def job_labels(
    param_sets: Sequence[Mapping[str, str]],
    keys: Sequence[str] | None = None,
    *,
    ignore: Collection[str] = DEFAULT_IGNORE,
) -> list[str]:
    """One multi-line ``key=value`` label per job for ``keys`` (default: the differing keys).

    Keys are shortened to their last dotted part when that is unambiguous. When there are no
    keys, labels fall back to ``"job N"`` (0-based, like Hydra's ``job.num``).
    """
    if keys is None:
        keys = differing_keys(param_sets, ignore=ignore)
    if not keys:
        return [f"job {i}" for i in range(len(param_sets))]
    names = short_names(keys)
    return [
        "\n".join(
            f"{names[key]}={format_value(params[key]) if key in params else UNSET}" for key in keys
        )
        for params in param_sets
    ]
