"""BLIINDS-II port: brute-force checks of the vectorised maths and the LIVE reference values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.fft import dctn

from rpaf.metrics import bliinds2 as B


# --------------------------------------------------------------------------- brute force
def _blkproc_dct_loop(x: np.ndarray) -> np.ndarray:
    """MATLAB blkproc(x, [3 3], [1 1], @dct2) written as loops over blocks."""
    h, w = x.shape
    nh, nw = math.ceil(h / 3), math.ceil(w / 3)
    p = np.zeros((3 * nh + 2, 3 * nw + 2))
    p[1 : h + 1, 1 : w + 1] = x
    out = np.empty((nh, nw, 5, 5))
    for i in range(nh):
        for j in range(nw):
            out[i, j] = dctn(p[3 * i : 3 * i + 5, 3 * j : 3 * j + 5], norm="ortho")
    return out


def _gamma_loop(rho: float) -> float:
    """gama_gen_gauss's table search, literally."""
    g = 0.03 + 0.001 * np.arange(9971)
    r = np.array([math.gamma(1 / v) * math.gamma(3 / v) / math.gamma(2 / v) ** 2 for v in g])
    for j in range(len(g) - 1):
        if r[j + 1] < rho <= r[j]:
            return float(g[j])
    return 11.0


def _block_stats_loop(c: np.ndarray) -> dict[str, float]:
    """Per-block statistics from the paper's definitions, one block at a time."""
    ac = np.delete(c.ravel(), 0)
    a = np.abs(ac)
    zeta = a.std(ddof=1) / (a.mean() + 1e-7)
    rho = ac.var(ddof=1) / (np.abs(ac - ac.mean()).mean() ** 2 + 1e-7)
    low = [c[0, 1], c[1, 0], c[0, 2], c[2, 0], c[1, 1]]
    high = [c[2, 4], c[3, 3], c[4, 2], c[3, 4], c[4, 3], c[4, 4]]
    used = {(0, 0), (0, 1), (1, 0), (0, 2), (2, 0), (1, 1), (2, 4), (3, 3), (4, 2), (3, 4), (4, 3)}
    used.add((4, 4))
    mid = [c[i, j] for i in range(5) for j in range(5) if (i, j) not in used]
    assert len(mid) == 13
    v1, v2, v3 = (np.var(b, ddof=1) for b in (low, mid, high))
    r1 = abs(v3 - (v1 + v2) / 2) / (v3 + (v1 + v2) / 2 + 1e-8)
    r2 = abs(v2 - v1) / (v3 + v1 + 1e-8)
    # three oriented regions: strictly above the anti-diagonal band / diagonal / below
    up = [c[0, 1], c[0, 2], c[0, 3], c[0, 4], c[1, 2], c[1, 3], c[1, 4], c[2, 4]]
    diag = [c[1, 1], c[2, 2], c[3, 3], c[4, 4], c[2, 3], c[3, 2], c[3, 4], c[4, 3]]
    down = [c[1, 0], c[2, 0], c[3, 0], c[4, 0], c[2, 1], c[3, 1], c[4, 1], c[4, 2]]
    cvs = [
        np.abs(r).std(ddof=1) / (np.abs(r).mean() + 1e-7) for r in map(np.array, (up, diag, down))
    ]
    return {"zeta": zeta, "rho": rho, "R": (r1 + r2) / 2, "ori": np.var(cvs, ddof=1)}


def test_block_dct_matches_blkproc_loop():
    x = np.random.default_rng(0).uniform(0, 255, (14, 20))  # not multiples of 3
    np.testing.assert_allclose(B.block_dct(x), _blkproc_dct_loop(x), atol=1e-9)


def test_gamma_lookup_matches_literal_search():
    # Values away from table boundaries (exactly on a boundary, the last-ulp difference of
    # two Gamma-function implementations decides, as it would between MATLAB and numpy).
    r = lambda v: math.gamma(1 / v) * math.gamma(3 / v) / math.gamma(2 / v) ** 2  # noqa: E731
    gaussian = (r(2.0) + r(2.001)) / 2  # strictly inside the bin of g = 2.0
    rho = np.array([0.5, 1.2, 1.36, 1.5, gaussian, 2.0, 3.0, 10.0, 1e6])
    got = B._gamma_from_ratio(rho)
    expected = [_gamma_loop(float(v)) for v in rho]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got[4] == pytest.approx(2.0, abs=1e-12)  # Gaussian: r(2) = pi / 2
    assert got[0] == got[1] == 11.0  # below r(10): outside the table, release returns 11


def test_block_features_match_per_block_definitions():
    rng = np.random.default_rng(1)
    x = rng.laplace(128, 20, (12, 15))
    coeffs = B.block_dct(x)
    stats = B.block_features(coeffs)
    for i, j in [(0, 0), (1, 2), (3, 4), (2, 1)]:
        ref = _block_stats_loop(coeffs[i, j])
        assert stats["zeta"][i, j] == pytest.approx(ref["zeta"], rel=1e-10)
        assert stats["gamma"][i, j] == pytest.approx(_gamma_loop(ref["rho"]), abs=1e-12)
        assert stats["R"][i, j] == pytest.approx(ref["R"], rel=1e-10)
        assert stats["ori"][i, j] == pytest.approx(ref["ori"], rel=1e-10)


def test_pooling_directions():
    vals = np.arange(1.0, 21.0)  # 20 values -> ceil(20/10) = 2 extreme ones
    assert B._pool(vals, largest=True) == (10.5, 19.5)
    assert B._pool(vals, largest=False) == (10.5, 1.5)


def test_rgb2gray_matches_matlab_uint8_rule():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]]], dtype=np.uint8)
    # MATLAB rgb2gray on uint8: round(0.298936 R + 0.587043 G + 0.114021 B)
    np.testing.assert_array_equal(B.matlab_rgb2gray(rgb), [[76, 150, 29, 124]])
    t = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    np.testing.assert_array_equal(B.matlab_rgb2gray(t), B.matlab_rgb2gray(rgb))


def test_predict_is_argmax_of_eq8_on_release_grid():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(25, 25))
    model = B.BLIINDS2Model(1.0, 0.42, rng.normal(size=25) + 30, a @ a.T + 25 * np.eye(25))
    f = rng.normal(size=24)
    grid = np.arange(1, 100.001, 0.5)
    p = [
        math.exp(-(((np.r_[f, s] - model.mu) @ model.sigma_inv @ (np.r_[f, s] - model.mu)) ** 0.42))
        for s in grid
    ]
    assert model.predict(f) == float(grid[int(np.argmax(p))] - 1)


# --------------------------------------------------------------------------- model files
def test_missing_model_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(B.BLIINDS2_MODEL_ENV, raising=False)
    monkeypatch.delenv("RPAF_IQA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="live_model.json"):
        B.BLIINDS2(param_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="RPAF_BLIINDS2_MODEL"):
        B.BLIINDS2()
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"live_b": 1.0}))
    with pytest.raises(ValueError, match="live_gama"):
        B.BLIINDS2(model_path=bad)


def test_model_path_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "bliinds2").mkdir()
    in_dir = tmp_path / "bliinds2" / "live_model.json"
    in_dir.write_text("{}")
    explicit = tmp_path / "explicit.json"
    explicit.write_text("{}")
    monkeypatch.delenv(B.BLIINDS2_MODEL_ENV, raising=False)
    monkeypatch.setenv("RPAF_IQA_DIR", str(tmp_path))
    assert B.resolve_model_path() == in_dir
    monkeypatch.setenv(B.BLIINDS2_MODEL_ENV, str(explicit))
    assert B.resolve_model_path() == explicit
    assert B.resolve_model_path(model_path=in_dir) == in_dir


# --------------------------------------------------------------------------- LIVE reference
@pytest.fixture(scope="module")
def live(iqa_dir: Path) -> tuple[B.BLIINDS2, dict, np.ndarray]:
    folder = iqa_dir / "bliinds2"
    if not (folder / "reference.json").is_file():
        pytest.skip(f"{folder}/reference.json not present")
    from PIL import Image

    ref = json.loads((folder / "reference.json").read_text())
    img = np.asarray(Image.open(folder / "astronaut.png").convert("RGB"))
    return B.BLIINDS2(param_dir=iqa_dir), ref, img


def test_features_match_live_reference(live):
    scorer, ref, img = live
    f = scorer.features(img)
    # reference.json holds 6 significant digits
    np.testing.assert_allclose(f, ref["features_24"], rtol=2e-5, atol=2e-6)


def test_score_matches_live_reference(live):
    scorer, ref, img = live
    assert scorer.score(img) == ref["score"] == 23.5
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    out = scorer(torch.cat([x, x]))
    assert out.shape == (2,)
    assert out.tolist() == [23.5, 23.5]
    assert B.bliinds2_score(x[0], param_dir=scorer.model_path.parent.parent) == 23.5
