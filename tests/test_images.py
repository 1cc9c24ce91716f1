"""Image loading in every Pillow mode, EXIF orientation, resizing, saving, samples."""

import numpy as np
import pytest
from PIL import Image

from nst_sweep.errors import UserError
from nst_sweep.images import (
    load_image,
    load_pair,
    resize_long_side,
    resolve_image,
    sample_images,
    save_image,
)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 128, 128 / 255),
        ("1", 1, 1.0),
        ("I;16", 65535, 1.0),
        ("I;16", 32768, 32768 / 65535),
        ("I", 1000, 1000 / 65535),
        ("F", 0.25, 0.25),
        ("CMYK", (0, 0, 0, 0), 1.0),
    ],
)
def test_grey_like_modes_become_rgb_in_unit_range(tmp_path, mode, value, expected):
    img = Image.new(mode, (5, 3), value)
    path = tmp_path / f"x.{'tiff' if mode in ('I', 'F', 'CMYK') else 'png'}"
    img.save(path)
    arr = load_image(path)
    assert arr.shape == (3, 5, 3) and arr.dtype == np.float32
    np.testing.assert_allclose(arr, expected, atol=1e-3)


def test_alpha_is_composited_on_white(tmp_path):
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.new("LA", (4, 4), (0, 255)).save(tmp_path / "la.png")
    np.testing.assert_allclose(load_image(tmp_path / "clear.png"), 1.0)  # invisible red -> white
    np.testing.assert_allclose(load_image(tmp_path / "la.png"), 0.0)  # opaque black stays black


def test_palette_image(tmp_path):
    img = Image.new("P", (3, 3), 0)
    img.putpalette([10, 20, 30] + [0] * 765)
    img.save(tmp_path / "p.png")
    np.testing.assert_allclose(load_image(tmp_path / "p.png")[0, 0], np.array([10, 20, 30]) / 255)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (6, 2), (0, 0, 0))
    img.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "rot.jpg", exif=exif, quality=100)
    arr = load_image(tmp_path / "rot.jpg")
    assert arr.shape == (6, 2, 3)  # displayed portrait
    assert arr[0, -1].mean() > 0.8  # the white top-left pixel is now top-right


def test_resize_long_side_keeps_aspect():
    img = np.random.default_rng(0).random((30, 60, 3)).astype(np.float32)
    out = resize_long_side(img, 40)
    assert out.shape == (20, 40, 3) and out.min() >= 0 and out.max() <= 1
    flat = np.full((10, 20, 3), 0.3, np.float32)
    np.testing.assert_allclose(resize_long_side(flat, 64), 0.3, atol=1e-5)


def test_style_scale_uses_content_long_side(tmp_path):
    Image.new("RGB", (80, 40)).save(tmp_path / "c.png")
    Image.new("RGB", (30, 90)).save(tmp_path / "s.png")
    content, style = load_pair(str(tmp_path / "c.png"), str(tmp_path / "s.png"), 64, 0.75)
    assert content.shape == (32, 64, 3)
    assert style.shape == (48, 16, 3)  # long side 0.75 x 64, own aspect ratio 1:3
    # Too small for VGG19's four poolings: a clear error instead of a TensorFlow crash.
    with pytest.raises(UserError, match=r"image.style_scale=0.5: the style image would be 11x32"):
        load_pair(str(tmp_path / "c.png"), str(tmp_path / "s.png"), 64, 0.5)


def test_save_png_and_jpeg_round_trip(tmp_path):
    img = np.random.default_rng(1).random((8, 9, 3)).astype(np.float32)
    png = save_image(img, tmp_path / "sub" / "a.png")
    np.testing.assert_allclose(load_image(png), np.round(img * 255) / 255, atol=1e-6)
    jpg = save_image(np.full((8, 8, 3), 0.5, np.float32), tmp_path / "a.jpg")
    np.testing.assert_allclose(load_image(jpg), 0.5, atol=0.02)
    with pytest.raises(UserError, match=r"\.png or \.jpg"):
        save_image(img, tmp_path / "a.gifx")


def test_bundled_samples_resolve():
    names = sample_images()
    assert {"astronaut", "chelsea", "coffee", "the_scream", "starry_night"} <= set(names)
    assert resolve_image("the_scream", "style") == names["the_scream"]
    assert load_image(names["chelsea"]).shape[2] == 3


def test_bad_paths_and_names(tmp_path):
    with pytest.raises(UserError, match=r"content=nope\.png: no such file"):
        resolve_image("nope.png", "content")
    with pytest.raises(UserError, match=r"unknown sample name.*the_scream"):
        resolve_image("mona_lisa", "style")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(UserError, match="not a readable image"):
        load_image(tmp_path / "bad.png")
