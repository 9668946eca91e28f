"""L0 gradient minimisation (Xu, Lu, Xu & Jia, "Image smoothing via L0 gradient minimization",
SIGGRAPH Asia 2011).

Minimises ``sum_p (S_p - I_p)^2 + lam * #{p : |dx S_p| + |dy S_p| != 0}`` (paper eq. 3-4) by
half-quadratic splitting with auxiliary gradients ``(h, v)`` and an increasing coupling ``beta``:

* (h, v)-step (paper eq. 12): ``(h, v)_p = 0`` where ``sum_c (dx S)^2 + (dy S)^2 <= lam / beta``,
  else ``(dx S, dy S)_p`` (for colour images the test sums over channels, as in the authors'
  code);
* S-step (paper eq. 6, closed form eq. 8):
  ``(1 + beta (dxᵀdx + dyᵀdy)) S = I + beta (dxᵀh + dyᵀv)``, solved in a transform domain;
* ``beta <- kappa * beta`` from ``2 * lam`` until ``beta_max`` (paper Alg. 1).

Border trap: the paper solves the S-step with an FFT, i.e. periodic differences, so a bright left
edge leaks into a dark right edge. The default ``boundary="neumann"`` uses the DCT-II, which is the
FFT of the symmetrically padded (mirrored) image cropped back, so nothing wraps around. Use
``boundary="periodic"`` only to reproduce the original code.
"""

from __future__ import annotations

import numpy as np

from rpaf.baselines._linalg import (
    check_boundary,
    dx,
    dx_t,
    dy,
    dy_t,
    laplacian_eigenvalues,
    solve_screened_poisson,
)
from rpaf.baselines.base import ClassicalSmoother

__all__ = ["L0Smoothing", "l0_smooth"]


def _check_params(lam: float, kappa: float, beta_max: float, boundary: str) -> None:
    check_boundary(boundary, "L0Smoothing")
    if lam <= 0 or kappa <= 1 or beta_max <= 0:
        raise ValueError(
            f"L0Smoothing: need lam > 0, kappa > 1, beta_max > 0; got lam={lam}, kappa={kappa}, "
            f"beta_max={beta_max}"
        )


def l0_smooth(
    img: np.ndarray,
    lam: float = 2e-2,
    kappa: float = 2.0,
    beta_max: float = 1e5,
    boundary: str = "neumann",
) -> np.ndarray:
    """L0 gradient minimisation of one image.

    Args:
        img: (H, W) or (H, W, C) float array in [0, 1]; not modified.
        lam: weight of the gradient-count term (paper's lambda; default 0.02).
        kappa: growth factor of beta (paper default 2.0; smaller is slower and finer).
        beta_max: stop once beta reaches this (paper default 1e5).
        boundary: ``"neumann"`` (mirror padding, no wrap-around) or ``"periodic"`` (paper's FFT).

    Returns:
        Smoothed image, same shape, float64.
    """
    _check_params(lam, kappa, beta_max, boundary)
    image = np.asarray(img, dtype=np.float64)
    squeeze = image.ndim == 2
    if squeeze:
        image = image[:, :, None]
    eig = laplacian_eigenvalues(image.shape[0], image.shape[1], boundary)
    s = image.copy()
    beta = 2.0 * lam
    while beta < beta_max:
        h = dx(s, boundary)
        v = dy(s, boundary)
        small = (h * h + v * v).sum(axis=2) <= lam / beta  # eq. 12: hard threshold on |grad|^2
        h[small] = 0.0
        v[small] = 0.0
        rhs = image + beta * (dx_t(h, boundary) + dy_t(v, boundary))  # eq. 8 numerator
        s = solve_screened_poisson(rhs, beta, boundary, eig)  # eq. 8: transform-domain solve
        beta *= kappa
    return s[:, :, 0] if squeeze else s


class L0Smoothing(ClassicalSmoother):
    """L0 gradient minimisation (Xu et al. 2011) on (B, 3, H, W) images in [0, 1].

    Args:
        lam: weight of the gradient-count term (paper default 0.02; larger = flatter).
        kappa: beta growth factor (paper default 2.0).
        beta_max: final coupling weight (paper default 1e5).
        boundary: ``"neumann"`` (default; symmetric padding via the DCT, no wrap-around) or
            ``"periodic"`` (the paper's FFT, wraps one border onto the other).
    """

    name = "l0"

    def __init__(
        self,
        lam: float = 2e-2,
        kappa: float = 2.0,
        beta_max: float = 1e5,
        boundary: str = "neumann",
    ) -> None:
        _check_params(lam, kappa, beta_max, boundary)
        self.lam = float(lam)
        self.kappa = float(kappa)
        self.beta_max = float(beta_max)
        self.boundary = boundary

    def smooth_numpy(self, img: np.ndarray) -> np.ndarray:
        """Smooth one (H, W, 3) float64 image."""
        return l0_smooth(img, self.lam, self.kappa, self.beta_max, self.boundary)
