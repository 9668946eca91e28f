"""GELR: the gradient-error low-rank representation (paper sections 3.2-3.3, appendix A).

Modules:
    ops: finite differences, soft thresholding, truncated-nuclear-norm prox (fast Gram path).
    fft_solve: the u-step linear solve (FFT for periodic, DCT-II for Neumann boundaries).
    solver: the standalone GELR-ADMM (Algorithm 1, corrected; ``python -m rpaf.gelr.solver``).
    loss: the training loss L = lambda1*L1 + lambda2*L2 (eqs. 13-15).
    state / update: per-sample ADMM variables and the Algorithm-2 update (network version).

The corrections to the paper's formulas are listed in ``docs/gelr-math.md`` and cited at the
lines implementing them.
"""

from rpaf.gelr.ops import (
    DEFAULT_THETA,
    PROX_STATS,
    grad,
    grad_adjoint,
    hu_step,
    shrink,
    svt,
    tnn,
    tnn_prox,
    top_singular_vectors,
    truncation_rank,
)

__all__ = [
    "DEFAULT_THETA",
    "PROX_STATS",
    "grad",
    "grad_adjoint",
    "hu_step",
    "shrink",
    "svt",
    "tnn",
    "tnn_prox",
    "top_singular_vectors",
    "truncation_rank",
]

# The loss and solver are imported lazily (``rpaf.gelr.loss``, ``rpaf.gelr.solver``) so that
# importing the operators does not pull in kornia.

# Per-sample state (Algorithm 2) and its update.
from rpaf.gelr.state import GELRState, GELRVariables  # noqa: E402
from rpaf.gelr.update import gelr_energy, gelr_network_step  # noqa: E402

__all__ += ["GELRState", "GELRVariables", "gelr_energy", "gelr_network_step"]
