"""Fast solves of ``(w*I + rho*grad^T grad) u = rhs`` for the GELR u-step (paper eq. 30-32).

* ``periodic`` boundaries: ``grad^T grad`` is a circulant (periodic 5-point Laplacian), which
  the 2-D FFT diagonalises, with symbol ``4 - 2cos(2*pi*k/W) - 2cos(2*pi*l/H)``
  (gelr-math §3).
* ``neumann`` boundaries: ``grad^T grad`` with the last difference set to zero is the
  reflective Laplacian, diagonalised by the DCT-II with symbol
  ``2 - 2cos(pi*k/W) + 2 - 2cos(pi*l/H)`` (gelr-math §5).

torch has no DCT, so the orthonormal DCT-II and its inverse (DCT-III) are computed here from
one complex FFT of a permuted sequence (Makhoul, 1980). They run on any device and match
``scipy.fft.dct(..., type=2, norm="ortho")`` / ``idct``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rpaf.gelr.ops import BOUNDARIES

__all__ = ["dct", "dctn", "idct", "idctn", "laplacian_symbol", "solve_identity_plus_laplacian"]


def _ortho_scale(n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    f = torch.full((n,), math.sqrt(1.0 / (2 * n)), device=device, dtype=dtype)
    f[0] = math.sqrt(1.0 / (4 * n))
    return f


def dct(x: Tensor, dim: int = -1) -> Tensor:
    """Orthonormal DCT-II along ``dim`` (``scipy.fft.dct(x, type=2, norm="ortho", axis=dim)``).

    Args:
        x: Real tensor.
        dim: Dimension to transform.

    Returns:
        Real tensor like ``x``.
    """
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    # v = [x0, x2, x4, ..., x5, x3, x1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    V = torch.fft.fft(v, dim=-1)
    k = torch.arange(n, device=x.device, dtype=x.dtype)
    phase = torch.polar(torch.ones_like(k), -math.pi * k / (2 * n))
    y = 2.0 * (V * phase).real * _ortho_scale(n, x.device, x.dtype)
    return y.movedim(-1, dim)


def idct(y: Tensor, dim: int = -1) -> Tensor:
    """Inverse of :func:`dct` (orthonormal DCT-III), ``scipy.fft.idct(y, type=2, norm="ortho")``.

    Args:
        y: Real tensor.
        dim: Dimension to transform.

    Returns:
        Real tensor like ``y``.
    """
    y = y.movedim(dim, -1)
    n = y.shape[-1]
    yu = y / _ortho_scale(n, y.device, y.dtype)  # unnormalised DCT-II coefficients
    # z_k = (y_k - i*y_{N-k}) / 2 with y_N = 0, V_k = exp(i*pi*k/2N) z_k
    y_rev = torch.cat([torch.zeros_like(yu[..., :1]), yu[..., 1:].flip(-1)], dim=-1)
    z = torch.complex(yu, -y_rev) * 0.5
    k = torch.arange(n, device=y.device, dtype=y.dtype)
    V = z * torch.polar(torch.ones_like(k), math.pi * k / (2 * n))
    v = torch.fft.ifft(V, dim=-1).real
    half = (n + 1) // 2
    x = torch.empty_like(v)
    x[..., ::2] = v[..., :half]
    x[..., 1::2] = v[..., half:].flip(-1)
    return x.movedim(-1, dim)


def dctn(x: Tensor) -> Tensor:
    """Orthonormal 2-D DCT-II over the last two dims (``scipy.fft.dctn(x, axes=(-2, -1))``)."""
    return dct(dct(x, -1), -2)


def idctn(y: Tensor) -> Tensor:
    """Inverse of :func:`dctn`."""
    return idct(idct(y, -2), -1)


def laplacian_symbol(
    h: int, w: int, boundary: str, *, device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Eigenvalues of ``grad^T grad`` in the transform domain of the u-solve.

    Args:
        h: Image height.
        w: Image width.
        boundary: ``"periodic"`` (``rfft2`` layout, shape ``(h, w//2 + 1)``) or ``"neumann"``
            (``dctn`` layout, shape ``(h, w)``).
        device: Device of the result.
        dtype: Real dtype of the result.

    Returns:
        Tensor of non-negative eigenvalues.
    """
    if boundary == "periodic":
        ky = torch.fft.fftfreq(h, device=device, dtype=dtype)  # l / H
        kx = torch.fft.rfftfreq(w, device=device, dtype=dtype)  # k / W
        # gelr-math §3: symbol 4 - 2cos(2 pi k / W) - 2cos(2 pi l / H)
        return (2 - 2 * torch.cos(2 * math.pi * ky))[:, None] + (
            2 - 2 * torch.cos(2 * math.pi * kx)
        )[None, :]
    if boundary == "neumann":
        ly = torch.arange(h, device=device, dtype=dtype) / h
        lx = torch.arange(w, device=device, dtype=dtype) / w
        # gelr-math §5: symbol 2 - 2cos(pi k / W) + 2 - 2cos(pi l / H)
        return (2 - 2 * torch.cos(math.pi * ly))[:, None] + (2 - 2 * torch.cos(math.pi * lx))[
            None, :
        ]
    raise ValueError(
        f"rpaf.gelr.fft_solve: boundary={boundary!r} is not one of {BOUNDARIES}; zero "
        "boundaries need a sparse solve (gelr-math §5)."
    )


def solve_identity_plus_laplacian(
    rhs: Tensor, weight: float, rho: float, boundary: str = "periodic"
) -> Tensor:
    """Solve ``(weight * I + rho * grad^T grad) u = rhs`` exactly (paper eq. 31-32, corrected).

    ``grad`` is :func:`rpaf.gelr.ops.grad` with the same ``boundary``. In the GELR u-step,
    ``weight = 2 * data_weight`` (1 for the default data term ``1/2 ||g - u - T||^2``,
    gelr-math §3) and ``rho = rho1 + rho2``.

    Args:
        rhs: Tensor ``(..., H, W)``.
        weight: Positive weight of the identity (the zero frequency is singular otherwise).
        rho: Non-negative weight of the Laplacian.
        boundary: ``"periodic"`` (FFT) or ``"neumann"`` (DCT-II).

    Returns:
        ``u`` like ``rhs``.
    """
    if not weight > 0:
        raise ValueError(
            f"rpaf.gelr.fft_solve: weight={weight} must be > 0 (set data_weight > 0)"
        )
    if rho < 0:
        raise ValueError(f"rpaf.gelr.fft_solve: rho={rho} must be >= 0")
    h, w = rhs.shape[-2], rhs.shape[-1]
    real = rhs.dtype if rhs.dtype in (torch.float32, torch.float64) else torch.float32
    x = rhs.to(real)
    denom = weight + rho * laplacian_symbol(h, w, boundary, device=rhs.device, dtype=real)
    if boundary == "periodic":
        u = torch.fft.irfft2(torch.fft.rfft2(x) / denom, s=(h, w))
    else:
        u = idctn(dctn(x) / denom)
    return u.to(rhs.dtype)
