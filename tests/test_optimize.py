"""The stylize loop: each optimizer lowers the loss, init modes, records, determinism."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import synthetic_content, synthetic_style
from nst_sweep.errors import DivergenceError
from nst_sweep.features import FeatureExtractor
from nst_sweep.optimize import initial_image, stylize
from nst_sweep.settings import (
    ImageSettings,
    LossSettings,
    OptimizerSettings,
    TransferSettings,
)

CONTENT, STYLE = synthetic_content(32), synthetic_style(32, 40)


@pytest.fixture(scope="module")
def extractor(vgg_random):
    return FeatureExtractor(vgg_random, TransferSettings().layers.all)


def settings(**opt) -> TransferSettings:
    base = TransferSettings(
        loss=LossSettings(content_weight=1.0, style_weight=1e4, tv_weight=1e-3),
        image=ImageSettings(size=32, init="noise"),
    )
    return replace(base, optimizer=OptimizerSettings(**opt))


@pytest.mark.parametrize(
    "opt",
    [
        {"name": "adam", "steps": 8, "lr": 0.05},
        {"name": "sgd", "steps": 8, "lr": 1e-6, "momentum": 0.5},
        {"name": "lbfgs", "steps": 5, "history_size": 5},
    ],
    ids=["adam", "sgd", "lbfgs"],
)
def test_each_optimizer_lowers_total_loss(extractor, opt):
    records = []
    result = stylize(CONTENT, STYLE, settings(**opt), records.append, extractor)
    assert records[0].step == 0 and records[-1] is result.final
    assert result.final.total < 0.9 * records[0].total
    assert result.image.shape == CONTENT.shape
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0


def test_records_cover_step_zero_to_steps(extractor):
    records = []
    stylize(CONTENT, STYLE, settings(name="adam", steps=3), records.append, extractor)
    assert [r.step for r in records] == [0, 1, 2, 3]
    first = records[0]
    assert first.total == pytest.approx(first.content + 1e4 * first.style + 1e-3 * first.tv)
    np.testing.assert_array_equal(records[-1].image().shape, CONTENT.shape)


def test_content_init_starts_with_zero_content_loss(extractor):
    s = replace(settings(name="adam", steps=1), image=ImageSettings(size=32, init="content"))
    records = []
    stylize(CONTENT, STYLE, s, records.append, extractor)
    assert records[0].content == 0.0 and records[0].style > 0
    # Each record's image is the one its losses were computed on: step 0 is the initial image.
    np.testing.assert_array_equal(records[0].image(), CONTENT)
    assert not np.array_equal(records[1].image(), CONTENT)


def test_init_modes():
    np.testing.assert_array_equal(initial_image(CONTENT, STYLE, "content", 0), CONTENT)
    a, b = initial_image(CONTENT, STYLE, "noise", 7), initial_image(CONTENT, STYLE, "noise", 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, initial_image(CONTENT, STYLE, "noise", 8))
    assert a.min() >= 0 and a.max() <= 1 and a.std() > 0.2
    style_init = initial_image(CONTENT, STYLE, "style", 0)
    assert style_init.shape == CONTENT.shape
    # Resizing keeps the style's colours: the means agree closely.
    np.testing.assert_allclose(style_init.mean(axis=(0, 1)), STYLE.mean(axis=(0, 1)), atol=0.05)


def test_same_seed_same_image(extractor):
    s = settings(name="adam", steps=3)
    first = stylize(CONTENT, STYLE, s, None, extractor).image
    again = stylize(CONTENT, STYLE, s, None, extractor).image
    np.testing.assert_array_equal(first, again)


def test_divergence_is_reported(extractor):
    s = replace(settings(name="adam", steps=2), loss=LossSettings(content_weight=1e38))
    with pytest.raises(DivergenceError, match=r"loss became (nan|inf) at step \d"):
        stylize(CONTENT + 0.1, STYLE, s, None, extractor)
