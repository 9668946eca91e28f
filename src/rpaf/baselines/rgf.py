"""Rolling guidance filter (Zhang, Shen, Xu & Jia, "Rolling guidance filter", ECCV 2014).

Two steps, both run on the input's device with kornia:

1. small-structure removal (paper Sec. 3.1): a Gaussian of scale ``sigma_s``,
   ``G = gaussian(I)``;
2. edge recovery (paper Sec. 3.2), iterated: a joint bilateral filter of the *input* ``I`` guided by
   the previous result,
   ``J^{t+1}(p) = 1/K_p sum_q exp(-|p - q|^2 / (2 sigma_s^2)
   - ||J^t(p) - J^t(q)||^2 / (2 sigma_r^2)) I(q)``, with ``J^1 = G`` and the colour distance
   the Euclidean norm over RGB.

``iterations`` counts the Gaussian as the first iteration, as the authors' code does (it starts
from a constant guide, for which the joint bilateral filter is the Gaussian): the default 4 is one
Gaussian and three rolling steps.
"""

from __future__ import annotations

import math

import torch
from kornia.filters import gaussian_blur2d, joint_bilateral_blur
from torch import Tensor

from rpaf.baselines.base import ClassicalSmoother

__all__ = ["RollingGuidanceFilter", "border_mode"]


def border_mode(preferred: str, pad: int, h: int, w: int) -> str:
    """``preferred`` unless reflect padding of ``pad`` is impossible for an (h, w) image."""
    if preferred == "reflect" and (pad >= h or pad >= w):
        return "replicate"
    return preferred


class RollingGuidanceFilter(ClassicalSmoother):
    """Rolling guidance filter (Zhang et al. 2014).

    Args:
        sigma_s: spatial scale in pixels; structures smaller than about this are removed
            (paper default 3).
        sigma_r: range scale in [0, 1] intensity units (paper: 0.05-0.1; default 0.1).
        iterations: total iterations including the initial Gaussian (paper default 4).
        truncate: kernel radius in units of ``sigma_s`` (kernel size
            ``2 ceil(truncate sigma_s) + 1``).
        border_type: kornia/torch padding mode (``reflect`` by default; ``replicate`` is used
            automatically for images smaller than the kernel radius).
    """

    name = "rgf"

    def __init__(
        self,
        sigma_s: float = 3.0,
        sigma_r: float = 0.1,
        iterations: int = 4,
        truncate: float = 3.0,
        border_type: str = "reflect",
    ) -> None:
        if sigma_s <= 0 or sigma_r <= 0 or iterations < 1 or truncate <= 0:
            raise ValueError(
                "RollingGuidanceFilter: need sigma_s > 0, sigma_r > 0, iterations >= 1, "
                f"truncate > 0; got sigma_s={sigma_s}, sigma_r={sigma_r}, "
                f"iterations={iterations}, truncate={truncate}"
            )
        if border_type not in ("reflect", "replicate", "circular", "constant"):
            raise ValueError(f"RollingGuidanceFilter: unknown border_type={border_type!r}")
        self.sigma_s = float(sigma_s)
        self.sigma_r = float(sigma_r)
        self.iterations = int(iterations)
        self.truncate = float(truncate)
        self.border_type = border_type

    def _smooth(self, img: Tensor) -> Tensor:
        x = img.to(torch.float32)
        radius = max(1, math.ceil(self.truncate * self.sigma_s))
        ks = 2 * radius + 1
        border = border_mode(self.border_type, radius, x.shape[-2], x.shape[-1])
        sigma = (self.sigma_s, self.sigma_s)
        out = []
        for i in range(x.shape[0]):  # one image at a time bounds kornia's unfold memory on GPU
            xi = x[i : i + 1]
            j = gaussian_blur2d(xi, (ks, ks), sigma, border_type=border)  # step 1 (Sec. 3.1)
            for _ in range(self.iterations - 1):  # step 2 (Sec. 3.2): roll the guide
                j = joint_bilateral_blur(
                    xi,
                    j,
                    (ks, ks),
                    self.sigma_r,
                    sigma,
                    border_type=border,
                    color_distance_type="l2",
                )
            out.append(j)
        return torch.cat(out, dim=0)
