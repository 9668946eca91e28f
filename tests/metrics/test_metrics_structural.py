"""Structural evaluation (Table 11): Canny edge maps compared with PSNR/SSIM."""

from __future__ import annotations

import math

import pytest
import torch

from rpaf.metrics import CannySettings, MetricConvention, canny_edges, edge_psnr_ssim


def _square(size: int = 48, lo: float = 0.2, hi: float = 0.8, off: int = 0) -> torch.Tensor:
    img = torch.full((1, 3, size, size), lo)
    img[..., 12 + off : 36 + off, 12:36] = hi
    return img


def test_edges_lie_on_the_step_and_flat_image_has_none():
    e = canny_edges(_square())
    assert e.shape == (1, 1, 48, 48)
    assert set(e.unique().tolist()) <= {0.0, 1.0}
    rows = e[0, 0].nonzero()[:, 0]
    assert rows.numel() > 0
    # every edge pixel is within one pixel of the square's outline (rows/cols 11..12, 35..36)
    ys, xs = e[0, 0].nonzero().unbind(1)
    near = lambda v: ((v - 11.5).abs() <= 1.5) | ((v - 35.5).abs() <= 1.5)  # noqa: E731
    assert (near(ys) | near(xs)).all()
    assert canny_edges(torch.full((2, 3, 32, 32), 0.5)).sum() == 0


def test_thresholds_control_edges():
    img = _square(lo=0.45, hi=0.55)  # weak step
    assert canny_edges(img, CannySettings(0.05, 0.1)).sum() > 0
    assert canny_edges(img, CannySettings(0.5, 0.9)).sum() == 0


def test_edge_psnr_closed_form_and_identity():
    a, b = _square(), _square(off=2)
    ea, eb = canny_edges(a), canny_edges(b)
    n_diff = (ea != eb).sum().item()
    out = edge_psnr_ssim(b, a)
    assert set(out) == {"edge_psnr", "edge_ssim"}
    # binary maps, data range 1: PSNR = 10 log10(N / #differing pixels)
    assert out["edge_psnr"].item() == pytest.approx(10 * math.log10(48 * 48 / n_diff), abs=1e-3)
    assert out["edge_ssim"].item() < 1
    same = edge_psnr_ssim(torch.cat([a, b]), torch.cat([a, b]))
    assert torch.isinf(same["edge_psnr"]).all()
    torch.testing.assert_close(same["edge_ssim"], torch.ones(2), atol=1e-5, rtol=0)


def test_data_range_and_crop_follow_the_convention():
    # dyadic grey levels: x * 255 / 255 == x exactly (Canny's non-maximum suppression breaks
    # ties on flat synthetic steps, so last-ulp differences could move edge pixels)
    a, b = _square(lo=0.25, hi=0.75), _square(lo=0.25, hi=0.75, off=2)
    ref = edge_psnr_ssim(b, a)
    scaled = edge_psnr_ssim(b * 255, a * 255, convention=MetricConvention(data_range=255.0))
    torch.testing.assert_close(scaled["edge_psnr"], ref["edge_psnr"])
    cropped = edge_psnr_ssim(b, a, convention=MetricConvention(crop_border=4))
    assert cropped["edge_psnr"].shape == (1,)


def test_settings_validation_and_coercion():
    with pytest.raises(ValueError, match="low_threshold <= high_threshold"):
        CannySettings(0.3, 0.2)
    with pytest.raises(ValueError, match="odd"):
        CannySettings(kernel_size=4)
    s = CannySettings.coerce({"_target_": "x", "low_threshold": 0.05, "sigma": 2.0})
    assert s == CannySettings(low_threshold=0.05, sigma=2.0)
    assert "thresholds 0.05/0.2" in s.describe()


def test_component_hysteresis_equals_kornia_tracking():
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 72, 72, generator=g), 3, 1)
    for s in (CannySettings(0.02, 0.12), CannySettings(0.05, 0.3)):
        fast = canny_edges(img, s)
        ref = canny_edges(img, s, hysteresis_impl="kornia")
        assert fast.sum() > 0
        torch.testing.assert_close(fast, ref, atol=0, rtol=0)
        strong = canny_edges(
            img, CannySettings(s.low_threshold, s.high_threshold, hysteresis=False)
        )
        assert (strong <= fast).all()  # hysteresis only adds weak pixels to the strong ones
        assert strong.sum() < fast.sum()
