"""Finite-difference operators and linear solvers shared by the variational baselines.

Conventions: images are numpy arrays (H, W) or (H, W, C); ``dx`` differentiates along W (axis 1),
``dy`` along H (axis 0), forward differences.

* ``neumann`` differences: the last difference along an axis is zero (no wrap-around). Their
  normal matrix ``DᵀD`` is diagonalised by the orthonormal DCT-II with eigenvalues
  ``2 - 2 cos(pi k / N)``. This is exactly what an FFT of the symmetric (mirror) extension of the
  image computes, at a quarter of the cost, so the FFT never wraps one border onto the other.
* ``periodic`` differences: the last difference wraps around to the first sample. Diagonalised by
  the FFT with eigenvalues ``2 - 2 cos(2 pi k / N)``. This is what the original L0 code uses
  (``psf2otf``); it leaks one border into the other.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.sparse as sp
from scipy.sparse.linalg import splu

BOUNDARIES = ("neumann", "periodic")


def check_boundary(boundary: str, who: str) -> None:
    """Raise a clear error for an unknown boundary name."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"{who}: boundary={boundary!r} is not one of {BOUNDARIES}")


def dx(u: np.ndarray, boundary: str = "neumann") -> np.ndarray:
    """Forward difference along W (axis 1); same shape as ``u``."""
    if boundary == "periodic":
        return np.roll(u, -1, axis=1) - u
    out = np.zeros_like(u)
    out[:, :-1] = u[:, 1:] - u[:, :-1]
    return out


def dy(u: np.ndarray, boundary: str = "neumann") -> np.ndarray:
    """Forward difference along H (axis 0); same shape as ``u``."""
    if boundary == "periodic":
        return np.roll(u, -1, axis=0) - u
    out = np.zeros_like(u)
    out[:-1] = u[1:] - u[:-1]
    return out


def dx_t(p: np.ndarray, boundary: str = "neumann") -> np.ndarray:
    """Adjoint of :func:`dx` (``<dx u, p> = <u, dx_t p>``)."""
    if boundary == "periodic":
        return np.roll(p, 1, axis=1) - p
    out = np.zeros_like(p)
    out[:, :-1] -= p[:, :-1]
    out[:, 1:] += p[:, :-1]
    return out


def dy_t(p: np.ndarray, boundary: str = "neumann") -> np.ndarray:
    """Adjoint of :func:`dy`."""
    if boundary == "periodic":
        return np.roll(p, 1, axis=0) - p
    out = np.zeros_like(p)
    out[:-1] -= p[:-1]
    out[1:] += p[:-1]
    return out


def laplacian_eigenvalues(h: int, w: int, boundary: str = "neumann") -> np.ndarray:
    """Eigenvalues (H, W) of ``dxᵀdx + dyᵀdy`` in the DCT-II (neumann) or FFT (periodic) basis."""
    if boundary == "periodic":
        ky = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(h) / h)
        kx = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(w) / w)
    else:
        ky = 2.0 - 2.0 * np.cos(np.pi * np.arange(h) / h)
        kx = 2.0 - 2.0 * np.cos(np.pi * np.arange(w) / w)
    return ky[:, None] + kx[None, :]


def solve_screened_poisson(
    rhs: np.ndarray, beta: float, boundary: str = "neumann", eig: np.ndarray | None = None
) -> np.ndarray:
    """Solve ``(I + beta (dxᵀdx + dyᵀdy)) s = rhs`` channel by channel.

    Args:
        rhs: array (H, W) or (H, W, C).
        beta: non-negative weight of the Laplacian term.
        boundary: ``"neumann"`` (DCT-II, no wrap-around) or ``"periodic"`` (FFT).
        eig: optional precomputed :func:`laplacian_eigenvalues` for this size.

    Returns:
        ``s`` with the shape of ``rhs``.
    """
    h, w = rhs.shape[:2]
    if eig is None:
        eig = laplacian_eigenvalues(h, w, boundary)
    denom = 1.0 + beta * eig
    if rhs.ndim == 3:
        denom = denom[:, :, None]
    if boundary == "periodic":
        spec = scipy.fft.fft2(rhs, axes=(0, 1))
        return np.real(scipy.fft.ifft2(spec / denom, axes=(0, 1)))
    spec = scipy.fft.dctn(rhs, type=2, axes=(0, 1), norm="ortho")
    return scipy.fft.idctn(spec / denom, type=2, axes=(0, 1), norm="ortho")


def _diff_matrix(n: int) -> sp.csr_matrix:
    """(n-1) x n forward-difference matrix (no boundary row)."""
    return sp.diags([-np.ones(n - 1), np.ones(n - 1)], [0, 1], shape=(n - 1, n), format="csr")


def weighted_laplacian(wx: np.ndarray, wy: np.ndarray) -> sp.csc_matrix:
    """Sparse ``Dxᵀ diag(wx) Dx + Dyᵀ diag(wy) Dy`` for row-major raveled (H, W) images.

    Args:
        wx: (H, W-1) non-negative weights of the horizontal differences ``u[:, j+1] - u[:, j]``.
        wy: (H-1, W) non-negative weights of the vertical differences ``u[i+1, :] - u[i, :]``.

    Returns:
        Symmetric positive semi-definite (H*W) x (H*W) CSC matrix (Neumann boundaries: no
        difference crosses the image border).
    """
    h = wy.shape[0] + 1
    w = wx.shape[1] + 1
    d_x = sp.kron(sp.identity(h, format="csr"), _diff_matrix(w), format="csr")  # rows i*(W-1)+j
    d_y = sp.kron(_diff_matrix(h), sp.identity(w, format="csr"), format="csr")  # rows i*W+j
    lap = d_x.T @ sp.diags(wx.ravel()) @ d_x + d_y.T @ sp.diags(wy.ravel()) @ d_y
    return lap.tocsc()


def solve_weighted_smoothing(
    data: np.ndarray, wx: np.ndarray, wy: np.ndarray, lam: float = 1.0
) -> np.ndarray:
    """Solve ``(I + lam * L) s = data`` for every channel with one sparse LU factorisation.

    ``L`` is :func:`weighted_laplacian` (``wx``, ``wy``); this is the normal equation of
    ``||s - data||² + lam * sum(wx (dx s)² + wy (dy s)²)``, the linear system of both WLS
    (Farbman et al. 2008, eq. 2-3) and one RTV iteration (Xu et al. 2012, eq. 9).

    Args:
        data: (H, W, C) right-hand side.
        wx: (H, W-1) weights; wy: (H-1, W) weights.
        lam: global weight of the smoothness term.

    Returns:
        (H, W, C) solution.
    """
    h, w, c = data.shape
    a = sp.identity(h * w, format="csc") + lam * weighted_laplacian(wx, wy)
    # Symmetric positive definite 5-point matrix: the symmetric minimum-degree ordering keeps the
    # fill-in small; one factorisation serves all channels.
    lu = splu(a, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    sol = lu.solve(np.ascontiguousarray(data.reshape(h * w, c)))
    return sol.reshape(h, w, c)
