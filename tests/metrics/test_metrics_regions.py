"""Tests of rpaf.metrics.regions: the GT edge band and the band-split blur."""

from __future__ import annotations

import pytest
import torch

from rpaf.metrics import edge_mask, gaussian_blur


def test_edge_mask_takes_rgb_or_grey_and_names_a_bad_shape() -> None:
    step = torch.full((1, 3, 16, 16), 0.2)
    step[..., 8:] = 0.8
    rgb = edge_mask(step)
    assert rgb.shape == (1, 1, 16, 16)
    # Columns 7 and 8 straddle the step; grown by 2 px: 5..10.
    assert rgb[0, 0, 0].nonzero().flatten().tolist() == list(range(5, 11))
    assert torch.equal(edge_mask(step[:, :1]), rgb)  # grey input, same mask
    with pytest.raises(ValueError, match=r"shape \(1, 2, 16, 16\)"):
        edge_mask(step[:, :2])


def test_gaussian_blur_keeps_constants_and_refuses_small_images() -> None:
    const = torch.full((1, 3, 13, 13), 0.4)
    torch.testing.assert_close(gaussian_blur(const, 2.0), const)
    with pytest.raises(ValueError, match=r"larger than 6 px .* got \(6, 6\)"):
        gaussian_blur(torch.zeros(1, 3, 6, 6), 2.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gaussian_blur(const, 0.0)
