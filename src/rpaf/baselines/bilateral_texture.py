"""Bilateral texture filtering (Cho, Lee, Kang & Lee, "Bilateral texture filtering",
ACM TOG 33(4), SIGGRAPH 2014).

One iteration on the current image ``I`` (patch size ``k``, odd), all in torch on the input's
device:

1. ``B`` = k x k box (mean) filter of ``I``;
2. modified relative total variation of the k x k patch ``Ω_p`` centred at each pixel, per channel
   and then averaged over channels (paper eq. 4)::

       mRTV(Ω_p) = Δ(Ω_p) * max_{r in Ω_p} |∂I_r| / (sum_{r in Ω_p} |∂I_r| + eps)

   with ``Δ`` the intensity range of the patch and ``|∂I|`` the (Sobel) gradient magnitude;
3. patch shift (paper Sec. 3.2): among the k x k patches containing ``p`` (centres ``q`` in
   ``Ω_p``), take ``q* = argmin mRTV(Ω_q)`` and set ``G_p = B_{q*}``;
4. blend (paper eq. 5-6): ``α_p = 2 (sigmoid(σ_α (mRTV(Ω_p) - mRTV(Ω_{q*}))) - 0.5)``,
   ``σ_α = 5k``, ``G'_p = α_p G_p + (1 - α_p) B_p``;
5. joint bilateral filter of ``I`` guided by ``G'`` (kornia), spatial kernel ``2k - 1`` with
   ``σ_s = k - 1`` and range ``σ_r = 0.05 sqrt(3)`` (Euclidean RGB distance).

The result becomes ``I`` of the next iteration.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.filters import box_blur, joint_bilateral_blur, spatial_gradient
from torch import Tensor

from rpaf.baselines.base import ClassicalSmoother
from rpaf.baselines.rgf import border_mode

__all__ = ["BilateralTextureFilter", "mrtv", "patch_shift_guide"]

_EPS = 1e-9


def _window(x: Tensor, k: int, border: str) -> Tensor:
    """All k x k neighbours of every pixel: (B, C, H, W) -> (B, C, k*k, H, W)."""
    b, c, h, w = x.shape
    r = k // 2
    padded = F.pad(x, (r, r, r, r), mode=border)
    cols = F.unfold(padded, kernel_size=k)  # (B, C*k*k, H*W)
    return cols.view(b, c, k * k, h, w)


def mrtv(img: Tensor, k: int, border: str = "reflect") -> Tensor:
    """Modified relative total variation of the k x k patch around every pixel (paper eq. 4).

    Args:
        img: (B, C, H, W) image.
        k: odd patch size.
        border: padding mode for the patch statistics.

    Returns:
        (B, 1, H, W) mRTV, averaged over channels.
    """
    r = k // 2
    grad = spatial_gradient(img, mode="sobel", normalized=True)  # (B, C, 2, H, W)
    mag = grad.pow(2).sum(dim=2).sqrt()  # |∂I| per channel
    padded_img = F.pad(img, (r, r, r, r), mode=border)
    padded_mag = F.pad(mag, (r, r, r, r), mode=border)
    i_max = F.max_pool2d(padded_img, k, stride=1)
    i_min = -F.max_pool2d(-padded_img, k, stride=1)
    g_max = F.max_pool2d(padded_mag, k, stride=1)
    g_sum = F.avg_pool2d(padded_mag, k, stride=1) * (k * k)
    value = (i_max - i_min) * g_max / (g_sum + _EPS)  # eq. 4
    return value.mean(dim=1, keepdim=True)


def patch_shift_guide(img: Tensor, k: int, border: str = "reflect") -> Tensor:
    """The blended guidance image ``G'`` of steps 1-4 (patch shift + alpha blending).

    Args:
        img: (B, C, H, W) image.
        k: odd patch size.
        border: padding mode.

    Returns:
        (B, C, H, W) guidance image.
    """
    blurred = box_blur(img, (k, k), border_type=border)  # step 1: B
    m = mrtv(img, k, border)  # step 2, (B, 1, H, W)
    m_win = _window(m, k, border)  # (B, 1, k*k, H, W): mRTV of every patch containing p
    m_min, idx = m_win.min(dim=2)  # step 3: q* = argmin
    b_win = _window(blurred, k, border)  # (B, C, k*k, H, W)
    index = idx[:, :, None].expand(-1, img.shape[1], -1, -1, -1)
    shifted = torch.gather(b_win, 2, index).squeeze(2)  # G_p = B_{q*}
    alpha = 2.0 * (torch.sigmoid(5.0 * k * (m - m_min)) - 0.5)  # eq. 5, sigma_alpha = 5k
    return alpha * shifted + (1.0 - alpha) * blurred  # eq. 6


class BilateralTextureFilter(ClassicalSmoother):
    """Bilateral texture filtering (Cho et al. 2014).

    Args:
        k: patch size, odd (texture scale; paper uses 3-7, default 5).
        iterations: number of filtering iterations (paper: 3-5, default 3).
        sigma_r: range scale of the joint bilateral filter in [0, 1] units; ``None`` gives the
            paper's ``0.05 * sqrt(3)``.
        border_type: padding mode (``reflect``; ``replicate`` is used automatically for images
            smaller than the kernel radius).
    """

    name = "btf"

    def __init__(
        self,
        k: int = 5,
        iterations: int = 3,
        sigma_r: float | None = None,
        border_type: str = "reflect",
    ) -> None:
        if k < 3 or k % 2 == 0 or iterations < 1 or (sigma_r is not None and sigma_r <= 0):
            raise ValueError(
                "BilateralTextureFilter: need an odd patch size k >= 3, iterations >= 1, "
                f"sigma_r > 0 or None; got k={k}, iterations={iterations}, sigma_r={sigma_r}"
            )
        self.k = int(k)
        self.iterations = int(iterations)
        self.sigma_r = None if sigma_r is None else float(sigma_r)
        self.border_type = border_type

    def _smooth(self, img: Tensor) -> Tensor:
        k = self.k
        ks = 2 * k - 1
        sigma_s = float(k - 1)
        sigma_r = 0.05 * math.sqrt(3.0) if self.sigma_r is None else self.sigma_r
        border = border_mode(self.border_type, k - 1, img.shape[-2], img.shape[-1])
        out = []
        for i in range(img.shape[0]):  # one image at a time bounds kornia's memory on GPU
            x = img[i : i + 1].to(torch.float32)
            for _ in range(self.iterations):
                guide = patch_shift_guide(x, k, border)
                x = joint_bilateral_blur(
                    x,
                    guide,
                    (ks, ks),
                    sigma_r,
                    (sigma_s, sigma_s),
                    border_type=border,
                    color_distance_type="l2",
                )  # step 5
            out.append(x)
        return torch.cat(out, dim=0)
