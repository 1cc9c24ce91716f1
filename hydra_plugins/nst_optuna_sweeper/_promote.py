"""Promotion: the best finished trials launched once more after the search (``promote``).

A search that tunes on something cheap (small images, few epochs) promotes its best trials to
the real thing; the app tells a promotion job by ``++optuna_promoted=<number>``. What became of
each promotion is kept in the study's user attrs under ``promotion:<number>`` (optuna refuses to
change a finished trial): ``state`` (running | complete | fail), ``values``, ``reason``, and the
process that claimed it (``processes.process_token``). A trial is promoted once per study: a
resumed or concurrent sweep skips completed promotions and ones claimed by a live process, and
retries the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.study import StudyDirection

from .processes import process_ended, process_token

ATTR_PREFIX = "promotion:"
RUNNING, COMPLETE, FAIL = "running", "complete", "fail"


def records(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """Every promotion of the study by trial number."""
    return {
        int(key.removeprefix(ATTR_PREFIX)): dict(value)
        for key, value in study.user_attrs.items()
        if key.startswith(ATTR_PREFIX)
    }


Ranked = Sequence[optuna.trial.FrozenTrial]  # best first, as ``results.best_trials`` gives


def candidates(study: optuna.Study, ranked: Ranked, count: int) -> list[optuna.trial.FrozenTrial]:
    """The ``count`` trials to promote: the best by value, or spread along a Pareto front."""
    if len(study.directions) == 1 or len(ranked) <= count:
        return list(ranked[:count])
    # A front sorted by its first objective; evenly spaced picks keep both ends.
    front = sorted(ranked, key=lambda t: (t.values[0], t.number))
    if count == 1:
        return [front[len(front) // 2]]
    picks = sorted({round(i * (len(front) - 1) / (count - 1)) for i in range(count)})
    return [front[i] for i in picks]


def pending(study: optuna.Study, ranked: Ranked, count: int) -> list[optuna.trial.FrozenTrial]:
    """Candidates not yet promoted and not being promoted by a live process."""
    done = records(study)
    return [t for t in candidates(study, ranked, count) if not _settled(done.get(t.number))]


def _settled(record: dict[str, Any] | None) -> bool:
    if record is None:
        return False
    if record.get("state") == COMPLETE:
        return True
    if record.get("state") == RUNNING:
        # A claim by another machine cannot be checked from here: it is left alone. One by a
        # process that ended on this machine (killed mid-render) is retried.
        return not process_ended(record.get("process"))
    return False  # failed: retried


def claim(study: optuna.Study, number: int) -> None:
    """Mark trial ``number`` as being promoted by this process."""
    study.set_user_attr(
        f"{ATTR_PREFIX}{number}",
        {"state": RUNNING, "process": process_token()},
    )


def record(
    study: optuna.Study,
    number: int,
    values: Sequence[float] | None,
    reason: str | None,
    output_dir: str | None = None,
) -> None:
    """Keep how the promotion of trial ``number`` ended (values, or the failure reason) and
    the promotion job's output folder."""
    entry: dict[str, Any] = {"state": COMPLETE if values is not None else FAIL}
    if output_dir:
        entry["output_dir"] = output_dir
    if values is not None:
        entry["values"] = [float(v) for v in values]
    if reason:
        entry["reason"] = reason[:1000]
    study.set_user_attr(f"{ATTR_PREFIX}{number}", entry)


def promoted(study: optuna.Study, ranked: Ranked) -> list[dict[str, Any]]:
    """Completed promotions, best first (one objective; by trial number for a Pareto study).

    Each: ``trial``, ``values``, the trial's own ``trial_values``, ``params``, ``trial_rank``
    (1 = the best trial of the search, by the rule of ``best_trials``) and the promotion job's
    ``output_dir``.
    """
    ranks = {t.number: rank for rank, t in enumerate(ranked, start=1)}
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    found = []
    for number, entry in records(study).items():
        trial = trials.get(number)
        if entry.get("state") != COMPLETE or trial is None:
            continue
        found.append(
            {
                "trial": number,
                "values": list(entry["values"]),
                "trial_values": None if trial.values is None else list(trial.values),
                "params": dict(trial.params),
                "trial_rank": ranks.get(number),
                "output_dir": entry.get("output_dir"),
            }
        )
    if len(study.directions) == 1:
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        found.sort(key=lambda p: (sign * p["values"][0], p["trial"]))
    else:
        found.sort(key=lambda p: p["trial"])
    return found
