"""Training loss of RPAFNet + GELR: ``L = lambda1 * L1 + lambda2 * L2`` (paper eqs. 13-15).

* ``L1`` (eq. 13) is the ADMM u-subproblem with the network output ``u = f(g)`` in place of
  the closed-form u-step::

      L1 = w*||g - u - T||^2 + rho1/2*||grad u - d + eta_d||^2
           + rho2/2*||grad u - grad x - t + eta_t||^2

  with the ADMM variables ``d, t, eta_d, eta_t, T`` of the current sample held fixed (they are
  updated after each optimiser step by ``rpaf.gelr.update`` / ``GELRCallback``).
  The data weight w defaults to 1/2: only then is the minimiser of L1 the ADMM u-step of the
  augmented Lagrangian eq. 10 (eq. 13 prints 1; gelr-math §3, §7). ``data_weight=1.0``
  reproduces the print.
* ``L2`` (eq. 14) ``= MSE(u, x) + (1 - SSIM(u, x))``, SSIM by ``kornia.metrics.ssim``
  (Gaussian window 11, sigma 1.5, data range 1).

Normalisation (gelr-math §7). The paper writes squared norms (sums). Sums grow with the image
size and make ``1 - SSIM`` (in [0, 2]) negligible, so by default every squared-norm term is
divided by the SAME number, the number of image entries ``N = B*C*H*W``
(``normalization="pixels"``): ``L1 = [w*sum(...) + rho1/2*sum(...) + rho2/2*sum(...)] / N`` and
the MSE of L2 is ``sum((u - x)^2) / N``. The relative weights of the three L1 terms are then
exactly those of eq. 13. Taking a *mean* of each term separately would be wrong: the gradient
terms have 2N entries, so their weight would halve relative to the data term.
``normalization="sum"`` uses per-image sums (averaged over the batch) for L1 and the MSE term,
the paper-literal scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import kornia
import torch
from torch import Tensor, nn

from rpaf.gelr import ops
from rpaf.metrics.regions import FINE_SIGMA, edge_mask, gaussian_blur

if TYPE_CHECKING:  # the state module is owned elsewhere; only attribute access is used here
    from rpaf.gelr.state import GELRVariables

__all__ = ["NORMALIZATIONS", "GELRLoss", "fidelity_l2", "gelr_l1"]

NORMALIZATIONS = ("pixels", "sum")
#: Added to each image's MSE before the log of the ``psnr_weight`` term (caps it at 100 dB, so a
#: perfect image gives a finite loss and gradient).
PSNR_LOSS_EPS = 1e-10


def _norm_factor(u: Tensor, normalization: str) -> float:
    if normalization == "pixels":
        return float(u.numel())
    if normalization == "sum":
        return float(u.shape[0])
    raise ValueError(
        f"rpaf.gelr.loss: normalization={normalization!r} not in {NORMALIZATIONS} "
        "(set `loss.normalization`)."
    )


def _field(name: str, value: Tensor, like: Tensor, shape: tuple[int, ...]) -> Tensor:
    if tuple(value.shape) != shape:
        raise ValueError(
            f"rpaf.gelr.loss: GELR variable `{name}` has shape {tuple(value.shape)}, expected "
            f"{shape} for an output of shape {tuple(like.shape)}; the per-sample state must match "
            "the batch geometry (no random crops/flips unless re-applied to the state)."
        )
    return value.to(device=like.device, dtype=like.dtype)


def gelr_l1(
    u: Tensor,
    g: Tensor,
    x: Tensor,
    *,
    d: Tensor,
    t: Tensor,
    eta_d: Tensor,
    eta_t: Tensor,
    T: Tensor,
    rho1: float,
    rho2: float,
    data_weight: float = 0.5,
    boundary: str = "periodic",
    normalization: str = "pixels",
) -> Tensor:
    """GELR loss L1 (paper eq. 13, data weight and normalisation per gelr-math §7).

    ``L1 = [w*||g - u - T||^2 + rho1/2*||grad u - d + eta_d||^2
    + rho2/2*||grad u - grad x - t + eta_t||^2] / N`` with ``N = B*C*H*W`` (``"pixels"``) or
    ``N = B`` (``"sum"``). Differentiable in ``u``; the other tensors are treated as constants.

    Args:
        u: Network output ``f(g)``, ``(B, C, H, W)``.
        g: Network input, ``(B, C, H, W)``.
        x: Ground truth, ``(B, C, H, W)``.
        d: ``(B, C, 2, H, W)``.
        t: ``(B, C, 2, H, W)``.
        eta_d: ``(B, C, 2, H, W)``.
        eta_t: ``(B, C, 2, H, W)``.
        T: ``(B, C, H, W)``.
        rho1: Penalty of ``d = grad u`` (must match the state update).
        rho2: Penalty of ``t = grad u - grad x`` (must match the state update).
        data_weight: w (1/2 default = eq. 10; 1 = eq. 13 as printed).
        boundary: Finite-difference boundary, the same as the state update's.
        normalization: ``"pixels"`` or ``"sum"`` (see module docstring).

    Returns:
        Scalar tensor.
    """
    n = _norm_factor(u, normalization)
    gshape = (*u.shape[:2], 2, *u.shape[2:])
    d = _field("d", d.detach(), u, gshape)
    t = _field("t", t.detach(), u, gshape)
    eta_d = _field("eta_d", eta_d.detach(), u, gshape)
    eta_t = _field("eta_t", eta_t.detach(), u, gshape)
    T = _field("T", T.detach(), u, tuple(u.shape))
    g = _field("g", g.detach(), u, tuple(u.shape))
    x = _field("x", x.detach(), u, tuple(u.shape))
    gu = ops.grad(u, boundary)
    gx = ops.grad(x, boundary)
    data = (g - u - T).pow(2).sum()  # eq. 13, first term
    term_d = (gu - d + eta_d).pow(2).sum()  # eq. 13, second term
    term_t = (gu - gx - t + eta_t).pow(2).sum()  # eq. 13, third term
    return (data_weight * data + 0.5 * rho1 * term_d + 0.5 * rho2 * term_t) / n


def fidelity_l2(
    u: Tensor,
    x: Tensor,
    *,
    use_ssim: bool = True,
    ssim_window: int = 11,
    ssim_padding: str = "same",
    normalization: str = "pixels",
) -> Tensor:
    """Fidelity loss L2 = ||u - x||^2 / N + (1 - SSIM(u, x)) (paper eq. 14).

    Args:
        u: Network output ``(B, C, H, W)`` in [0, 1].
        x: Ground truth ``(B, C, H, W)`` in [0, 1].
        use_ssim: Add the ``1 - SSIM`` term (kornia, data range 1).
        ssim_window: Gaussian window size of the SSIM (odd).
        ssim_padding: kornia's ``padding`` (``"same"`` or ``"valid"``).
        normalization: ``"pixels"`` (MSE, N = B*C*H*W) or ``"sum"`` (N = B).

    Returns:
        Scalar tensor.
    """
    n = _norm_factor(u, normalization)
    x = x.to(device=u.device, dtype=u.dtype)
    loss = (u - x).pow(2).sum() / n
    if use_ssim:
        ssim_map = kornia.metrics.ssim(u, x, ssim_window, max_val=1.0, padding=ssim_padding)
        loss = loss + (1.0 - ssim_map.mean())  # eq. 14: SSIM(u, x) = 1 - ssim(u, x)
    return loss


def flat_fine_error(err: Tensor, x: Tensor) -> Tensor:
    """Mean ``|err - G_2 * err|`` over the GT ``x``'s flat pixels and the channels (a scalar).

    The fine band of the error (sigma = :data:`rpaf.metrics.regions.FINE_SIGMA` Gaussian
    residual) where ``x`` (B, C, H, W), C = 3 or 1, has no edge
    (:func:`rpaf.metrics.regions.edge_mask` with its defaults). Zero when ``x`` has no flat
    pixel. Beyond the paper; see ``GELRLoss.flat_fine_weight``.
    """
    flat = (~edge_mask(x)).to(err.dtype)  # (B, 1, H, W); no gradient flows through x
    fine = err - gaussian_blur(err, FINE_SIGMA)
    return (fine.abs() * flat).sum() / (flat.sum() * err.shape[1]).clamp_min(1.0)


class GELRLoss(nn.Module):
    """Total loss ``lambda1 * L1 + lambda2 * L2`` (paper eq. 15; lambda1 = 0.7, lambda2 = 0.3).

    ``lambda1 = 0`` (or no GELR state) gives the paper's "without GELR" baseline (Table 3):
    ``l1`` is then a zero tensor and the GELR term is not computed.

    Args:
        lambda1: Weight of the GELR loss L1 (eq. 15).
        lambda2: Weight of the fidelity loss L2 (eq. 15).
        rho1: ADMM penalty of ``d`` (must equal the GELR callback's).
        rho2: ADMM penalty of ``t`` (must equal the GELR callback's).
        data_weight: w of ``w*||g - u - T||^2`` in L1 (1/2 default, gelr-math §7; 1 = print).
        boundary: ``"periodic"`` or ``"neumann"`` (must equal the GELR callback's).
        ssim_window: SSIM window size.
        use_ssim: Include ``1 - SSIM`` in L2.
        ssim_padding: kornia SSIM padding mode.
        normalization: ``"pixels"`` (default) or ``"sum"``; see the module docstring.
        mae_weight: Weight of an extra mean-absolute-error term ``mean|u - x|`` added to eq.
            15 (not in the paper; 0 = the paper's loss). Its constant-size gradient speeds up
            short runs (``experiment=cpu_mini``; see ``experiments/results/cpu_mini/``).
        grad_weight: Weight of an extra edge term ``mean|grad u - grad x|`` (central
            differences, ``kornia.filters.spatial_gradient``; not in the paper, 0 = off). It
            penalises blurred or haloed edges directly, which the squared and SSIM terms
            weigh little once most of the image is right.
        psnr_weight: Weight of an extra per-image log-error term ``mean_i 10 log10(mse_i)``
            (= minus the batch's mean PSNR in dB, the evaluation metric; not in the paper,
            0 = off). Every image counts equally in dB, so nearly-clean inputs (faint texture)
            keep pulling once the hard ones dominate the squared error.
        flat_fine_weight: Weight of an extra flat-region term: the mean of ``|e - G_2 * e|``
            (``e = u - x``; ``G_2`` a sigma = 2 px Gaussian, reflected borders: the fine band,
            periods below ~11 px) over the pixels outside the GT's edge band
            (:func:`rpaf.metrics.regions.edge_mask`, Sobel > 0.05 grown by 2 px) and over
            channels. Not in the paper, 0 = off. It targets texture residue left in regions the
            GT has flat, which the whole-image terms weigh little (section 22/23 of
            ``experiments/results/cpu_mini/README.md``).
    """

    def __init__(
        self,
        lambda1: float = 0.7,
        lambda2: float = 0.3,
        rho1: float = 1.0,
        rho2: float = 1.0,
        data_weight: float = 0.5,
        boundary: str = "periodic",
        ssim_window: int = 11,
        use_ssim: bool = True,
        ssim_padding: str = "same",
        normalization: str = "pixels",
        mae_weight: float = 0.0,
        grad_weight: float = 0.0,
        psnr_weight: float = 0.0,
        flat_fine_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if lambda1 < 0 or lambda2 < 0:
            raise ValueError(
                f"rpaf.gelr.loss.GELRLoss: lambda1={lambda1}, lambda2={lambda2} must be >= 0 "
                "(conf/loss/*.yaml)."
            )
        if boundary not in ops.BOUNDARIES:
            raise ValueError(
                f"rpaf.gelr.loss.GELRLoss: boundary={boundary!r} not in {ops.BOUNDARIES}"
            )
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"rpaf.gelr.loss.GELRLoss: normalization={normalization!r} not in "
                f"{NORMALIZATIONS}"
            )
        if mae_weight < 0:
            raise ValueError(
                f"rpaf.gelr.loss.GELRLoss: mae_weight={mae_weight} must be >= 0 (0 = paper eq. 15)"
            )
        if grad_weight < 0:
            raise ValueError(
                f"rpaf.gelr.loss.GELRLoss: grad_weight={grad_weight} must be >= 0 (0 = off)"
            )
        if psnr_weight < 0:
            raise ValueError(
                f"rpaf.gelr.loss.GELRLoss: psnr_weight={psnr_weight} must be >= 0 (0 = off)"
            )
        if flat_fine_weight < 0:
            raise ValueError(
                f"rpaf.gelr.loss.GELRLoss: flat_fine_weight={flat_fine_weight} must be >= 0 "
                "(0 = off)"
            )
        if ssim_window < 1 or ssim_window % 2 == 0:
            raise ValueError(f"rpaf.gelr.loss.GELRLoss: ssim_window={ssim_window} must be odd")
        self.lambda1 = float(lambda1)
        self.lambda2 = float(lambda2)
        self.rho1 = float(rho1)
        self.rho2 = float(rho2)
        self.data_weight = float(data_weight)
        self.boundary = boundary
        self.ssim_window = int(ssim_window)
        self.use_ssim = bool(use_ssim)
        self.ssim_padding = ssim_padding
        self.normalization = normalization
        self.mae_weight = float(mae_weight)
        self.grad_weight = float(grad_weight)
        self.psnr_weight = float(psnr_weight)
        self.flat_fine_weight = float(flat_fine_weight)

    @property
    def uses_gelr(self) -> bool:
        """Whether the GELR term is active (``lambda1 > 0``)."""
        return self.lambda1 > 0

    def forward(
        self, u: Tensor, g: Tensor, x: Tensor, state: GELRVariables | Any | None
    ) -> dict[str, Tensor]:
        """Compute the loss terms.

        Args:
            u: Network output ``(B, C, H, W)``.
            g: Network input ``(B, C, H, W)``.
            x: Ground truth ``(B, C, H, W)``.
            state: The batch's GELR variables (any object with attributes ``d, t, eta_d,
                eta_t`` ``(B, C, 2, H, W)`` and ``T`` ``(B, C, H, W)``), or None (no GELR).

        Returns:
            Dict with scalar tensors ``loss`` (eq. 15, plus ``mae_weight * mae``,
            ``grad_weight * grad``, ``psnr_weight * neg_psnr`` and ``flat_fine_weight *
            flat_fine``), ``l1`` (eq. 13; zero without GELR), ``l2`` (eq. 14) and, when their
            weights are > 0, ``mae``, ``grad``, ``neg_psnr`` (minus the mean per-image PSNR in
            dB) and ``flat_fine``.
        """
        l2 = fidelity_l2(u, x, use_ssim=self.use_ssim, ssim_window=self.ssim_window,
                         ssim_padding=self.ssim_padding, normalization=self.normalization)
        if self.lambda1 > 0 and state is not None:
            l1 = gelr_l1(
                u, g, x, d=state.d, t=state.t, eta_d=state.eta_d, eta_t=state.eta_t, T=state.T,
                rho1=self.rho1, rho2=self.rho2, data_weight=self.data_weight,
                boundary=self.boundary, normalization=self.normalization,
            )
            loss = self.lambda1 * l1 + self.lambda2 * l2  # eq. 15
        else:
            l1 = torch.zeros((), device=u.device, dtype=u.dtype)
            loss = self.lambda2 * l2  # eq. 15 with lambda1 = 0
        out = {"loss": loss, "l1": l1, "l2": l2}
        if (self.mae_weight > 0 or self.grad_weight > 0 or self.psnr_weight > 0
                or self.flat_fine_weight > 0):  # beyond the paper
            x = x.to(device=u.device, dtype=u.dtype)
            err = u - x
        if self.mae_weight > 0:  # see `mae_weight`
            out["mae"] = err.abs().mean()
            out["loss"] = out["loss"] + self.mae_weight * out["mae"]
        if self.grad_weight > 0:  # see `grad_weight`
            diff = kornia.filters.spatial_gradient(err, mode="diff", normalized=True)
            out["grad"] = diff.abs().mean()
            out["loss"] = out["loss"] + self.grad_weight * out["grad"]
        if self.psnr_weight > 0:  # see `psnr_weight`
            mse = err.pow(2).flatten(1).mean(1)
            out["neg_psnr"] = (10.0 * torch.log10(mse + PSNR_LOSS_EPS)).mean()
            out["loss"] = out["loss"] + self.psnr_weight * out["neg_psnr"]
        if self.flat_fine_weight > 0:  # see `flat_fine_weight`
            out["flat_fine"] = flat_fine_error(err, x)
            out["loss"] = out["loss"] + self.flat_fine_weight * out["flat_fine"]
        return out

    def extra_repr(self) -> str:
        return (f"lambda1={self.lambda1}, lambda2={self.lambda2}, rho1={self.rho1}, "
                f"rho2={self.rho2}, data_weight={self.data_weight}, boundary={self.boundary!r}, "
                f"normalization={self.normalization!r}, mae_weight={self.mae_weight}, "
                f"grad_weight={self.grad_weight}, psnr_weight={self.psnr_weight}, "
                f"flat_fine_weight={self.flat_fine_weight}")
