"""tools/inference_passes.py: self-ensemble and repeated passes of a network."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _pairs(root: Path, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    (root / "input").mkdir(parents=True)
    (root / "gt").mkdir()
    gts = []
    for k in range(n):
        gt = rng.integers(0, 256, (24, 20, 3), np.uint8)
        Image.fromarray(gt).save(root / "gt" / f"{k:02d}.png")
        Image.fromarray(gt).save(root / "input" / f"{k:02d}.png")
        gts.append(gt.astype(np.float64) / 255)
    return gts


def test_passes_compound_and_ensemble_of_a_pointwise_map_changes_nothing(
        tmp_path: Path, capsys, load_tool, scaling_ckpt) -> None:
    gts = _pairs(tmp_path / "set", 3)
    dim = scaling_ckpt(tmp_path / "dim.ckpt", 0.9)  # input == gt, so k passes give 0.9^k gt
    assert load_tool("inference_passes").main([
        "--ckpt", str(dim), "--pairs", str(tmp_path / "set"),
        "--ensemble", "1", "8", "--passes", "1", "2"]) == 0
    rows = re.findall(r"\| \S+ \| (\d) \| (\d) \| ([\d.]+) / ([\d.]+) \|", capsys.readouterr().out)
    got = {(int(e), int(p)): float(v) for e, p, v, _ in rows}
    assert len(got) == 4
    for passes in (1, 2):
        err = 1 - 0.9 ** passes
        want = np.mean([10 * np.log10(1 / np.mean((err * g) ** 2)) for g in gts])
        assert got[(1, passes)] == pytest.approx(want, abs=0.02)
        assert got[(8, passes)] == pytest.approx(got[(1, passes)], abs=1e-6)
    assert got[(1, 2)] < got[(1, 1)] - 5  # a second pass doubles the error (about -5.6 dB)


def test_every_subsamples_large_folders_only(tmp_path: Path, capsys, load_tool,
                                             scaling_ckpt) -> None:
    _pairs(tmp_path / "big", 12)
    _pairs(tmp_path / "small", 3)
    ck = scaling_ckpt(tmp_path / "id.ckpt", 1.0)
    load_tool("inference_passes").main(["--ckpt", str(ck), "--pairs", str(tmp_path / "big"),
                                        "--pairs", str(tmp_path / "small"), "--every", "5",
                                        "--ensemble", "1", "--passes", "1"])
    out = capsys.readouterr().out
    assert "big (3) PSNR" in out  # 12 pairs -> 0, 5, 10
    assert "small (3) PSNR" in out


def test_bad_folders_and_arguments_are_named(tmp_path: Path, load_tool, scaling_ckpt) -> None:
    ck = scaling_ckpt(tmp_path / "id.ckpt", 1.0)
    tool = load_tool("inference_passes")
    with pytest.raises(SystemExit, match=re.escape(f"--pairs {tmp_path}: ") + ".*input"):
        tool.main(["--ckpt", str(ck), "--pairs", str(tmp_path)])
    _pairs(tmp_path / "set", 2)
    (tmp_path / "set" / "input" / "01.png").unlink()
    with pytest.raises(SystemExit, match=r"set: ground truths without input \(.*01"):
        tool.main(["--ckpt", str(ck), "--pairs", str(tmp_path / "set")])
    with pytest.raises(SystemExit, match="nothing to score"):
        tool.main(["--ckpt", str(ck)])
    with pytest.raises(SystemExit, match="must be >= 1"):
        tool.main(["--ckpt", str(ck), "--passes", "0", "--synthetic", "1"])
