"""Image reading/writing: every pixel format to RGB float, and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rpaf.data import DatasetError, read_image, write_image


def _check(arr: np.ndarray, h: int, w: int) -> None:
    assert arr.shape == (h, w, 3)
    assert arr.dtype == np.float32
    assert arr.min() >= 0.0
    assert arr.max() <= 1.0


def test_rgb_png_exact(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    _check(out, 5, 7)
    np.testing.assert_allclose(out, rgb / 255.0, atol=1e-7)


def test_grey_is_replicated(tmp_path: Path) -> None:
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(g, mode="L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    _check(out, 3, 4)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], g / 255.0, atol=1e-7)


def test_rgba_drops_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 100, 50
    rgba[0, 0, 3] = 0  # fully transparent pixel keeps its colour
    rgba[1, 1, 3] = 255
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    _check(out, 2, 2)
    np.testing.assert_allclose(out[0, 0], np.array([200, 100, 50]) / 255.0, atol=1e-7)


def test_palette_expanded(tmp_path: Path) -> None:
    im = Image.new("P", (3, 2))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (768 - 9))
    im.putdata([0, 1, 2, 2, 1, 0])
    im.save(tmp_path / "p.png")
    out = read_image(tmp_path / "p.png")
    _check(out, 2, 3)
    np.testing.assert_allclose(out[0, 0], [1, 0, 0])
    np.testing.assert_allclose(out[0, 2], [0, 0, 1])
    np.testing.assert_allclose(out[1, 1], [0, 1, 0])


def test_16bit_grey_keeps_precision(tmp_path: Path) -> None:
    g = np.array([[0, 1, 257, 65535], [1000, 30000, 40000, 65534]], np.uint16)
    Image.fromarray(g).save(tmp_path / "g16.png")
    out = read_image(tmp_path / "g16.png")
    _check(out, 2, 4)
    np.testing.assert_allclose(out[..., 1], g / 65535.0, atol=1e-7)
    assert out[0, 1, 0] > 0  # a value of 1/65535 is not rounded to 8 bits


def test_16bit_colour_png_roundtrip(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).random((6, 5, 3)).astype(np.float32)
    write_image(tmp_path / "c16.png", rgb, bits=16)
    out = read_image(tmp_path / "c16.png")
    _check(out, 6, 5)
    np.testing.assert_allclose(out, np.round(rgb * 65535) / 65535, atol=1e-6)
    # 16-bit precision, far finer than 8 bits: channel order also checked by the match
    assert np.abs(out - rgb).max() < 1e-4


def test_16bit_tiff_roundtrip(tmp_path: Path) -> None:
    rgb = np.random.default_rng(2).random((4, 3, 3)).astype(np.float32)
    write_image(tmp_path / "c16.tif", rgb, bits=16)
    np.testing.assert_allclose(read_image(tmp_path / "c16.tif"), rgb, atol=1e-4)


def test_jpeg_reads(tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(tmp_path / "a.jpg")
    out = read_image(tmp_path / "a.jpg")
    _check(out, 8, 8)
    assert abs(float(out.mean()) - 128 / 255) < 0.02


def test_write_tensor_and_read_back(tmp_path: Path) -> None:
    t = torch.rand(1, 3, 4, 6)
    write_image(tmp_path / "t.png", t)
    out = read_image(tmp_path / "t.png")
    np.testing.assert_allclose(out, t[0].permute(1, 2, 0).numpy(), atol=0.5 / 255 + 1e-6)
    with pytest.raises(ValueError, match="one image"):
        write_image(tmp_path / "b.png", torch.rand(2, 3, 4, 4))


def test_zero_byte_file_named(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty\.png.*0 bytes"):
        read_image(tmp_path / "empty.png")


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_truncated_file_named(tmp_path: Path, ext: str) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full = tmp_path / f"full.{ext}"
    Image.fromarray(rgb).save(full)
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(DatasetError, match=rf"cut\.{ext}.*skip_bad_files"):
        read_image(cut)


def test_not_an_image_and_missing(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_text("hello, not a PNG")
    with pytest.raises(DatasetError, match=r"x\.png"):
        read_image(tmp_path / "x.png")
    with pytest.raises(DatasetError, match="no such image"):
        read_image(tmp_path / "missing.png")
    assert issubclass(DatasetError, ValueError)
