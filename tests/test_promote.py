"""Promotion (``hydra.sweeper.promote``): the best trials launched again after the search.

The toy app's promotion jobs return a different objective (``+ 2 (x - 0.5)^2``), as a full-size
render scores differently from its preview, and log their trial numbers to promotions.txt.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from test_sweeper import load_study, results, run_toy, toy_objective  # noqa: F401 (fixture)

from conftest import cli_env
from hydra_plugins.nst_optuna_sweeper import best_trials, promotions
from hydra_plugins.nst_optuna_sweeper._promote import ATTR_PREFIX, candidates, claim, pending


def promoted_numbers(tmp_path: Path) -> list[int]:
    path = tmp_path / "promotions.txt"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_the_best_trials_are_promoted_once_per_study(tmp_path: Path, run_toy: Any) -> None:  # noqa: F811
    run_toy(tmp_path, "hydra.sweeper.n_trials=5", "hydra.sweeper.promote=2", sweep_dir="first")

    study = load_study(tmp_path)
    best_two = [t.number for t in best_trials(study)[:2]]
    assert sorted(promoted_numbers(tmp_path)) == sorted(best_two)
    found = promotions(study)
    for item in found:
        params = item["params"]
        full = toy_objective(params) + 2.0 * (params["x"] - 0.5) ** 2
        assert item["values"] == pytest.approx([full])
        assert item["trial_values"] == pytest.approx([toy_objective(params)])
        assert item["trial_rank"] == best_two.index(item["trial"]) + 1
    summary = results(tmp_path, "first")
    winner = min(found, key=lambda item: item["values"][0])
    assert summary["promoted"]["best_trial"] == winner["trial"]
    assert summary["promoted"]["best_value"] == pytest.approx(winner["values"][0])
    assert summary["promoted"]["trial_rank"] == winner["trial_rank"]
    assert summary["this_launch"]["promoted"] == 2

    # A second launch adds trials and promotes the new top two; nothing is promoted twice.
    run_toy(tmp_path, "hydra.sweeper.n_trials=3", "hydra.sweeper.promote=2", sweep_dir="second")
    study = load_study(tmp_path)
    log = promoted_numbers(tmp_path)
    assert len(log) == len(set(log))
    top_two = {t.number for t in best_trials(study)[:2]}
    assert top_two <= set(log)
    assert results(tmp_path, "second")["this_launch"]["promoted"] == len(log) - 2


def test_promote_zero_launches_nothing(tmp_path: Path, run_toy: Any) -> None:  # noqa: F811
    run_toy(tmp_path, "hydra.sweeper.n_trials=2")
    assert promoted_numbers(tmp_path) == []
    assert "promoted" not in results(tmp_path)


def _study(values: list[list[float]]) -> optuna.Study:
    study = optuna.create_study(directions=["minimize"] * len(values[0]))
    for i, vals in enumerate(values):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": float(i)},
                distributions={"x": FloatDistribution(0, 100)},
                values=vals,
            )
        )
    return study


def test_pareto_promotions_spread_along_the_front() -> None:
    # Five trials on the front (x + y = 10), one dominated.
    study = _study([[0, 10], [2, 8], [5, 5], [8, 2], [10, 0], [9, 9]])
    assert [t.number for t in candidates(study, best_trials(study), 3)] == [0, 2, 4]
    assert [t.number for t in candidates(study, best_trials(study), 2)] == [0, 4]
    assert [t.number for t in candidates(study, best_trials(study), 1)] == [2]
    assert sorted(t.number for t in candidates(study, best_trials(study), 9)) == [0, 1, 2, 3, 4]


def test_a_claim_by_a_dead_process_is_retried() -> None:
    study = _study([[3.0], [1.0], [2.0]])
    assert [t.number for t in pending(study, best_trials(study), 2)] == [1, 2]
    claim(study, 1)  # this (live) process
    assert [t.number for t in pending(study, best_trials(study), 2)] == [2]
    code = "from hydra_plugins.nst_optuna_sweeper import process_token; print(process_token())"
    dead_token = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=cli_env()
    ).stdout.strip()
    study.set_user_attr(f"{ATTR_PREFIX}2", {"state": "running", "process": dead_token})
    assert [t.number for t in pending(study, best_trials(study), 2)] == [2]
    elsewhere = "elsewhere/1/" + dead_token.split("/", 2)[2]
    study.set_user_attr(f"{ATTR_PREFIX}2", {"state": "running", "process": elsewhere})
    assert pending(study, best_trials(study), 2) == []
