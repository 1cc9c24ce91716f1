"""Multi-scale rendering and size-normalised weights, measured on the bundled pairs.

Three parts, each printed as a table (``--part`` picks one):

balance   Unweighted step-0 terms (style-image init) at several sizes, as ratios content/style
          and tv/style, under the paper's sums and under ``loss.normalize=true``. A ratio that
          stays put across sizes means the weights keep their meaning.
render    Single-scale (``--steps`` Adam steps) against ``image.levels=3`` with the default
          schedule (steps, steps/2, steps/4 from coarse to fine), at each ``--sizes``: wall
          time, final full-size ``loss/total`` (the same objective) and the perceptual score.
preview   For 8 weight settings spread log-uniformly over the search ranges: the score of a
          single-scale preview at ``--preview`` px and of a ``--levels`` render at ``--full``
          px started from that preview (``image.init=<preview>``; ``--final-init content``
          renders it afresh); the Spearman rank
          correlation of the two orderings, under the sums and under the normalised form.

Weights: ``--weights random`` (a seeded random VGG19: numbers well defined, perception not)
unless a file or ``imagenet`` is given; every line says which. CPU unless TensorFlow sees a GPU.

    python benchmarks/bench_multiscale.py --part balance
    python benchmarks/bench_multiscale.py --part render --sizes 256 512 --steps 200
    python benchmarks/bench_multiscale.py --part preview --preview 128 --full 512
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from nst_sweep.images import load_image, resolve_image, save_image
from nst_sweep.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

from nst_sweep.features import cached_extractor  # noqa: E402
from nst_sweep.optimize import stylize  # noqa: E402
from nst_sweep.score import SCORE_LAYERS, Scorer  # noqa: E402
from nst_sweep.settings import (  # noqa: E402
    ImageSettings,
    LossSettings,
    OptimizerSettings,
    TransferSettings,
)

PAIRS = (("chelsea", "starry_night"), ("astronaut", "the_scream"), ("coffee", "starry_night"))
# alpha, beta, gamma for the preview part: the search preset's log ranges (conf/search/optuna.yaml)
RANGES = ((0.1, 10.0), (1e2, 1e6), (1e-2, 1e3))


def images(pair: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    return load_image(resolve_image(pair[0], "content")), load_image(
        resolve_image(pair[1], "style")
    )


def base_settings(args: argparse.Namespace, size: int, **loss: float | bool) -> TransferSettings:
    return TransferSettings(
        model=replace(TransferSettings().model, weights=args.weights),
        loss=LossSettings(**loss),  # type: ignore[arg-type]
        image=ImageSettings(size=size),
        optimizer=OptimizerSettings(steps=args.steps),
    )


def extractor_for(settings: TransferSettings):
    m = settings.model
    return cached_extractor(m.weights, settings.seed, settings.layers.all, m.pooling)


def scorer(args: argparse.Namespace, content: np.ndarray, style: np.ndarray) -> Scorer:
    return Scorer(content, style, cached_extractor(args.weights, 0, SCORE_LAYERS, "max"))


def part_balance(args: argparse.Namespace) -> None:
    print(f"\n## balance of the unweighted step-0 terms (style init, weights={args.weights})")
    print("| pair | size | sums: content/style | sums: tv/style | normalised: content/style "
          "| normalised: tv/style |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for pair in PAIRS[: args.pairs]:
        content, style = images(pair)
        for size in args.balance_sizes:
            row = []
            for normalize in (False, True):
                s = base_settings(args, size, normalize=normalize)
                s = replace(s, image=replace(s.image, init="style"),
                            optimizer=replace(s.optimizer, steps=1))  # fmt: skip
                records = []
                stylize(content, style, s, records.append, extractor_for(s))
                first = records[0]
                row += [first.content / first.style, first.tv / first.style]
            cells = " | ".join(f"{v:.3g}" for v in row)
            print(f"| {pair[0]}/{pair[1]} | {size} | {cells} |")


def part_render(args: argparse.Namespace) -> None:
    print(f"\n## single-scale vs image.levels={args.levels} (weights={args.weights}, "
          f"normalize={args.normalize}, alpha={args.alpha:g}, beta={args.beta:g}, "
          f"gamma={args.gamma:g}, Adam, {args.steps} steps)")  # fmt: skip
    print("| pair | size | single: s | multi: s | time multi/single | single: loss | "
          "multi: loss | loss multi/single | single: score | multi: score |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for pair in PAIRS[: args.pairs]:
        content, style = images(pair)
        for size in args.sizes:
            single = base_settings(args, size, normalize=args.normalize, content_weight=args.alpha,
                                   style_weight=args.beta, tv_weight=args.gamma)  # fmt: skip
            multi = replace(single, image=replace(single.image, levels=args.levels))
            judge = scorer(args, *images_at(content, style, size))
            out = []
            for settings in (single, multi):
                stylize(content, style, replace(settings, optimizer=replace(
                    settings.optimizer, steps=2, level_steps=None)), None,
                    extractor_for(settings))  # fmt: skip  # warm-up: tracing at every level
                start = time.perf_counter()
                result = stylize(content, style, settings, None, extractor_for(settings))
                out.append((time.perf_counter() - start, result.final.total,
                            judge(result.image).score))  # fmt: skip
            (ts, ls, ss), (tm, lm, sm) = out
            print(f"| {pair[0]}/{pair[1]} | {size} | {ts:.1f} | {tm:.1f} | {tm / ts:.2f} | "
                  f"{ls:.4g} | {lm:.4g} | {lm / ls:.3f} | {ss:.4f} | {sm:.4f} |")  # fmt: skip


def images_at(content: np.ndarray, style: np.ndarray, size: int):
    from nst_sweep.images import fit_pair

    return fit_pair(content, style, size, 1.0)


def weight_settings(count: int) -> list[tuple[float, float, float]]:
    """``count`` (alpha, beta, gamma) spread over the ranges (a seeded Latin hypercube)."""
    rng = np.random.default_rng(0)
    unit = np.stack([(rng.permutation(count) + rng.random(count)) / count for _ in RANGES], 1)
    # The normalised form equals the sums at 256 x 256 px, so the same ranges serve both.
    return [
        tuple(float(lo * (hi / lo) ** u) for u, (lo, hi) in zip(row, RANGES, strict=True))
        for row in unit
    ]  # type: ignore[misc]


def part_preview(args: argparse.Namespace) -> None:
    print(f"\n## does the preview predict the final render? (weights={args.weights}; "
          f"preview {args.preview} px single-scale, final {args.full} px levels={args.levels} "
          f"from the {args.final_init}; {args.steps} Adam steps each)")  # fmt: skip
    print("| pair | loss form | Spearman | preview scores | final scores |")
    print("|---|---|---|---|---|")
    for pair in PAIRS[: args.pairs]:
        content, style = images(pair)
        for normalize in (False, True):
            previews, finals = [], []
            for alpha, beta, gamma in weight_settings(args.settings):
                loss = {"content_weight": alpha, "style_weight": beta, "tv_weight": gamma,
                        "normalize": normalize}  # fmt: skip
                small = base_settings(args, args.preview, **loss)
                preview = stylize(content, style, small, None, extractor_for(small)).image
                previews.append(
                    scorer(args, *images_at(content, style, args.preview))(preview).score
                )
                with tempfile.TemporaryDirectory() as tmp:
                    path = save_image(preview, Path(tmp) / "preview.png")
                    big = base_settings(args, args.full, **loss)
                    init = str(path) if args.final_init == "preview" else "content"
                    big = replace(big, image=replace(big.image, levels=args.levels, init=init))
                    final = stylize(content, style, big, None, extractor_for(big)).image
                finals.append(scorer(args, *images_at(content, style, args.full))(final).score)
            rho = spearmanr(previews, finals).statistic
            form = "normalised" if normalize else "sums"
            print(f"| {pair[0]}/{pair[1]} | {form} | {rho:.3f} | "
                  f"{', '.join(f'{v:.3f}' for v in previews)} | "
                  f"{', '.join(f'{v:.3f}' for v in finals)} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("balance", "render", "preview", "all"), default="all")
    parser.add_argument("--weights", default="random", help="random | imagenet | a .h5 file")
    parser.add_argument("--pairs", type=int, default=2, help="how many bundled pairs")
    parser.add_argument("--balance-sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--normalize", action="store_true", help="render part: normalised form")
    defaults = LossSettings()
    parser.add_argument("--alpha", type=float, default=defaults.content_weight, help="render part")
    parser.add_argument("--beta", type=float, default=defaults.style_weight, help="render part")
    parser.add_argument("--gamma", type=float, default=defaults.tv_weight, help="render part")
    parser.add_argument("--preview", type=int, default=128)
    parser.add_argument("--full", type=int, default=512)
    parser.add_argument("--settings", type=int, default=8)
    parser.add_argument(
        "--final-init",
        choices=("preview", "content"),
        default="preview",
        help="preview part: start the final render from the preview or afresh",
    )
    args = parser.parse_args()
    for part, run in (("balance", part_balance), ("render", part_render),
                      ("preview", part_preview)):  # fmt: skip
        if args.part in (part, "all"):
            run(args)


if __name__ == "__main__":
    main()
