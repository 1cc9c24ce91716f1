"""Tests for nst_sweep.reports (pure rendering helpers; no MLflow/Hydra)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import optuna
import pytest
from matplotlib.figure import Figure
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from nst_sweep.images import as_rgb_uint8
from nst_sweep.reports.curves import figure_to_array, loss_curves_figure
from nst_sweep.reports.labels import differing_keys, format_value, job_labels
from nst_sweep.reports.sheets import contact_sheet
from nst_sweep.reports.study_plots import study_figures

WHITE = np.array([255, 255, 255], dtype=np.uint8)
RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


def solid(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


def near(region: np.ndarray, rgb: tuple[int, int, int], tol: int = 2) -> bool:
    """Every pixel of ``region`` is within ``tol`` of ``rgb`` (resampling may round)."""
    return bool(np.all(np.abs(region.astype(int) - np.array(rgb)) <= tol))


# --------------------------------------------------------------------------- imports


def test_labels_sheets_and_curves_do_not_import_optuna() -> None:
    code = (
        "import sys\n"
        "import nst_sweep.reports.sheets, nst_sweep.reports.labels, nst_sweep.reports.curves\n"
        "assert 'optuna' not in sys.modules, sorted(m for m in sys.modules if 'optuna' in m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- images


def test_as_rgb_uint8_dtypes_channels_alpha_and_nan() -> None:
    floats = np.array([[[0.0, 0.5, 1.0], [1.5, -0.5, 0.2]]], dtype=np.float32)
    out = as_rgb_uint8(floats)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[[0, 128, 255], [255, 0, 51]]])

    rgb = solid(2, 3, RED)
    out = as_rgb_uint8(rgb)
    np.testing.assert_array_equal(out, rgb)
    assert out is not rgb  # a fresh array, never the caller's own
    np.testing.assert_array_equal(as_rgb_uint8(np.full((2, 2, 3), 300, np.int64)), 255)

    grey = np.array([[0, 100], [200, 255]], dtype=np.uint8)
    out = as_rgb_uint8(grey)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=-1))
    np.testing.assert_array_equal(as_rgb_uint8(grey[..., None]), out)

    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 0, 128]]], dtype=np.uint8)
    np.testing.assert_array_equal(
        as_rgb_uint8(rgba), [[[255, 0, 0], [255, 255, 255], [127, 127, 127]]]
    )

    nan = np.array([[[np.nan, np.inf, -np.inf]]], dtype=np.float64)
    np.testing.assert_array_equal(as_rgb_uint8(nan), [[[0, 255, 0]]])


@pytest.mark.parametrize("shape", [(4,), (4, 4, 2), (4, 4, 5), (0, 4, 3), (4, 0), (1, 4, 4, 3)])
def test_as_rgb_uint8_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        as_rgb_uint8(np.zeros(shape, dtype=np.float32))


# --------------------------------------------------------------------------- labels


def test_differing_keys_order_missing_and_ignore() -> None:
    jobs = [
        {"a": "1", "b": "x", "output": "/o/0", "c": "same"},
        {"a": "2", "b": "x", "output": "/o/1", "c": "same", "d": "new"},
        {"a": "3", "b": "x", "output": "/o/2", "c": "same"},
    ]
    assert differing_keys(jobs) == ["a", "d"]
    assert differing_keys(jobs, ignore=()) == ["a", "output", "d"]
    assert differing_keys(jobs, ignore=("a", "output")) == ["d"]
    assert differing_keys([{"a": "1"}]) == []
    assert differing_keys([]) == []


def test_differing_keys_key_missing_in_first_job() -> None:
    assert differing_keys([{"a": "1"}, {"a": "1", "b": "2"}]) == ["b"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.001", "0.001"),
        ("1e-05", "1e-5"),
        ("1000000000.0", "1e9"),
        ("0.123456", "0.123"),
        ("500", "500"),
        ("True", "True"),
        ("lbfgs", "lbfgs"),
        ("['block1_conv1', 'block2_conv1']", "block1_conv1,block2_conv1"),
        ("[0.2, 1e-06]", "0.2,1e-6"),
        ("images/starry night.jpg", "images/starry night.jpg"),
    ],
)
def test_format_value(raw: str, expected: str) -> None:
    assert format_value(raw) == expected


def test_format_value_keeps_long_values_whole() -> None:
    # Cut at a width, two layer lists that differ in their tail would read the same.
    assert format_value("x" * 100) == "x" * 100


def test_job_labels_shorten_floats_lists_and_unchanged_keys() -> None:
    jobs = [
        {
            "loss.tv_weight": "0.001",
            "loss.style_layers": "['block1_conv1', 'block2_conv1']",
            "seed": "0",
        },
        {"loss.tv_weight": "1e-05", "loss.style_layers": "['block1_conv1']", "seed": "0"},
    ]
    assert job_labels(jobs) == [
        "tv_weight=0.001\nstyle_layers=block1_conv1,block2_conv1",
        "tv_weight=1e-5\nstyle_layers=block1_conv1",
    ]
    # Explicit keys are used even if unchanged; missing values are marked.
    assert job_labels(jobs, keys=["seed", "other"]) == ["seed=0\nother=(unset)"] * 2


def test_job_labels_ambiguous_short_names_keep_more_of_the_path() -> None:
    jobs = [
        {"content.weight": "1", "style.weight": "10", "opt.lr": "0.1"},
        {"content.weight": "2", "style.weight": "100", "opt.lr": "0.01"},
    ]
    assert job_labels(jobs) == [
        "content.weight=1\nstyle.weight=10\nlr=0.1",
        "content.weight=2\nstyle.weight=100\nlr=0.01",
    ]


def test_job_labels_fallback_when_nothing_differs() -> None:
    jobs = [{"a": "1", "output": "/x"}, {"a": "1", "output": "/y"}]
    assert job_labels(jobs) == ["job 0", "job 1"]


# --------------------------------------------------------------------------- contact sheet

# Hand-computed layout for tile=64, pad=8, font_size=10 (see contact_sheet docstring):
# line_h = ceil(12.5) = 13; caption_h = 8 // 2 + 2 lines * 13 = 30;
# width = 2 * 64 + 3 * 8 = 152; height = 2 * (64 + 30) + 3 * 8 = 212.
TILE, PAD, FONT = 64, 8, 10
CAPTION_H = 30
LABELS = ["a=1\nb=x", "a=2\nb=y", "a=3\nb=z"]


def tile_origin(i: int, cols: int = 2, title_h: int = 0) -> tuple[int, int]:
    row, col = divmod(i, cols)
    return PAD + col * (TILE + PAD), title_h + PAD + row * (TILE + CAPTION_H + PAD)


def make_sheet(images: list, title: str | None = None) -> np.ndarray:
    return contact_sheet(images, LABELS, title=title, columns=2, tile=TILE, pad=PAD, font_size=FONT)


def test_contact_sheet_shape_and_tile_contents() -> None:
    red = solid(32, 32, RED)  # square, upscaled to fill the tile
    green = solid(20, 40, GREEN)  # wide: 64x32 centred vertically, white above/below
    blue = np.zeros((100, 50, 3), dtype=np.float32)  # tall float image: 32x64 centred
    blue[..., 2] = 1.0
    sheet = make_sheet([red, green, blue])

    assert sheet.dtype == np.uint8
    assert sheet.shape == (212, 152, 3)

    x, y = tile_origin(0)
    assert (x, y) == (8, 8)
    assert near(sheet[y : y + TILE, x : x + TILE], RED)

    x, y = tile_origin(1)
    assert (x, y) == (80, 8)
    assert near(sheet[y + 16 : y + 48, x : x + TILE], GREEN)
    assert near(sheet[y : y + 16, x : x + TILE], (255, 255, 255), tol=0)
    assert near(sheet[y + 48 : y + TILE, x : x + TILE], (255, 255, 255), tol=0)

    x, y = tile_origin(2)
    assert (x, y) == (8, 110)
    assert near(sheet[y : y + TILE, x + 16 : x + 48], BLUE)
    assert near(sheet[y : y + TILE, x : x + 16], (255, 255, 255), tol=0)

    # Empty 4th grid cell and the gutters stay white.
    x, y = tile_origin(3)
    assert near(sheet[y:, x:], (255, 255, 255), tol=0)
    assert near(sheet[:, 72:80], (255, 255, 255), tol=0)


def test_contact_sheet_captions_contain_text() -> None:
    sheet = make_sheet([solid(8, 8, RED)] * 3)
    for i in range(3):
        x, y = tile_origin(i)
        band = sheet[y + TILE : y + TILE + CAPTION_H, x : x + TILE]
        dark = np.all(band < 128, axis=-1)
        assert dark.sum() > 10, f"no caption text under tile {i}"
        # Two lines of text: ink in both the upper and lower half of the band.
        assert dark[: CAPTION_H // 2].any()
        assert dark[CAPTION_H // 2 :].any()


def test_contact_sheet_title_band() -> None:
    sheet = make_sheet([solid(8, 8, RED)] * 3, title="Sweep")
    # title_size = ceil(15.0) = 15; title_h = 8 + ceil(18.75) = 27.
    assert sheet.shape == (212 + 27, 152, 3)
    assert np.any(np.all(sheet[:27] < 128, axis=-1))
    x, y = tile_origin(0, title_h=27)
    assert near(sheet[y : y + TILE, x : x + TILE], RED)


def test_contact_sheet_placeholder_for_missing_image() -> None:
    sheet = make_sheet([solid(8, 8, RED), None, solid(8, 8, BLUE)])
    x, y = tile_origin(1)
    region = sheet[y : y + TILE, x : x + TILE]
    grey = np.all(region == 160, axis=-1)
    assert grey.mean() > 0.8  # mostly the grey fill ...
    assert np.any(np.all(region < 100, axis=-1))  # ... with "FAILED" drawn on it
    assert not np.any(np.all(region == np.array(RED), axis=-1))
    # The job's own caption is still drawn.
    band = sheet[y + TILE : y + TILE + CAPTION_H, x : x + TILE]
    assert np.any(np.all(band < 128, axis=-1))


def test_contact_sheet_default_columns_and_wrapping_labels() -> None:
    images = [solid(10, 10, GREEN)] * 8
    sheet = contact_sheet(images, [f"job {i}" for i in range(8)], tile=32, pad=4, font_size=10)
    # Default: 6 columns then wrap -> 2 rows; width = 6 * 32 + 7 * 4.
    assert sheet.shape[1] == 6 * 32 + 7 * 4
    long_label = ["style_layers=block1_conv1,block2_conv1,block3_conv1"]
    one = contact_sheet([solid(10, 10, GREEN)], ["x"], tile=64, pad=8, font_size=10)
    wrapped = contact_sheet([solid(10, 10, GREEN)], long_label, tile=64, pad=8, font_size=10)
    assert wrapped.shape[1] == one.shape[1]
    assert wrapped.shape[0] > one.shape[0] + 13  # wrapped onto at least 2 more lines


def test_contact_sheet_rejects_mismatched_labels() -> None:
    with pytest.raises(ValueError):
        contact_sheet([solid(4, 4, RED)], ["a", "b"])
    with pytest.raises(ValueError):
        contact_sheet([], [])


# --------------------------------------------------------------------------- loss curves


def test_loss_curves_figure_axes_lines_and_scales() -> None:
    curves = {
        "tv_weight=0.001": {
            "loss/style": [(0, 5.0), (10, 2.0), (20, 1.0)],
            "loss/total": [(20, 3.0), (0, 9.0), (10, 5.0)],  # unsorted on purpose
            "grad_norm": [(0, 1.0), (10, -0.5)],
        },
        "tv_weight=1e-5": {
            "loss/total": [(0, 8.0), (10, 4.0)],
            "loss/content": [(0, 1.0), (10, 0.5)],
        },
    }
    fig = loss_curves_figure(curves)
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == [
        "loss/total",
        "loss/content",
        "loss/style",
        "grad_norm",
    ]
    assert [len(ax.get_lines()) for ax in axes] == [2, 1, 1, 1]
    assert [ax.get_yscale() for ax in axes] == ["log", "log", "log", "linear"]
    # One legend for all panels, every job once (a legend per panel covered the curves).
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["tv_weight=0.001", "tv_weight=1e-5"]
    assert axes[0].get_xlabel() == "step"
    np.testing.assert_array_equal(axes[0].get_lines()[0].get_xdata(), [0, 10, 20])


def test_figure_to_array_shape() -> None:
    fig = Figure(figsize=(4, 3), dpi=50)
    fig.add_subplot().plot([0, 1], [1, 0])
    arr = figure_to_array(fig)
    assert arr.shape == (150, 200, 3)
    assert arr.dtype == np.uint8
    assert arr.min() < 128 < arr.max()  # something was drawn on the white background


# --------------------------------------------------------------------------- optuna

DISTS = {
    "lr": FloatDistribution(1e-3, 1.0, log=True),
    "opt": CategoricalDistribution(["adam", "lbfgs"]),
}
PARAMS = [
    {"lr": 0.01, "opt": "adam"},
    {"lr": 0.1, "opt": "lbfgs"},
    {"lr": 0.5, "opt": "adam"},
    {"lr": 0.02, "opt": "lbfgs"},
]


def _study(directions: list[str]) -> optuna.Study:
    study = optuna.create_study(directions=directions)
    for i, params in enumerate(PARAMS):
        values = [params["lr"] * (i + 1), float(i)][: len(directions)]
        study.add_trial(create_trial(params=params, distributions=DISTS, values=values))
    study.add_trial(
        create_trial(params={"lr": 0.3, "opt": "adam"}, distributions=DISTS, state=TrialState.FAIL)
    )
    study.add_trial(
        create_trial(
            params={"lr": 0.3, "opt": "adam"},
            distributions=DISTS,
            state=TrialState.PRUNED,
            intermediate_values={0: 1.0},
        )
    )
    return study


def test_study_figures_single_objective() -> None:
    figs = study_figures(_study(["minimize"]))
    assert set(figs) == {"optimization_history", "param_slice", "param_importances"}
    assert all(isinstance(f, Figure) for f in figs.values())
    (ax,) = figs["optimization_history"].get_axes()
    assert len(ax.collections[0].get_offsets()) == 4  # complete trials only
    assert "1 fail" in figs["optimization_history"].get_suptitle()
    assert len(figs["param_slice"].get_axes()) == 2
    for fig in figs.values():
        assert figure_to_array(fig).ndim == 3


def test_study_figures_multi_objective() -> None:
    figs = study_figures(_study(["minimize", "maximize"]))
    assert set(figs) == {
        "optimization_history",
        "param_slice",
        "param_importances",
        "pareto_front",
    }
    assert len(figs["optimization_history"].get_axes()) == 2
    # Generic names from the sweeper plugin's objective_names (the study sets no metric names).
    assert [ax.get_ylabel() for ax in figs["optimization_history"].get_axes()] == [
        "objective_0",
        "objective_1",
    ]
    figure_to_array(figs["pareto_front"])


def test_study_figures_degenerate_studies() -> None:
    empty = optuna.create_study()
    assert study_figures(empty) == {}

    only_failed = optuna.create_study()
    only_failed.add_trial(create_trial(params={}, distributions={}, state=TrialState.FAIL))
    assert study_figures(only_failed) == {}

    one = optuna.create_study()
    one.add_trial(create_trial(params=PARAMS[0], distributions=DISTS, value=1.0))
    assert set(study_figures(one)) == {"optimization_history", "param_slice"}

    no_params = optuna.create_study()
    for v in (1.0, 2.0):
        no_params.add_trial(create_trial(params={}, distributions={}, value=v))
    assert set(study_figures(no_params)) == {"optimization_history"}
