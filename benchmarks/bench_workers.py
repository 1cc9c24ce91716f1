"""Trials per hour of 1 and 2 search workers on one study, side by side in one run.

Each worker is the README's worker command as its own process (``nst-sweep -m search=optuna``
with a shared study and MLflow store), pinned to one TensorFlow intra-op thread
(``TF_NUM_INTRAOP_THREADS=1``, ``OMP_NUM_THREADS=1``) so that N workers use N cores. Trials are
cheap previews: 64 px, random weights, ``--steps`` Adam steps, no pruning, no promotion. The
study is a sqlite file (the tests cover PostgreSQL; with two workers the store is not the
bottleneck), MLflow a sqlite store beside it. The cases alternate, round after round, so machine
load hits them alike.

Two rates per case: *steady*, trials per hour between the first trial's start and the last
trial's end (what a long search gets), and *wall*, trials per hour from launch to the last
worker's exit (with TensorFlow's import and the network's build, paid once per worker). Beside
them the workers' CPU seconds per trial and the cores they kept busy (both launch to exit), and
the machine's load average while the case ran: where other work shares the machine, "cores
busy" is what the workers got, and the rates scale with it, not with the number of workers.

    python benchmarks/bench_workers.py [--rounds 2] [--trials 6] [--steps 50] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

REPO = Path(__file__).resolve().parents[1]
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip


def run_case(folder: Path, workers: int, trials: int, steps: int, size: int) -> dict[str, float]:
    """``workers`` worker processes adding ``trials`` trials each to a new study."""
    storage = f"sqlite:///{folder / 'optuna.db'}"
    study_name = f"bench-{workers}-{time.monotonic_ns()}"
    args = [sys.executable, "-m", "nst_sweep", "-m", "search=optuna", "content=chelsea",
            "style=starry_night", f"image.size={size}", "model.weights=random",
            f"optimizer.steps={steps}", "progress=false", "tune.preview_size=null",
            "tune.promote=0", "hydra.sweeper.pruner=null", f"hydra.sweeper.n_trials={trials}",
            f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study_name}",
            f"tracking.uri=sqlite:///{folder / 'mlflow.db'}",
            "tracking.experiment=bench"]  # fmt: skip
    env = {**os.environ, **ONE_THREAD}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    began, cpu = time.time(), _children_cpu()
    load = os.getloadavg()[0]
    procs = [
        subprocess.Popen([*args, "hydra.sweeper.sampler.seed=null"], cwd=folder, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"a worker failed:\n{err[-3000:]}")
    wall, cpu = time.time() - began, _children_cpu() - cpu
    load = (load + os.getloadavg()[0]) / 2
    done = optuna.load_study(study_name=study_name, storage=storage).get_trials(
        states=(TrialState.COMPLETE,)
    )
    assert len(done) == workers * trials, f"{len(done)} of {workers * trials} trials complete"
    first = min(t.datetime_start for t in done if t.datetime_start)
    last = max(t.datetime_complete for t in done if t.datetime_complete)
    steady = (last - first).total_seconds()
    return {"steady": 3600 * len(done) / steady, "wall": 3600 * len(done) / wall,
            "cpu": cpu / len(done), "cores": cpu / wall, "load": load}  # fmt: skip


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's ended children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=6, help="trials per worker")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cases = (1, 2)
    rates: dict[int, list[dict[str, float]]] = {n: [] for n in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for workers in cases:
                rates[workers].append(
                    run_case(Path(tmp), workers, args.trials, args.steps, args.size)
                )
    print(f"{args.size} px, {args.steps} Adam steps per trial, {args.trials} trials per worker, "
          f"random weights, one TF thread per worker, {os.cpu_count()} cores, "
          f"{args.rounds} round(s), medians")  # fmt: skip
    print("| workers | trials/hour (steady) | trials/hour (launch to exit) | CPU s per trial "
          "| cores busy | load average |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    keys = ("steady", "wall", "cpu", "cores", "load")
    median = {n: {k: statistics.median(r[k] for r in rates[n]) for k in keys} for n in cases}
    for n in cases:
        m = median[n]
        print(f"| {n} | {m['steady']:.0f} | {m['wall']:.0f} | {m['cpu']:.1f} | {m['cores']:.2f} "
              f"| {m['load']:.1f} |")  # fmt: skip
    print(
        f"ratio 2 workers / 1: steady {median[2]['steady'] / median[1]['steady']:.2f}, "
        f"launch to exit {median[2]['wall'] / median[1]['wall']:.2f}"
    )


if __name__ == "__main__":
    main()
