"""tools/region_scores.py: PSNR split into the GT's edge band and its flat regions."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


def _step(h: int = 16, w: int = 16) -> torch.Tensor:
    """(1, 3, h, w): black left half, white right half (a vertical edge between w/2-1 and w/2)."""
    x = torch.zeros(1, 3, h, w)
    x[..., w // 2:] = 1.0
    return x


def test_edge_mask_marks_the_step_and_grows_by_the_radius(load_tool) -> None:
    tool = load_tool("region_scores")
    step = _step()
    for radius, cols in ((0, {7, 8}), (2, set(range(5, 11)))):
        mask = tool.edge_mask(step, 0.05, radius)
        assert mask.shape == (1, 1, 16, 16)
        assert mask.dtype == torch.bool
        marked = {c for c in range(16) if mask[0, 0, :, c].all()}
        assert marked == cols
        assert int(mask.sum()) == 16 * len(cols)  # whole columns, nothing else
    assert not tool.edge_mask(torch.full((1, 3, 8, 8), 0.3)).any()  # flat image: no edge
    with pytest.raises(ValueError, match="threshold"):
        tool.edge_mask(step, 0.0)


def test_region_split_matches_a_brute_force_and_recombines(load_tool) -> None:
    tool = load_tool("region_scores")
    gen = torch.Generator().manual_seed(0)
    out, gt = torch.rand(1, 3, 12, 10, generator=gen), torch.rand(1, 3, 12, 10, generator=gen)
    mask = torch.rand(1, 1, 12, 10, generator=gen) > 0.7
    r = tool.region_psnr(out, gt, mask)
    se = ((out - gt) ** 2).mean(1)[0].numpy().astype(np.float64)
    m = mask[0, 0].numpy()
    def db(v: float) -> float:
        return -10 * np.log10(v)
    assert r["edge"] == pytest.approx(db(se[m].mean()), abs=1e-6)
    assert r["flat"] == pytest.approx(db(se[~m].mean()), abs=1e-6)
    assert r["all"] == pytest.approx(db(se.mean()), abs=1e-6)
    s = r["edge_share"]
    assert s == pytest.approx(m.mean())
    recombined = s * 10 ** (-r["edge"] / 10) + (1 - s) * 10 ** (-r["flat"] / 10)
    assert recombined == pytest.approx(10 ** (-r["all"] / 10), rel=1e-9)
    none = tool.region_psnr(out, gt, torch.zeros_like(mask))
    assert math.isnan(none["edge"])
    assert none["flat"] == pytest.approx(none["all"])


def test_main_tells_flat_error_from_edge_error(tmp_path: Path, capsys, load_tool,
                                              scaling_ckpt) -> None:
    # One pair: GT a vertical step; the input adds noise only far from the step, so the input
    # is exact on the edge band (inf) and off in the flat regions by a known amount.
    rng = np.random.default_rng(0)
    gt = np.zeros((16, 24, 3), np.uint8)
    gt[:, 12:] = 200
    gt[:, :, 1] += 30
    noisy = gt.astype(np.int32)
    noisy[:, :6] += rng.integers(0, 20, (16, 6, 3))
    noisy = noisy.astype(np.uint8)
    for sub, img in (("input", noisy), ("gt", gt)):
        (tmp_path / sub).mkdir()
        Image.fromarray(img).save(tmp_path / sub / "a.png")
    ident = scaling_ckpt(tmp_path / "id.ckpt")
    assert load_tool("region_scores").main([str(tmp_path), "--ckpt", str(ident),
                                            "--method", "tv", "--per-image"]) == 0
    out = capsys.readouterr().out
    rows = {(lab, img): (float(a), float(f), float(e)) for lab, img, a, f, e in re.findall(
        r"\| (\S+) \| (\S+) \| ([\d.]+|inf) \| ([\d.]+|inf) \| ([\d.]+|inf) \|", out)}
    a, f, e = rows[("input", "a")]
    assert math.isinf(e)
    assert f < 60
    diff = (noisy.astype(np.float64) - gt) / 255
    se = (diff ** 2).mean(2)
    flat = np.ones((16, 24), bool)
    flat[:, 12 - 3:12 + 3] = False  # the step at columns 11|12, radius 2
    assert f == pytest.approx(-10 * np.log10(se[flat].mean()), abs=0.01)
    assert a == pytest.approx(-10 * np.log10(se.mean()), abs=0.01)
    assert rows[(str(ident), "a")] == rows[("input", "a")]  # the identity network
    assert ("method=tv", "mean") in rows
    assert "edge band 25.0% of the pixels" in out


def test_errors_name_the_fix(tmp_path: Path, load_tool) -> None:
    tool = load_tool("region_scores")
    with pytest.raises(SystemExit, match="nothing to score"):
        tool.main([str(tmp_path)])
    with pytest.raises(SystemExit, match="--threshold must be > 0"):
        tool.main([str(tmp_path), "--method", "tv", "--threshold", "0"])
    with pytest.raises(SystemExit, match="--every >= 1"):
        tool.main([str(tmp_path), "--method", "tv", "--every", "0"])
    with pytest.raises(SystemExit, match=re.escape(str(tmp_path))):
        tool.main([str(tmp_path), "--method", "tv"])  # no input/ and gt/


def test_flat_bands_put_each_error_in_its_band(load_tool) -> None:
    """A constant offset is all bias, a pixel checkerboard all fine, a slow sine mostly coarse;
    only flat pixels are scored."""
    tool = load_tool("region_scores")
    gt = torch.full((1, 3, 64, 64), 0.5)
    none = torch.zeros(1, 1, 64, 64, dtype=torch.bool)

    def db(v: float) -> float:
        return -10 * math.log10(v)

    off = torch.tensor([0.02, -0.01, 0.0]).view(1, 3, 1, 1)
    b = tool.flat_bands(gt + off, gt, none)
    assert b["bias"] == pytest.approx(db(float((off ** 2).mean())), abs=1e-4)
    assert min(b["coarse"], b["mid"], b["fine"]) > 200  # nothing but the offset
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    checker = 0.01 * (1 - 2 * ((yy + xx) % 2)).to(torch.float32)
    b = tool.flat_bands(gt + checker, gt, none)
    assert b["fine"] == pytest.approx(db(1e-4), abs=0.05)
    assert min(b["bias"], b["coarse"], b["mid"]) > b["fine"] + 40
    sine = 0.01 * torch.sin(2 * math.pi * xx / 64.0).to(torch.float32)
    b = tool.flat_bands(gt + sine, gt, none)
    assert b["coarse"] < min(b["mid"], b["fine"]) - 10
    # An error on the edge band only: no bias over the flat pixels (blurs may spread it).
    mask = torch.zeros_like(none)
    mask[..., 30:34] = True
    spike = torch.zeros_like(gt)
    spike[..., 32] = 0.1
    b = tool.flat_bands(gt + spike, gt, mask)
    assert b["bias"] == math.inf
    assert all(math.isnan(v) for v in tool.flat_bands(gt, gt, ~none).values())
    with pytest.raises(ValueError, match="--bands needs images larger than 24 px"):
        tool.flat_bands(gt[..., :20, :20], gt[..., :20, :20], none[..., :20, :20])


def test_main_bands_adds_the_band_columns(tmp_path: Path, capsys, load_tool, scaling_ckpt
                                          ) -> None:
    rng = np.random.default_rng(1)
    gt = np.full((32, 40, 3), 100, np.uint8)
    noisy = (gt + rng.integers(-4, 5, gt.shape)).astype(np.uint8)
    for sub, img in (("input", noisy), ("gt", gt)):
        (tmp_path / sub).mkdir()
        Image.fromarray(img).save(tmp_path / sub / "a.png")
    ident = scaling_ckpt(tmp_path / "id.ckpt")
    assert load_tool("region_scores").main([str(tmp_path), "--ckpt", str(ident), "--bands"]) == 0
    out = capsys.readouterr().out
    assert "| all | flat | edge | flat_bias | flat_coarse | flat_mid | flat_fine |" in out
    row = re.search(r"\| input \| mean \|((?: (?:[\d.]+|nan) \|){7})", out)
    assert row is not None, out
    vals = [float(v) for v in row.group(1).split("|")[:-1]]
    assert vals[0] == vals[1]  # no edge band: all = flat
    assert math.isnan(vals[2])
    assert vals[6] < min(vals[3], vals[4], vals[5]) - 5  # white noise: fine-scale error
