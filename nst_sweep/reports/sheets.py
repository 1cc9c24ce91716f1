"""Contact sheets: the jobs' images in a captioned grid, drawn with Pillow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PIL.ImageFont import FreeTypeFont
from PIL.ImageFont import ImageFont as BitmapFont

from nst_sweep.images import as_rgb_uint8, resize_long_side, to_uint8

__all__ = ["contact_sheet"]

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)
PLACEHOLDER_COLOUR = (160, 160, 160)
PLACEHOLDER_TEXT_COLOUR = (60, 60, 60)

Font = FreeTypeFont | BitmapFont


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


def _fit(image: np.ndarray, tile: int) -> Image.Image:
    """RGB tile image whose longer side is ``tile``, keeping the aspect ratio."""
    rgb = as_rgb_uint8(image)
    if max(rgb.shape[:2]) != tile:
        rgb = to_uint8(resize_long_side(rgb.astype(np.float32) / 255.0, tile))
    return Image.fromarray(rgb, mode="RGB")


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

    Returns a uint8 RGB array on a white background. Images may be anything
    :func:`nst_sweep.images.as_rgb_uint8` takes; ``None`` images become a grey tile reading
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
