"""``nst-score``: the perceptual score of an image as JSON.

nst-score --content photo.jpg --style painting.jpg --image result.png [--weights W] [--size N]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import NoReturn

from nst_sweep.checks import as_integer
from nst_sweep.errors import UserError
from nst_sweep.images import MIN_SIDE, load_image, resize_long_side, resize_to, resolve_image
from nst_sweep.settings import MAX_SIZE, MIN_SIZE


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (argparse's own is usage + error), exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"nst-score: error: {message}; see nst-score --help", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _OneLineParser(
        prog="nst-score",
        description="Perceptual score of a style-transfer result (lower is better): "
        "score = (1 + content_distance) x (1 + style_distance).",
    )
    parser.add_argument("--content", required=True, help="content image: path or sample name")
    parser.add_argument("--style", required=True, help="style image: path or sample name")
    parser.add_argument("--image", required=True, help="the result to judge (path)")
    parser.add_argument(
        "--weights", default="imagenet", help="VGG19 weights: imagenet (default), random, or a file"
    )
    parser.add_argument(
        "--size", type=int, default=None,
        help="long side in px for result and content (default: the result's own size)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed for --weights random")
    return parser.parse_args(argv)


def score_images(args: argparse.Namespace) -> dict[str, float]:
    """Load, size-match and score; the content is resized to the result's exact shape."""
    seed = as_integer(args.seed, "--seed", 0, 2**32 - 1)
    if args.size is not None:
        as_integer(args.size, "--size", MIN_SIZE, MAX_SIZE)
    result = load_image(resolve_image(args.image, "--image"), "--image")
    if args.size is not None:
        result = resize_long_side(result, args.size)
    elif max(result.shape[:2]) > MAX_SIZE:
        raise UserError(
            f"--image={args.image}: {result.shape[1]}x{result.shape[0]} px is too large to score "
            f"at its own size; pass --size (at most {MAX_SIZE}) to score it resized"
        )
    content = load_image(resolve_image(args.content, "--content"), "--content")
    content = resize_to(content, *result.shape[:2])
    # The style at the same long side as the result, keeping its own aspect ratio (as a run does).
    style = resize_long_side(
        load_image(resolve_image(args.style, "--style"), "--style"), max(result.shape[:2])
    )
    for key, image in (("--image", result), ("--style", style)):
        if min(image.shape[:2]) < MIN_SIDE:  # VGG19's pooling would shrink it to nothing
            raise UserError(
                f"{key}: {image.shape[1]}x{image.shape[0]} px to score has a side below "
                f"{MIN_SIDE} px; pass a larger --size (or a larger image)"
            )

    from nst_sweep.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from nst_sweep.features import FeatureExtractor, load_vgg19
    from nst_sweep.score import SCORE_LAYERS, Scorer

    features = FeatureExtractor(
        load_vgg19(args.weights, seed, key="--weights"), SCORE_LAYERS, "max"
    )
    return Scorer(content, style, features)(result).as_dict()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        print(json.dumps(score_images(args), indent=2))
    except UserError as exc:
        print(f"nst-score: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("nst-score: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
