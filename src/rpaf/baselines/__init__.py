"""Classical texture-removal / edge-preserving smoothing baselines.

Every class is a callable ``method(img) -> out`` on (B, 3, H, W) float tensors in [0, 1] (output
float32 in [0, 1] on the input's device, input never modified), with a ``name`` attribute, built
from ``conf/method/<name>.yaml`` via Hydra ``_target_``. :class:`GELRSolver` additionally needs
the ground truth (``needs_target = True``; ``method(img, target)``).
"""

from rpaf.baselines.base import ClassicalSmoother, check_image
from rpaf.baselines.bilateral_texture import BilateralTextureFilter
from rpaf.baselines.gelr import GELRSolver
from rpaf.baselines.l0 import L0Smoothing
from rpaf.baselines.rgf import RollingGuidanceFilter
from rpaf.baselines.rtv import RTV
from rpaf.baselines.tv import TVChambolle
from rpaf.baselines.wls import WLS, FastGlobalSmoother

__all__ = [
    "RTV",
    "WLS",
    "BilateralTextureFilter",
    "ClassicalSmoother",
    "FastGlobalSmoother",
    "GELRSolver",
    "L0Smoothing",
    "RollingGuidanceFilter",
    "TVChambolle",
    "check_image",
]
