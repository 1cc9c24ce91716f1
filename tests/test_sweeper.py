"""Tests of the ``nst_optuna`` Hydra sweeper: real optuna, sqlite in tmp_path, toy app.

The toy app (tests/sweeper_app/toy.py) never imports TensorFlow. It runs in this process
(``run_toy``: Hydra's own ``main`` with cwd = tmp_path) except where processes are what is
tested: joblib workers and sweeps launched together (``run_toy_process``).
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from conftest import cli_env
from hydra_plugins.nst_optuna_sweeper import current_trial, redact_url, sweep_study_name, trial_info
from hydra_plugins.nst_optuna_sweeper._search_space import (
    SearchSpaceError,
    build_search_space,
    parse_overrides,
)
from hydra_plugins.nst_optuna_sweeper._study import resolve_storage_url
from hydra_plugins.nst_optuna_sweeper.sweeper import NstOptunaSweeper

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "sweeper_app" / "toy.py"
TIMEOUT_S = 120

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _command(*overrides: str, sweep_dir: str = "multirun") -> list[str]:
    return [sys.executable, str(TOY), "-m", f"hydra.sweep.dir={sweep_dir}", *overrides]


def toy_main() -> Any:
    """The toy app's ``hydra.main`` entry point, imported once from its file."""
    if "toy" not in sys.modules:
        spec = importlib.util.spec_from_file_location("toy", TOY)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["toy"] = module
        spec.loader.exec_module(module)
    return sys.modules["toy"].main


@pytest.fixture()
def run_toy(cli: Any) -> Any:
    """``run_toy(tmp_path, *overrides)``: one multirun of the toy app in this process."""

    def run(tmp_path: Path, *overrides: str, sweep_dir: str = "multirun") -> str:
        args = ["-m", f"hydra.sweep.dir={sweep_dir}", *overrides]
        proc = cli(args, tmp_path, entry=toy_main())
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        return proc.stdout + proc.stderr

    return run


def run_toy_process(tmp_path: Path, *overrides: str, sweep_dir: str = "multirun") -> str:
    """One multirun of the toy app in a subprocess; asserts exit code 0, returns its output."""
    proc = subprocess.run(
        _command(*overrides, sweep_dir=sweep_dir),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def run_toys_together(tmp_path: Path, *runs: tuple[str, ...]) -> None:
    """Start several multiruns at the same moment and wait for all of them."""
    procs = [
        subprocess.Popen(
            _command(*overrides, sweep_dir=f"multirun{i}"),
            cwd=tmp_path,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, overrides in enumerate(runs)
    ]
    outputs = [proc.communicate(timeout=TIMEOUT_S)[0] for proc in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-4000:]


def load_study(tmp_path: Path, name: str = "toy") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")


def results(tmp_path: Path, sweep_dir: str = "multirun") -> dict[str, Any]:
    conf = OmegaConf.load(tmp_path / sweep_dir / "optimization_results.yaml")
    return OmegaConf.to_container(conf)  # type: ignore[return-value]


def toy_objective(p: dict[str, Any]) -> float:
    """Same formula as the toy app (its default config has n=1, opt=sgd)."""
    penalty = 0.0 if p["opt"] == "adam" else 0.1
    return (p["x"] - 0.3) ** 2 + 0.01 * (math.log10(p["lr"]) + 3) ** 2 + 0.01 * p["n"] + penalty


# --------------------------------------------------------------------------- end to end


def test_search_completes_with_params_in_range(tmp_path: Path, run_toy: Any) -> None:
    run_toy(tmp_path)

    study = load_study(tmp_path)
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        assert -1.0 <= t.params["x"] <= 1.0
        assert 1e-5 <= t.params["lr"] <= 1e-1
        # range(1, 5) includes its stop, as in Hydra's official Optuna sweeper.
        assert t.params["n"] in {1, 2, 3, 4, 5} and isinstance(t.params["n"], int)
        assert t.params["opt"] in {"sgd", "adam"}
        # The value proves the sampled params reached the job as overrides.
        assert t.value == pytest.approx(toy_objective(t.params))
    dists = trials[0].distributions
    assert dists["lr"] == FloatDistribution(1e-5, 1e-1, log=True)
    assert dists["x"] == FloatDistribution(-1.0, 1.0)
    assert dists["n"] == IntDistribution(1, 5)
    assert dists["opt"] == CategoricalDistribution(("sgd", "adam"))

    summary = results(tmp_path)
    assert summary["study_name"] == "toy"
    # Relative sqlite path resolved against the launch dir, although jobs chdir (toy config).
    assert summary["storage"] == f"sqlite:///{(tmp_path / 'optuna.db').resolve()}"
    assert summary["n_trials"]["complete"] == 3 and summary["n_trials"]["fail"] == 0
    assert summary["best_trial"] == study.best_trial.number
    assert summary["best_params"] == study.best_params
    assert summary["best_value"] == pytest.approx(study.best_value)
    assert (tmp_path / "multirun" / "multirun.yaml").is_file()


def test_second_launch_continues_the_study(tmp_path: Path, run_toy: Any) -> None:
    run_toy(tmp_path, sweep_dir="first")
    run_toy(tmp_path, sweep_dir="second")

    trials = load_study(tmp_path).get_trials()
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    summary = results(tmp_path, "second")
    assert summary["n_trials"]["total"] == 6
    launch = summary["this_launch"]
    assert {k: launch[k] for k in ("complete", "fail", "pruned", "promoted")} == {
        "complete": 3,
        "fail": 0,
        "pruned": 0,
        "promoted": 0,
    }
    assert launch["seconds"] > 0 and launch["seconds_per_trial"] > 0


def test_failed_jobs_are_fail_trials_and_the_sweep_goes_on(tmp_path: Path, run_toy: Any) -> None:
    out = run_toy(
        tmp_path,
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.max_failure_rate=1.0",  # the default 0.0 stops at the first failure
        "raise_on_trial=0",
        "nan_on_trial=2",
    )

    trials = load_study(tmp_path).get_trials()
    states = [t.state for t in trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert "RuntimeError: toy failure on trial 0" in trials[0].user_attrs["fail_reason"]
    assert "non-finite" in trials[2].user_attrs["fail_reason"]
    assert "Trial 0 failed" in out and "Trial 2 failed" in out
    summary = results(tmp_path)
    assert summary["n_trials"]["fail"] == 2 and summary["n_trials"]["complete"] == 2
    assert summary["best_trial"] in {1, 3}


def test_bad_trial_is_pruned_through_current_trial(tmp_path: Path, run_toy: Any) -> None:
    # Trials 0 and 1 are the pruner's startup trials and cannot be pruned; trial 2 reports
    # values ~1000 above theirs at step 0, so the median rule prunes it right away.
    run_toy(
        tmp_path,
        "report_steps=5",
        "bad_trial=2",
        "hydra.sweeper.pruner={_target_: optuna.pruners.MedianPruner, "
        "n_startup_trials: 2, n_warmup_steps: 0}",
    )

    trials = load_study(tmp_path).get_trials()
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.PRUNED,
    ]
    assert sorted(trials[0].intermediate_values) == [0, 1, 2, 3, 4]
    assert list(trials[2].intermediate_values) == [0]
    assert trials[2].intermediate_values[0] > 1000
    assert results(tmp_path)["n_trials"]["pruned"] == 1


def test_joblib_jobs_report_through_the_storage(tmp_path: Path) -> None:
    run_toy_process(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "report_steps=2",
    )

    trials = load_study(tmp_path).get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # Reported from the worker processes, found in the shared study.
    assert all(sorted(t.intermediate_values) == [0, 1] for t in trials)


def test_multi_objective_gives_a_pareto_front(tmp_path: Path, run_toy: Any) -> None:
    run_toy(
        tmp_path,
        "ret=list",
        "hydra.sweeper.direction=[minimize,minimize]",
        "hydra.sweeper.n_trials=4",
    )

    study = load_study(tmp_path)
    assert len(study.directions) == 2
    for t in study.get_trials():
        assert t.values == pytest.approx([t.params["x"] ** 2, (t.params["x"] - 1) ** 2])
    front = sorted(t.number for t in study.best_trials)
    assert front
    summary = results(tmp_path)
    assert "best_params" not in summary
    assert [item["number"] for item in summary["solutions"]] == front
    assert all(len(item["values"]) == 2 and "x" in item["params"] for item in summary["solutions"])


def test_same_seed_proposes_the_same_params(tmp_path: Path, run_toy: Any) -> None:
    def run(name: str, seed: int) -> tuple[str, ...]:
        return (
            f"hydra.sweeper.study_name={name}",
            f"hydra.sweeper.sampler.seed={seed}",
            "hydra.sweeper.n_trials=4",
        )

    # Three separate studies in one file.
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        run_toy(tmp_path, *run(name, seed), sweep_dir=f"multirun-{name}")

    def params(name: str) -> list[dict[str, Any]]:
        return [t.params for t in load_study(tmp_path, name).get_trials()]

    assert len(params("a")) == 4
    assert params("a") == params("b")
    assert params("a") != params("c")


def test_objectives_pick_values_from_a_returned_mapping(tmp_path: Path, run_toy: Any) -> None:
    run_toy(
        tmp_path,
        "ret=dict",
        "hydra.sweeper.objectives=[score,score/neg]",
        "hydra.sweeper.direction=[minimize,maximize]",
    )

    trials = load_study(tmp_path).get_trials()
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        value = toy_objective(t.params)
        assert t.values == pytest.approx([value, -value])


def test_concurrent_sweeps_share_one_sqlite_study(tmp_path: Path) -> None:
    run_toys_together(
        tmp_path,
        ("hydra.sweeper.n_trials=3",),
        ("hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2"),
    )

    trials = load_study(tmp_path).get_trials()
    assert sorted(t.number for t in trials) == list(range(7))
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_single_run_has_no_trial(tmp_path: Path, cli: Any) -> None:
    proc = cli(["check_not_sweeping=true"], tmp_path, entry=toy_main())
    assert proc.returncode == 0, proc.stderr[-4000:]
    # Outside Hydra altogether.
    assert trial_info() is None
    assert current_trial() is None


# --------------------------------------------------------------------------- units


def test_search_space_from_params_and_command_line() -> None:
    overrides = parse_overrides(
        {
            "a": "interval(1, 5)",
            "b": "interval(0.5, 2)",
            "c": "tag(log, interval(1e-6, 1e-2))",
            "d": "range(10, 0, -3)",
            "e": "choice(x, 'y z', 3)",
            "f": "fixed",
            "g": "interval(0, 1)",
        },
        ["g=0.25", "+h=1,2", "++i=7"],
    )
    space = build_search_space(overrides)
    # Official rules: interval() of ints is a float range, a +key's param is named +key.
    assert space.distributions == {
        "a": FloatDistribution(1.0, 5.0),
        "b": FloatDistribution(0.5, 2.0),
        "c": FloatDistribution(1e-6, 1e-2, log=True),
        "d": IntDistribution(1, 10, step=3),
        "e": CategoricalDistribution(("x", "y z", 3)),
        "+h": CategoricalDistribution((1, 2)),
    }
    # The command line fixed g; plain overrides go to every job unchanged.
    assert space.fixed == ["f=fixed", "g=0.25", "++i=7"]
    params = {"a": 2.0, "b": 1.5, "c": 1e-05, "d": 7, "e": "y z", "+h": 2}
    assert space.overrides(params) == [
        "a=2.0",
        "b=1.5",
        "c=1e-05",
        "d=7",
        "e=y\\ z",
        "f=fixed",
        "g=0.25",
        "+h=2",
        "++i=7",
    ]


def test_bad_search_space_is_a_clear_error() -> None:
    with pytest.raises(SearchSpaceError, match=r"^x=tag\(log, interval\(0, 1\)\): .*low > 0"):
        build_search_space(parse_overrides({"x": "tag(log, interval(0, 1))"}, []))


def test_job_values_are_checked() -> None:
    single = NstOptunaSweeper(n_trials=1)
    assert single._values(0.5) == ([0.5], None)
    assert single._values([2]) == ([2.0], None)
    assert single._values(math.nan)[0] is None
    assert single._values(math.inf)[0] is None
    assert single._values([1.0, 2.0])[0] is None  # two values, one direction
    assert single._values(None)[0] is None
    assert "objectives" in str(single._values({"score": 1.0})[1])

    picking = NstOptunaSweeper(direction=["minimize", "maximize"], objectives=["a", "b.c"])
    assert picking._values({"a": 1, "b": {"c": 2.5}, "z": 0}) == ([1.0, 2.5], None)
    assert picking._values({"a": 1})[0] is None


def test_storage_urls() -> None:
    assert resolve_storage_url("sqlite:///runs/o.db", "/base") == "sqlite:////base/runs/o.db"
    assert resolve_storage_url("sqlite:////abs/o.db", "/base") == "sqlite:////abs/o.db"
    url = "postgresql://me:secret@db.example:5432/optuna"
    assert resolve_storage_url(url, "/base") == url
    assert "secret" not in str(redact_url(url))
    assert redact_url(url) == "postgresql://me:***@db.example:5432/optuna"


# ------------------------------------------------- drop-in for Hydra's official Optuna sweeper


HYDRA_HINT = "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."


def run_toy_failing(cli: Any, tmp_path: Path, *overrides: str) -> tuple[int, list[str]]:
    """A multirun of the toy app expected to fail: (exit code, stderr lines but Hydra's hint)."""
    proc = cli(["-m", "hydra.sweep.dir=multirun", *overrides], tmp_path, entry=toy_main())
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return proc.returncode, [line for line in lines if line != HYDRA_HINT]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # QMCSampler's
@pytest.mark.parametrize(
    ("sampler", "module", "extra"),
    [("cmaes", "cmaes", "cmaes"), ("gp", "torch", "gp"), ("qmc", "scipy", "qmc")],
)
def test_sampler_without_its_package_fails_in_one_line(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, sampler: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    code, lines = run_toy_failing(cli, tmp_path, f"hydra/sweeper/sampler={sampler}")
    assert code == 1
    [line] = lines
    assert line.startswith("hydra.sweeper.sampler: ") and f"needs {module}" in line
    assert f'pip install "nst-sweep[{extra}]"' in line
    assert not (tmp_path / "optuna.db").exists()  # failed before creating the study


def test_removed_motpe_sampler_fails_in_one_line(tmp_path: Path, cli: Any) -> None:
    code, lines = run_toy_failing(cli, tmp_path, "hydra/sweeper/sampler=motpe")
    assert code == 1
    [line] = lines
    assert "hydra.sweeper.sampler" in line and "sampler=tpe" in line


def test_failed_trial_stops_the_sweep_by_default(tmp_path: Path, cli: Any) -> None:
    # The official default max_failure_rate 0.0: the first batch with a failure ends the sweep.
    code, lines = run_toy_failing(cli, tmp_path, "hydra.sweeper.n_jobs=1", "raise_on_trial=1")
    assert code == 1
    [line] = lines
    assert line.startswith("hydra.sweeper.max_failure_rate=0.0: 1 of 1 trials")
    assert "RuntimeError: toy failure on trial 1" in line
    trials = load_study(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    summary = results(tmp_path)  # written before stopping
    counts = {k: summary["this_launch"][k] for k in ("complete", "fail", "pruned")}
    assert counts == {"complete": 1, "fail": 1, "pruned": 0}


def test_failure_rate_is_per_batch(tmp_path: Path, run_toy: Any) -> None:
    # One failure in a batch of two is a rate of 0.5, which 0.5 allows.
    run_toy(
        tmp_path,
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.max_failure_rate=0.5",
        "raise_on_trial=2",
    )
    states = [t.state for t in load_study(tmp_path).get_trials()]
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.COMPLETE) == 3


def test_bad_failure_rate_is_a_clear_error() -> None:
    from hydra_plugins.nst_optuna_sweeper._settings import SweeperConfigError

    # Raised by setup(), after Hydra built the sweeper: Hydra would wrap it in several lines.
    sweeper = NstOptunaSweeper(max_failure_rate=1.5)
    with pytest.raises(SweeperConfigError, match=r"^hydra.sweeper.max_failure_rate must be"):
        sweeper.setup(hydra_context=None, task_function=None, config=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "start"),
    [
        ("hydra.sweeper.direction=up", "hydra.sweeper.direction: 'up' is not minimize"),
        ("hydra.sweeper.n_jobs=0", "hydra.sweeper.n_jobs must be >= 1"),
        ("hydra.sweeper.custom_search_space=nope.f", "hydra.sweeper.custom_search_space (nope.f)"),
        ("+hydra.sweeper.search_space={}", "hydra.sweeper.search_space is the official"),
        (
            "hydra/sweeper/sampler=nsgaii hydra.sweeper.sampler.population_size=1",
            "hydra.sweeper.sampler (optuna.samplers.NSGAIISampler): ",
        ),
    ],
)
def test_bad_setting_fails_in_one_line_naming_the_key(
    tmp_path: Path, cli: Any, override: str, start: str
) -> None:
    code, lines = run_toy_failing(cli, tmp_path, *override.split())
    assert code == 1
    [line] = lines
    assert line.startswith(start)


def test_grid_sampler_visits_each_point_once_and_caps_n_trials(
    tmp_path: Path, run_toy: Any
) -> None:
    out = run_toy(
        tmp_path,
        "hydra/sweeper/sampler=grid",
        "hydra.sweeper.n_trials=50",
        "hydra.sweeper.params.x='choice(0.25, 0.5)'",
        "hydra.sweeper.params.lr=0.001",
        "hydra.sweeper.params.n='range(1, 4)'",  # the grid takes Hydra's values: 1, 2, 3
    )
    assert "n_trials 50 -> 12" in out
    trials = load_study(tmp_path).get_trials()
    points = {(t.params["x"], t.params["n"], t.params["opt"]) for t in trials}
    assert len(trials) == 12 and len(points) == 12
    assert {n for _, n, _ in points} == {1, 2, 3}
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.value == pytest.approx(toy_objective({**t.params, "lr": 0.001})) for t in trials)


def test_grid_sampler_rejects_a_continuous_param(tmp_path: Path, cli: Any) -> None:
    code, lines = run_toy_failing(cli, tmp_path, "hydra/sweeper/sampler=grid")
    assert code == 1
    [line] = lines
    assert line.startswith("x: the grid sampler needs discrete values")


def test_results_file_has_the_official_keys_first(tmp_path: Path, run_toy: Any) -> None:
    run_toy(tmp_path, sweep_dir="single")
    single = results(tmp_path, "single")
    assert list(single)[:3] == ["name", "best_params", "best_value"]
    assert single["name"] == "optuna"
    best = load_study(tmp_path).best_trial
    assert single["best_params"] == best.params and single["best_value"] == best.value

    run_toy(
        tmp_path,
        "ret=list",
        "hydra.sweeper.study_name=two",
        "hydra.sweeper.direction=[minimize,minimize]",
        sweep_dir="multi",
    )
    multi = results(tmp_path, "multi")
    assert list(multi)[:2] == ["name", "solutions"] and "best_params" not in multi
    front = load_study(tmp_path, "two").best_trials
    assert sorted(s["number"] for s in multi["solutions"]) == sorted(t.number for t in front)
    assert all(set(s) == {"params", "values", "number"} for s in multi["solutions"])


def test_unnamed_study_in_memory_reaches_its_jobs(tmp_path: Path, run_toy: Any) -> None:
    # The official defaults: storage null, study_name null (optuna names the study).
    run_toy(tmp_path, "hydra.sweeper.storage=null", "hydra.sweeper.study_name=null",
            "report_steps=2")  # fmt: skip
    summary = results(tmp_path)
    assert summary["study_name"].startswith("no-name-") and summary["storage"] is None
    assert summary["n_trials"]["complete"] == 3  # each job found its trial to report to
    assert not (tmp_path / "optuna.db").exists()
    config = OmegaConf.load(tmp_path / "multirun" / "multirun.yaml")
    assert sweep_study_name(config) == summary["study_name"]


def test_custom_search_space_adds_params(tmp_path: Path, run_toy: Any, monkeypatch: Any) -> None:
    module = type(sys)("toy_space")

    def configure(cfg: Any, trial: Any) -> None:
        trial.suggest_float("+extra", 0.0, 1.0)
        trial.suggest_categorical("opt", ["adam"])

    module.configure = configure  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "toy_space", module)
    run_toy(
        tmp_path,
        "~hydra.sweeper.params.opt",
        "hydra.sweeper.custom_search_space=toy_space.configure",
    )
    for t in load_study(tmp_path).get_trials():
        assert 0.0 <= t.params["+extra"] <= 1.0 and t.params["opt"] == "adam"
        assert t.value == pytest.approx(toy_objective(t.params))  # opt=adam reached the job
        assert "+extra=" in " ".join(t.user_attrs["hydra_overrides"])


@pytest.mark.parametrize("preset", ["optuna", "optuna_pareto"])
def test_search_presets_resume_and_carry_on_after_a_failed_trial(
    tmp_path: Path, cli: Any, preset: str
) -> None:
    def launch(sweep_dir: str) -> None:
        args = [
            "--config-name=nst_preset",
            "-m",
            f"hydra.sweep.dir={sweep_dir}",
            f"hydra.searchpath=[file://{REPO / 'conf'}]",
            f"+search={preset}",
            "hydra.sweeper.n_trials=3",
            "raise_on_trial=1",
            *(["ret=list"] if preset == "optuna_pareto" else []),
        ]
        proc = cli(args, tmp_path, entry=toy_main())
        assert proc.returncode == 0, proc.stderr[-4000:]

    launch("first")
    launch("second")
    # The presets' own storage and study name, relative to the launch folder.
    prefix = "nst-sweep" if preset == "optuna" else "nst-sweep-pareto"
    name = f"{prefix}-astronaut-the_scream-256px"  # one study per question (nst.study)
    storage = f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    assert [t.number for t in trials] == list(range(6))  # the second launch continued
    assert [t.state for t in trials].count(TrialState.FAIL) == 1  # trial 1; the rest ran
    launch = results(tmp_path, "second")["this_launch"]
    assert {k: launch[k] for k in ("complete", "fail", "pruned")} == {
        "complete": 3,
        "fail": 0,
        "pruned": 0,
    }
    # tune.promote=1 reached hydra.sweeper.promote through the preset's resolver.
    assert launch["promoted"] + launch["promotion_failed"] <= 1
    assert len((tmp_path / "promotions.txt").read_text().split()) >= 1
