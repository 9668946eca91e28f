"""Standalone GELR-ADMM (paper Algorithm 1, corrected per ``docs/gelr-math.md`` §1-6).

Solves the GELR model (paper eq. 3/4)::

    min_u  data_weight * ||g - u - T||^2 + alpha * ||grad u||_1 + beta * ||grad u - grad x||_r

by ADMM on the splitting ``d = grad u``, ``t = grad u - grad x`` with scaled multipliers
``eta_d, eta_t`` (eq. 10/11). It needs the ground truth ``x``: it is an analysis / ablation
tool (the paper's Fig. 13, "GELR without the network"), not an inference filter
(gelr-math §4).

Switches (defaults are the corrected forms; the paper-literal ones are for reproduction):

* ``d_threshold``: ``"corrected"`` -> ``shrink(grad u + eta_d, alpha/rho1)`` (gelr-math §1);
  ``"paper"`` -> threshold ``1/rho1`` (eq. 34), i.e. alpha silently 1.
* ``tnn`` (the t-step): ``"hu"`` -> Hu et al.'s TNNR step ``SVT_tau(W + tau A^T B)`` with A, B
  frozen for ``refresh`` iterations (the two-loop scheme, converges, gelr-math §6);
  ``"exact"`` -> the exact truncated-nuclear-norm prox every iteration (single loop; on
  textured images it stalls at rho = 1, gelr-math §6: RMS residuals ~1e-2 after 400 iterations
  on a 64 px synthetic pair, against 6e-5 for the two-loop scheme); ``"paper"`` -> eq. 37-40
  as printed
  (``Q = W - t - tau A^T B``, keep-top-r SVT; diverges, gelr-math §2).
* ``fidelity``: ``"prox"`` -> ``T = g - u`` after every iteration (eq. 42, the paper); the data
  term then is a proximal pull ``1/2 ||u - u^k||^2`` and the fixed point does not depend on g
  (gelr-math §4). ``"fixed"`` -> ``T = 0``, a true data term ``data_weight * ||g - u||^2``.
* ``data_weight``: the weight w of ``w*||g - u - T||^2``; default 1/2 as in eq. 10 (eq. 12
  prints 1; gelr-math §3). The u-step solves ``(2w I + (rho1+rho2) grad^T grad) u = ...``.
* ``boundary``: ``"periodic"`` (FFT) or ``"neumann"`` (DCT-II), used by every step (§5).

Command line (a filter: ``-`` reads stdin / writes stdout)::

    python -m rpaf.gelr.solver INPUT GT -o OUT [--alpha 0.4 --beta 0.6 --iters 300 ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rpaf.gelr import ops
from rpaf.gelr.fft_solve import solve_identity_plus_laplacian

__all__ = ["gelr_admm", "gelr_energy", "load_image", "main", "save_image"]

log = logging.getLogger(__name__)

D_THRESHOLDS = ("corrected", "paper")
TNN_MODES = ("hu", "exact", "paper")
FIDELITIES = ("prox", "fixed")


def _as_bchw(t: Tensor, name: str) -> Tensor:
    if t.dim() == 2:
        return t[None, None]
    if t.dim() == 3:
        return t[None]
    if t.dim() == 4:
        return t
    raise ValueError(f"rpaf.gelr.solver: {name} must be (B,C,H,W), (C,H,W) or (H,W); "
                     f"got {tuple(t.shape)}")


def gelr_energy(
    u: Tensor,
    g: Tensor,
    x: Tensor,
    *,
    alpha: float,
    beta: float,
    r: int,
    T: Tensor | None = None,
    data_weight: float = 0.5,
    boundary: str = "periodic",
) -> dict[str, float]:
    """GELR energy ``w||g-u-T||^2 + alpha||grad u||_1 + beta||grad u - grad x||_r`` (eq. 3/10).

    Sums over all pixels and the batch (gelr-math §6/§7).

    Args:
        u: Current estimate ``(B, C, H, W)``.
        g: Input image ``(B, C, H, W)``.
        x: Ground truth ``(B, C, H, W)``.
        alpha: Weight of the L1 term.
        beta: Weight of the truncated nuclear norm.
        r: Truncation rank.
        T: Data-term offset (None -> 0).
        data_weight: w.
        boundary: Finite-difference boundary.

    Returns:
        Dict with ``energy``, ``data``, ``l1`` and ``tnn`` as floats.
    """
    gu = ops.grad(u, boundary)
    res = g - u if T is None else g - u - T
    data = data_weight * float(res.pow(2).sum())
    l1 = alpha * float(gu.abs().sum())
    tn = beta * float(ops.tnn(gu - ops.grad(x, boundary), r).sum())
    return {"energy": data + l1 + tn, "data": data, "l1": l1, "tnn": tn}


def _paper_t_step(w: Tensor, t: Tensor, tau: float, r: int) -> Tensor:
    """The t-step exactly as printed (eq. 37-40): ``Q = W - t - tau A^T B``, top-r SVT.

    Reproduction only: diverges (gelr-math §2).
    """
    if r == 0:
        return torch.zeros_like(w)
    A, B = ops.top_singular_vectors(t, r)
    q = w - t - tau * (A.mT @ B)
    U, S, Vh = torch.linalg.svd(q, full_matrices=False)
    S = torch.clamp_min(S[..., :r] - tau, 0.0)  # eq. 40: sigma = (sigma_1..sigma_r) thresholded
    return (U[..., :r] * S.unsqueeze(-2)) @ Vh[..., :r, :]


def gelr_admm(
    g: Tensor,
    x: Tensor,
    *,
    alpha: float = 0.4,
    beta: float = 0.6,
    rho1: float = 1.0,
    rho2: float = 1.0,
    theta: float = ops.DEFAULT_THETA,
    iters: int = 300,
    boundary: str = "periodic",
    fidelity: str = "prox",
    d_threshold: str = "corrected",
    tnn: str = "hu",
    refresh: int = 100,
    data_weight: float = 0.5,
    prox_method: str = "gram",
    tol: float | None = None,
    dtype: torch.dtype | str | None = torch.float64,
    track_energy: bool = True,
    u0: Tensor | None = None,
    return_state: bool = False,
) -> tuple[Tensor, dict[str, Any]]:
    """GELR-ADMM, paper Algorithm 1 with the corrections of gelr-math §1-6.

    Args:
        g: Textured input ``(B, C, H, W)`` in [0, 1] (``(C, H, W)`` / ``(H, W)`` accepted).
        x: Ground-truth smooth image, same shape as ``g``.
        alpha: Weight of ``||grad u||_1``.
        beta: Weight of ``||grad u - grad x||_r``.
        rho1: ADMM penalty of ``d = grad u``.
        rho2: ADMM penalty of ``t = grad u - grad x``.
        theta: Truncation rate, ``r = floor(theta * min(H, W))``.
        iters: Maximum number of ADMM iterations (K).
        boundary: ``"periodic"`` or ``"neumann"``.
        fidelity: ``"prox"`` (paper, ``T = g - u``) or ``"fixed"`` (``T = 0``).
        d_threshold: ``"corrected"`` (``alpha/rho1``) or ``"paper"`` (``1/rho1``).
        tnn: ``"hu"`` (two-loop TNNR, default), ``"exact"`` (exact prox every iteration) or
            ``"paper"`` (as printed; diverges).
        refresh: For ``tnn="hu"``: A, B are recomputed from t every ``refresh`` iterations
            (1 = the single-loop scheme, which stalls on textured images; 50-200 converges).
        data_weight: w in ``w * ||g - u - T||^2`` (default 1/2, eq. 10).
        prox_method: ``"gram"`` or ``"svd"`` for the decompositions.
        tol: Stop early once both RMS residuals are below ``tol`` (None: run ``iters``).
        dtype: Working dtype (default float64 so residuals can reach 1e-6); None keeps g's.
        track_energy: Record the energy each iteration (one extra SVD per iteration).
        u0: Initial u (default ``g``, Algorithm 1).
        return_state: Also return the final ADMM variables in ``history["state"]`` (dict of
            ``d, t, eta_d, eta_t`` ``(B, C, 2, H, W)`` and ``T`` ``(B, C, H, W)``).

    Returns:
        ``(u, history)``: ``u`` like ``g`` (dtype of ``g``), and ``history`` with per-iteration
        lists ``energy``, ``data``, ``l1``, ``tnn``, ``primal_residual``, ``dual_residual``
        (RMS: ``sqrt((||grad u - d||^2 + ||grad u - grad x - t||^2) / (2 N_grad))`` and
        ``||rho1 grad^T(d - d_prev) + rho2 grad^T(t - t_prev)|| / sqrt(N_pix)``), plus
        ``iterations``, ``r``, ``diverged`` and ``refreshes`` (iterations at which A, B were
        recomputed); with ``return_state``, ``state``.
    """
    if d_threshold not in D_THRESHOLDS:
        raise ValueError(f"rpaf.gelr.solver: d_threshold={d_threshold!r} not in {D_THRESHOLDS}")
    if tnn not in TNN_MODES:
        raise ValueError(f"rpaf.gelr.solver: tnn={tnn!r} not in {TNN_MODES}")
    if fidelity not in FIDELITIES:
        raise ValueError(f"rpaf.gelr.solver: fidelity={fidelity!r} not in {FIDELITIES}")
    if refresh < 1:
        raise ValueError(f"rpaf.gelr.solver: refresh={refresh} must be >= 1")
    if min(rho1, rho2) <= 0 or alpha < 0 or beta < 0 or data_weight <= 0:
        raise ValueError(
            "rpaf.gelr.solver: need rho1, rho2, data_weight > 0 and alpha, beta >= 0; got "
            f"rho1={rho1}, rho2={rho2}, data_weight={data_weight}, alpha={alpha}, beta={beta}"
        )
    out_dtype = g.dtype
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    work = dtype or (g.dtype if g.is_floating_point() else torch.float32)
    g = _as_bchw(g, "g").to(work)
    x = _as_bchw(x, "x").to(device=g.device, dtype=work)
    if g.shape != x.shape:
        raise ValueError(f"rpaf.gelr.solver: g {tuple(g.shape)} and x {tuple(x.shape)} differ")
    H, W = g.shape[-2:]
    r = ops.truncation_rank(H, W, theta)
    tau_d = (alpha if d_threshold == "corrected" else 1.0) / rho1  # gelr-math §1 (eq. 34)
    tau_t = beta / rho2  # eq. 36
    wgt = 2.0 * data_weight  # gelr-math §3: 1 for the 1/2||.||^2 of eq. 10
    rho = rho1 + rho2

    u = g.clone() if u0 is None else _as_bchw(u0, "u0").to(g)
    gx = ops.grad(x, boundary)
    zeros = torch.zeros_like(gx)
    d, t, eta_d, eta_t = zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone()
    T = torch.zeros_like(g)  # Algorithm 1: T^0 = 0
    A: Tensor | None = None
    B: Tensor | None = None
    n_grad, n_pix = gx.numel(), g.numel()

    hist: dict[str, Any] = {k: [] for k in ("energy", "data", "l1", "tnn",
                                            "primal_residual", "dual_residual")}
    hist.update(r=r, diverged=False, refreshes=[], iterations=0)

    for k in range(iters):
        if tnn == "hu" and k > 0 and k % refresh == 0:
            A, B = ops.top_singular_vectors(t, r)  # outer loop of the two-loop TNNR scheme
            hist["refreshes"].append(k)
        # u-step, eq. 31-32 with w = 2*data_weight (gelr-math §3):
        # (w I + (rho1+rho2) grad^T grad) u
        #     = w (g - T) + grad^T[rho1 (d - eta_d) + rho2 (grad x + t - eta_t)]
        rhs = wgt * (g - T) + ops.grad_adjoint(
            rho1 * (d - eta_d) + rho2 * (gx + t - eta_t), boundary
        )
        T_used = T
        u = solve_identity_plus_laplacian(rhs, wgt, rho, boundary)
        gu = ops.grad(u, boundary)
        d_prev, t_prev = d, t
        # d-step, eq. 34 corrected: threshold alpha/rho1 (gelr-math §1)
        d = ops.shrink(gu + eta_d, tau_d)
        # t-step, eq. 36-40 (gelr-math §2)
        w_t = gu - gx + eta_t
        if tnn == "exact":
            t = ops.tnn_prox(w_t, tau_t, r, prox_method)
        elif tnn == "hu":
            t = ops.hu_step(w_t, tau_t, A, B, prox_method)
        else:
            t = _paper_t_step(w_t, t, tau_t, r)
        # multipliers, eq. 41
        eta_d = eta_d + gu - d
        eta_t = eta_t + gu - gx - t
        # T-step, eq. 42 ("prox") or T = 0 ("fixed"), gelr-math §4
        if fidelity == "prox":
            T = g - u

        primal = math.sqrt(
            (float((gu - d).pow(2).sum()) + float((gu - gx - t).pow(2).sum())) / (2 * n_grad)
        )
        dual = float(
            ops.grad_adjoint(rho1 * (d - d_prev) + rho2 * (t - t_prev), boundary).norm()
        ) / math.sqrt(n_pix)
        hist["primal_residual"].append(primal)
        hist["dual_residual"].append(dual)
        hist["iterations"] = k + 1
        finite = math.isfinite(primal) and math.isfinite(dual)
        if not finite or float(u.abs().max()) > 1e6:
            hist["diverged"] = True
            log.warning("gelr_admm diverged at iteration %d (tnn=%s): |u|max=%.3g", k + 1, tnn,
                        float(u.abs().max()) if finite else float("nan"))
            for key in ("energy", "data", "l1", "tnn"):
                hist[key].append(float("nan"))
            break
        if track_energy:
            e = gelr_energy(u, g, x, alpha=alpha, beta=beta, r=r, T=T_used,
                            data_weight=data_weight, boundary=boundary)
            for key, val in e.items():
                hist[key].append(val)
        if tol is not None and primal < tol and dual < tol:
            break
    if return_state:
        hist["state"] = {"d": d, "t": t, "eta_d": eta_d, "eta_t": eta_t, "T": T}
    return u.to(out_dtype), hist


# --------------------------------------------------------------------------------------------
# Image I/O and command line
# --------------------------------------------------------------------------------------------


def load_image(path: str | Path) -> Tensor:
    """Read an image as ``(1, 3, H, W)`` float32 in [0, 1].

    Files go through :func:`rpaf.data.imageio.read_image` (8/16-bit, grey -> RGB); ``.npy``
    holds a float ``H x W [x C]`` array in [0, 1]; ``-`` reads an encoded image from stdin.
    """
    from rpaf.data.imageio import read_image

    if str(path) == "-":
        import tempfile

        data = sys.stdin.buffer.read()
        with tempfile.NamedTemporaryFile(suffix=".img") as fh:
            fh.write(data)
            fh.flush()
            arr = _read_any(fh.name)
    elif str(path).endswith(".npy"):
        arr = np.load(path).astype(np.float32)
        if arr.ndim == 2:
            arr = arr[..., None]
    else:
        arr = read_image(path)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]


def _read_any(path: str | Path) -> np.ndarray:
    """Decode an image file whatever its extension (used for stdin), as H x W x 3 in [0, 1]."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    return arr.astype(np.float32) / (65535.0 if arr.dtype == np.uint16 else 255.0)


def save_image(img: Tensor, path: str | Path, *, bits: int = 8) -> None:
    """Write ``(1, C, H, W)`` in [0, 1]: ``.npy`` keeps floats; ``-`` writes a PNG to stdout."""
    from rpaf.data.imageio import write_image

    if str(path).endswith(".npy"):
        np.save(path, img[0].detach().cpu().float().numpy().transpose(1, 2, 0))
        return
    if str(path) == "-":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            out = write_image(Path(tmp) / "out.png", img[0].detach().cpu().float(), bits=bits)
            sys.stdout.buffer.write(out.read_bytes())
        sys.stdout.buffer.flush()
        return
    write_image(path, img[0].detach().cpu().float(), bits=bits)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rpaf.gelr.solver",
        description="GELR-ADMM without the network (paper Algorithm 1, corrected; Fig. 13 "
        "ablation). Needs the ground truth GT. Use '-' for stdin/stdout.",
    )
    p.add_argument("input", help="textured input image g (or '-' for stdin)")
    p.add_argument("gt", help="ground-truth smooth image x")
    p.add_argument("-o", "--output", default="-", help="output image (default: PNG to stdout)")
    p.add_argument("--alpha", type=float, default=0.4)
    p.add_argument("--beta", type=float, default=0.6)
    p.add_argument("--rho1", type=float, default=1.0)
    p.add_argument("--rho2", type=float, default=1.0)
    p.add_argument("--theta", type=float, default=ops.DEFAULT_THETA)
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--refresh", type=int, default=100)
    p.add_argument("--boundary", choices=ops.BOUNDARIES, default="periodic")
    p.add_argument("--fidelity", choices=FIDELITIES, default="prox")
    p.add_argument("--d-threshold", choices=D_THRESHOLDS, default="corrected")
    p.add_argument("--tnn", choices=TNN_MODES, default="hu")
    p.add_argument("--data-weight", type=float, default=0.5)
    p.add_argument("--prox-method", choices=ops.PROX_METHODS, default="gram")
    p.add_argument("--tol", type=float, default=None)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--history", default=None, help="write the per-iteration history (JSON)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    dev = torch.device(args.device)
    g = load_image(args.input).to(dev)
    x = load_image(args.gt).to(dev)
    if g.shape != x.shape:
        print(f"error: {args.input} has shape {tuple(g.shape[1:])} but {args.gt} has "
              f"{tuple(x.shape[1:])}; pass images of the same size and channel count",
              file=sys.stderr)
        return 2
    u, hist = gelr_admm(
        g, x, alpha=args.alpha, beta=args.beta, rho1=args.rho1, rho2=args.rho2,
        theta=args.theta, iters=args.iters, refresh=args.refresh, boundary=args.boundary,
        fidelity=args.fidelity, d_threshold=args.d_threshold, tnn=args.tnn,
        data_weight=args.data_weight, prox_method=args.prox_method, tol=args.tol,
    )
    save_image(u, args.output)
    if args.history:
        Path(args.history).write_text(json.dumps(hist, indent=1))
    log.info("gelr_admm: %d iterations, r=%d, primal %.3g, dual %.3g%s", hist["iterations"],
             hist["r"], hist["primal_residual"][-1], hist["dual_residual"][-1],
             ", DIVERGED" if hist["diverged"] else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
