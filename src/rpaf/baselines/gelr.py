"""The standalone GELR-ADMM solver (paper Algorithm 1) as an evaluation method.

Algorithm 1 needs the ground-truth smooth image ``x`` (its TNN term is ``beta ||∇u - ∇x||_r``),
so on its own it is an analysis / ablation tool (paper Fig. 13, gelr-math §4), not an inference
filter: this wrapper has ``needs_target = True`` and is called as ``method(img, target)``. The
evaluation harness passes the dataset's target; results must be labelled "uses ground truth".
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rpaf.baselines.base import ClassicalSmoother, check_image

__all__ = ["GELRSolver"]


class GELRSolver(ClassicalSmoother):
    """Wrapper around :func:`rpaf.gelr.solver.gelr_admm` (corrected Algorithm 1).

    Parameters left at ``None`` fall back to the solver's own defaults, so this class does not
    duplicate them.

    Args:
        alpha: weight of ``||∇u||_1`` (paper 0.4).
        beta: weight of ``||∇u - ∇x||_r`` (paper 0.6).
        rho1: ADMM penalty of ``d = ∇u``.
        rho2: ADMM penalty of ``t = ∇u - ∇x``.
        theta: truncation rate ``r = floor(theta min(H, W))`` (solver default if None).
        iters: ADMM iterations (solver default if None).
        boundary: ``"periodic"`` (paper) or ``"neumann"``.
        fidelity: ``"prox"`` (paper, ``T = g - u``) or ``"fixed"`` (gelr-math §4).
        d_threshold: ``"corrected"`` (alpha / rho1, gelr-math §1) or ``"paper"``.
        refresh: TNNR refresh period (solver default if None).
        track_energy: record the energy per iteration (one extra SVD per iteration); off by
            default because this wrapper returns only ``u``, not the solver's history.
        solver_kwargs: any further keyword arguments of ``gelr_admm`` (e.g. ``tnn``, ``tol``).
    """

    name = "gelr"
    needs_target = True

    def __init__(
        self,
        alpha: float = 0.4,
        beta: float = 0.6,
        rho1: float = 1.0,
        rho2: float = 1.0,
        theta: float | None = None,
        iters: int | None = None,
        boundary: str = "periodic",
        fidelity: str = "prox",
        d_threshold: str = "corrected",
        refresh: int | None = None,
        track_energy: bool = False,
        solver_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.rho1 = float(rho1)
        self.rho2 = float(rho2)
        self.theta = theta
        self.iters = iters
        self.boundary = boundary
        self.fidelity = fidelity
        self.d_threshold = d_threshold
        self.refresh = refresh
        self.track_energy = bool(track_energy)
        self.solver_kwargs = dict(solver_kwargs or {})

    def _kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "alpha": self.alpha,
            "beta": self.beta,
            "rho1": self.rho1,
            "rho2": self.rho2,
            "boundary": self.boundary,
            "fidelity": self.fidelity,
            "d_threshold": self.d_threshold,
            "track_energy": self.track_energy,
        }
        for key in ("theta", "iters", "refresh"):
            if getattr(self, key) is not None:
                kw[key] = getattr(self, key)
        kw.update(self.solver_kwargs)
        return kw

    def __call__(self, img: Tensor, target: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """Run Algorithm 1 on ``img`` with the ground truth ``target``.

        Args:
            img: (B, 3, H, W) textured input in [0, 1]; not modified.
            target: (B, 3, H, W) ground-truth smooth image in [0, 1] (required).

        Returns:
            (B, 3, H, W) float32 in [0, 1] on ``img``'s device.

        Raises:
            ValueError: ``target`` is missing or its shape differs from ``img``.
        """
        if target is None:
            raise ValueError(
                "GELRSolver needs the ground truth: call method(img, target). Algorithm 1 uses x "
                "in its TNN term (gelr-math §4), so it cannot run on images without targets"
            )
        check_image(img, self.name, self.min_size)
        check_image(target, f"{self.name} (target)", self.min_size)
        if target.shape != img.shape:
            raise ValueError(
                f"GELRSolver: target shape {tuple(target.shape)} differs from input shape "
                f"{tuple(img.shape)}"
            )
        from rpaf.gelr.solver import gelr_admm  # lazy: keeps rpaf.baselines light to import

        with torch.no_grad():
            u, _ = gelr_admm(
                img.detach().clone(), target.detach().to(img.device).clone(), **self._kwargs()
            )
        return u.to(device=img.device, dtype=torch.float32).clamp_(0.0, 1.0)
