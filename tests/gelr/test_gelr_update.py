"""Tests of the Algorithm-2 update (rpaf.gelr.update): subproblem optimality, bounds, identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rpaf.gelr import ops
from rpaf.gelr.state import GELRState, GELRVariables
from rpaf.gelr.update import gelr_energy, gelr_network_step

ALPHA, BETA, RHO1, RHO2 = 0.4, 0.6, 1.0, 1.0


def _images(seed: int, b: int = 2, c: int = 2, h: int = 12, w: int = 10, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=dtype)
    g = (x + 0.3 * torch.rand(b, c, h, w, generator=gen, dtype=dtype)).clamp(0, 1)
    u = (0.5 * g + 0.5 * x + 0.05 * torch.randn(b, c, h, w, generator=gen, dtype=dtype))
    return u, g, x


def _tnn_np(m: np.ndarray, r: int) -> float:
    return float(np.linalg.svd(m, compute_uv=False)[r:].sum())


def _d_objective(d, gu, eta_d, alpha=ALPHA, rho1=RHO1):
    return alpha * d.abs().sum() + rho1 / 2 * ((gu - d + eta_d) ** 2).sum()


def _t_objective(t, err, eta_t, r, beta=BETA, rho2=RHO2):
    mats = t.reshape(-1, t.shape[-2], t.shape[-1]).numpy()
    low_rank = sum(_tnn_np(m, r) for m in mats)
    return beta * low_rank + rho2 / 2 * float(((err - t + eta_t) ** 2).sum())


@pytest.mark.parametrize("boundary", ["periodic", "neumann"])
def test_d_and_t_are_subproblem_minimisers(boundary):
    """d and t minimise their subproblems (eq. 34, 36) better than random perturbations."""
    u, g, x = _images(0)
    theta = 0.2
    r = ops.truncation_rank(u.shape[-2], u.shape[-1], theta)
    assert r >= 1
    prev = gelr_network_step(u, g, x, GELRVariables.zeros_like(u), theta=theta,
                             boundary=boundary, prox_method="svd")
    u2, _, _ = _images(1)
    new = gelr_network_step(u2, g, x, prev, theta=theta, boundary=boundary, prox_method="svd")
    gu = ops.grad(u2, boundary)
    err = gu - ops.grad(x, boundary)
    gen = torch.Generator().manual_seed(3)
    f_d = _d_objective(new.d, gu, prev.eta_d)
    f_t = _t_objective(new.t, err, prev.eta_t, r)
    for scale in (1e-1, 1e-2, 1e-3):
        for _ in range(3):
            pd = scale * torch.randn(new.d.shape, generator=gen, dtype=new.d.dtype)
            pt = scale * torch.randn(new.t.shape, generator=gen, dtype=new.t.dtype)
            assert f_d <= _d_objective(new.d + pd, gu, prev.eta_d) + 1e-12
            assert f_t <= _t_objective(new.t + pt, err, prev.eta_t, r) + 1e-9


def test_multiplier_and_residual_identities():
    """eta_d += grad u - d, eta_t += grad u - grad x - t (eq. 48) and T = g - u (eq. 49)."""
    u, g, x = _images(2)
    prev = gelr_network_step(u, g, x, GELRVariables.zeros_like(u))
    u2, _, _ = _images(5)
    new = gelr_network_step(u2, g, x, prev)
    gu = ops.grad(u2)
    err = gu - ops.grad(x)
    torch.testing.assert_close(new.eta_d, prev.eta_d + gu - new.d)
    torch.testing.assert_close(new.eta_t, prev.eta_t + err - new.t)
    torch.testing.assert_close(new.T, g - u2)


@pytest.mark.parametrize("d_threshold", ["corrected", "paper"])
def test_multiplier_bounds_hold(d_threshold):
    """|eta_d| <= tau_d elementwise and ||eta_t slice||_2 <= beta/rho2 (gelr-math §7)."""
    rho1, rho2 = 2.0, 0.5
    tau_d = (ALPHA if d_threshold == "corrected" else 1.0) / rho1
    v = None
    for k in range(5):
        u, g, x = _images(10 + k, dtype=torch.float32)
        u = u * 3.0  # large gradients: the bounds must be active
        v = GELRVariables.zeros_like(u) if v is None else v
        v = gelr_network_step(u, g, x, v, alpha=ALPHA, beta=BETA, rho1=rho1, rho2=rho2,
                              theta=0.1, d_threshold=d_threshold)
        assert float(v.eta_d.abs().max()) <= tau_d * (1 + 1e-5)
        spec = torch.linalg.matrix_norm(v.eta_t.double(), ord=2)
        assert float(spec.max()) <= BETA / rho2 * (1 + 5e-3)
    # the bound is attained (the test would fail if the threshold were alpha for "paper")
    assert float(v.eta_d.abs().max()) == pytest.approx(tau_d, rel=1e-5)


def test_hu_first_step_is_plain_svt():
    """With t = 0 the Hu step has A^T B = 0: t = SVT_tau(W) (gelr-math §2)."""
    u, g, x = _images(4)
    v0 = GELRVariables.zeros_like(u)
    hu = gelr_network_step(u, g, x, v0, tnn="hu", theta=0.2, prox_method="svd")
    w = ops.grad(u) - ops.grad(x)
    torch.testing.assert_close(hu.t, ops.tnn_prox(w, BETA / RHO2, 0, method="svd"))
    exact = gelr_network_step(u, g, x, v0, tnn="exact", theta=0.2, prox_method="svd")
    assert not torch.allclose(exact.t, hu.t)  # exact keeps the top-r values untouched


def test_paper_tnn_mode_differs_after_first_step():
    u, g, x = _images(6)
    v = gelr_network_step(u, g, x, GELRVariables.zeros_like(u), tnn="paper", theta=0.2)
    v2 = gelr_network_step(u, g, x, v, tnn="paper", theta=0.2)
    e2 = gelr_network_step(u, g, x, v, tnn="hu", theta=0.2)
    assert torch.isfinite(v2.t).all()
    assert not torch.allclose(v2.t, e2.t)


def test_compact_state_reproduces_full_trajectory():
    """Storing (T, v_d, w_t) and decoding gives the same iterates as storing everything."""
    theta = 0.2
    r = ops.truncation_rank(12, 10, theta)
    kw = {"tau_d": ALPHA / RHO1, "tau_t": BETA / RHO2, "rank": r}
    full = GELRState(3, (2, 12, 10), representation="full")
    comp = GELRState(3, (2, 12, 10), representation="compact", **kw)
    idx = torch.tensor([2, 0])
    for k in range(4):
        u, g, x = _images(20 + k, dtype=torch.float32)
        for st in (full, comp):
            v = st.read(idx)
            st.write(idx, gelr_network_step(u, g, x, v, theta=theta))
    a, b = full.read(idx), comp.read(idx)
    for name in GELRVariables.NAMES:
        torch.testing.assert_close(getattr(a, name), getattr(b, name), atol=2e-5, rtol=1e-4)
    # the unvisited sample is still the paper's initialisation
    assert all(float(getattr(comp.read([1]), n).abs().max()) == 0 for n in GELRVariables.NAMES)


def test_float16_storage_stays_close_to_float32():
    st32 = GELRState(2, (2, 12, 10), dtype="float32")
    st16 = GELRState(2, (2, 12, 10), dtype="float16")
    idx = torch.tensor([0, 1])
    for k in range(4):
        u, g, x = _images(30 + k, dtype=torch.float32)
        for st in (st32, st16):
            st.write(idx, gelr_network_step(u, g, x, st.read(idx), theta=0.2))
    a, b = st32.read(idx), st16.read(idx)
    assert b.d.dtype == torch.float32
    for name in GELRVariables.NAMES:
        torch.testing.assert_close(getattr(a, name), getattr(b, name), atol=5e-3, rtol=5e-3)


def test_energy_matches_brute_force():
    u, _, x = _images(7)
    theta = 0.2
    r = ops.truncation_rank(12, 10, theta)
    e = gelr_energy(u, x, alpha=ALPHA, beta=BETA, theta=theta)
    un, xn = u.numpy(), x.numpy()
    for b in range(u.shape[0]):
        l1 = 0.0
        low = 0.0
        for c in range(u.shape[1]):
            dxu = np.roll(un[b, c], -1, axis=1) - un[b, c]
            dyu = np.roll(un[b, c], -1, axis=0) - un[b, c]
            dxx = np.roll(xn[b, c], -1, axis=1) - xn[b, c]
            dyx = np.roll(xn[b, c], -1, axis=0) - xn[b, c]
            l1 += np.abs(dxu).sum() + np.abs(dyu).sum()
            low += _tnn_np(dxu - dxx, r) + _tnn_np(dyu - dyx, r)
        assert float(e[b]) == pytest.approx(ALPHA * l1 + BETA * low, rel=1e-9)


def test_step_follows_input_dtype_and_checks_shapes():
    u, g, x = _images(8, dtype=torch.float64)
    v = gelr_network_step(u, g, x, GELRVariables.zeros_like(u.float()))
    assert v.d.dtype == torch.float64
    u16 = u.to(torch.float16)
    v16 = gelr_network_step(u16, g, x, GELRVariables.zeros_like(u.float()))
    assert v16.d.dtype == torch.float32  # never computes in half precision
    bad = GELRVariables.zeros(2, 2, 8, 8)
    with pytest.raises(ValueError, match="does not belong to this batch"):
        gelr_network_step(u, g, x, bad)
    with pytest.raises(ValueError, match="gelr.tnn"):
        gelr_network_step(u, g, x, GELRVariables.zeros_like(u), tnn="nope")
    with pytest.raises(ValueError, match="gelr.d_threshold"):
        gelr_network_step(u, g, x, GELRVariables.zeros_like(u), d_threshold="nope")


def test_stats_are_primal_residuals():
    u, g, x = _images(9)
    stats: dict = {}
    v = gelr_network_step(u, g, x, GELRVariables.zeros_like(u), stats=stats)
    gu = ops.grad(u)
    assert float(stats["primal_d"]) == pytest.approx(float((gu - v.d).abs().mean()))
    assert float(stats["primal_t"]) == pytest.approx(
        float((gu - ops.grad(x) - v.t).abs().mean())
    )
