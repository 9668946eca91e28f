"""PSNR/SSIM conventions: closed forms, crop, BT.601 Y channel, per-image results."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rpaf.metrics import MetricConvention, psnr, rgb_to_y_bt601, ssim


def _img(b: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 + 0.8 * torch.rand(b, 3, size, size, generator=g)


def test_psnr_closed_form_known_mse_per_image():
    x = _img()
    offsets = torch.tensor([0.05, 0.01])  # MSE = offset^2 exactly (no clipping: x in [0.1, 0.9])
    y = x + offsets.view(2, 1, 1, 1)
    got = psnr(y, x, data_range=1.0)
    expected = 10 * torch.log10(1.0 / offsets.double() ** 2)  # 26.0206 dB, 40 dB
    assert got.shape == (2,)
    torch.testing.assert_close(got.double(), expected, atol=1e-3, rtol=0)
    assert got[1] == pytest.approx(40.0, abs=1e-3)


def test_psnr_data_range_is_explicit():
    x = _img()
    y = x + 0.02
    p1 = psnr(y, x, data_range=1.0)
    p255 = psnr(y * 255, x * 255, data_range=255.0)
    torch.testing.assert_close(p1, p255, atol=1e-3, rtol=0)
    # Same pixels with a wrong range: shifted by exactly 20 log10(255).
    wrong = psnr(y * 255, x * 255, data_range=1.0)
    torch.testing.assert_close(
        p255 - wrong, torch.full((2,), 20 * math.log10(255)), atol=1e-3, rtol=0
    )


def test_crop_border_ignores_border_errors():
    x = _img(size=24)
    y = x.clone()
    y[..., :2, :] += 0.3  # errors only in the top two rows
    assert torch.isfinite(psnr(y, x)).all()
    assert torch.isinf(psnr(y, x, crop_border=2)).all()
    mse_crop1 = ((y - x)[..., 1:-1, 1:-1] ** 2).mean(dim=(1, 2, 3)).double()
    torch.testing.assert_close(
        psnr(y, x, crop_border=1).double(), 10 * torch.log10(1 / mse_crop1), atol=1e-3, rtol=0
    )
    with pytest.raises(ValueError, match="crop_border"):
        psnr(y, x, crop_border=12)


def test_y_channel_known_values():
    rgb = torch.tensor(
        [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    ).T.reshape(1, 3, 1, 5)
    y = rgb_to_y_bt601(rgb).flatten()
    expected = torch.tensor([235.0, 16.0, 16 + 65.481, 16 + 128.553, 16 + 24.966]) / 255
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=0)
    # same convention at data range 255
    torch.testing.assert_close(rgb_to_y_bt601(rgb * 255, 255.0).flatten(), expected * 255)


def test_y_channel_matches_skimage():
    skcolor = pytest.importorskip("skimage.color")
    x = _img(b=1, size=8)
    ref = skcolor.rgb2ycbcr(x[0].permute(1, 2, 0).numpy().astype(np.float64))[..., 0] / 255
    got = rgb_to_y_bt601(x.double())[0, 0].numpy()
    np.testing.assert_allclose(got, ref, atol=1e-10)


def test_psnr_y_equals_psnr_of_luma():
    x, y = _img(seed=1), _img(seed=2)
    lx, ly = rgb_to_y_bt601(x), rgb_to_y_bt601(y)
    mse = ((lx - ly) ** 2).mean(dim=(1, 2, 3)).double()
    torch.testing.assert_close(
        psnr(y, x, color="y").double(), 10 * torch.log10(1 / mse), atol=1e-3, rtol=0
    )
    with pytest.raises(ValueError, match="RGB"):
        psnr(y[:, :1], x[:, :1], color="y")


def test_ssim_identical_is_one_and_noise_lowers_it():
    x = _img(b=3)
    torch.testing.assert_close(ssim(x, x), torch.ones(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        ssim(x, x, color="y", crop_border=4), torch.ones(3), atol=1e-5, rtol=0
    )
    noisy = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    s = ssim(noisy, x)
    assert s.shape == (3,)
    assert (s < 0.99).all()


def test_ssim_too_small_raises():
    x = _img(size=10)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(x, x)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="equal shapes"):
        psnr(_img(size=16), _img(size=17))


def test_convention_describe_and_methods():
    c = MetricConvention()
    assert c.describe() == (
        "PSNR/SSIM on RGB, data range 1.0, no border crop, SSIM gaussian 11/1.5"
    )
    c2 = MetricConvention(crop_border=4, color="y")
    assert "border crop 4 px" in c2.describe()
    assert "Y (BT.601" in c2.describe()
    x, y = _img(seed=3), _img(seed=4)
    torch.testing.assert_close(c2.psnr(y, x), psnr(y, x, crop_border=4, color="y"))
    torch.testing.assert_close(c2.ssim(y, x), ssim(y, x, crop_border=4, color="y"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data_range": 0}, "data_range"),
        ({"crop_border": -1}, "crop_border"),
        ({"color": "ycbcr"}, "color"),
        ({"ssim_sigma": 0.0}, "ssim_sigma"),
    ],
)
def test_convention_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MetricConvention(**kwargs)
