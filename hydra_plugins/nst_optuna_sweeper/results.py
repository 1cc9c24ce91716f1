"""What a study found, worked out once for the sweeper's results file and every report.

Public: reports in other packages import these (never the private modules of this plugin).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # optuna is imported lazily: Hydra imports this package on every start-up
    import optuna


def objective_names(study: optuna.Study) -> list[str]:
    """The study's metric names when set (the sweeper sets ``objectives``), else generic ones."""
    count = len(study.directions)
    names = study.metric_names
    if names and len(names) == count:
        return [str(name) for name in names]
    return ["objective"] if count == 1 else [f"objective_{i}" for i in range(count)]


def best_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Best first: complete trials by value (one objective), or the Pareto front by number."""
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    if len(study.directions) > 1:
        return sorted(study.best_trials, key=lambda t: t.number)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    complete = [t for t in complete if t.value is not None]
    maximize = study.direction == StudyDirection.MAXIMIZE
    # Ties keep trial order, so the earliest of equal trials is "the best" (as optuna's own).
    return sorted(complete, key=lambda t: (-t.value if maximize else t.value, t.number))


def load_study(storage: str | None, study_name: str, base_dir: str | Path) -> optuna.Study | None:
    """The study a sweep wrote, with relative sqlite paths meaning ``base_dir`` (the launch
    folder, ``hydra.runtime.cwd``), as the sweeper resolves them. None for an in-memory study
    that lives in another process, or one that does not exist.
    """
    from ._study import load_existing_study

    return load_existing_study(storage, study_name, base_dir)
