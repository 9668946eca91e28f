"""The baselines' maths against brute force (dense matrices, explicit loops) or closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kornia.filters import gaussian_blur2d, spatial_gradient

from rpaf.baselines import RollingGuidanceFilter
from rpaf.baselines._linalg import (
    dx,
    dx_t,
    dy,
    dy_t,
    solve_screened_poisson,
    solve_weighted_smoothing,
    weighted_laplacian,
)
from rpaf.baselines.bilateral_texture import mrtv, patch_shift_guide
from rpaf.baselines.l0 import l0_smooth
from rpaf.baselines.rtv import rtv_energy, rtv_smooth, rtv_weights, window_operator
from rpaf.baselines.wls import _solve_rows, wls_filter

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny images gain nothing from intra-op threads, and on a busy machine the per-op thread
    hand-off dominates (kornia's bilateral tap loop ran 50x slower with 2 threads under load);
    conftest's ``_reset_torch_state`` restores the thread count afterwards."""
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------- dense references
def _dense_diff(h: int, w: int, axis: int, boundary: str) -> np.ndarray:
    """Explicit forward-difference matrix on row-major raveled (h, w) images."""
    n = h * w
    mat = np.zeros((n, n))
    for i in range(h):
        for j in range(w):
            p = i * w + j
            ni, nj = (i, j + 1) if axis == 1 else (i + 1, j)
            if ni < h and nj < w:
                mat[p, ni * w + nj] += 1.0
                mat[p, p] -= 1.0
            elif boundary == "periodic":
                mat[p, (ni % h) * w + (nj % w)] += 1.0
                mat[p, p] -= 1.0
    return mat


def _dense_weighted_laplacian(wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
    h, w = wy.shape[0] + 1, wx.shape[1] + 1
    lap = np.zeros((h * w, h * w))
    for i in range(h):
        for j in range(w):
            p = i * w + j
            if j + 1 < w:
                q, a = p + 1, wx[i, j]
                lap[[p, q], [p, q]] += a
                lap[p, q] -= a
                lap[q, p] -= a
            if i + 1 < h:
                q, a = p + w, wy[i, j]
                lap[[p, q], [p, q]] += a
                lap[p, q] -= a
                lap[q, p] -= a
    return lap


# ------------------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("boundary", ["neumann", "periodic"])
def test_differences_match_dense_and_adjoints(boundary: str) -> None:
    h, w = 5, 7
    u = RNG.random((h, w))
    p = RNG.random((h, w))
    mx = _dense_diff(h, w, 1, boundary)
    my = _dense_diff(h, w, 0, boundary)
    np.testing.assert_allclose(dx(u, boundary).ravel(), mx @ u.ravel(), atol=1e-12)
    np.testing.assert_allclose(dy(u, boundary).ravel(), my @ u.ravel(), atol=1e-12)
    np.testing.assert_allclose(dx_t(p, boundary).ravel(), mx.T @ p.ravel(), atol=1e-12)
    np.testing.assert_allclose(dy_t(p, boundary).ravel(), my.T @ p.ravel(), atol=1e-12)


@pytest.mark.parametrize("boundary", ["neumann", "periodic"])
@pytest.mark.parametrize("shape", [(6, 5), (7, 9, 3)])
def test_screened_poisson_matches_dense_solve(boundary: str, shape: tuple[int, ...]) -> None:
    """L0's S-step (Xu et al. 2011 eq. 8): the DCT/FFT solve equals the dense linear solve."""
    h, w = shape[:2]
    beta = 3.7
    mx = _dense_diff(h, w, 1, boundary)
    my = _dense_diff(h, w, 0, boundary)
    a = np.eye(h * w) + beta * (mx.T @ mx + my.T @ my)
    rhs = RNG.random(shape)
    got = solve_screened_poisson(rhs, beta, boundary)
    flat = rhs.reshape(h * w, -1)
    want = np.linalg.solve(a, flat).reshape(shape)
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_weighted_laplacian_matches_dense() -> None:
    wx = RNG.random((4, 5))
    wy = RNG.random((3, 6))
    np.testing.assert_allclose(
        weighted_laplacian(wx, wy).toarray(), _dense_weighted_laplacian(wx, wy), atol=1e-12
    )


def test_weighted_smoothing_solve_matches_dense() -> None:
    wx, wy = RNG.random((5, 6)) * 10, RNG.random((4, 7)) * 10
    data = RNG.random((5, 7, 3))
    a = np.eye(35) + 0.3 * _dense_weighted_laplacian(wx, wy)
    want = np.linalg.solve(a, data.reshape(35, 3)).reshape(5, 7, 3)
    np.testing.assert_allclose(solve_weighted_smoothing(data, wx, wy, 0.3), want, atol=1e-10)


# ------------------------------------------------------------------------------------------- L0
def test_l0_flattens_small_gradients_to_the_mean_image() -> None:
    """Closed form: when every gradient is below the first threshold (|grad|^2 <= lam / (2 lam)
    = 1/2), all are zeroed and the S-steps converge to the per-channel mean."""
    img = 0.45 + 0.1 * RNG.random((12, 9, 3))
    out = l0_smooth(img, lam=1.0)
    np.testing.assert_allclose(out, np.broadcast_to(img.mean(axis=(0, 1)), img.shape), atol=1e-4)


def test_l0_output_is_piecewise_constant_on_a_noisy_step() -> None:
    img = np.full((16, 20, 3), 0.2)
    img[:, 10:] = 0.8
    noisy = img + 0.02 * RNG.standard_normal(img.shape)
    out = l0_smooth(noisy, lam=0.02)
    grad_mag = np.abs(np.diff(out, axis=1)).sum(axis=2)
    assert (grad_mag[:, 9] > 1.7).all()  # the step (3 x 0.6) is kept in every row
    grad_mag[:, 9] = 0.0
    assert grad_mag.max() < 0.05  # the noise (std 0.02 per channel) is gone
    np.testing.assert_allclose(out, img, atol=0.02)


# ------------------------------------------------------------------------------------------ WLS
def test_wls_matches_dense_formula() -> None:
    """Farbman et al. 2008 eq. 3-4 built explicitly from the log-luminance guide."""
    img = RNG.random((6, 5, 3)) * 0.9 + 0.05
    lam, alpha, eps = 0.7, 1.2, 1e-4
    ell = np.log(img @ np.array([0.299, 0.587, 0.114]) + 1e-4)
    ax = 1.0 / (np.abs(ell[:, 1:] - ell[:, :-1]) ** alpha + eps)
    ay = 1.0 / (np.abs(ell[1:] - ell[:-1]) ** alpha + eps)
    a = np.eye(30) + lam * _dense_weighted_laplacian(ax, ay)
    want = np.linalg.solve(a, img.reshape(30, 3)).reshape(6, 5, 3)
    np.testing.assert_allclose(wls_filter(img, lam, alpha, eps), want, atol=1e-8)


def test_fgs_row_solver_matches_dense() -> None:
    f = RNG.random((4, 7, 3))
    w = RNG.random((4, 6))
    lam = 2.5
    got = _solve_rows(f, w, lam)
    for i in range(4):
        lap = _dense_weighted_laplacian(w[i : i + 1], np.zeros((0, 7)))
        want = np.linalg.solve(np.eye(7) + lam * lap, f[i])
        np.testing.assert_allclose(got[i], want, atol=1e-10)


# ------------------------------------------------------------------------------------------ RTV
def _window_matrix(h: int, w: int, sigma: float) -> np.ndarray:
    """Explicit g_{p,q} of Xu et al. 2012 eq. 3 (window radius int(3 sigma + 0.5), normalised)."""
    r = int(3.0 * sigma + 0.5)
    ys, xs = np.divmod(np.arange(h * w), w)
    dy_ = ys[:, None] - ys[None, :]
    dx_ = xs[:, None] - xs[None, :]
    k = np.exp(-(dx_**2 + dy_**2) / (2 * sigma**2)) * ((np.abs(dx_) <= r) & (np.abs(dy_) <= r))
    return k / k.sum(axis=1, keepdims=True)


def test_rtv_window_operator_matches_brute_force() -> None:
    h, w, sigma = 7, 9, 1.3
    f = RNG.random((h, w, 2))
    g = _window_matrix(h, w, sigma)
    want = np.einsum("pq,qc->pc", g, f.reshape(h * w, 2)).reshape(h, w, 2)
    np.testing.assert_allclose(window_operator(f, sigma), want, atol=1e-6)
    want_t = np.einsum("qp,qc->pc", g, f.reshape(h * w, 2)).reshape(h, w, 2)
    np.testing.assert_allclose(window_operator(f, sigma, transpose=True), want_t, atol=1e-6)


def test_rtv_weights_satisfy_the_decomposition_identity() -> None:
    """Xu et al. 2012 eq. 6-7: sum_p D_x(p) / (L_x(p) + eps) = sum_q u_{x,q} |(d_x S)_q|."""
    h, w, c, sigma, eps, eps_s = 7, 8, 3, 1.0, 1e-3, 0.02
    s = RNG.random((h, w, c))
    wx, _ = rtv_weights(s, sigma, eps, eps_s)
    grad = np.diff(s, axis=1).reshape(h * (w - 1), c)  # (d_x S)_q on the (h, w-1) grid
    abs_mean = np.abs(grad).mean(axis=1)
    g = _window_matrix(h, w - 1, sigma)
    total = g @ abs_mean  # eq. 2: D_x(p)
    inherent = np.abs(g @ grad).mean(axis=1)  # eq. 4: L_x(p)
    lhs = float((total / (inherent + eps)).sum())
    u_brute = g.T @ (1.0 / (inherent + eps))  # eq. 7: u_{x,q} = sum_p g_{p,q} / (L_x(p) + eps)
    u = wx.ravel() * (abs_mean + eps_s)  # undo w_{x,q} = 1 / (|d_x S| + eps_s)
    np.testing.assert_allclose(u, u_brute, rtol=1e-6)
    assert float((u * abs_mean).sum()) == pytest.approx(lhs, rel=1e-6)


def test_rtv_one_iteration_solves_eq9() -> None:
    """(1 + lam L^0) v_S = v_I with L^0 = C_x^T U_x W_x C_x + C_y^T U_y W_y C_y at S^0 = I."""
    img = RNG.random((6, 7, 3))
    lam = 0.02
    wx, wy = rtv_weights(img, 3.0, 1e-3, 0.02)
    a = np.eye(42) + lam * _dense_weighted_laplacian(wx, wy)
    want = np.linalg.solve(a, img.reshape(42, 3)).reshape(6, 7, 3)
    np.testing.assert_allclose(rtv_smooth(img, lam=lam, n_iter=1), want, atol=1e-9)


def test_rtv_lowers_its_energy() -> None:
    """Each reweighted solve is a majorise-minimise step of eq. 5: the energy goes down."""
    img = np.full((24, 24, 3), 0.3)
    img[:, 12:] = 0.7
    img = img + 0.05 * np.sign(np.sin(np.pi * (np.arange(24)[:, None, None] + 0.5) / 2))
    energies = [rtv_energy(img, img)]
    for n in (1, 2, 4):
        energies.append(rtv_energy(rtv_smooth(img, n_iter=n), img))
    assert all(b < a for a, b in zip(energies, energies[1:], strict=False))


# ------------------------------------------------------------------------------------------ BTF
def _pad(a: np.ndarray, r: int) -> np.ndarray:
    return np.pad(a, ((r, r), (r, r)), mode="reflect")


def test_mrtv_matches_brute_force() -> None:
    """Cho et al. 2014 eq. 4 by explicit loops over every k x k patch."""
    k, r = 3, 1
    img = torch.from_numpy(RNG.random((1, 3, 9, 11)))
    got = mrtv(img, k)[0, 0].numpy()
    mag = spatial_gradient(img, mode="sobel", normalized=True).pow(2).sum(2).sqrt()[0].numpy()
    want = np.zeros((9, 11))
    for c in range(3):
        pi, pm = _pad(img[0, c].numpy(), r), _pad(mag[c], r)
        for i in range(9):
            for j in range(11):
                wi, wm = pi[i : i + k, j : j + k], pm[i : i + k, j : j + k]
                want[i, j] += (wi.max() - wi.min()) * wm.max() / (wm.sum() + 1e-9) / 3
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_patch_shift_guide_matches_brute_force() -> None:
    """Patch shift (Sec. 3.2) + alpha blending (eq. 5-6) by explicit loops."""
    k, r = 3, 1
    img = torch.from_numpy(RNG.random((1, 3, 8, 10)))
    got = patch_shift_guide(img, k)[0].numpy()
    m = _pad(mrtv(img, k)[0, 0].numpy(), r)
    x = img[0].numpy()
    padded = np.stack([_pad(x[c], r) for c in range(3)])
    box = np.zeros_like(x)
    for i in range(8):
        for j in range(10):
            box[:, i, j] = padded[:, i : i + k, j : j + k].mean(axis=(1, 2))
    box_p = np.stack([_pad(box[c], r) for c in range(3)])
    want = np.zeros_like(x)
    for i in range(8):
        for j in range(10):
            win = m[i : i + k, j : j + k]
            qi, qj = np.unravel_index(np.argmin(win), win.shape)
            shifted = box_p[:, i + qi, j + qj]
            alpha = 2 * (1 / (1 + np.exp(-5 * k * (m[i + r, j + r] - win.min()))) - 0.5)
            want[:, i, j] = alpha * shifted + (1 - alpha) * box[:, i, j]
    np.testing.assert_allclose(got, want, atol=1e-10)


# ------------------------------------------------------------------------------------------ RGF
def test_rgf_with_infinite_range_scale_is_a_gaussian() -> None:
    """Closed form: with sigma_r -> inf every joint bilateral step is the same Gaussian of I."""
    x = torch.rand(1, 3, 24, 25, generator=torch.Generator().manual_seed(0))
    got = RollingGuidanceFilter(sigma_s=2.0, sigma_r=1e4, iterations=3)(x)
    want = gaussian_blur2d(x, (13, 13), (2.0, 2.0), border_type="reflect")
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
