"""Image files in and out: any Pillow mode to RGB float32 in [0, 1], resizing, saving.

No TensorFlow here, so bad paths are reported before the heavy imports.
"""

from __future__ import annotations

import errno
import os
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nst_sweep.errors import UserError

SAMPLES_DIR = Path(__file__).parent / "samples"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SAVE_SUFFIXES = (".png", ".jpg", ".jpeg")
# VGG19 halves the image four times before block5: a side below 16 px vanishes to nothing.
MIN_SIDE = 16
# Largest image read, checked from the header before decoding: a small file can hold a huge
# image (a 97 KB PNG of 10000 x 10000 px decodes to 1.2 GB of float pixels). 50 megapixels
# covers full-frame camera photos; anything larger is shrunk first.
MAX_PIXELS = 50_000_000


def sample_images() -> dict[str, Path]:
    """Bundled samples by name (file stem), e.g. ``astronaut`` or ``the_scream``."""
    return {p.stem: p for p in sorted(SAMPLES_DIR.glob("*/*")) if p.suffix in IMAGE_SUFFIXES}


def resolve_image(spec: str, role: str) -> Path:
    """A path, or the name of a bundled sample; ``role`` (content/style) names the key in errors."""
    path = Path(str(spec)).expanduser()
    if path.is_file():
        return path
    samples = sample_images()
    if str(spec) in samples:
        return samples[str(spec)]
    names = ", ".join(samples)
    if path.suffix or "/" in str(spec) or "\\" in str(spec):
        raise UserError(
            f"{role}={spec}: no such file; pass an existing image path or a sample name ({names})"
        )
    raise UserError(f"{role}={spec}: unknown sample name; use a file path or one of: {names}")


def _pil_to_float_rgb(img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB float32 in [0, 1] without clipping wide-range modes."""
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16/32-bit and float grayscale: Pillow's convert("RGB") would clip to 8 bits.
        gray = np.asarray(img, dtype=np.float32)
        if mode.startswith("I;16"):
            gray = gray / 65535.0
        elif mode == "I":
            gray = gray / (65535.0 if gray.max(initial=0) > 255 else 255.0)
        elif gray.max(initial=0) > 1.0:
            gray = gray / 255.0
        return np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        # Composite over white: dropping alpha would reveal whatever colour hides under it.
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def load_image(path: str | Path, key: str | None = None) -> np.ndarray:
    """Read an image file into RGB float32 (H, W, 3) in [0, 1], honouring EXIF orientation.

    ``key`` (e.g. ``content``) names the setting in errors. Images above ``MAX_PIXELS`` are
    refused from their header, before decoding.
    """
    shown = f"{key}={path}" if key else str(path)
    too_large = f"above the limit of {MAX_PIXELS:,} pixels; shrink it first (e.g. to 4096 px)"
    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning: the check below says it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)  # reads the header only
        with img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise UserError(f"{shown}: {width}x{height} px is {too_large}")
            img.load()
            img = ImageOps.exif_transpose(img)
            return _pil_to_float_rgb(img)
    except FileNotFoundError as exc:
        raise UserError(f"{shown}: no such file; pass an existing image path") from exc
    except Image.DecompressionBombError as exc:  # beyond even Pillow's limit, from the header
        raise UserError(f"{shown}: {too_large}") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(
            f"{shown}: not a readable image ({exc.__class__.__name__}); pass a PNG, JPEG or "
            "another format Pillow reads"
        ) from exc


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize to exactly (height, width) with Lanczos, in float (no 8-bit round trip)."""
    if image.shape[:2] == (height, width):
        return image.astype(np.float32, copy=True)
    # Mode "F" per channel keeps full float precision through the resampling filter.
    channels = [
        np.asarray(
            Image.fromarray(image[..., c].astype(np.float32), mode="F").resize(
                (width, height), Image.Resampling.LANCZOS
            )
        )
        for c in range(image.shape[2])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Resize so the longer side is ``long_side`` px, keeping the aspect ratio."""
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    return resize_to(image, max(1, round(height * scale)), max(1, round(width * scale)))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] image to uint8 with rounding."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] or integer image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) to
    uint8 (H, W, 3): NaN becomes 0, grey is repeated, alpha is composited over white.

    Raises ``ValueError`` for any other shape, an empty image or a non-numeric dtype.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got {arr.shape}"
        )
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        arr = to_uint8(np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0))
    elif np.issubdtype(arr.dtype, np.integer):
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"expected a float or integer image, got dtype {arr.dtype}")
    if arr.shape[-1] == 1:
        return np.repeat(arr, 3, axis=-1)
    if arr.shape[-1] == 4:
        # Composite over white rather than dropping alpha onto whatever colour hides under it.
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        return np.rint(arr[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return arr.copy() if arr is image else arr  # never hand back the caller's own array


def save_image(image: np.ndarray, path: str | Path, key: str = "output") -> Path:
    """Write a float [0, 1] RGB image as PNG or JPEG (by suffix); create the folder.

    The file appears whole or not at all: it is written beside its target and renamed, so a
    full disk or a kill leaves no truncated image (nor a truncated copy of an older one).
    ``key`` names the setting in errors.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        raise UserError(f"{key}={path}: unsupported suffix; use .png or .jpg")
    pil = Image.fromarray(to_uint8(image), mode="RGB")
    options = {"format": "PNG"} if suffix == ".png" else {"format": "JPEG", "quality": 95}
    target = path.resolve()  # through a symlink: the file it points at is the one replaced
    # A device or pipe (/dev/null) is written as it is; a file is replaced whole.
    part = None if target.exists() and not target.is_file() else _part_name(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        pil.save(part or target, **options)
        if part is not None:
            os.replace(part, target)
    except OSError as exc:
        if part is not None:
            part.unlink(missing_ok=True)
        raise UserError(
            f"{key}={path}: cannot write it ({exc.strerror or exc}); {_fix(exc, key)}"
        ) from exc
    return path


def _part_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")


def _fix(exc: OSError, key: str) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free space on its disk or pass {key}= on another disk"
    return f"pass {key}= in a folder you can write to"


def fit_pair(
    content: np.ndarray, style: np.ndarray, size: int, style_scale: float, content_name: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Content at long side ``size``, style at ``style_scale`` x that (aspect ratios kept).

    Images already at those sizes are returned unchanged, so a caller may fit them first.
    """
    content_img = resize_long_side(content, size)
    if min(content_img.shape[:2]) < MIN_SIDE:
        raise UserError(
            f"content={content_name or 'image'}: at image.size={size} its short side is "
            f"{min(content_img.shape[:2])} px; raise image.size so it is at least {MIN_SIDE} px"
        )
    style_img = resize_long_side(style, round(style_scale * max(content_img.shape[:2])))
    if min(style_img.shape[:2]) < MIN_SIDE:
        raise UserError(
            f"image.style_scale={style_scale}: the style image would be "
            f"{style_img.shape[1]}x{style_img.shape[0]} px; raise image.style_scale or "
            f"image.size so its short side is at least {MIN_SIDE} px"
        )
    return content_img, style_img


def load_pair(
    content: str, style: str, size: int, style_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Load content (long side ``size``) and style (long side ``style_scale`` x content's)."""
    content_img, [style_img] = load_images(content, [style], size, style_scale)
    return content_img, style_img


def load_images(
    content: str, styles: Sequence[str], size: int, style_scale: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``load_pair`` for several style images: the content is read and fitted once."""
    content_img = load_image(resolve_image(content, "content"), "content")
    fitted = [
        fit_pair(content_img, load_image(resolve_image(style, "style"), "style"), size,
                 style_scale, content_name=content)
        for style in styles
    ]  # fmt: skip
    return fitted[0][0], [style_img for _, style_img in fitted]
