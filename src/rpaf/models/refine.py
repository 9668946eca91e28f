"""Self-guided filter on the network output (not in the paper): ``model.refine_kernel``.

The guided filter of He et al. (ECCV 2010 / TPAMI 2013) with the output as its own guide: in each
``k x k`` window the result is the linear model ``a * u + b`` of the guide that best fits ``u``,
with ``a = cov / (cov + eps)`` (the colour version: a 3 x 3 covariance per window). Where the local
variance of ``u`` is far below ``eps`` (faint texture left in a flat region) it returns the local
mean; where it is far above (an edge) it returns ``u``. It has no parameters, is differentiable (a
network can be trained through it, as the deep guided filter of Wu et al., CVPR 2018 is), and the
filtering is kornia's (:func:`kornia.filters.guided_blur`). Why it is here:
``experiments/results/cpu_mini/README.md``, section 25.
"""

from __future__ import annotations

import kornia
from torch import Tensor, nn


class SelfGuidedRefine(nn.Module):
    """``u -> guided_blur(u, u, kernel_size, eps)`` (reflected borders).

    Args:
        kernel_size: Odd window side ``2r + 1`` (>= 3).
        eps: Regularisation in squared intensity units (image range [0, 1]): local variances
            well below it are smoothed away, e.g. 1e-3 (a standard deviation of ~0.03).

    Raises:
        ValueError: For an even or too small window or a non-positive ``eps``.
    """

    def __init__(self, kernel_size: int, eps: float) -> None:
        super().__init__()
        if int(kernel_size) < 3 or int(kernel_size) % 2 == 0:
            raise ValueError(
                f"model.refine_kernel={kernel_size!r} is invalid: use an odd window >= 3, e.g. 9 "
                "(or 0 for no refinement)")
        if not float(eps) > 0.0:
            raise ValueError(
                f"model.refine_eps={eps!r} is invalid: use a positive variance, e.g. 1e-3")
        self.kernel_size = int(kernel_size)
        self.eps = float(eps)

    def forward(self, u: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return kornia.filters.guided_blur(u, u, self.kernel_size, self.eps, border_type="reflect")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, eps={self.eps:g}"
