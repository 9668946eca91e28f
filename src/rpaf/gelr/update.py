"""Algorithm 2, steps 3-6: the per-sample ADMM update of the network version of GELR.

After the network produced ``u = f(g)`` for a batch (step 2, one optimiser step on eq. 15),
the split variables and multipliers of those samples are updated (paper eqs. 44-49, with the
corrections of ``docs/gelr-math.md`` §1, §2 and §7)::

    v_d   = grad(u) + eta_d                      # argument of eq. 44
    d     = shrink(v_d, alpha / rho1)            # eq. 44, threshold corrected (§1)
    eta_d = eta_d + grad(u) - d = v_d - d        # eq. 48
    W     = grad(u) - grad(x) + eta_t            # argument of the t-subproblem (§2)
    t     = prox_{beta/rho2 * ||.||_r}(W)        # eq. 45-47, exact truncated prox (§2)
    eta_t = eta_t + grad(u) - grad(x) - t = W - t  # eq. 48
    T     = g - u                                # eq. 49

Between two visits of the same sample the network changed (many optimiser steps on other
samples), so this is not a textbook ADMM on one problem: the "u-step" is one stochastic
gradient step of the loss of eq. 13, shared by all samples. The variables are a per-sample
moving target that the loss pulls the network towards.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rpaf.gelr import ops
from rpaf.gelr.state import GELRVariables

__all__ = ["D_THRESHOLDS", "TNN_MODES", "d_threshold_value", "gelr_energy", "gelr_network_step"]

#: ``corrected``: ``alpha / rho1`` (gelr-math §1). ``paper``: ``1 / rho1`` as printed in eq. 44.
D_THRESHOLDS: tuple[str, ...] = ("corrected", "paper")
#: ``exact``: closed-form truncated prox (gelr-math §2, default). ``hu``: Hu et al.'s
#: majorise-minimise step ``SVT(W + tau A^T B)`` with A, B from the previous t. ``paper``: eq. 45
#: literally, ``Q = grad(u) - grad(x) - t - tau A^T B + eta_t`` (diverges; reproduction only).
TNN_MODES: tuple[str, ...] = ("exact", "hu", "paper")


def d_threshold_value(alpha: float, rho1: float, d_threshold: str = "corrected") -> float:
    """Soft-threshold of the d-update: ``alpha / rho1`` (corrected) or ``1 / rho1`` (eq. 44)."""
    if d_threshold not in D_THRESHOLDS:
        raise ValueError(
            f"gelr.d_threshold={d_threshold!r} is not valid: use one of {D_THRESHOLDS}"
        )
    if rho1 <= 0:
        raise ValueError(f"gelr.rho1={rho1} must be > 0")
    return (alpha if d_threshold == "corrected" else 1.0) / rho1


def gelr_network_step(
    u: Tensor,
    g: Tensor,
    x: Tensor,
    vars: GELRVariables,  # noqa: A002 - the agreed interface name
    *,
    alpha: float = 0.4,
    beta: float = 0.6,
    rho1: float = 1.0,
    rho2: float = 1.0,
    theta: float = ops.DEFAULT_THETA,
    boundary: str = "periodic",
    d_threshold: str = "corrected",
    tnn: str = "exact",
    prox_method: str = "gram",
    stats: dict[str, Any] | None = None,
) -> GELRVariables:
    """One Algorithm-2 update (steps 3-6) of the variables of a batch.

    Args:
        u: Detached network output ``f(g)``, ``(B, C, H, W)``.
        g: Network input, ``(B, C, H, W)``.
        x: Ground truth, ``(B, C, H, W)``.
        vars: Variables of the previous visit of these samples (zeros at the first visit).
        alpha: Weight of ``||grad u||_1`` (paper: 0.4).
        beta: Weight of the truncated nuclear norm of the gradient error (paper: 0.6).
        rho1: Penalty of ``grad u = d``.
        rho2: Penalty of ``grad u - grad x = t``.
        theta: Truncation rate, ``r = floor(theta * min(H, W))``.
        boundary: ``"periodic"`` or ``"neumann"``; must match the loss.
        d_threshold: ``"corrected"`` (``alpha/rho1``) or ``"paper"`` (``1/rho1``).
        tnn: ``"exact"``, ``"hu"`` or ``"paper"`` (see :data:`TNN_MODES`).
        prox_method: ``"gram"`` (fast) or ``"svd"`` (reference) decomposition.
        stats: Optional dict filled with the batch means of ``|grad u - d|`` (``primal_d``) and
            ``|grad u - grad x - t|`` (``primal_t``) after the update, as 0-dim tensors.

    Returns:
        New :class:`GELRVariables` on ``u``'s device in float32 (float64 if ``u`` is).
    """
    if tnn not in TNN_MODES:
        raise ValueError(f"gelr.tnn={tnn!r} is not valid: use one of {TNN_MODES}")
    if rho2 <= 0:
        raise ValueError(f"gelr.rho2={rho2} must be > 0")
    vars.check(u)
    cdt = torch.promote_types(u.dtype, torch.float32)
    dev = u.device
    u = u.detach().to(cdt)
    g = g.detach().to(dev, cdt)
    x = x.detach().to(dev, cdt)
    v = vars.to(dev, cdt)
    h, w = u.shape[-2:]
    r = ops.truncation_rank(h, w, theta)

    gu = ops.grad(u, boundary)
    gx = ops.grad(x, boundary)
    err = gu - gx

    tau_d = d_threshold_value(alpha, rho1, d_threshold)
    v_d = gu + v.eta_d
    d = ops.shrink(v_d, tau_d)  # eq. 44 (threshold alpha/rho1, gelr-math §1)
    eta_d = v_d - d  # eq. 48: eta_d + grad u - d

    tau_t = beta / rho2
    if tnn == "exact":
        w_t = err + v.eta_t
        t = ops.tnn_prox(w_t, tau_t, r, method=prox_method)  # eq. 45-47, exact (gelr-math §2)
    elif tnn == "hu":
        w_t = err + v.eta_t
        A, B = ops.top_singular_vectors(v.t, r) if r > 0 else (None, None)
        t = ops.hu_step(w_t, tau_t, A, B, method=prox_method)  # Hu et al. step (gelr-math §2)
    else:
        A, B = ops.top_singular_vectors(v.t, r) if r > 0 else (None, None)
        shift = 0.0 if A is None else tau_t * (A.mT @ B)
        q = err - v.t - shift + v.eta_t  # eq. 45 as printed (diverges; gelr-math §2)
        t = ops.svt(q, tau_t, method=prox_method)  # eq. 46-47
    eta_t = v.eta_t + err - t  # eq. 48

    T = g - u  # eq. 49

    if stats is not None:
        stats["primal_d"] = (gu - d).abs().mean()
        stats["primal_t"] = (err - t).abs().mean()
    return GELRVariables(d=d, t=t, eta_d=eta_d, eta_t=eta_t, T=T)


def gelr_energy(
    u: Tensor,
    x: Tensor,
    *,
    alpha: float = 0.4,
    beta: float = 0.6,
    theta: float = ops.DEFAULT_THETA,
    boundary: str = "periodic",
) -> Tensor:
    """GELR regulariser ``alpha*||grad u||_1 + beta*||grad u - grad x||_r`` per sample (eq. 4).

    The truncated nuclear norm is summed over the ``(C, 2)`` matrices of a sample. Costs one
    ``svdvals`` per matrix: evaluate it every few steps, not every step.

    Args:
        u: Output ``(B, C, H, W)``.
        x: Ground truth ``(B, C, H, W)``.
        alpha: Weight of the l1 term.
        beta: Weight of the TNN term.
        theta: Truncation rate.
        boundary: Difference convention.

    Returns:
        Tensor ``(B,)`` (sums, not means; divide by ``C*H*W`` for a per-pixel value).
    """
    u = u.detach().to(torch.promote_types(u.dtype, torch.float32))
    x = x.detach().to(u.device, u.dtype)
    gu = ops.grad(u, boundary)
    err = gu - ops.grad(x, boundary)
    r = ops.truncation_rank(u.shape[-2], u.shape[-1], theta)
    l1 = gu.abs().flatten(1).sum(1)
    low_rank = ops.tnn(err, r).flatten(1).sum(1)
    return alpha * l1 + beta * low_rank
