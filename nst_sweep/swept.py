"""What a sweep varies: its swept keys, each job's run name with its values, the sweep's note.

The runs table then reads without extra columns: a job's run is ``job 3 · tv_weight=10``, a
trial's ``trial 7 · content_weight=1.25 style_weight=3.2e4 tv_weight=0.5``, and the sweep's
parent run describes (``mlflow.note.content``) which keys it sweeps over which values. The
sweep process finds the swept keys (``swept_keys``) and writes them beside the parent run's id;
each job, in this process or a worker, reads them there and names its run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nst_sweep.reports.labels import format_value, short_names

SEPARATOR = " · "  # between a job's number and its values
MAX_RUN_NAME = 250  # MLflow's limit for a run name


def swept_keys(overrides: Sequence[str], params: Mapping[str, Any] | None) -> dict[str, str]:
    """``{key: values as typed}`` for every key the sweep varies: sweep syntax on the command
    line (``a=1,2``, ``interval(...)``) or in ``hydra.sweeper.params`` (presets, searches)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    typed = [f"{key}={value}" for key, value in (params or {}).items()]
    found: dict[str, str] = {}
    for text in [*typed, *overrides]:  # the command line wins over the config's params
        try:
            override = parser.parse_override(str(text))
        except Exception:  # what Hydra cannot parse it refuses itself, with its own message
            continue
        if override.is_sweep_override():
            found[override.key_or_group] = str(text).split("=", 1)[1]
    return found


def job_values(overrides: Sequence[str], keys: Sequence[str]) -> dict[str, str]:
    """The values a job's overrides (``key=value``, as Hydra passes them) give ``keys``."""
    given = {}
    for text in overrides:
        name, sep, value = str(text).partition("=")
        if sep:
            given[name.lstrip("+~")] = value
    return {key: given[key] for key in keys if key in given}


def run_name(base: str, overrides: Sequence[str], keys: Sequence[str]) -> str:
    """``job 3 · tv_weight=10``: ``base`` and the job's swept values (short keys and numbers)."""
    values = job_values(overrides, keys)
    if not values:
        return base
    names = short_names(list(values))
    text = " ".join(f"{names[key]}={format_value(value)}" for key, value in values.items())
    name = f"{base}{SEPARATOR}{text}"
    return name if len(name) <= MAX_RUN_NAME else name[: MAX_RUN_NAME - 3] + "..."


def sweep_note(swept: Mapping[str, str], overrides: Sequence[str]) -> str:
    """The parent run's description (Markdown): the swept keys and their values or ranges."""
    lines = ["Swept (each job's run is named by its values):", ""]
    lines += [f"- `{key}`: `{values}`" for key, values in swept.items()]
    if not swept:
        lines = ["No key is swept: the jobs differ by their sweeper only.", ""]
    lines += ["", f"Overrides (the hydra.* ones aside): `{' '.join(overrides)}`"]
    return "\n".join(lines)
