"""RPAFNet and its blocks (paper section 3.1), plus tiled inference for large images."""

from rpaf.models.rpafnet import RPAFNet, level_sizes
from rpaf.models.tiling import tiled_forward

__all__ = ["RPAFNet", "level_sizes", "tiled_forward"]
