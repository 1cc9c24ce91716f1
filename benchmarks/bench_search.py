"""What a search costs and finds: the plain search against preview-and-promote.

Two parts (``--part`` picks one), each a table printed as markdown:

search   For each bundled pair: ``nst-sweep -m search=optuna`` as a plain search (every trial a
         full-size single-scale transfer: ``tune.preview_size=null tune.promote=0``) and with
         the preset's defaults (previews at a quarter of the size, the best ``tune.promote``
         rendered at full size from their previews), the same trials, sampler seed and
         pruner. Wall time, and the best full-size score each found (the plain search's best
         trial; the preview search's best promotion). Prints the time ratio and the score
         difference.
pruners  Previews only (``tune.promote=0``), once with each pruner: total Adam steps run
         (complete trials their ``optimizer.steps``, pruned ones up to their last report)
         and the best preview score found. The better pruner is the preset's default.

Every search runs ``python -m nst_sweep`` in a subprocess, one after another, on fresh stores
in a temporary folder. Weights: ``model.weights=random`` (a seeded random VGG19: numbers well
defined, perception not) unless ``--weights`` names a file or ``imagenet``; every table says
which. Slow at the defaults (256 px, 10 trials: the plain search renders ten 256 px images).

    python benchmarks/bench_search.py --part search --size 256 --trials 10
    python benchmarks/bench_search.py --part pruners --trials 20
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parent.parent
PAIRS = (("chelsea", "starry_night"), ("astronaut", "the_scream"), ("coffee", "starry_night"))
PRUNERS = {
    "median": "{_target_: optuna.pruners.MedianPruner, n_startup_trials: 5, n_warmup_steps: 100}",
    "hyperband": "{_target_: optuna.pruners.HyperbandPruner, min_resource: 50, max_resource: 300,"
    " reduction_factor: 3}",
    "halving": "{_target_: optuna.pruners.SuccessiveHalvingPruner, min_resource: 50,"
    " reduction_factor: 3}",
}


def search(folder: Path, pair: tuple[str, str], args: argparse.Namespace, *extra: str) -> dict:
    """One ``-m search=optuna`` in a fresh folder: its wall time, results file and study."""
    folder.mkdir(parents=True)
    command = [
        sys.executable, "-m", "nst_sweep", "-m", "search=optuna",
        f"content={pair[0]}", f"style={pair[1]}", f"image.size={args.size}",
        f"model.weights={args.weights}", f"hydra.sweeper.n_trials={args.trials}",
        f"seed={args.seed}", "progress=false", "hydra.sweep.dir=sweep", *extra,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"search failed ({' '.join(extra)}):\n{proc.stderr[-3000:]}")
    results: Any = OmegaConf.to_container(
        OmegaConf.load(folder / "sweep/optimization_results.yaml")
    )
    study = optuna.load_study(
        study_name=results["study_name"], storage=f"sqlite:///{folder / 'runs/optuna.db'}"
    )
    return {"seconds": seconds, "cpu": cpu, "results": results, "study": study}


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes: unlike wall time, barely
    changed by other work on the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def part_search(args: argparse.Namespace, root: Path) -> None:
    print(f"\n## plain search vs preview-and-promote ({args.trials} trials at {args.size} px, "
          f"weights={args.weights}, seed {args.seed}, the preset's pruner)")  # fmt: skip
    print("| pair | plain: s (CPU s) | plain: best score | preview: s (CPU s) "
          "| preview: best full-size score | time ratio (CPU) | score ratio "
          "| winner's preview rank |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for pair in PAIRS[: args.pairs]:
        name = "-".join(pair)
        plain = search(root / f"{name}-plain", pair, args, "tune.preview_size=null",
                       "tune.promote=0")  # fmt: skip
        preview = search(root / f"{name}-preview", pair, args)
        plain_best = plain["results"]["best_value"]
        promoted = preview["results"]["promoted"]
        ratio = preview["seconds"] / plain["seconds"]
        score_ratio = promoted["best_value"] / plain_best
        cpu_ratio = preview["cpu"] / plain["cpu"]
        print(f"| {pair[0]}/{pair[1]} | {plain['seconds']:.0f} ({plain['cpu']:.0f}) | "
              f"{plain_best:.4f} | {preview['seconds']:.0f} ({preview['cpu']:.0f}) | "
              f"{promoted['best_value']:.4f} | {ratio:.3f} ({cpu_ratio:.3f}) | "
              f"{score_ratio:.4f} | {promoted['trial_rank']} |")  # fmt: skip


def steps_run(study: optuna.Study, steps: int) -> int:
    """Adam steps of every trial: all of them if it completed, else up to its last report."""
    total = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state == optuna.trial.TrialState.COMPLETE:
            total += steps
        elif trial.intermediate_values:
            total += max(trial.intermediate_values)
    return total


def part_pruners(args: argparse.Namespace, root: Path) -> None:
    print(f"\n## pruners on preview trials ({args.trials} trials, previews of {args.size} px, "
          f"{args.steps} steps, weights={args.weights}, seed {args.seed})")  # fmt: skip
    print("| pair | pruner | steps run | pruned | best preview score | s (CPU s) |")
    print("|---|---|---|---|---|---|")
    for pair in PAIRS[: args.pairs]:
        for pruner in args.pruners:
            found = search(root / f"{'-'.join(pair)}-{pruner}", pair, args, "tune.promote=0",
                           f"optimizer.steps={args.steps}",
                           # null first: a new pruner replaces the preset's, keys and all
                           "hydra.sweeper.pruner=null",
                           f"hydra.sweeper.pruner={PRUNERS[pruner]}")  # fmt: skip
            study, counts = found["study"], found["results"]["n_trials"]
            print(f"| {pair[0]}/{pair[1]} | {pruner} | {steps_run(study, args.steps)} | "
                  f"{counts['pruned']} | {found['results']['best_value']:.4f} | "
                  f"{found['seconds']:.0f} ({found['cpu']:.0f}) |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("search", "pruners", "all"), default="all")
    parser.add_argument("--weights", default="random", help="random | imagenet | a .h5 file")
    parser.add_argument("--pairs", type=int, default=2, help="how many bundled pairs")
    parser.add_argument("--size", type=int, default=256, help="image.size")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300, help="pruners part: optimizer.steps")
    parser.add_argument("--pruners", nargs="+", default=list(PRUNERS), choices=list(PRUNERS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("search", "all"):
            part_search(args, Path(tmp) / "search")
        if args.part in ("pruners", "all"):
            part_pruners(args, Path(tmp) / "pruners")


if __name__ == "__main__":
    main()
