"""Tests of rpaf.gelr.ops: differences/adjoints, shrink, truncated-nuclear-norm prox, robustness."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from rpaf.gelr import ops

# --------------------------------------------------------------------------------------------
# grad / grad_adjoint
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", ["periodic", "neumann"])
@pytest.mark.parametrize("shape", [(2, 3, 7, 5), (1, 1, 1, 4), (1, 2, 6, 1), (3, 9, 8)])
def test_grad_adjointness(boundary: str, shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(shape, generator=gen, dtype=torch.float64)
    p = torch.randn((*shape[:-2], 2, *shape[-2:]), generator=gen, dtype=torch.float64)
    lhs = (ops.grad(u, boundary) * p).sum()
    rhs = (u * ops.grad_adjoint(p, boundary)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_grad_adjoint_matrix_is_transpose() -> None:
    """Build both operators as dense matrices and compare against the transpose."""
    h, w = 4, 3
    for boundary in ops.BOUNDARIES:
        eye = torch.eye(h * w, dtype=torch.float64).reshape(h * w, h, w)
        G = ops.grad(eye, boundary).reshape(h * w, -1).T  # (2hw, hw)
        eye2 = torch.eye(2 * h * w, dtype=torch.float64).reshape(2 * h * w, 2, h, w)
        Gt = ops.grad_adjoint(eye2, boundary).reshape(2 * h * w, -1).T  # (hw, 2hw)
        assert torch.equal(G.T, Gt)


def test_grad_values_and_directions() -> None:
    u = torch.arange(12.0).reshape(1, 1, 3, 4)  # u[i, j] = 4 i + j
    gp = ops.grad(u, "periodic")
    assert gp.shape == (1, 1, 2, 3, 4)
    assert torch.equal(gp[0, 0, 0, :, :3], torch.ones(3, 3))  # along W
    assert torch.equal(gp[0, 0, 0, :, 3], torch.full((3,), -3.0))  # wrap-around
    assert torch.equal(gp[0, 0, 1, :2], torch.full((2, 4), 4.0))  # along H
    assert torch.equal(gp[0, 0, 1, 2], torch.full((4,), -8.0))
    gn = ops.grad(u, "neumann")
    assert torch.equal(gn[0, 0, 0, :, :3], torch.diff(u, dim=-1)[0, 0])
    assert torch.equal(gn[0, 0, 0, :, 3], torch.zeros(3))
    assert torch.equal(gn[0, 0, 1, 2], torch.zeros(4))


def test_grad_rejects_unknown_boundary() -> None:
    with pytest.raises(ValueError, match="boundary='zero'"):
        ops.grad(torch.zeros(1, 1, 4, 4), "zero")


# --------------------------------------------------------------------------------------------
# shrink
# --------------------------------------------------------------------------------------------


def test_shrink_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(scale=2.0, size=40)
    tau = 0.7
    grid = np.linspace(-8, 8, 160001)
    brute = np.array([grid[np.argmin(tau * np.abs(grid) + 0.5 * (grid - vi) ** 2)] for vi in v])
    got = ops.shrink(torch.from_numpy(v), tau).numpy()
    np.testing.assert_allclose(got, brute, atol=2e-4)


def test_shrink_tensor_tau_and_errors() -> None:
    v = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    tau = torch.tensor([1.0, 1.0, 1.0, 0.25, 0.0])
    assert torch.equal(ops.shrink(v, tau), torch.tensor([-1.0, 0.0, 0.0, 0.25, 2.0]))
    with pytest.raises(ValueError, match="tau"):
        ops.shrink(v, -1.0)


def test_shrink_multiplier_bound() -> None:
    """d = shrink(v, a/rho1), eta_d = v - d (eq. 41): |eta_d| <= alpha/rho1 (gelr-math §7)."""
    v = torch.randn(2, 3, 2, 16, 16) * 3
    for tau in (0.4, 1.0):
        eta = v - ops.shrink(v, tau)
        assert float(eta.abs().max()) <= tau + 1e-6


# --------------------------------------------------------------------------------------------
# truncated nuclear norm prox
# --------------------------------------------------------------------------------------------


def _np_tnn(t: np.ndarray, r: int) -> float:
    return float(np.linalg.svd(t, compute_uv=False)[r:].sum())


def _objective(t: np.ndarray, w: np.ndarray, tau: float, r: int) -> float:
    return tau * _np_tnn(t, r) + 0.5 * float(((t - w) ** 2).sum())


@pytest.mark.parametrize("r", [0, 1, 2])
def test_tnn_prox_is_global_minimiser_brute_force(r: int) -> None:
    """32 random starts of a (sub)gradient descent never beat the closed form (3x4 matrices).

    The objective is nonconvex; the descent runs on all starts at once (a batch of matrices)
    with autograd through ``svdvals`` and a decaying step, and must land on the closed form.
    """
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead (reset by conftest)
    rng = np.random.default_rng(10 + r)
    w = torch.from_numpy(rng.normal(size=(3, 4)))
    tau = 0.8
    t_star = ops.tnn_prox(w, tau, r, "svd")

    def f(t: torch.Tensor) -> torch.Tensor:
        return tau * torch.linalg.svdvals(t)[..., r:].sum(-1) + 0.5 * ((t - w) ** 2).sum((-2, -1))

    f_star = float(f(t_star))
    z = 1.5 * torch.randn(32, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(r))
    z[0], z[1] = w, 0.0
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.05)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.99)
    for _ in range(800):
        opt.zero_grad()
        f(z).sum().backward()
        opt.step()
        sched.step()
    vals = f(z.detach())
    assert f_star <= float(vals.min()) + 1e-12  # nothing beats the closed form ...
    assert float(vals.min()) - f_star < 1e-5  # ... and the search really got there
    best = z.detach()[int(vals.argmin())]
    assert torch.allclose(best, t_star, atol=1e-3)  # unique minimiser for generic W


@pytest.mark.parametrize("r", [0, 1, 3])
def test_tnn_prox_beats_random_perturbations(r: int) -> None:
    gen = torch.Generator().manual_seed(r)
    w = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    tau = 0.5
    t = ops.tnn_prox(w, tau, r, "gram").numpy()
    f0 = _objective(t, w.numpy(), tau, r)
    rng = np.random.default_rng(r)
    for scale in (1e-4, 1e-2, 1.0):
        for _ in range(200):
            assert _objective(t + scale * rng.normal(size=t.shape), w.numpy(), tau, r) >= f0 - 1e-12


@pytest.mark.parametrize("shape", [(2, 3, 2, 9, 13), (4, 13, 9), (6, 16, 16)])
def test_gram_matches_svd(shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(shape, generator=gen, dtype=torch.float64)
    r = ops.truncation_rank(shape[-2], shape[-1], 0.2)
    for tau in (0.1, 1.0, 3.0):
        a = ops.tnn_prox(w, tau, r, "gram")
        b = ops.tnn_prox(w, tau, r, "svd")
        assert a.shape == w.shape
        assert a.dtype == w.dtype
        assert torch.allclose(a, b, atol=1e-10)
        a32 = ops.tnn_prox(w.float(), tau, r, "gram")
        assert a32.dtype == torch.float32
        assert float((a32.double() - b).norm() / b.norm()) < 5e-3


def test_tnn_prox_closed_form_structure() -> None:
    """Top-r singular values kept, the rest soft-thresholded, singular vectors unchanged."""
    gen = torch.Generator().manual_seed(4)
    U, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=torch.float64))
    s = torch.tensor([5.0, 3.0, 1.5, 0.7, 0.2], dtype=torch.float64)
    w = U[:, :5] @ torch.diag(s) @ V.T
    t = ops.tnn_prox(w, 1.0, 2, "gram")
    expected = torch.tensor([5.0, 3.0, 0.5, 0.0, 0.0], dtype=torch.float64)
    assert torch.allclose(torch.linalg.svdvals(t), expected, atol=1e-10)
    assert torch.allclose(t, U[:, :5] @ torch.diag(expected) @ V.T, atol=1e-10)


def test_tnn_prox_identities() -> None:
    w = torch.randn(3, 5, 4)
    assert torch.equal(ops.tnn_prox(w, 0.0, 1), w)  # tau = 0
    assert torch.equal(ops.tnn_prox(w, 2.0, 4), w)  # r >= min(H, W): nothing penalised
    # r = 0 is plain singular value thresholding (eq. 9)
    U, S, Vh = torch.linalg.svd(w.double(), full_matrices=False)
    svt_ref = (U * (S - 0.5).clamp_min(0).unsqueeze(-2)) @ Vh
    assert torch.allclose(ops.svt(w.double(), 0.5), svt_ref, atol=1e-10)


def test_eta_t_spectral_norm_bound() -> None:
    """eta_t = W - prox(W) has spectral norm <= beta/rho2 for the exact prox (gelr-math §7)."""
    w = torch.randn(2, 3, 2, 24, 20, dtype=torch.float64) * 2
    tau = 0.6
    r = ops.truncation_rank(24, 20, 0.1)
    for method in ops.PROX_METHODS:
        eta = w - ops.tnn_prox(w, tau, r, method)
        assert float(torch.linalg.matrix_norm(eta, ord=2).max()) <= tau + 1e-9


def test_tnn_matches_numpy() -> None:
    w = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    got = ops.tnn(w, 2)
    assert got.shape == (2, 3)
    ref = np.array([[_np_tnn(m, 2) for m in row] for row in w.numpy()])
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10)


def test_truncation_rank() -> None:
    assert ops.truncation_rank(512, 512, 0.05) == 25
    assert ops.truncation_rank(10, 40, 0.3) == 3  # 0.3 * 10 = 2.9999999999999996 in floats
    assert ops.truncation_rank(32, 64, 0.0) == 0
    assert ops.truncation_rank(32, 64, 1.0) == 32
    with pytest.raises(ValueError, match="theta"):
        ops.truncation_rank(8, 8, 1.5)


# --------------------------------------------------------------------------------------------
# Hu et al. step
# --------------------------------------------------------------------------------------------


def test_top_singular_vectors() -> None:
    t = torch.randn(3, 7, 5, dtype=torch.float64)
    A, B = ops.top_singular_vectors(t, 2)
    assert A.shape == (3, 2, 7)
    assert B.shape == (3, 2, 5)
    trace = torch.einsum("bij,bjk,bik->b", A, t, B)  # Tr(A t B^T)
    assert torch.allclose(trace, torch.linalg.svdvals(t)[:, :2].sum(-1), atol=1e-10)
    A0, B0 = ops.top_singular_vectors(torch.zeros(2, 4, 4), 1)
    assert torch.equal(A0, torch.zeros(2, 1, 4))
    assert torch.equal(B0, torch.zeros(2, 1, 4))


def test_hu_step_solves_its_convex_subproblem() -> None:
    """t = SVT(W + tau A^T B) minimises tau(||t||_* - Tr(A t B^T)) + 1/2||t - W||^2."""
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    prev = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    A, B = ops.top_singular_vectors(prev, 1)
    tau = 0.7
    t = ops.hu_step(w, tau, A, B)
    an, bn, wn = A.numpy(), B.numpy(), w.numpy()

    def f(z: np.ndarray) -> float:
        return tau * (_np_tnn(z, 0) - float(np.trace(an @ z @ bn.T))) + 0.5 * ((z - wn) ** 2).sum()

    f0 = f(t.numpy())
    rng = np.random.default_rng(0)
    for scale in (1e-4, 1e-2, 1.0):
        for _ in range(200):
            assert f(t.numpy() + scale * rng.normal(size=(5, 4))) >= f0 - 1e-12
    assert torch.allclose(ops.hu_step(w, tau, None, None), ops.svt(w, tau))
    with pytest.raises(ValueError, match="both A and B"):
        ops.hu_step(w, tau, A, None)


# --------------------------------------------------------------------------------------------
# Robustness
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["gram", "svd"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_tnn_prox_robust_inputs(method: str, dtype: torch.dtype) -> None:
    ones = torch.ones(6, 8, dtype=torch.float64)
    rank1 = torch.outer(torch.arange(6.0), torch.arange(8.0)).double()
    rank2 = rank1 + torch.outer(torch.ones(6), torch.linspace(-1, 1, 8)).double()
    big = 1e30 if dtype != torch.float16 else 1e3  # float16 max is 65504
    small = 1e-30 if dtype != torch.float16 else 1e-4
    cases = [torch.zeros(6, 8), ones * 0.37, rank1, rank2, ones * small, rank2 * big,
             rank2 * small, -ones * big]
    w = torch.stack([c.double() for c in cases]).to(dtype)
    for r in (0, 1, 3):
        tau = 0.5 * float(w.double().abs().amax()) * 1e-3 if r else 0.3
        out = ops.tnn_prox(w, tau, r, method)
        assert out.dtype == dtype
        assert out.shape == w.shape
        assert bool(torch.isfinite(out).all())
        assert torch.equal(out[0], torch.zeros_like(out[0]))
    # constant matrix c*1: rank one with sigma_1 = c*sqrt(m n)
    c = 0.37
    sig = c * np.sqrt(48)
    got = ops.tnn_prox(ones * c, 0.5, 0, method)
    assert torch.allclose(got, ones * c * (1 - 0.5 / sig), atol=1e-9)
    assert torch.allclose(ops.tnn_prox(ones * c, 0.5, 1, method), ones * c, atol=1e-9)


def test_prox_compute_dtype_rule() -> None:
    """float64 input stays float64; the Gram path decomposes in float64 on CUDA only."""
    rule = ops.prox_compute_dtype
    for dev in ("cpu", "cuda"):
        for method in ops.PROX_METHODS:
            assert rule(torch.float64, dev, method) == torch.float64
    assert rule(torch.float32, "cpu", "gram") == torch.float32
    assert rule(torch.float16, "cpu", "gram") == torch.float32
    assert rule(torch.float32, "cpu", "svd") == torch.float32
    assert rule(torch.float32, "cuda", "svd") == torch.float32
    assert rule(torch.float32, torch.device("cuda", 0), "gram") == torch.float64
    assert rule(torch.bfloat16, "cuda:0", "gram") == torch.float64


def test_tnn_prox_explicit_compute_dtype_overrides_the_rule(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The decomposition's own input dtype is recorded: on matrices this small the float32
    # error is already below the float64 bound, so accuracy alone could not tell them apart.
    seen: list[torch.dtype] = []
    eigh = torch.linalg.eigh

    def recording_eigh(a: torch.Tensor, *args: object, **kwargs: object):  # noqa: ANN202
        seen.append(a.dtype)
        return eigh(a, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "eigh", recording_eigh)
    w = torch.randn(2, 12, 9, generator=torch.Generator().manual_seed(3))
    ref = ops.tnn_prox(w.double(), 0.4, 1, "svd")
    got64 = ops.tnn_prox(w, 0.4, 1, "gram", compute_dtype=torch.float64)
    got32 = ops.tnn_prox(w, 0.4, 1, "gram")
    assert seen == [torch.float64, torch.float32]
    assert got64.dtype == got32.dtype == torch.float32
    err64 = float((got64.double() - ref).norm() / ref.norm())
    err32 = float((got32.double() - ref).norm() / ref.norm())
    assert err64 < 1e-6  # float32 rounding of the result only
    assert err32 < 5e-3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tnn_prox_cuda_gram_is_float64_accurate() -> None:
    """On CUDA the Gram path decomposes in float64: float32 in and out, float64 accuracy."""
    gen = torch.Generator().manual_seed(0)
    w = (torch.randn(6, 96, 8, generator=gen) @ torch.randn(6, 8, 80, generator=gen)
         + 0.05 * torch.randn(6, 96, 80, generator=gen))
    r = ops.truncation_rank(96, 80, ops.DEFAULT_THETA)
    ref = ops.tnn_prox(w.double(), 0.6, r, "svd")
    got = ops.tnn_prox(w.cuda(), 0.6, r, "gram")
    assert got.device.type == "cuda"
    assert got.dtype == torch.float32
    assert float((got.cpu().double() - ref).norm() / ref.norm()) < 1e-6


def test_tnn_prox_huge_and_tiny_are_scaled_exactly() -> None:
    w = torch.randn(3, 6, 5, dtype=torch.float64)
    ref = ops.tnn_prox(w, 0.4, 1, "svd")
    for s in (1e-30, 1e30):
        got = ops.tnn_prox(w * s, 0.4 * s, 1, "gram")
        assert torch.allclose(got / s, ref, atol=1e-9)
        got32 = ops.tnn_prox((w * s).float(), 0.4 * s, 1, "gram")
        assert bool(torch.isfinite(got32).all())
        assert float(((got32.double() / s) - ref).norm() / ref.norm()) < 5e-3


def test_fallback_on_failed_decomposition(monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    w = torch.randn(4, 7, 6)
    ref = ops.tnn_prox(w.double(), 0.5, 1, "svd")

    def broken(*args: object, **kwargs: object) -> None:
        raise torch.linalg.LinAlgError("synthetic failure")

    monkeypatch.setattr(torch.linalg, "eigh", broken)
    before = ops.PROX_STATS.fallbacks
    with caplog.at_level(logging.WARNING, logger="rpaf.gelr.ops"):
        out = ops.tnn_prox(w, 0.5, 1, "gram")
    assert ops.PROX_STATS.fallbacks == before + 4
    assert "fallback" in caplog.text
    assert torch.allclose(out.double(), ref, atol=1e-5)


def test_fallback_on_nonfinite_result(monkeypatch: pytest.MonkeyPatch) -> None:
    real_eigh = torch.linalg.eigh

    def nan_eigh(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lam, vec = real_eigh(a)
        vec = vec.clone()
        vec[1] = float("nan")  # only the second matrix goes bad
        return lam, vec

    monkeypatch.setattr(torch.linalg, "eigh", nan_eigh)
    w = torch.randn(3, 5, 5, dtype=torch.float64)
    before = ops.PROX_STATS.fallbacks
    out = ops.tnn_prox(w, 0.3, 1, "gram")
    assert ops.PROX_STATS.fallbacks == before + 1
    monkeypatch.undo()
    assert torch.allclose(out, ops.tnn_prox(w, 0.3, 1, "svd"), atol=1e-10)


def test_nonfinite_input_never_raises() -> None:
    w = torch.randn(3, 4, 4)
    w[1, 0, 0] = float("nan")
    w[2, 1, 1] = float("inf")
    before = ops.PROX_STATS.failures
    out = ops.tnn_prox(w, 0.3, 1, "gram")
    assert ops.PROX_STATS.failures == before + 2
    assert bool(torch.isfinite(out[0]).all())
    assert torch.allclose(out[0], ops.tnn_prox(w[:1], 0.3, 1, "svd")[0], atol=1e-4)
    assert torch.isnan(out[1, 0, 0])  # returned unchanged: the caller's bug stays visible


def test_tnn_prox_argument_errors() -> None:
    w = torch.zeros(2, 3, 3)
    with pytest.raises(ValueError, match="method='qr'"):
        ops.tnn_prox(w, 0.1, 1, "qr")
    with pytest.raises(ValueError, match="tau"):
        ops.tnn_prox(w, -0.1, 1)
    with pytest.raises(ValueError, match="r must be"):
        ops.tnn_prox(w, 0.1, -1)
