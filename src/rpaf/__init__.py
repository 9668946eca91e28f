"""rpaf: RPAFNet + GELR texture-removing, edge-preserving image smoothing.

Reproduces *Residual Pyramid Atrous Filtering Network with the Error Low-Rank
Representation* (RPAFNet + GELR) with PyTorch Lightning and Hydra.
"""

__version__ = "0.1.0"
