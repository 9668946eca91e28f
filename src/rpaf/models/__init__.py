"""RPAFNet and its blocks (paper section 3.1), plus tiled inference and self-ensembling."""

from rpaf.models.rpafnet import RPAFNet, level_sizes
from rpaf.models.self_ensemble import SELF_ENSEMBLE_SIZES, self_ensemble
from rpaf.models.tiling import tiled_forward

__all__ = ["SELF_ENSEMBLE_SIZES", "RPAFNet", "level_sizes", "self_ensemble", "tiled_forward"]
