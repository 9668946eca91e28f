"""Tests of the FFT/DCT u-solve and the standalone GELR-ADMM (rpaf.gelr.fft_solve, .solver)."""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import torch

from rpaf.gelr import ops
from rpaf.gelr.fft_solve import dct, dctn, idct, idctn, solve_identity_plus_laplacian
from rpaf.gelr.solver import gelr_admm, gelr_energy, load_image, main, save_image

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # small images: threads only add overhead (conftest resets it)


def _pair(h: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A piecewise-constant ground truth x and a textured, noisy input g (1, 3, h, h)."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(h), indexing="ij")
    x = (0.2 + 0.5 * (xx > h // 3) + 0.2 * (yy > 2 * h // 3)).float().expand(1, 3, h, h).clone()
    texture = 0.1 * torch.sin(1.7 * xx) * torch.cos(1.3 * yy)
    g = (x + texture + 0.03 * torch.randn(1, 3, h, h, generator=gen)).clamp(0, 1)
    return g, x


# --------------------------------------------------------------------------------------------
# DCT and the linear solve
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 8, 17])
def test_dct_matches_scipy(n: int) -> None:
    x = torch.randn(3, 4, n, dtype=torch.float64)
    ref = scipy.fft.dct(x.numpy(), type=2, norm="ortho", axis=-1)
    np.testing.assert_allclose(dct(x).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(idct(x).numpy(),
                               scipy.fft.idct(x.numpy(), type=2, norm="ortho", axis=-1),
                               atol=1e-12)
    np.testing.assert_allclose(dct(x, dim=1).numpy(),
                               scipy.fft.dct(x.numpy(), type=2, norm="ortho", axis=1), atol=1e-12)
    assert torch.allclose(idct(dct(x)), x, atol=1e-12)


def test_dctn_matches_scipy_and_float32() -> None:
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    ref = scipy.fft.dctn(x.numpy(), type=2, norm="ortho", axes=(-2, -1))
    np.testing.assert_allclose(dctn(x).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(idctn(torch.from_numpy(ref)).numpy(), x.numpy(), atol=1e-12)
    np.testing.assert_allclose(dctn(x.float()).numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("boundary", ["periodic", "neumann"])
@pytest.mark.parametrize(("h", "w"), [(16, 16), (9, 12), (1, 5)])
def test_u_solve_satisfies_linear_system(boundary: str, h: int, w: int) -> None:
    """(weight I + rho grad^T grad) u = rhs, with grad/grad^T from rpaf.gelr.ops."""
    rhs = torch.randn(2, 3, h, w, dtype=torch.float64)
    for weight, rho in ((1.0, 2.0), (0.3, 7.5), (2.0, 0.0)):
        u = solve_identity_plus_laplacian(rhs, weight, rho, boundary)
        lhs = weight * u + rho * ops.grad_adjoint(ops.grad(u, boundary), boundary)
        assert torch.allclose(lhs, rhs, atol=1e-10)
    u32 = solve_identity_plus_laplacian(rhs.float(), 1.0, 2.0, boundary)
    assert u32.dtype == torch.float32
    lhs = u32 + 2.0 * ops.grad_adjoint(ops.grad(u32, boundary), boundary)
    assert torch.allclose(lhs, rhs.float(), atol=1e-4)


def test_u_solve_rejects_singular_weight() -> None:
    with pytest.raises(ValueError, match="weight"):
        solve_identity_plus_laplacian(torch.zeros(1, 1, 4, 4), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Solver
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", ["periodic", "neumann"])
def test_two_loop_converges_and_lowers_energy(boundary: str) -> None:
    g, x = _pair()
    u, hist = gelr_admm(g, x, fidelity="fixed", tnn="hu", refresh=100, iters=300,
                        boundary=boundary)
    assert u.shape == g.shape
    assert u.dtype == g.dtype
    assert hist["iterations"] == 300
    assert not hist["diverged"]
    assert hist["refreshes"] == [100, 200]
    assert hist["primal_residual"][-1] < 1e-3
    assert hist["dual_residual"][-1] < 1e-3
    e = hist["energy"]
    assert len(e) == 300
    e_init = gelr_energy(g.double(), g.double(), x.double(), alpha=0.4, beta=0.6, r=hist["r"],
                         boundary=boundary)["energy"]
    assert e[-1] < 0.8 * e_init
    # majorise-minimise descent: the energy at the end of each inner loop goes down
    ends = [e[99], e[199], e[299]]
    assert ends[0] >= ends[1] >= ends[2]
    # and the result is a local minimum of the (fixed-data) objective
    gen = torch.Generator().manual_seed(0)
    ud = u.double()
    for _ in range(10):
        pert = ud + 1e-3 * torch.randn(ud.shape, generator=gen, dtype=torch.float64)
        e_p = gelr_energy(pert, g.double(), x.double(), alpha=0.4, beta=0.6, r=hist["r"],
                          boundary=boundary)["energy"]
        assert e_p >= e[-1] - 1e-6


def test_two_loop_converges_where_single_loop_stalls() -> None:
    """gelr-math §6 on a textured synthetic pair (32 px): the two-loop TNNR scheme reaches
    residuals < 1e-3, the exact prox every iteration (single loop) stalls far above."""
    synthetic = pytest.importorskip("rpaf.data.synthetic")
    g_np, x_np = synthetic.make_pair(0, size=32)
    g = torch.from_numpy(g_np.transpose(2, 0, 1).copy())[None]
    x = torch.from_numpy(x_np.transpose(2, 0, 1).copy())[None]
    kw = {"iters": 300, "fidelity": "fixed", "track_energy": False}
    _, two = gelr_admm(g, x, tnn="hu", refresh=100, **kw)
    _, one = gelr_admm(g, x, tnn="exact", **kw)
    assert max(two["primal_residual"][-1], two["dual_residual"][-1]) < 1e-3
    assert one["primal_residual"][-1] > 10 * two["primal_residual"][-1]


def test_tol_stops_early() -> None:
    g, x = _pair(16)
    _, hist = gelr_admm(g, x, fidelity="fixed", iters=500, tol=1e-3, track_energy=False)
    assert hist["iterations"] < 500
    assert hist["primal_residual"][-1] < 1e-3
    assert hist["dual_residual"][-1] < 1e-3
    assert hist["energy"] == []


@pytest.mark.parametrize("d_threshold", ["corrected", "paper"])
def test_multiplier_bounds_after_updates(d_threshold: str) -> None:
    """|eta_d| <= alpha/rho1 (1/rho1 for the paper threshold), ||eta_t||_2 <= beta/rho2."""
    g, x = _pair(24)
    alpha, beta, rho1, rho2 = 0.4, 0.6, 2.0, 1.5
    for iters in (1, 7):
        _, hist = gelr_admm(g, x, alpha=alpha, beta=beta, rho1=rho1, rho2=rho2, tnn="exact",
                            iters=iters, d_threshold=d_threshold, return_state=True,
                            track_energy=False, theta=0.1)
        st = hist["state"]
        bound_d = (alpha if d_threshold == "corrected" else 1.0) / rho1
        assert float(st["eta_d"].abs().max()) <= bound_d + 1e-12
        assert float(torch.linalg.matrix_norm(st["eta_t"], ord=2).max()) <= beta / rho2 + 1e-9


def test_d_threshold_switch() -> None:
    g, x = _pair(16)
    kw = {"iters": 5, "track_energy": False}
    u_c, _ = gelr_admm(g, x, d_threshold="corrected", **kw)
    u_p, _ = gelr_admm(g, x, d_threshold="paper", **kw)
    assert not torch.allclose(u_c, u_p)  # alpha = 0.4 != 1
    u_c1, _ = gelr_admm(g, x, alpha=1.0, d_threshold="corrected", **kw)
    u_p1, _ = gelr_admm(g, x, alpha=1.0, d_threshold="paper", **kw)
    assert torch.equal(u_c1, u_p1)  # the print is the corrected form with alpha = 1


def test_fidelity_switch() -> None:
    g, x = _pair(16)
    kw = {"iters": 60, "track_energy": False, "return_state": True}
    u_prox, h_prox = gelr_admm(g, x, fidelity="prox", **kw)
    u_fix, h_fix = gelr_admm(g, x, fidelity="fixed", **kw)
    assert torch.allclose(h_prox["state"]["T"], (g.double() - u_prox.double()), atol=1e-6)
    assert torch.equal(h_fix["state"]["T"], torch.zeros_like(h_fix["state"]["T"]))
    # a fixed data term keeps u nearer to g than the proximal pull (gelr-math §4)
    assert float((u_fix - g).norm()) < float((u_prox - g).norm())


def test_exact_t_step_and_prox_methods_agree() -> None:
    g, x = _pair(16)
    kw = {"iters": 20, "track_energy": False, "tnn": "exact", "theta": 0.2}
    u_gram, _ = gelr_admm(g, x, prox_method="gram", **kw)
    u_svd, _ = gelr_admm(g, x, prox_method="svd", **kw)
    assert torch.allclose(u_gram, u_svd, atol=1e-6)


def test_paper_literal_t_step_diverges_without_crashing() -> None:
    """Eq. 37-40 as printed (Q = W - t - tau A^T B) blows up (gelr-math §2)."""
    g, x = _pair(32)
    u, hist = gelr_admm(g, x, tnn="paper", fidelity="fixed", iters=300, track_energy=False)
    assert hist["diverged"]
    assert hist["iterations"] < 300
    _, ok = gelr_admm(g, x, tnn="hu", fidelity="fixed", iters=100, track_energy=False)
    assert not ok["diverged"]


def test_solver_argument_errors() -> None:
    g, x = _pair(8)
    with pytest.raises(ValueError, match="d_threshold"):
        gelr_admm(g, x, d_threshold="alpha")
    with pytest.raises(ValueError, match="tnn"):
        gelr_admm(g, x, tnn="svd")
    with pytest.raises(ValueError, match="differ"):
        gelr_admm(g, x[..., :4])


def test_solver_accepts_chw_and_float32() -> None:
    g, x = _pair(12)
    u, hist = gelr_admm(g[0], x[0], iters=3, dtype=None)
    assert u.shape == (1, 3, 12, 12)
    assert u.dtype == torch.float32
    assert all(math.isfinite(v) for v in hist["energy"])


# --------------------------------------------------------------------------------------------
# Command line and Hydra app
# --------------------------------------------------------------------------------------------


def test_cli_files(tmp_path: Path) -> None:
    g, x = _pair(16)
    save_image(g, tmp_path / "g.png")
    save_image(x, tmp_path / "x.npy")
    rc = main([str(tmp_path / "g.png"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "u.png"),
               "--iters", "5", "--alpha", "0.2", "--history", str(tmp_path / "h.json"),
               "--boundary", "neumann"])
    assert rc == 0
    u = load_image(tmp_path / "u.png")
    assert u.shape == (1, 3, 16, 16)
    hist = json.loads((tmp_path / "h.json").read_text())
    assert hist["iterations"] == 5
    assert len(hist["primal_residual"]) == 5


def test_cli_as_filter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """INPUT '-' reads stdin, '-o -' (default) writes a PNG to stdout."""
    g, x = _pair(16)
    save_image(g, tmp_path / "g.png")
    save_image(x, tmp_path / "x.png")
    stdin = io.TextIOWrapper(io.BytesIO((tmp_path / "g.png").read_bytes()))
    stdout = io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["-", str(tmp_path / "x.png"), "--iters", "3"]) == 0
    data = stdout.buffer.getvalue()
    monkeypatch.undo()
    assert data.startswith(b"\x89PNG")
    (tmp_path / "u.png").write_bytes(data)
    assert load_image(tmp_path / "u.png").shape == (1, 3, 16, 16)


def test_cli_shape_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g, x = _pair(16)
    save_image(g, tmp_path / "g.png")
    save_image(x[..., :8, :8], tmp_path / "x.png")
    assert main([str(tmp_path / "g.png"), str(tmp_path / "x.png"), "-o",
                 str(tmp_path / "u.png")]) == 2
    assert "same size" in capsys.readouterr().err


def test_hydra_app(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from rpaf.gelr.solve_app import run

    g, x = _pair(16)
    save_image(g, tmp_path / "g.png")
    save_image(x, tmp_path / "x.png")
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="gelr_solver", overrides=[
            f"input={tmp_path / 'g.png'}", f"target={tmp_path / 'x.png'}",
            f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'run'}",
            "solver.iters=4", "solver.fidelity=fixed",
        ])
    metrics = run(cfg)
    assert (tmp_path / "run" / "gelr.png").is_file()
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["iterations"] == 4 == metrics["iterations"]
    assert saved["config"]["solver"]["fidelity"] == "fixed"
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["energy"]) == 4
