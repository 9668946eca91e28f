"""NKS-style composites of the sample folder's thumbnails (rpaf.data.nks_composites)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpaf.data import PairedFolderDataset
from rpaf.data.errors import DatasetError
from rpaf.data.nks_composites import (
    STRUCTURE_DIR,
    TEXTURE_DIR,
    compose_pair,
    main,
    prepare_nks_composites,
)


def _fake_samples(root: Path, n_struct: int = 3, n_tex: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for sub, n, shape in ((STRUCTURE_DIR, n_struct, (20, 30)), (TEXTURE_DIR, n_tex, (26, 40))):
        (root / sub).mkdir(parents=True)
        for k in range(n):
            arr = rng.integers(0, 256, (shape[0] + k, shape[1], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / sub / f"montage_pos{k + 1:02d}.png")
    return root


def test_every_structure_meets_every_texture(tmp_path: Path) -> None:
    samples = _fake_samples(tmp_path / "samples")
    names = prepare_nks_composites(samples, tmp_path / "out")
    assert names == ["S01T01", "S01T02", "S02T01", "S02T02", "S03T01", "S03T02"]
    ds = PairedFolderDataset(tmp_path / "out", layout="paired")
    assert len(ds) == 6
    # The ground truth is the structure itself, at its own size.
    gt = np.asarray(Image.open(tmp_path / "out" / "gt" / "S02T01.png"))
    want = np.asarray(Image.open(samples / STRUCTURE_DIR / "montage_pos02.png"))
    np.testing.assert_array_equal(gt, want)
    inp = np.asarray(Image.open(tmp_path / "out" / "input" / "S02T01.png"))
    assert inp.shape == want.shape
    assert not np.array_equal(inp, want)


def test_blend_is_the_nks_recipe() -> None:
    rng = np.random.default_rng(1)
    s = rng.uniform(0.2, 0.8, (12, 16, 3)).astype(np.float32)
    t = rng.uniform(0.0, 1.0, (14, 20, 3)).astype(np.float32)
    s_img = Image.fromarray(np.round(s * 255).astype(np.uint8))
    t_img = Image.fromarray(np.round(t * 255).astype(np.uint8))
    inp, gt = compose_pair(s_img, t_img)
    s8, t8 = np.asarray(s_img, np.float64) / 255, np.asarray(t_img, np.float64) / 255
    # Texture: centre crop (14x20 -> 12x16 starts at row 1, column 2), no rescaling.
    fused = 0.7 * s8 + 0.3 * t8[1:13, 2:18]
    want = (fused - fused.mean((0, 1))) * (s8.std((0, 1)) / fused.std((0, 1))) + s8.mean((0, 1))
    np.testing.assert_allclose(gt, s8, atol=1e-6)
    np.testing.assert_allclose(inp, np.clip(want, 0, 1), atol=1e-5)


def test_small_texture_is_upscaled_to_cover() -> None:
    s_img = Image.new("RGB", (30, 20), (100, 120, 140))
    t_img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (8, 10, 3), np.uint8))
    inp, gt = compose_pair(s_img, t_img)
    assert inp.shape == gt.shape == (20, 30, 3)


def test_missing_thumbnails_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nks/structures"):
        prepare_nks_composites(tmp_path / "nowhere", tmp_path / "out")
    samples = _fake_samples(tmp_path / "samples")
    for f in (samples / TEXTURE_DIR).glob("*.png"):
        f.unlink()
    with pytest.raises(DatasetError, match="nks/textures"):
        prepare_nks_composites(samples, tmp_path / "out")
    assert main([str(samples), str(tmp_path / "out")]) == 2


def test_nks_recipe_reproduces_the_chalk_figure(real_samples_dir: Path) -> None:
    """The folder's chalk example shows fused and adjusted panels: our moment matching of the
    fused panel must give the adjusted one (checked at 40.0 dB; the panels are 8-bit renders)."""
    pairs = real_samples_dir / "nks" / "pairs"
    s, fused, adjusted = (
        np.asarray(Image.open(pairs / f"chalk_{name}.png").convert("RGB"), np.float64) / 255
        for name in ("structure", "fused", "adjusted")
    )
    mine = (fused - fused.mean((0, 1))) * (s.std((0, 1)) / fused.std((0, 1))) + s.mean((0, 1))
    psnr = 10 * np.log10(1.0 / np.mean((np.clip(mine, 0, 1) - adjusted) ** 2))
    assert psnr > 38.0


def test_real_sample_thumbnails_give_200_pairs(real_samples_dir: Path, tmp_path: Path) -> None:
    names = prepare_nks_composites(real_samples_dir, tmp_path / "comp")
    assert len(names) == 200
    assert names[-1] == "S20T10"
    ds = PairedFolderDataset(tmp_path / "comp", layout="paired")
    item = ds[len(ds) - 1]
    assert item["input"].shape == item["target"].shape
