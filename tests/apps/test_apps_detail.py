"""Detail enhancement: g + k (g - u) (paper appendix C.1)."""

from __future__ import annotations

import torch
from kornia.filters import gaussian_blur2d

from rpaf.apps.common import InputImage, read_inputs
from rpaf.apps.detail import detail_layer, enhance, run
from rpaf.evaluation import Smoother


def _blur(x: torch.Tensor) -> torch.Tensor:
    return gaussian_blur2d(x, (5, 5), (1.5, 1.5))


def _image(seed: int = 0, size: int = 32) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_k_zero_returns_the_input_exactly():
    g = _image()
    u = _blur(g)
    assert torch.equal(enhance(g, u, 0.0), g)


def test_enhance_matches_the_formula_and_clips():
    g = _image(1)
    u = _blur(g)
    k = 2.5
    raw = enhance(g, u, k, clip=False)
    torch.testing.assert_close(raw, g + k * (g - u))
    assert torch.equal(enhance(g, u, k), raw.clamp(0, 1))
    assert raw.min() < 0 or raw.max() > 1  # the test image really needs clipping
    # k = -1 gives the smoothed image back.
    torch.testing.assert_close(enhance(g, u, -1.0, clip=False), u)
    torch.testing.assert_close(detail_layer(g, u), g - u)


def test_run_writes_images_of_the_input_size(tmp_path):
    img = InputImage("tile", None, _image(2, size=24)[:, :, :, :20].contiguous())
    result = run({"k": 0.0, "dpi": 40}, [Smoother(_blur, name="gauss blur")], [img], tmp_path)
    out = result["outputs"]
    assert {"gauss_blur/tile_detail", "gauss_blur/tile_smooth", "gauss_blur/tile_layer",
            "gauss_blur/tile_figure"} <= set(out)
    for key in ("gauss_blur/tile_detail", "gauss_blur/tile_smooth", "gauss_blur/tile_layer"):
        back = read_inputs([out[key]])[0].image
        assert back.shape == (1, 3, 24, 20)
    # k = 0: the written PNG equals the 8-bit quantised input.
    back = read_inputs([out["gauss_blur/tile_detail"]])[0].image
    torch.testing.assert_close(back, (img.image * 255).round() / 255, atol=1e-6, rtol=0)
