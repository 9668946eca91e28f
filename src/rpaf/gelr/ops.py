"""GELR operators: finite differences, soft thresholding and truncated-nuclear-norm proxes.

Everything here is batched, differentiable where it makes sense (``grad``, ``grad_adjoint``,
``shrink``) and device/dtype-agnostic: results follow the input tensor.

Conventions (``docs/gelr-math.md``, "Notation"):

* images are ``(B, C, H, W)`` (any number of leading dimensions is accepted);
* gradients are ``(B, C, 2, H, W)``: direction 0 is horizontal (along W), direction 1 is
  vertical (along H), forward differences;
* every ``(b, c, dir)`` slice is one ``H x W`` matrix for the truncated nuclear norm (TNN)
  ``||Z||_r = sum_{i > r} sigma_i(Z)`` (paper eq. 5) with ``r = floor(theta * min(H, W))``.

Boundaries (gelr-math §5): ``periodic`` wraps around (what the FFT u-solve of eq. 32 implies;
the default), ``neumann`` sets the difference across the last row/column to zero (diagonalised
by the DCT-II). Use one convention for a whole run.

kornia's ``spatial_gradient`` uses central/Sobel kernels with replicate padding, which is a
different operator (not the forward difference the ADMM derivation and its FFT solve assume),
so the differences are written out here.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = [
    "BOUNDARIES",
    "DEFAULT_THETA",
    "PROX_METHODS",
    "PROX_STATS",
    "ProxStats",
    "grad",
    "grad_adjoint",
    "hu_step",
    "prox_compute_dtype",
    "shrink",
    "svt",
    "tnn",
    "tnn_prox",
    "top_singular_vectors",
    "truncation_rank",
]

log = logging.getLogger(__name__)

BOUNDARIES: tuple[str, ...] = ("periodic", "neumann")
PROX_METHODS: tuple[str, ...] = ("gram", "svd")

#: Default truncation rate theta (``r = floor(theta * min(H, W))``, paper eq. 5).
#:
#: The paper never states theta. The TNN leaves the ``r`` largest singular values of the
#: gradient error ``grad(u) - grad(x)`` unpenalised: it models that error as "a few dominant
#: rank-one modes plus a tail", and only the tail is pushed to zero. ``r`` must be a small
#: fraction of the side: theta = 1 switches the regulariser off, and a large theta lets the
#: output deviate from the ground-truth gradients in many directions for free (TNNR methods,
#: Hu et al. 2013, likewise use r far below the matrix side). Measured on synthetic SPS pairs
#: (256 px, ``rpaf.data.synthetic``): the top r singular values of ``grad(g) - grad(x)`` (the
#: texture) carry 43-88 % of its nuclear norm at theta = 0.02 (r = 5), 73-100 % at 0.05
#: (r = 12) and 92-100 % at 0.1 (r = 25), so above ~0.05 the texture itself is mostly exempt.
#: We take theta = 0.05 (r = 1 at 32 px, 12 at 256 px, 25 at 512 px) as a middle value; it is a
#: parameter everywhere (``theta=``) and ``conf/sweep/theta.yaml`` sweeps 0-0.2.
DEFAULT_THETA: float = 0.05


# --------------------------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------------------------


def _check_boundary(boundary: str) -> None:
    if boundary not in BOUNDARIES:
        raise ValueError(
            f"rpaf.gelr.ops: boundary={boundary!r} is not supported; use one of {BOUNDARIES} "
            "(set `boundary:` in the gelr/loss/solver config)."
        )


def grad(u: Tensor, boundary: str = "periodic") -> Tensor:
    """Forward-difference gradient.

    Args:
        u: Image tensor ``(..., H, W)``, typically ``(B, C, H, W)``.
        boundary: ``"periodic"`` (wrap-around, matches the FFT solve of eq. 32) or
            ``"neumann"`` (zero difference across the last column/row, matches the DCT solve).

    Returns:
        Tensor ``(..., 2, H, W)``: index 0 is ``u[..., j+1] - u[..., j]`` (horizontal, along W),
        index 1 is ``u[..., i+1, :] - u[..., i, :]`` (vertical, along H).
    """
    _check_boundary(boundary)
    if u.dim() < 2:
        raise ValueError(f"rpaf.gelr.ops.grad: expected (..., H, W), got shape {tuple(u.shape)}")
    if boundary == "periodic":
        dx = torch.roll(u, shifts=-1, dims=-1) - u
        dy = torch.roll(u, shifts=-1, dims=-2) - u
    else:
        zero_col = torch.zeros_like(u[..., :, :1])
        zero_row = torch.zeros_like(u[..., :1, :])
        dx = torch.cat([u[..., :, 1:] - u[..., :, :-1], zero_col], dim=-1)
        dy = torch.cat([u[..., 1:, :] - u[..., :-1, :], zero_row], dim=-2)
    return torch.stack([dx, dy], dim=-3)


def grad_adjoint(p: Tensor, boundary: str = "periodic") -> Tensor:
    """Exact adjoint ``grad^T`` of :func:`grad` (a negative divergence).

    Satisfies ``<grad(u), p> = <u, grad_adjoint(p)>`` to rounding for both boundaries.

    Args:
        p: Tensor ``(..., 2, H, W)`` (direction 0 horizontal, 1 vertical).
        boundary: Same convention as used for :func:`grad`.

    Returns:
        Tensor ``(..., H, W)``.
    """
    _check_boundary(boundary)
    if p.dim() < 3 or p.shape[-3] != 2:
        raise ValueError(
            f"rpaf.gelr.ops.grad_adjoint: expected (..., 2, H, W), got shape {tuple(p.shape)}"
        )
    px, py = p[..., 0, :, :], p[..., 1, :, :]
    if boundary == "periodic":
        # (D^T p)_j = p_{j-1} - p_j with wrap-around.
        return (torch.roll(px, 1, dims=-1) - px) + (torch.roll(py, 1, dims=-2) - py)
    # Neumann: the last difference is identically zero, so its dual entry is ignored.
    h, w = p.shape[-2], p.shape[-1]
    px = px[..., :, :-1]
    py = py[..., :-1, :]
    zc = p.new_zeros((*p.shape[:-3], h, 1))
    zr = p.new_zeros((*p.shape[:-3], 1, w))
    ax = torch.cat([zc, px], dim=-1) - torch.cat([px, zc], dim=-1)
    ay = torch.cat([zr, py], dim=-2) - torch.cat([py, zr], dim=-2)
    return ax + ay


# --------------------------------------------------------------------------------------------
# Soft thresholding
# --------------------------------------------------------------------------------------------


def shrink(v: Tensor, tau: float | Tensor) -> Tensor:
    """Soft thresholding ``sign(v) * max(|v| - tau, 0)`` (paper eq. 35).

    This is the prox of ``tau * ||.||_1``: ``argmin_d tau*||d||_1 + 1/2 ||d - v||^2``. The
    GELR d-update (eq. 34/44) calls it with ``tau = alpha / rho1`` (gelr-math §1; the paper
    prints ``1 / rho1``).

    Args:
        v: Any tensor.
        tau: Non-negative threshold, a float or a tensor broadcastable to ``v``.

    Returns:
        Tensor like ``v``.
    """
    if isinstance(tau, Tensor):
        if bool((tau < 0).any()):
            raise ValueError("rpaf.gelr.ops.shrink: tau must be >= 0 (got a negative entry)")
        tau = tau.to(device=v.device, dtype=v.dtype)
    elif tau < 0:
        raise ValueError(f"rpaf.gelr.ops.shrink: tau must be >= 0, got {tau}")
    return torch.sign(v) * torch.clamp_min(v.abs() - tau, 0.0)


# --------------------------------------------------------------------------------------------
# Truncated nuclear norm
# --------------------------------------------------------------------------------------------


def truncation_rank(h: int, w: int, theta: float = DEFAULT_THETA) -> int:
    """Number of unpenalised singular values ``r = floor(theta * min(h, w))`` (paper eq. 5).

    A tiny epsilon guards against float round-off (``0.3 * 10`` must give 3, not 2).

    Args:
        h: Matrix height.
        w: Matrix width.
        theta: Truncation rate in ``[0, 1]``; see :data:`DEFAULT_THETA` for the default.

    Returns:
        ``r`` in ``[0, min(h, w)]``.
    """
    if not 0.0 <= float(theta) <= 1.0:
        raise ValueError(
            f"rpaf.gelr.ops.truncation_rank: theta={theta} must lie in [0, 1] (set `theta:` in "
            "the gelr/solver config)."
        )
    if h < 1 or w < 1:
        raise ValueError(f"rpaf.gelr.ops.truncation_rank: bad matrix size {h}x{w}")
    return int(math.floor(float(theta) * min(h, w) + 1e-9))


@dataclass
class ProxStats:
    """Counters of the decomposition fallbacks in :func:`tnn_prox` / :func:`tnn` (thread-safe).

    Attributes:
        calls: Number of batched decompositions attempted on the fast path.
        fallbacks: Number of *matrices* recomputed on the slow exact path (float64 SVD on CPU)
            because the fast path raised or produced non-finite values.
        failures: Number of matrices for which even the fallback failed (non-finite input);
            those are returned unchanged by the prox.
    """

    calls: int = 0
    fallbacks: int = 0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, calls: int = 0, fallbacks: int = 0, failures: int = 0) -> None:
        """Increment the counters."""
        with self._lock:
            self.calls += calls
            self.fallbacks += fallbacks
            self.failures += failures

    def reset(self) -> None:
        """Set all counters to zero."""
        with self._lock:
            self.calls = self.fallbacks = self.failures = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for logging)."""
        return {"calls": self.calls, "fallbacks": self.fallbacks, "failures": self.failures}


#: Module-wide fallback counters; read ``PROX_STATS.fallbacks`` (e.g. to log it per epoch).
PROX_STATS = ProxStats()


def _check_matrix(w: Tensor, name: str) -> None:
    if w.dim() < 2:
        raise ValueError(f"rpaf.gelr.ops.{name}: expected (..., H, W), got {tuple(w.shape)}")
    if not w.is_floating_point():
        raise TypeError(f"rpaf.gelr.ops.{name}: expected a floating tensor, got {w.dtype}")


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    # eigh/svd do not support half precision: compute in float32 at least.
    return torch.float64 if dtype == torch.float64 else torch.float32


def prox_compute_dtype(dtype: torch.dtype, device: torch.device | str, method: str) -> torch.dtype:
    """The decomposition dtype :func:`tnn_prox` uses when ``compute_dtype`` is not given.

    float64 for float64 input. Otherwise float32, except for ``method="gram"`` on CUDA, which
    decomposes in float64: PyTorch's CUDA ``eigh`` was measured slower in float32 than in
    float64 (1.2x at 96^2, 3.2x at 512^2 on an H100: ``python -m rpaf.bench.prox --device
    cuda``, ``experiments/bench/prox_cuda_h100.md``), and float64 also removes the Gram path's
    float32 error (relative error ~2.5e-8 instead of 3e-5 to 2e-4).
    """
    if _work_dtype(dtype) == torch.float64:
        return torch.float64
    if method == "gram" and torch.device(device).type == "cuda":
        return torch.float64
    return torch.float32


def _normalise(w: Tensor) -> tuple[Tensor, Tensor]:
    """Divide each matrix by its max-abs value so Gram matrices neither overflow nor underflow.

    Returns the scaled matrices and the per-matrix scale ``(..., 1, 1)`` (1 for zero or
    non-finite matrices).
    """
    s = w.abs().amax(dim=(-2, -1), keepdim=True)
    s = torch.where(torch.isfinite(s) & (s > 0), s, torch.ones_like(s))
    return w / s, s


def _gains(sigma: Tensor, tau: Tensor, r: int) -> Tensor:
    """Per-singular-value gains ``h_i``: 1 for the top ``r``, ``(1 - tau/sigma_i)_+`` beyond.

    ``sigma`` is sorted descending along the last dimension; ``tau`` broadcasts ``(..., 1)``.
    """
    safe = torch.where(sigma > tau, sigma, torch.ones_like(sigma))
    h = torch.where(sigma > tau, 1.0 - tau / safe, torch.zeros_like(sigma))
    if r > 0:
        idx = torch.arange(sigma.shape[-1], device=sigma.device)
        h = torch.where(idx < r, torch.ones_like(h), h)
    return h


def _prox_gram(w: Tensor, tau: Tensor, r: int) -> Tensor:
    """Exact prox through ``eigh`` of the Gram matrix of the smaller side (gelr-math §2)."""
    m, n = w.shape[-2], w.shape[-1]
    tall = m >= n
    gram = w.mT @ w if tall else w @ w.mT  # (.., k, k) with k = min(m, n)
    gram = 0.5 * (gram + gram.mT)
    lam, vec = torch.linalg.eigh(gram)  # ascending
    lam = lam.flip(-1)
    vec = vec.flip(-1)
    sigma = torch.sqrt(torch.clamp_min(lam, 0.0))
    h = _gains(sigma, tau, r)
    # h is non-increasing, so its non-zero entries form a prefix: only those columns of V enter
    # the product (often far fewer than min(m, n); one host sync, cheap next to eigh).
    k = int((h > 0).sum(-1).max()) if h.numel() else 0
    h, vec = h[..., :k], vec[..., :k]
    # t = W V diag(h) V^T (tall) or U diag(h) U^T W (wide)
    if tall:
        return (w @ vec) @ (h.unsqueeze(-1) * vec.mT)
    return (vec * h.unsqueeze(-2)) @ (vec.mT @ w)


def _prox_svd(w: Tensor, tau: Tensor, r: int) -> Tensor:
    """Reference prox through a thin SVD (paper eq. 40 with the truncation kept exact)."""
    U, S, Vh = torch.linalg.svd(w, full_matrices=False)
    h = _gains(S, tau, r)
    return (U * (S * h).unsqueeze(-2)) @ Vh


def _prox_fallback_one(w: Tensor, tau: float, r: int) -> Tensor | None:
    """Slow exact prox of one matrix: float64 SVD on CPU (torch, then scipy's gesvd)."""
    w64 = w.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(w64).all()):
        return None
    wn, s = _normalise(w64)
    tau_n = torch.as_tensor(tau, dtype=torch.float64) / s.reshape(())
    try:
        out = _prox_svd(wn, tau_n.reshape(1), r)
    except Exception:  # LAPACK errors differ between builds
        try:
            import scipy.linalg

            U, S, Vh = scipy.linalg.svd(
                wn.numpy(), full_matrices=False, lapack_driver="gesvd", check_finite=False
            )
            St = torch.from_numpy(S)
            h = _gains(St, tau_n.reshape(1), r)
            out = (torch.from_numpy(U) * (St * h)) @ torch.from_numpy(Vh)
        except Exception:
            return None
    out = out * s
    return out if bool(torch.isfinite(out).all()) else None


def tnn_prox(
    w: Tensor,
    tau: float,
    r: int,
    method: str = "gram",
    *,
    compute_dtype: torch.dtype | None = None,
) -> Tensor:
    """Exact proximal operator of the truncated nuclear norm, batched over matrices.

    Solves, for every ``H x W`` matrix ``W`` of the batch (gelr-math §2, paper eq. 36)::

        argmin_t  tau * ||t||_r + 1/2 ||t - W||_F^2,   ||t||_r = sum_{i > r} sigma_i(t)

    whose global minimiser (although the TNN is nonconvex) keeps the ``r`` largest singular
    values of ``W`` and soft-thresholds the rest by ``tau``:
    ``t = U diag(sigma_1..sigma_r, (sigma_{r+1} - tau)_+, ...) V^T``. With ``r = 0`` this is
    singular value thresholding (paper eq. 9).

    ``method="gram"`` (fast path): ``eigh`` of the Gram matrix of the smaller side,
    ``sigma_i = sqrt(lambda_i)``, ``t = W V diag(h) V^T`` with ``h_i = 1`` for ``i <= r`` and
    ``(1 - tau/sigma_i)_+`` beyond; one decomposition gives the whole prox. In float32 the
    relative error is ~1e-3 (pass ``compute_dtype=torch.float64`` where near-ties at index
    ``r`` or high accuracy matter, e.g. the standalone solver). ``method="svd"``: thin SVD,
    the reference.

    Robustness: each matrix is scaled by its max-abs value before the decomposition (no
    overflow for huge values, no underflow for tiny ones; zero matrices stay zero). If the
    decomposition raises or gives non-finite values, the affected matrices are recomputed with
    a float64 SVD on CPU; this is counted in :data:`PROX_STATS` and logged, never raised.
    Matrices that contain NaN/inf are returned unchanged (counted as ``failures``). The result
    is not differentiable (the input is detached): the prox is an ADMM update, not a layer.

    Args:
        w: Tensor ``(..., H, W)``, e.g. ``(B, C, 2, H, W)``.
        tau: Threshold ``beta / rho2`` (>= 0), in the units of ``w``.
        r: Number of singular values left untouched (``truncation_rank(H, W, theta)``).
        method: ``"gram"`` or ``"svd"``.
        compute_dtype: Dtype of the decomposition (default: :func:`prox_compute_dtype`,
            i.e. float64 for float64 input and for ``method="gram"`` on CUDA, float32
            otherwise).

    Returns:
        Tensor like ``w`` (same shape, dtype and device).
    """
    _check_matrix(w, "tnn_prox")
    if method not in PROX_METHODS:
        raise ValueError(
            f"rpaf.gelr.ops.tnn_prox: method={method!r} is not one of {PROX_METHODS} "
            "(set `prox_method:` in the gelr config)."
        )
    tau = float(tau)
    if not tau >= 0.0:
        raise ValueError(f"rpaf.gelr.ops.tnn_prox: tau must be >= 0, got {tau}")
    r = int(r)
    if r < 0:
        raise ValueError(f"rpaf.gelr.ops.tnn_prox: r must be >= 0, got {r}")
    m, n = w.shape[-2], w.shape[-1]
    if tau == 0.0 or r >= min(m, n) or w.numel() == 0:
        return w.clone()

    batch_shape = w.shape[:-2]
    cdt = compute_dtype or prox_compute_dtype(w.dtype, w.device, method)
    wf = w.detach().reshape(-1, m, n).to(cdt)
    wn, s = _normalise(wf)
    tau_n = tau / s.squeeze(-1)  # (N, 1): threshold in normalised units
    fn = _prox_gram if method == "gram" else _prox_svd

    PROX_STATS.add(calls=1)
    out: Tensor | None
    try:
        out = fn(wn, tau_n, r) * s
    except Exception as err:  # torch._C._LinAlgError and CUDA solver errors
        log.warning("tnn_prox(method=%s) failed on a batch of %d (%s); using the slow path",
                    method, wf.shape[0], err)
        out = None

    if out is None:
        bad = torch.ones(wf.shape[0], dtype=torch.bool)
        out = wf.clone()
    else:
        bad = (~torch.isfinite(out).all(dim=(-2, -1))).cpu()
    if bool(bad.any()):
        idx = torch.nonzero(bad).flatten().tolist()
        n_fail = 0
        for i in idx:
            one = _prox_fallback_one(wf[i], tau, r)
            if one is None:
                out[i] = wf[i]
                n_fail += 1
            else:
                out[i] = one.to(device=out.device, dtype=out.dtype)
        PROX_STATS.add(fallbacks=len(idx), failures=n_fail)
        log.warning(
            "tnn_prox: %d of %d matrices recomputed on the float64 CPU fallback "
            "(%d non-finite inputs returned unchanged); totals %s",
            len(idx), wf.shape[0], n_fail, PROX_STATS.as_dict(),
        )
    return out.to(w.dtype).reshape(*batch_shape, m, n)


def svt(w: Tensor, tau: float, method: str = "gram", **kwargs: object) -> Tensor:
    """Singular value thresholding ``SVT_tau(W)`` (paper eq. 9): :func:`tnn_prox` with r=0."""
    return tnn_prox(w, tau, 0, method, **kwargs)  # type: ignore[arg-type]


def _svdvals_robust(w: Tensor) -> Tensor:
    """Singular values (descending) of ``(N, H, W)`` with the float64 CPU fallback."""
    wn, s = _normalise(w)
    try:
        sv = torch.linalg.svdvals(wn)
        if bool(torch.isfinite(sv).all()):
            return sv * s.squeeze(-1)
    except Exception as err:
        log.warning("tnn: svdvals failed (%s); using the float64 CPU fallback", err)
    sv = torch.linalg.svdvals(wn.detach().cpu().double()).to(w.device, w.dtype)
    PROX_STATS.add(fallbacks=w.shape[0])
    return torch.nan_to_num(sv, nan=0.0, posinf=0.0) * s.squeeze(-1)


def tnn(w: Tensor, r: int) -> Tensor:
    """Truncated nuclear norm ``||w||_r = sum_{i > r} sigma_i(w)`` per matrix (paper eq. 5).

    Args:
        w: Tensor ``(..., H, W)``.
        r: Number of leading singular values excluded from the sum.

    Returns:
        Tensor ``(...)`` (one value per matrix), dtype of ``w`` (float32 for half inputs).
    """
    _check_matrix(w, "tnn")
    m, n = w.shape[-2], w.shape[-1]
    wf = w.detach().reshape(-1, m, n).to(_work_dtype(w.dtype))
    sv = _svdvals_robust(wf)
    return sv[:, int(r):].sum(-1).reshape(w.shape[:-2])


def top_singular_vectors(t: Tensor, r: int) -> tuple[Tensor, Tensor]:
    """Top-``r`` singular vectors ``A, B`` of ``t`` as in the paper's eq. 6.

    Args:
        t: Tensor ``(..., H, W)``.
        r: Number of singular vectors.

    Returns:
        ``A`` of shape ``(..., r, H)`` and ``B`` of shape ``(..., r, W)`` with orthonormal
        rows, so that ``A^T B = U_r V_r^T`` and ``Tr(A t B^T) = sum_{i <= r} sigma_i(t)``.
        For a zero matrix they are zero (the paper's first step, ``A^T B = 0``).
    """
    _check_matrix(t, "top_singular_vectors")
    m, n = t.shape[-2], t.shape[-1]
    tf = t.detach().reshape(-1, m, n).to(_work_dtype(t.dtype))
    wn, _ = _normalise(tf)
    try:
        U, S, Vh = torch.linalg.svd(wn, full_matrices=False)
    except Exception as err:
        log.warning("top_singular_vectors: svd failed (%s); using the float64 CPU fallback", err)
        PROX_STATS.add(fallbacks=tf.shape[0])
        U, S, Vh = (a.to(tf.device, tf.dtype) for a in torch.linalg.svd(wn.cpu().double(),
                                                                         full_matrices=False))
    live = (S[:, :r] > 0).to(U.dtype)  # zero singular values: no defined direction -> 0
    A = (U[:, :, :r] * live.unsqueeze(-2)).mT
    B = Vh[:, :r, :] * live.unsqueeze(-1)
    A = torch.nan_to_num(A).to(t.dtype).reshape(*t.shape[:-2], r, m)
    B = torch.nan_to_num(B).to(t.dtype).reshape(*t.shape[:-2], r, n)
    return A, B


def hu_step(
    w: Tensor,
    tau: float,
    A: Tensor | None,
    B: Tensor | None,
    method: str = "gram",
    **kwargs: object,
) -> Tensor:
    """Hu et al. (TNNR) majorise-minimise t-step: ``t = SVT_tau(W + tau * A^T B)``.

    This is what the paper's eq. 37-40 intend, with the sign of ``A^T B`` corrected and the
    spurious ``-t`` removed (gelr-math §2). It solves
    ``argmin_t tau*(||t||_* - Tr(A t B^T)) + 1/2 ||t - W||^2`` for fixed ``A, B`` (the top-``r``
    singular vectors of the previous t; see :func:`top_singular_vectors`). Do NOT combine it
    with a truncated prox: the ``+tau A^T B`` shift already accounts for the kept values.

    Args:
        w: ``W = grad(u) - grad(x) + eta_t``, shape ``(..., H, W)``.
        tau: ``beta / rho2``.
        A: ``(..., r, H)`` or None (zero shift, the first step where t = 0).
        B: ``(..., r, W)`` or None.
        method: Decomposition used by the SVT (``"gram"`` or ``"svd"``).
        **kwargs: Passed to :func:`tnn_prox` (e.g. ``compute_dtype``).

    Returns:
        Tensor like ``w``.
    """
    if (A is None) != (B is None):
        raise ValueError("rpaf.gelr.ops.hu_step: pass both A and B, or neither")
    q = w if A is None else w + tau * (A.mT @ B).to(w.dtype)
    return svt(q, tau, method, **kwargs)
