"""Fixed cost per job of a multirun, beside its steps: with and without the per-process caches.

Runs ``nst-sweep -m`` in this process (as ``main()`` does) at 64 px with random weights and an
MLflow sqlite store: multiruns of 2 and 8 jobs at 10 steps and of 8 jobs at 40 steps. Then

    per job  = (T(8 jobs, 10 steps) - T(2 jobs, 10 steps)) / 6     (the sweep's own cost cancels)
    per step = (T(8 jobs, 40 steps) - T(8 jobs, 10 steps)) / (8 * 30)
    fixed    = per job - 10 * per step

"cached" is the product; "uncached" turns the caches off (network, extractor, traced step,
targets), which is what every job paid before. Modes alternate in one process, so machine load
affects both alike.

    python benchmarks/bench_trials.py [--rounds 1] [--size 64]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from nst_sweep import features, optimize
from nst_sweep.app import main as nst_sweep_main

CACHES = (features.NETWORKS, features.EXTRACTORS, optimize.GRAPHS, optimize.TARGETS)
KEPT = {id(cache): cache.kept for cache in CACHES}


def set_caching(on: bool) -> None:
    for cache in CACHES:
        cache.clear()
        cache.kept = KEPT[id(cache)] if on else 0


def multirun(folder: Path, jobs: int, steps: int, size: int) -> float:
    """Seconds for one ``nst-sweep -m`` of ``jobs`` jobs (a grid over gamma)."""
    gammas = ",".join(str(0.001 * (i + 1)) for i in range(jobs))
    sys.argv = [
        "nst-sweep", "-m", "content=chelsea", "style=starry_night", f"image.size={size}",
        "model.weights=random", f"optimizer.steps={steps}", f"loss.tv_weight={gammas}",
        "progress=false", f"tracking.uri=sqlite:///{folder / 'mlflow.db'}",
        f"hydra.sweep.dir={folder / f'sweep-{time.monotonic_ns()}'}",
    ]  # fmt: skip
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        nst_sweep_main()
    return time.perf_counter() - start


def measure(folder: Path, size: int) -> dict[str, float]:
    two, eight = multirun(folder, 2, 10, size), multirun(folder, 8, 10, size)
    eight_long = multirun(folder, 8, 40, size)
    per_job = (eight - two) / 6
    per_step = (eight_long - eight) / (8 * 30)
    return {"per_job": per_job, "per_step": per_step, "fixed": per_job - 10 * per_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    os.environ["HYDRA_FULL_ERROR"] = "1"
    results: dict[str, list[dict[str, float]]] = {"uncached": [], "cached": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        multirun(folder, 1, 2, args.size)  # TF import, MLflow store creation: not per job
        for _ in range(args.rounds):
            for mode in ("uncached", "cached"):
                set_caching(mode == "cached")
                results[mode].append(measure(folder, args.size))
    print(f"{args.size} px, random weights, sqlite tracking, {args.rounds} round(s), CPU")
    summary = {}
    for mode, rounds in results.items():
        summary[mode] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        s = summary[mode]
        print(f"{mode:9s}: fixed {s['fixed']:.2f} s/job, per job {s['per_job']:.2f} s "
              f"(10 steps), per step {s['per_step'] * 1000:.1f} ms")  # fmt: skip
    ratio = summary["cached"]["fixed"] / summary["uncached"]["fixed"]
    print(f"fixed cost cached/uncached: {ratio:.3f}")


if __name__ == "__main__":
    main()
