"""Edge band / flat regions of a ground truth, and the fine-scale part of an error.

Not in the paper. Shared by the flat-region scores of ``tools/region_scores.py`` (section 22 of
``experiments/results/cpu_mini/README.md``) and the optional flat-region loss term of
:class:`rpaf.gelr.loss.GELRLoss` (``flat_fine_weight``), so that the training term and the
measurement use the same mask and the same band split.

* :func:`edge_mask` — pixels near a GT edge: grey-level Sobel magnitude (kornia, normalised
  kernel) above a threshold, grown by a square of side ``2 * radius + 1``. Its complement is the
  **flat** region, where a texture-removing smoother should leave no detail at all.
* :func:`gaussian_blur` — kornia Gaussian blur with reflected borders and a ``2 ceil(3 sigma) + 1``
  kernel; ``e - gaussian_blur(e, 2)`` is the **fine** band (periods below ~11 px) of ``e``.
"""

from __future__ import annotations

import math

import kornia
import torch
from torch import Tensor

#: Defaults of :func:`edge_mask`: Sobel threshold and growth radius (px).
EDGE_THRESHOLD = 0.05
EDGE_RADIUS = 2
#: Standard deviation (px) of the blur whose residual is the fine band.
FINE_SIGMA = 2.0


def edge_mask(target: Tensor, threshold: float = EDGE_THRESHOLD,
              radius: int = EDGE_RADIUS) -> Tensor:
    """Edge band of ``target`` (B, 3, H, W) RGB or (B, 1, H, W) grey, in [0, 1], as a
    (B, 1, H, W) bool mask.

    Pixels whose grey-level Sobel magnitude (kornia, normalised kernel) exceeds ``threshold``,
    grown by a (2 * radius + 1)-pixel square (``radius`` 0: no growth). ``~edge_mask`` is the
    flat region.
    """
    if threshold <= 0 or radius < 0:
        raise ValueError(f"threshold must be > 0 and radius >= 0, got {threshold}, {radius}")
    if target.ndim != 4 or target.shape[1] not in (1, 3):
        raise ValueError(f"edge_mask needs a (B, 3, H, W) RGB or (B, 1, H, W) grey image, got "
                         f"shape {tuple(target.shape)}")
    grey = target if target.shape[1] == 1 else kornia.color.rgb_to_grayscale(target)
    grad = kornia.filters.sobel(grey)
    mask = (grad > threshold).to(target.dtype)
    if radius:
        kernel = torch.ones(2 * radius + 1, 2 * radius + 1, dtype=target.dtype,
                            device=target.device)
        mask = kornia.morphology.dilation(mask, kernel)
    return mask > 0.5


def gaussian_blur(e: Tensor, sigma: float) -> Tensor:
    """Gaussian blur of ``e`` (B, C, H, W) (kornia, reflected borders, kernel 2 ceil(3 sigma) + 1).

    Reflection needs ``H, W > ceil(3 sigma)``; smaller images raise a ``ValueError`` naming the
    size.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    pad = math.ceil(3 * sigma)
    if min(e.shape[-2:]) <= pad:
        raise ValueError(f"a {sigma:g} px Gaussian blur with reflected borders needs images "
                         f"larger than {pad} px on each side, got {tuple(e.shape[-2:])}")
    k = 2 * pad + 1
    return kornia.filters.gaussian_blur2d(e, (k, k), (sigma, sigma), border_type="reflect")
