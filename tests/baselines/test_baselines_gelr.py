"""The standalone GELR solver wrapper (needs the ground truth)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rpaf.baselines import GELRSolver

solver = pytest.importorskip("rpaf.gelr.solver", reason="rpaf.gelr.solver is not there yet")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny images gain nothing from intra-op threads, and on a busy machine the per-op thread
    hand-off dominates (kornia's bilateral tap loop ran 50x slower with 2 threads under load);
    conftest's ``_reset_torch_state`` restores the thread count afterwards."""
    torch.set_num_threads(1)


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(1, 3, 16, 18)
    x[..., 8:] = 0.6
    x = x + 0.2
    g = (x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    return g, x


def test_declares_that_it_needs_the_target() -> None:
    assert GELRSolver.needs_target is True
    assert GELRSolver().name == "gelr"


def test_missing_target_raises() -> None:
    g, _ = _pair()
    with pytest.raises(ValueError, match="ground truth"):
        GELRSolver(iters=2)(g)


def test_target_shape_mismatch_raises() -> None:
    g, x = _pair()
    with pytest.raises(ValueError, match="target shape"):
        GELRSolver(iters=2)(g, x[..., :-1])


def test_wrapper_equals_direct_solver_call_and_keeps_inputs() -> None:
    g, x = _pair()
    arr = g.numpy().astype(np.float64)
    g64 = torch.from_numpy(arr)  # shares memory with arr: the in-place trap
    keep_g, keep_x = arr.copy(), x.clone()
    method = GELRSolver(iters=6, theta=0.1, fidelity="fixed")
    out = method(g64, x)
    np.testing.assert_array_equal(arr, keep_g)
    assert torch.equal(x, keep_x)
    assert out.shape == g.shape
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 1.0
    want, _ = solver.gelr_admm(
        g64.clone(),
        x.clone(),
        alpha=0.4,
        beta=0.6,
        rho1=1.0,
        rho2=1.0,
        theta=0.1,
        iters=6,
        boundary="periodic",
        fidelity="fixed",
        d_threshold="corrected",
        track_energy=False,
    )
    torch.testing.assert_close(out, want.float().clamp(0, 1), atol=1e-6, rtol=0)


def test_solver_defaults_are_not_duplicated() -> None:
    kwargs = GELRSolver()._kwargs()
    assert "theta" not in kwargs
    assert "iters" not in kwargs
    assert GELRSolver(solver_kwargs={"tnn": "exact"})._kwargs()["tnn"] == "exact"
