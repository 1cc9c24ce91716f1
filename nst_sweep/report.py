"""Summary images for a sweep's parent run: contact sheets, loss curves and study plots.

Pure functions only (numpy, Pillow, matplotlib, optuna); the caller fetches data from MLflow and
logs the returned arrays/figures. Figures are built with ``matplotlib.figure.Figure`` directly so
nothing touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import optuna
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont
from PIL.ImageFont import FreeTypeFont
from PIL.ImageFont import ImageFont as BitmapFont

__all__ = [
    "DEFAULT_IGNORE",
    "contact_sheet",
    "differing_keys",
    "figure_to_array",
    "format_value",
    "job_labels",
    "loss_curves_figure",
    "study_figures",
]

# Keys that differ between jobs without describing the experiment (paths, bookkeeping).
DEFAULT_IGNORE: frozenset[str] = frozenset(
    {
        "output",
        "output_dir",
        "optuna_trial",
        "trial_number",
        "run_name",
        "hydra.job.num",
        "hydra.job.id",
        "hydra.runtime.output_dir",
    }
)

UNSET = "(unset)"
PREFERRED_METRICS = ("loss/total", "loss/content", "loss/style", "loss/tv")

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)
PLACEHOLDER_COLOUR = (160, 160, 160)
PLACEHOLDER_TEXT_COLOUR = (60, 60, 60)
MAX_VALUE_CHARS = 40

Font = FreeTypeFont | BitmapFont


# --------------------------------------------------------------------------- labels


def differing_keys(
    param_sets: Sequence[Mapping[str, str]],
    ignore: Collection[str] = DEFAULT_IGNORE,
) -> list[str]:
    """Keys whose values differ between jobs (missing in some counts as differing).

    Order is first appearance across ``param_sets``; keys in ``ignore`` are skipped.
    """
    ignored = set(ignore)
    order: dict[str, None] = {}
    for params in param_sets:
        for key in params:
            if key not in ignored:
                order.setdefault(key, None)
    sentinel = object()
    result = []
    for key in order:
        values = [params.get(key, sentinel) for params in param_sets]
        if any(v is sentinel for v in values) or len({str(v) for v in values}) > 1:
            result.append(key)
    return result


def _format_number(x: float) -> str:
    text = f"{x:.3g}"
    # "1e-05" -> "1e-5", "1e+09" -> "1e9": shorter and still unambiguous.
    return re.sub(r"e([+-])0*(\d+)", lambda m: "e" + ("-" if m[1] == "-" else "") + m[2], text)


def format_value(value: Any) -> str:
    """Compact, readable rendering of a (string) parameter value for a caption.

    Integers and booleans are kept, floats use 3 significant digits (``1e-5``, ``0.001``,
    ``1e9``), list/tuple reprs become comma-joined items, long values are truncated.
    """
    if value is None:
        return "None"
    text = str(value).strip()
    parsed: Any = value
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            parsed = text
    if isinstance(parsed, list | tuple):
        out = ",".join(format_value(item) for item in parsed)
    elif isinstance(parsed, bool):
        out = str(parsed)
    elif isinstance(parsed, float):
        out = _format_number(parsed)
    elif isinstance(parsed, int):
        out = str(parsed)
    else:
        out = text
    if len(out) > MAX_VALUE_CHARS:
        out = out[: MAX_VALUE_CHARS - 3] + "..."
    return out


def _short_names(keys: Sequence[str]) -> dict[str, str]:
    """Shortest dotted suffix of each key that is unique among ``keys``."""
    parts = {key: key.split(".") for key in keys}
    names: dict[str, str] = {}
    for key in keys:
        for n in range(1, len(parts[key]) + 1):
            suffix = ".".join(parts[key][-n:])
            clashes = [
                other for other in keys if other != key and ".".join(parts[other][-n:]) == suffix
            ]
            if not clashes:
                names[key] = suffix
                break
        else:
            names[key] = key
    return names


def job_labels(
    param_sets: Sequence[Mapping[str, str]],
    keys: Sequence[str] | None = None,
    *,
    ignore: Collection[str] = DEFAULT_IGNORE,
) -> list[str]:
    """One multi-line ``key=value`` label per job for ``keys`` (default: the differing keys).

    Keys are shortened to their last dotted part when that is unambiguous. When there are no
    keys, labels fall back to ``"job N"`` (0-based, like Hydra's ``job.num``).
    """
    if keys is None:
        keys = differing_keys(param_sets, ignore=ignore)
    if not keys:
        return [f"job {i}" for i in range(len(param_sets))]
    names = _short_names(keys)
    return [
        "\n".join(
            f"{names[key]}={format_value(params[key]) if key in params else UNSET}" for key in keys
        )
        for params in param_sets
    ]


# --------------------------------------------------------------------------- contact sheet


@lru_cache(maxsize=16)
def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        # Pillow < 10.1 or built without FreeType: fixed-size bitmap font.
        return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: Font) -> float:
    return draw.textlength(text, font=font) if text else 0.0


def _wrap_line(draw: ImageDraw.ImageDraw, line: str, font: Font, max_width: int) -> list[str]:
    """Greedy wrap, preferring breaks after ',' or ' ' (list values, titles)."""
    out: list[str] = []
    rest = line
    while rest and _text_width(draw, rest, font) > max_width:
        cut = 1
        while cut < len(rest) and _text_width(draw, rest[: cut + 1], font) <= max_width:
            cut += 1
        soft = max(rest.rfind(",", 0, cut), rest.rfind(" ", 0, cut))
        if soft > 0:
            cut = soft + 1
        out.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not out:
        out.append(rest)
    return out


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, max_width: int) -> list[str]:
    lines: list[str] = []
    for line in text.split("\n"):
        lines.extend(_wrap_line(draw, line, font, max_width))
    return lines


def _draw_centered_lines(
    draw: ImageDraw.ImageDraw,
    lines: Sequence[str],
    font: Font,
    *,
    centre_x: float,
    top: float,
    line_height: int,
    fill: tuple[int, int, int],
) -> None:
    # Manual centring instead of anchor="ma": anchors are unsupported for the bitmap fallback font.
    for i, line in enumerate(lines):
        x = centre_x - _text_width(draw, line, font) / 2
        draw.text((round(x), round(top + i * line_height)), line, fill=fill, font=font)


def _to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """float [0,1] or integer image, (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) -> uint8 RGB."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected an (H, W, 3) image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
            arr = np.round(np.clip(arr, 0.0, 1.0) * 255.0)
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        # Composite over the white background rather than dropping alpha onto black.
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        arr = np.round(arr[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return arr


def _fit(image: np.ndarray, tile: int) -> Image.Image:
    """Resize keeping aspect ratio so the longer side equals ``tile``."""
    pil = Image.fromarray(_to_rgb_uint8(image), mode="RGB")
    w, h = pil.size
    scale = tile / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != pil.size:
        pil = pil.resize(size, Image.Resampling.LANCZOS)
    return pil


def contact_sheet(
    images: Sequence[np.ndarray | None],
    labels: Sequence[str],
    *,
    title: str | None = None,
    columns: int | None = None,
    tile: int = 256,
    pad: int = 8,
    font_size: int | None = None,
    placeholder: str = "FAILED",
) -> np.ndarray:
    """Grid of images, each fitted into a ``tile`` x ``tile`` square and captioned below.

    Returns a uint8 RGB array on a white background. ``None`` images become a grey tile reading
    ``placeholder``. Columns default to one row of up to 6, then wrap.

    Layout (so callers/tests can locate tiles): ``font_size`` defaults to
    ``max(10, tile // 16)``; ``line_h = ceil(1.25 * font_size)``; the caption band is
    ``pad // 2 + max_lines * line_h`` tall, where ``max_lines`` counts label lines after wrapping
    to the tile width; the title band (if any) is ``pad + title_lines * ceil(1.25 * title_size)``
    with ``title_size = ceil(1.5 * font_size)``. Width is ``cols * tile + (cols + 1) * pad``,
    height ``title_h + rows * (tile + caption_h) + (rows + 1) * pad``, and tile ``i`` starts at
    ``x = pad + col * (tile + pad)``, ``y = title_h + pad + row * (tile + caption_h + pad)``;
    the fitted image is centred in its tile.
    """
    n = len(images)
    if n == 0:
        raise ValueError("contact_sheet needs at least one image")
    if len(labels) != n:
        raise ValueError(f"got {n} images but {len(labels)} labels")
    if tile < 1 or pad < 0:
        raise ValueError("tile must be >= 1 and pad >= 0")
    cols = min(n, columns if columns is not None else 6)
    if cols < 1:
        raise ValueError("columns must be >= 1")
    rows = math.ceil(n / cols)

    size = font_size if font_size is not None else max(10, tile // 16)
    font = _font(size)
    line_h = math.ceil(1.25 * size)
    title_size = math.ceil(1.5 * size)
    title_font = _font(title_size)
    title_line_h = math.ceil(1.25 * title_size)

    # Measure with a scratch canvas: band heights depend on wrapped line counts.
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = [_wrap(scratch, str(label), font, tile) for label in labels]
    caption_h = pad // 2 + max(len(lines) for lines in wrapped) * line_h
    width = cols * tile + (cols + 1) * pad
    title_lines = _wrap(scratch, title, title_font, width - 2 * pad) if title else []
    title_h = pad + len(title_lines) * title_line_h if title_lines else 0
    height = title_h + rows * (tile + caption_h) + (rows + 1) * pad

    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title_lines:
        _draw_centered_lines(
            draw,
            title_lines,
            title_font,
            centre_x=width / 2,
            top=pad,
            line_height=title_line_h,
            fill=TEXT_COLOUR,
        )

    for i, (image, lines) in enumerate(zip(images, wrapped, strict=True)):
        row, col = divmod(i, cols)
        x0 = pad + col * (tile + pad)
        y0 = title_h + pad + row * (tile + caption_h + pad)
        if image is None:
            draw.rectangle((x0, y0, x0 + tile - 1, y0 + tile - 1), fill=PLACEHOLDER_COLOUR)
            ph_lines = _wrap(draw, placeholder, font, tile)
            _draw_centered_lines(
                draw,
                ph_lines,
                font,
                centre_x=x0 + tile / 2,
                top=y0 + (tile - len(ph_lines) * line_h) / 2,
                line_height=line_h,
                fill=PLACEHOLDER_TEXT_COLOUR,
            )
        else:
            fitted = _fit(image, tile)
            fw, fh = fitted.size
            sheet.paste(fitted, (x0 + (tile - fw) // 2, y0 + (tile - fh) // 2))
        _draw_centered_lines(
            draw,
            lines,
            font,
            centre_x=x0 + tile / 2,
            top=y0 + tile + pad // 2,
            line_height=line_h,
            fill=TEXT_COLOUR,
        )
    return np.asarray(sheet, dtype=np.uint8).copy()


# --------------------------------------------------------------------------- figures


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render ``fig`` with the Agg canvas and return a uint8 RGB (H, W, 3) array."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(n, max_cols))
    return math.ceil(n / cols), cols


def _order_metrics(names: Sequence[str]) -> list[str]:
    present = set(names)
    preferred = [m for m in PREFERRED_METRICS if m in present]
    return preferred + sorted(present - set(PREFERRED_METRICS))


def _apply_value_scale(ax: Any, values: np.ndarray) -> None:
    """Log when everything is positive; symlog when values span decades; linear otherwise."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    if np.all(finite > 0):
        ax.set_yscale("log")
        return
    nonzero = np.abs(finite[finite != 0])
    if nonzero.size and nonzero.max() / nonzero.min() > 100:
        ax.set_yscale("symlog", linthresh=float(nonzero.min()))


def _legend_label(label: str) -> str:
    return label.replace("\n", ", ")


def loss_curves_figure(
    curves: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
) -> Figure:
    """One subplot per metric (loss/total, content, style, tv first), one line per job.

    ``curves[job_label][metric] = [(step, value), ...]``. Jobs without a metric (or with no
    points) get no line in that subplot; non-finite values are drawn as gaps.
    """
    metrics = _order_metrics(
        [m for per_job in curves.values() for m, pts in per_job.items() if pts]
    )
    if not metrics:
        fig = Figure(figsize=(5, 2.5))
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no loss curves", ha="center", va="center")
        ax.set_axis_off()
        return fig

    nrows, ncols = _grid(len(metrics), 2)
    fig = Figure(figsize=(6 * ncols, 3.8 * nrows), layout="constrained")
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        all_values = []
        for job, per_job in curves.items():
            points = sorted(per_job.get(metric, ()), key=lambda p: p[0])
            if not points:
                continue
            steps = np.array([p[0] for p in points], dtype=float)
            values = np.array([p[1] for p in points], dtype=float)
            all_values.append(values)
            # inf would wreck autoscaling (esp. on log axes); draw it as a gap like NaN.
            ax.plot(steps, np.where(np.isfinite(values), values, np.nan), label=_legend_label(job))
        _apply_value_scale(ax, np.concatenate(all_values))
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.grid(True, which="major", alpha=0.3)
        n_lines = len(ax.get_lines())
        ax.legend(fontsize="x-small" if n_lines > 6 else "small", ncols=2 if n_lines > 10 else 1)
    return fig


# --------------------------------------------------------------------------- optuna


def _objective_names(study: optuna.Study) -> list[str]:
    n = len(study.directions)
    names = study.metric_names
    if names and len(names) == n:
        return list(names)
    return ["objective"] if n == 1 else [f"objective {i}" for i in range(n)]


def _complete_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.values is not None
    ]


def _state_summary(trials: Sequence[optuna.trial.FrozenTrial]) -> str:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


def _history_figure(study: optuna.Study, complete: Sequence[optuna.trial.FrozenTrial]) -> Figure:
    names = _objective_names(study)
    nrows, ncols = _grid(len(names), 2)
    fig = Figure(figsize=(6 * ncols, 3.8 * nrows), layout="constrained")
    numbers = np.array([t.number for t in complete], dtype=float)
    for k, (name, direction) in enumerate(zip(names, study.directions, strict=True)):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        values = np.array([t.values[k] for t in complete], dtype=float)
        ax.scatter(numbers, values, s=18, label=name, zorder=3)
        maximize = direction == optuna.study.StudyDirection.MAXIMIZE
        best = np.fmax.accumulate(values) if maximize else np.fmin.accumulate(values)
        ax.step(numbers, best, where="post", color="tab:red", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(name)
        ax.set_title(f"{name} ({'max' if maximize else 'min'}imize)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"optimization history: {_state_summary(study.get_trials(deepcopy=False))}")
    return fig


def _importance_target(study: optuna.Study) -> Callable[[optuna.trial.FrozenTrial], float] | None:
    if len(study.directions) == 1:
        return None
    # Importance for the first objective only; evaluators assume "lower is better" for targets.
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return lambda t: sign * t.values[0]


def _importances_figure(study: optuna.Study) -> Figure | None:
    try:
        with warnings.catch_warnings():
            # The evaluator warns whenever a custom target is passed; we already fixed the sign.
            warnings.simplefilter("ignore", UserWarning)
            importances = optuna.importance.get_param_importances(
                study, target=_importance_target(study)
            )
    except Exception:
        # Degenerate studies (constant params, dynamic search spaces, inf values) can make any
        # evaluator raise; a missing plot is better than a failed summary.
        return None
    items = [(k, float(v)) for k, v in importances.items() if math.isfinite(float(v))]
    if not items:
        return None
    items.sort(key=lambda kv: kv[1])
    fig = Figure(figsize=(6, 1.2 + 0.4 * len(items)), layout="constrained")
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color="tab:blue")
    ax.set_xlabel("importance")
    target = _objective_names(study)[0]
    ax.set_title(f"parameter importances for {target}")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def _slice_figure(study: optuna.Study, complete: Sequence[optuna.trial.FrozenTrial]) -> Figure:
    """Objective (first one) against each parameter's value."""
    params = sorted({p for t in complete for p in t.params})
    nrows, ncols = _grid(len(params), 3)
    fig = Figure(figsize=(4.5 * ncols, 3.5 * nrows), layout="constrained")
    target = _objective_names(study)[0]
    for i, name in enumerate(params):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        trials = [t for t in complete if name in t.params]
        ys = [t.values[0] for t in trials]
        dist = trials[-1].distributions[name]
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            choices = [str(c) for c in dist.choices]
            # Earlier trials may have used choices that a later distribution dropped.
            choices += sorted({str(t.params[name]) for t in trials} - set(choices))
            xs = [choices.index(str(t.params[name])) for t in trials]
            ax.set_xticks(range(len(choices)), [format_value(c) for c in choices], rotation=30)
        else:
            xs = [float(t.params[name]) for t in trials]
            if getattr(dist, "log", False):
                ax.set_xscale("log")
        ax.scatter(xs, ys, c=[t.number for t in trials], cmap="viridis", s=18)
        ax.set_xlabel(name)
        ax.set_ylabel(target)
        ax.grid(True, alpha=0.3)
    return fig


def _pareto_figure(study: optuna.Study, complete: Sequence[optuna.trial.FrozenTrial]) -> Figure:
    names = _objective_names(study)
    front = {t.number for t in study.best_trials}
    pairs = [(a, b) for a in range(len(names)) for b in range(a + 1, len(names))]
    nrows, ncols = _grid(len(pairs), 3)
    fig = Figure(figsize=(5 * ncols, 4 * nrows), layout="constrained")
    on = [t for t in complete if t.number in front]
    off = [t for t in complete if t.number not in front]
    for i, (a, b) in enumerate(pairs):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        groups = ((off, "trial", {"color": "tab:blue", "alpha": 0.5, "s": 18}),
                  (on, "Pareto front", {"color": "tab:red", "s": 28}))  # fmt: skip
        for trials, label, style in groups:
            if trials:
                xs, ys = [t.values[a] for t in trials], [t.values[b] for t in trials]
                ax.scatter(xs, ys, label=label, **style)
        ax.set_xlabel(names[a])
        ax.set_ylabel(names[b])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Pareto front")
    return fig


def study_figures(study: optuna.Study) -> dict[str, Figure]:
    """Summary plots for an Optuna study, keyed by name; absent when there's nothing to draw.

    ``optimization_history`` and ``param_slice`` need >= 1 complete trial (``param_slice`` also
    >= 1 param); ``param_importances`` needs >= 2 complete trials with params and is omitted if
    the evaluator fails (first objective for multi-objective studies); ``pareto_front`` is only
    for multi-objective studies. Failed/pruned trials are counted in the history title only.
    """
    complete = _complete_trials(study)
    figures: dict[str, Figure] = {}
    if not complete:
        return figures
    figures["optimization_history"] = _history_figure(study, complete)
    has_params = any(t.params for t in complete)
    if has_params:
        figures["param_slice"] = _slice_figure(study, complete)
    if has_params and len(complete) >= 2:
        importances = _importances_figure(study)
        if importances is not None:
            figures["param_importances"] = importances
    if len(study.directions) > 1:
        figures["pareto_front"] = _pareto_figure(study, complete)
    return figures
