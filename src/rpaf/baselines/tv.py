"""Total-variation smoothing (Rudin, Osher & Fatemi 1992), solved with Chambolle's projection
algorithm (Chambolle 2004) as implemented by ``skimage.restoration.denoise_tv_chambolle``.

Minimises ``1/2 ||u - f||^2 + weight * TV(u)`` with the isotropic colour TV (channels coupled
through ``channel_axis``). scikit-image's differences do not wrap around the border.
"""

from __future__ import annotations

import numpy as np
from skimage.restoration import denoise_tv_chambolle

from rpaf.baselines.base import ClassicalSmoother

__all__ = ["TVChambolle"]


class TVChambolle(ClassicalSmoother):
    """TV smoothing via Chambolle's algorithm (scikit-image).

    Args:
        weight: TV weight (scikit-image default 0.1; larger = smoother, removes more texture).
        eps: relative energy change that stops the iterations (scikit-image default 2e-4).
        max_num_iter: iteration cap (scikit-image default 200).
    """

    name = "tv"

    def __init__(self, weight: float = 0.1, eps: float = 2e-4, max_num_iter: int = 200) -> None:
        if weight <= 0 or eps <= 0 or max_num_iter < 1:
            raise ValueError(
                f"TVChambolle: need weight > 0, eps > 0, max_num_iter >= 1; got weight={weight}, "
                f"eps={eps}, max_num_iter={max_num_iter}"
            )
        self.weight = float(weight)
        self.eps = float(eps)
        self.max_num_iter = int(max_num_iter)

    def smooth_numpy(self, img: np.ndarray) -> np.ndarray:
        """Smooth one (H, W, 3) float64 image."""
        return denoise_tv_chambolle(
            img,
            weight=self.weight,
            eps=self.eps,
            max_num_iter=self.max_num_iter,
            channel_axis=-1,
        )
