"""Multi-scale rendering, size-normalised weights, colour preservation, blends, cheap repeats."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_content, synthetic_style, write_png
from nst_sweep import optimize
from nst_sweep.colors import luminance_transfer, match_color_statistics, rgb_to_yiq
from nst_sweep.features import FeatureExtractor
from nst_sweep.optimize import stylize
from nst_sweep.settings import (
    ImageSettings,
    LossSettings,
    OptimizerSettings,
    TransferSettings,
)

CONTENT, STYLE = synthetic_content(64), synthetic_style(56, 64)
OTHER_STYLE = synthetic_style(64, 48)[..., ::-1].copy()


@pytest.fixture(scope="module")
def extractor(vgg_random):
    return FeatureExtractor(vgg_random, TransferSettings().layers.all)


def settings(size=64, levels=1, init="content", **opt) -> TransferSettings:
    return TransferSettings(
        loss=LossSettings(content_weight=1.0, style_weight=1e4, tv_weight=1e-3),
        image=ImageSettings(size=size, init=init, levels=levels),
        optimizer=OptimizerSettings(**{"name": "adam", "steps": 4, **opt}),
    )


@pytest.mark.parametrize("name", ["adam", "sgd", "lbfgs"])
def test_levels_run_coarse_to_fine_with_one_step_counter(extractor, name) -> None:
    records = []
    lr = {"sgd": {"lr": 1e-7}}.get(name, {})
    result = stylize(CONTENT, STYLE, settings(levels=2, name=name, steps=4, **lr),
                     records.append, extractor)  # fmt: skip
    assert result.image.shape == (64, 64, 3)
    steps = [r.step for r in records]
    assert steps == sorted(steps) and len(set(steps)) == len(steps) and steps[0] == 0
    assert {r.level for r in records} == {0, 1}
    last = [r for r in records if r.last_of_level]
    assert [r.level for r in last] == [0, 1] and last[-1] is records[-1]
    assert last[0].image().shape == (32, 32, 3) and last[1].image().shape == (64, 64, 3)
    if name != "lbfgs":  # default schedule: 4 steps at 32 px, then a third of that at 64 px
        assert steps == list(range(6)) and result.steps == 5


def test_explicit_level_steps_and_level_sizes() -> None:
    opt = OptimizerSettings(steps=100, level_steps=(5, 3, 1))
    assert opt.steps_per_level(3) == (5, 3, 1)
    assert OptimizerSettings(steps=100).steps_per_level(3) == (100, 33, 11)
    assert ImageSettings(size=256, levels=3).level_sizes() == (64, 128, 256)


def test_init_from_an_image_file(extractor, tmp_path) -> None:
    preview = write_png(tmp_path / "preview.png", synthetic_style(32, 32))
    records = []
    stylize(CONTENT, STYLE, settings(init=str(preview), steps=1), records.append, extractor)
    start = records[0].image()
    assert start.shape == (64, 64, 3)
    # Resized from the file: the stripes of the preview, not the content's gradient.
    assert np.abs(start - CONTENT).mean() > 0.1


def test_normalized_terms_are_scaled_to_256_px(extractor) -> None:
    def step_zero(normalize: bool):
        s = settings(init="noise", steps=1)
        s = replace(s, loss=replace(s.loss, normalize=normalize))
        records = []
        stylize(CONTENT, STYLE, s, records.append, extractor)
        return records[0]

    summed, scaled = step_zero(False), step_zero(True)
    # The sums as a 256 x 256 image has them: 16 times the terms of a 64 x 64 one.
    assert scaled.tv == pytest.approx(summed.tv * 16, rel=1e-5)
    assert scaled.content == pytest.approx(summed.content * 16, rel=1e-5)
    assert scaled.style == pytest.approx(summed.style, rel=1e-6)  # eq (3) is size-free already


def test_default_layer_weights_equal_one_over_l(extractor) -> None:
    base = settings(steps=1)
    count = len(base.layers.style)
    explicit = replace(base, loss=replace(base.loss, style_layer_weights=(1 / count,) * count))
    a, b = [], []
    stylize(CONTENT, STYLE, base, a.append, extractor)
    stylize(CONTENT, STYLE, explicit, b.append, extractor)
    assert a[0].style == pytest.approx(b[0].style, rel=1e-6)
    heavy = replace(base, loss=replace(base.loss, style_layer_weights=(1.0,) * count))
    c = []
    stylize(CONTENT, STYLE, heavy, c.append, extractor)
    assert c[0].style == pytest.approx(count * a[0].style, rel=1e-5)


def test_blend_one_zero_equals_a_single_style_run(extractor) -> None:
    base = settings(steps=3)
    single = stylize(CONTENT, STYLE, base, None, extractor).image
    blended = replace(base, loss=replace(base.loss, style_blend=(1.0, 0.0)))
    both = stylize(CONTENT, [STYLE, OTHER_STYLE], blended, None, extractor).image
    np.testing.assert_array_equal(single, both)
    mixed = replace(base, loss=replace(base.loss, style_blend=(0.5, 0.5)))
    assert not np.array_equal(single, stylize(CONTENT, [STYLE, OTHER_STYLE], mixed, None,
                                                      extractor).image)  # fmt: skip


def test_a_run_does_not_depend_on_the_runs_before_it(extractor) -> None:
    first = stylize(CONTENT, STYLE, settings(steps=3, lr=0.05), None, extractor).image
    graph = optimize._graph(extractor, CONTENT.shape, settings())
    traces = graph.train_step.experimental_get_tracing_count()
    other = replace(settings(steps=5, lr=0.01), loss=LossSettings(tv_weight=5.0))
    stylize(CONTENT, OTHER_STYLE, other, None, extractor)
    again = stylize(CONTENT, STYLE, settings(steps=3, lr=0.05), None, extractor).image
    np.testing.assert_array_equal(first, again)
    # One graph served all three runs, not traced again although weights, lr and targets
    # changed (its first call traces twice: once more after the optimizer made its variables).
    assert optimize._graph(extractor, CONTENT.shape, settings()) is graph
    assert graph.train_step.experimental_get_tracing_count() == traces


def test_luminance_keeps_the_contents_chrominance(extractor) -> None:
    base = settings(steps=3)
    s = replace(base, image=replace(base.image, preserve_colors="luminance"))
    result = stylize(CONTENT, STYLE, s, None, extractor).image
    np.testing.assert_allclose(rgb_to_yiq(result)[..., 1:], rgb_to_yiq(CONTENT)[..., 1:],
                               atol=1e-5)  # fmt: skip
    # Luminance comes from the stylised image, not the content.
    plain = stylize(CONTENT, STYLE, base, None, extractor).image
    np.testing.assert_allclose(rgb_to_yiq(result)[..., 0], rgb_to_yiq(plain)[..., 0], atol=1e-5)


def test_luminance_transfer_never_leaves_the_rgb_cube() -> None:
    rng = np.random.default_rng(0)
    result, content = rng.random((16, 16, 3)), rng.random((16, 16, 3))
    out = luminance_transfer(result.astype(np.float32), content.astype(np.float32))
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(rgb_to_yiq(out)[..., 1:], rgb_to_yiq(content)[..., 1:], atol=1e-5)


def test_histogram_matching_gives_the_contents_colour_statistics() -> None:
    rng = np.random.default_rng(1)
    style = (0.4 + 0.2 * rng.random((32, 32, 3))).astype(np.float32)  # no clipping needed
    content = (0.3 + 0.3 * rng.random((32, 32, 3)) * [1.0, 0.5, 0.2]).astype(np.float32)
    mapped = match_color_statistics(style, content).reshape(-1, 3).astype(np.float64)
    target = content.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(mapped.mean(axis=0), target.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(np.cov(mapped.T), np.cov(target.T), atol=1e-5)


def test_bottom_right_pixel_is_not_saturated(extractor) -> None:
    """Eq (5) over every pixel: after 100 steps with TV the corner looks like its neighbours."""
    s = TransferSettings(
        loss=LossSettings(tv_weight=100.0),
        image=ImageSettings(size=64),
        optimizer=OptimizerSettings(steps=100),
    )
    image = stylize(CONTENT, STYLE, s, None, extractor).image * 255.0
    neighbours = (image[-2, -1] + image[-1, -2] + image[-2, -2]) / 3.0
    assert np.abs(image[-1, -1] - neighbours).max() <= 60.0


def test_a_run_after_others_equals_a_fresh_process(tmp_path) -> None:
    """Cached graphs and targets give the image a new process gives for the same settings."""
    import subprocess
    import sys

    from conftest import cli_env

    script = """
import sys, numpy as np
sys.path.insert(0, "tests")
from conftest import synthetic_content, synthetic_style
from nst_sweep.features import load_vgg19, FeatureExtractor
from nst_sweep.optimize import stylize
from nst_sweep.settings import *
s = TransferSettings(loss=LossSettings(tv_weight=1e-3), image=ImageSettings(size=64, levels=2),
                     optimizer=OptimizerSettings(steps=4, lr=0.05))
ex = FeatureExtractor(load_vgg19("random", 0), s.layers.all)
np.save(sys.argv[1], stylize(synthetic_content(64), synthetic_style(56, 64), s, None, ex).image)
"""
    out = tmp_path / "fresh.npy"
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script, str(out)], cwd=repo, env=cli_env(), check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    from nst_sweep.features import load_vgg19

    extractor = FeatureExtractor(load_vgg19("random", 0), TransferSettings().layers.all)
    here = settings(levels=2, steps=4, lr=0.05)
    stylize(CONTENT, OTHER_STYLE, settings(steps=2, lr=0.01), None, extractor)  # another run first
    np.testing.assert_array_equal(
        stylize(CONTENT, STYLE, here, None, extractor).image, np.load(out)
    )
