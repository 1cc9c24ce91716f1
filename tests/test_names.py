"""Every user-visible name once: the README's table equals ``nst_sweep/names.py``, and no module
types a name as a literal beside its constant."""

from __future__ import annotations

import re
from pathlib import Path

from hydra_plugins.nst_optuna_sweeper import PROMOTED_KEY, RESULTS_FILE, TRIAL_KEY
from nst_sweep import names

REPO = Path(__file__).resolve().parents[1]
# Pieces of names that the table lists whole (loss/total, study/param_slice.png, nst.role=sweep).
PARTS = {"LOSS_PREFIX", "STUDY_PLOT_FOLDER", "SWEEP_ROLE", "HISTORY_PLOT", "IMPORTANCES_PLOT",
         "SLICE_PLOT", "PARETO_PLOT"}  # fmt: skip


def name_constants() -> dict[str, str]:
    return {
        key: value
        for key, value in vars(names).items()
        if key.isupper() and isinstance(value, str) and key not in PARTS
    }


def readme_table() -> list[str]:
    text = (REPO / "README.md").read_text()
    table = text.split("<!-- names:start -->")[1].split("<!-- names:end -->")[0]
    return re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)


def test_readme_table_lists_every_name_once_and_nothing_else() -> None:
    expected = set(name_constants().values()) | set(names.LOSS_METRICS) | set(names.SCORE_METRICS)
    expected |= {names.study_plot_artifact(plot) for plot in names.STUDY_PLOTS}
    expected |= {RESULTS_FILE, TRIAL_KEY, PROMOTED_KEY}
    listed = readme_table()
    assert len(listed) == len(set(listed)), "a name is listed twice"
    assert set(listed) == expected


def test_no_module_types_a_distinctive_name_as_a_literal() -> None:
    # Names with a dot, slash or suffix are distinctive enough to find as literals; short words
    # such as "score" or "style" also mean other things in the code.
    # A tag named after the config key it records (model.weights) is that key elsewhere.
    constants = {k: v for k, v in name_constants().items() if k != "WEIGHTS_TAG"}
    distinctive = {v for v in constants.values() if re.search(r"[./]", v)}
    distinctive |= set(names.LOSS_METRICS)
    offenders = []
    for path in [*REPO.glob("nst_sweep/**/*.py"), *REPO.glob("hydra_plugins/**/*.py")]:
        if path.name == "names.py":
            continue
        # The plot names mean nothing else in nst_sweep; the plugin may use the same words for
        # its own things.
        plots = set(names.STUDY_PLOTS) if path.is_relative_to(REPO / "nst_sweep") else set()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for value in distinctive | plots:
                if f'"{value}"' in line or f"'{value}'" in line:
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {value}")
    assert offenders == []
