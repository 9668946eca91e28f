"""tools/structure_kept.py: how well smoothers keep clean structure images."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def test_identity_keeps_everything_and_a_dimmer_does_not(tmp_path: Path, capsys, load_tool,
                                                         scaling_ckpt) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "gt"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), np.uint8)).save(folder / f"{k}.png")
    ident = scaling_ckpt(tmp_path / "id.ckpt")
    dim = scaling_ckpt(tmp_path / "dim.ckpt", 0.9)  # u = 0.9 g: a known error
    assert load_tool("structure_kept").main([str(folder), "--ckpt", str(ident), "--ckpt", str(dim),
                         "--method", "tv"]) == 0
    out = capsys.readouterr().out
    rows = dict(re.findall(r"\| (\S+) \| ([\d.]+|inf) \|", out))
    assert float(rows[str(ident)]) > 90  # exact copy (torchmetrics caps the zero-MSE PSNR)
    imgs = [np.asarray(Image.open(folder / f"{k}.png"), np.float64) / 255 for k in range(3)]
    want = np.mean([10 * np.log10(1 / np.mean((0.1 * g) ** 2)) for g in imgs])
    assert float(rows[str(dim)]) == pytest.approx(want, abs=0.02)
    assert float(rows["method=tv"]) < 60


def test_empty_folder_and_nothing_to_score(tmp_path: Path, load_tool) -> None:
    with pytest.raises(SystemExit, match="no images"):
        load_tool("structure_kept").main([str(tmp_path), "--method", "tv"])
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(SystemExit, match="nothing to score"):
        load_tool("structure_kept").main([str(tmp_path)])
