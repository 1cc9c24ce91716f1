"""Preview-and-promote settings (``nst_sweep/tune.py``): sizes, pyramid levels and steps."""

from __future__ import annotations

import pytest

from conftest import synthetic_content, write_png
from nst_sweep.errors import UserError
from nst_sweep.settings import RunSettings, TuneSettings
from nst_sweep.tune import (
    preview_settings,
    preview_side,
    promotion_count,
    promotion_levels,
    promotion_settings,
)


@pytest.mark.parametrize(
    ("preview_size", "size", "side"),
    [
        ("auto", 256, 64),  # a quarter
        ("auto", 1024, 256),
        ("auto", 100, 32),  # a quarter would be 25: floored at the smallest image, 32
        ("auto", 32, None),  # nothing smaller to preview at
        (48, 256, 48),
        (256, 256, None),  # as large as the final image: no preview
        (None, 256, None),
    ],
)
def test_preview_side(preview_size, size, side) -> None:
    assert preview_side(TuneSettings(preview_size=preview_size), size) == side


def test_promotions_only_when_trials_are_previews() -> None:
    assert promotion_count(TuneSettings(promote=3), 256) == 3
    assert promotion_count(TuneSettings(preview_size=None, promote=3), 256) == 0
    assert promotion_count(TuneSettings(promote=3), 32) == 0


def run_settings(**transfer) -> RunSettings:
    mapping = {"image": {"size": 256}, "optimizer": {"steps": 300}, "loss": {"normalize": True},
               "score": {"every": 50}, **transfer}  # fmt: skip
    return RunSettings.from_mapping(mapping)


def test_a_trial_renders_its_preview_single_scale_with_all_steps() -> None:
    settings = run_settings(image={"size": 256, "levels": 3})
    preview = preview_settings(settings, 64)
    assert preview.transfer.image.size == 64 and preview.transfer.image.levels == 1
    assert preview.transfer.optimizer.steps_per_level(1) == (300,)
    assert preview.score.every == 50  # intermediate scores feed the pruner
    assert preview.transfer.loss == settings.transfer.loss


def test_a_promotion_renders_the_finer_levels_from_the_preview(tmp_path) -> None:
    image = write_png(tmp_path / "preview.png", synthetic_content(64))
    promoted = promotion_settings(run_settings(), 64, str(image))
    # 64 -> 128 -> 256: two levels above the preview, the default schedule's 300 // 3, // 9.
    assert promoted.transfer.image.level_sizes() == (128, 256)
    assert promoted.transfer.optimizer.steps_per_level(2) == (100, 33)
    assert promoted.transfer.image.init == str(image)
    assert promoted.score.every == 0
    # Without the preview file the whole pyramid is rendered, the preview's level included.
    afresh = promotion_settings(run_settings(), 64, None)
    assert afresh.transfer.image.level_sizes() == (64, 128, 256)
    assert afresh.transfer.optimizer.steps_per_level(3) == (300, 100, 33)
    assert afresh.transfer.image.init == "content"


@pytest.mark.parametrize(("size", "side", "levels"), [(256, 64, 2), (256, 128, 1), (1024, 100, 3)])
def test_promotion_levels(size, side, levels) -> None:
    assert promotion_levels(size, side) == levels


def test_previews_need_size_normalised_weights() -> None:
    plain = run_settings(loss={"normalize": False})
    with pytest.raises(UserError, match=r"loss\.normalize=true"):
        preview_settings(plain, 64)
    with pytest.raises(UserError, match=r"tune\.preview_size=null"):
        promotion_settings(plain, 64, None)


@pytest.mark.parametrize(
    ("tune", "key"), [({"preview_size": 8}, "tune.preview_size"), ({"promote": -1}, "tune.promote")]
)
def test_bad_tune_values_name_their_key(tune, key) -> None:
    with pytest.raises(UserError, match=key):
        TuneSettings.from_mapping(tune)
