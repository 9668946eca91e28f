"""Tests of the training loss (rpaf.gelr.loss): eq. 13-15, normalisation, configs."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import kornia
import pytest
import torch

from rpaf.gelr import ops
from rpaf.gelr.fft_solve import solve_identity_plus_laplacian
from rpaf.gelr.loss import GELRLoss, fidelity_l2, flat_fine_error, gelr_l1

REPO = Path(__file__).resolve().parents[2]


def _batch(b: int = 2, c: int = 3, h: int = 16, w: int = 12, seed: int = 0,
           dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(b, c, h, w, generator=gen, dtype=dtype)
    g = torch.rand(b, c, h, w, generator=gen, dtype=dtype)
    x = torch.rand(b, c, h, w, generator=gen, dtype=dtype)
    return u, g, x


def _state(u: torch.Tensor, seed: int = 1, scale: float = 0.1) -> SimpleNamespace:
    gen = torch.Generator().manual_seed(seed)
    b, c, h, w = u.shape

    def rnd(*shape: int) -> torch.Tensor:
        return scale * torch.randn(*shape, generator=gen, dtype=u.dtype)

    return SimpleNamespace(d=rnd(b, c, 2, h, w), t=rnd(b, c, 2, h, w), eta_d=rnd(b, c, 2, h, w),
                           eta_t=rnd(b, c, 2, h, w), T=rnd(b, c, h, w))


def _kw(st: SimpleNamespace) -> dict[str, torch.Tensor]:
    return {"d": st.d, "t": st.t, "eta_d": st.eta_d, "eta_t": st.eta_t, "T": st.T}


def test_l1_matches_eq13_with_common_normalisation() -> None:
    u, g, x = _batch()
    st = _state(u)
    rho1, rho2 = 1.5, 0.7
    for boundary in ops.BOUNDARIES:
        gu, gx = ops.grad(u, boundary), ops.grad(x, boundary)
        sums = (0.5 * ((g - u - st.T) ** 2).sum()
                + rho1 / 2 * ((gu - st.d + st.eta_d) ** 2).sum()
                + rho2 / 2 * ((gu - gx - st.t + st.eta_t) ** 2).sum())
        got = gelr_l1(u, g, x, **_kw(st), rho1=rho1, rho2=rho2, boundary=boundary)
        assert torch.allclose(got, sums / u.numel())  # every term / N = B*C*H*W
        got_sum = gelr_l1(u, g, x, **_kw(st), rho1=rho1, rho2=rho2, boundary=boundary,
                          normalization="sum")
        assert torch.allclose(got_sum, sums / u.shape[0])  # per-image sums, batch mean


def test_l1_minimiser_is_the_admm_u_step() -> None:
    """With data_weight = 1/2, grad_u L1 = 0 exactly at the u-step of eq. 10 (gelr-math §3, §7)."""
    u, g, x = _batch(1, 2, 12, 10)
    st = _state(u, scale=0.3)
    rho1, rho2 = 1.0, 2.0
    for boundary in ops.BOUNDARIES:
        gx = ops.grad(x, boundary)
        rhs = (g - st.T) + ops.grad_adjoint(
            rho1 * (st.d - st.eta_d) + rho2 * (gx + st.t - st.eta_t), boundary)
        u_star = solve_identity_plus_laplacian(rhs, 1.0, rho1 + rho2, boundary)
        for weight, zero in ((0.5, True), (1.0, False)):
            v = u_star.clone().requires_grad_(True)
            gelr_l1(v, g, x, **_kw(st), rho1=rho1, rho2=rho2, data_weight=weight,
                    boundary=boundary).backward()
            small = float(v.grad.abs().max()) < 1e-12
            assert small == zero  # eq. 13 as printed (weight 1) has another minimiser


def test_l2_is_mse_plus_one_minus_ssim() -> None:
    u, _, x = _batch(2, 3, 24, 24, dtype=torch.float32)
    ref = ((u - x) ** 2).mean() + 1 - kornia.metrics.ssim(u, x, 11).mean()
    assert torch.allclose(fidelity_l2(u, x), ref)
    assert torch.allclose(fidelity_l2(u, x, use_ssim=False), ((u - x) ** 2).mean())
    assert float(fidelity_l2(x, x)) == pytest.approx(0.0, abs=1e-6)


def test_gelr_loss_total_and_gradients() -> None:
    u, g, x = _batch(2, 3, 16, 16, dtype=torch.float32)
    st = _state(u)
    loss = GELRLoss()
    v = u.clone().requires_grad_(True)
    out = loss(v, g, x, st)
    assert set(out) == {"loss", "l1", "l2"}
    l1 = gelr_l1(u, g, x, **_kw(st), rho1=1.0, rho2=1.0)
    l2 = fidelity_l2(u, x)
    assert torch.allclose(out["l1"], l1)
    assert torch.allclose(out["l2"], l2)
    assert torch.allclose(out["loss"], 0.7 * l1 + 0.3 * l2)  # eq. 15
    out["loss"].backward()
    assert v.grad is not None
    assert bool(torch.isfinite(v.grad).all())


def test_lambda1_zero_and_no_state() -> None:
    u, g, x = _batch(1, 3, 16, 16, dtype=torch.float32)
    st = _state(u)
    for loss, state in ((GELRLoss(lambda1=0.0), st), (GELRLoss(), None)):
        v = u.clone().requires_grad_(True)
        out = loss(v, g, x, state)
        assert float(out["l1"]) == 0.0
        assert out["l1"].dtype == u.dtype
        assert torch.allclose(out["loss"], 0.3 * fidelity_l2(u, x))
        out["loss"].backward()
        assert v.grad is not None


def test_state_is_cast_and_detached() -> None:
    """A float16 state (compact storage) is cast to the output's dtype; no grad flows into it."""
    u, g, x = _batch(1, 3, 8, 8, dtype=torch.float32)
    st = _state(u.double())
    half = SimpleNamespace(**{k: v.half().requires_grad_(True) for k, v in vars(st).items()})
    out = GELRLoss()(u, g, x, half)
    assert out["loss"].dtype == torch.float32
    assert not out["loss"].requires_grad


def test_state_shape_mismatch_names_the_field() -> None:
    u, g, x = _batch(1, 3, 8, 8)
    st = _state(u)
    st.eta_t = st.eta_t[..., :4]
    with pytest.raises(ValueError, match="`eta_t`"):
        GELRLoss()(u, g, x, st)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="boundary"):
        GELRLoss(boundary="zero")
    with pytest.raises(ValueError, match="lambda1"):
        GELRLoss(lambda1=-1)
    with pytest.raises(ValueError, match="normalization"):
        GELRLoss(normalization="mean")


def test_loss_configs() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        full = compose(overrides=["+loss=gelr"])
        off = compose(overrides=["+loss=no_gelr", "+gelr=default", "gelr.rho2=3.0",
                                 "gelr.boundary=neumann"])
    lf = instantiate(full.loss)
    lo = instantiate(off.loss)
    assert isinstance(lf, GELRLoss)
    assert isinstance(lo, GELRLoss)
    assert (lf.lambda1, lf.lambda2, lf.rho1, lf.data_weight) == (0.7, 0.3, 1.0, 0.5)
    assert (lo.lambda1, lo.lambda2) == (0.0, 0.3)
    assert (lo.rho2, lo.boundary) == (3.0, "neumann")  # follows the gelr group


def test_mae_weight_adds_mean_absolute_error() -> None:
    u, g, x = _batch(2, 3, 16, 16, dtype=torch.float32)
    plain = GELRLoss(lambda1=0.0)(u, g, x, None)
    assert "mae" not in plain
    out = GELRLoss(lambda1=0.0, mae_weight=2.0)(u, g, x, None)
    mae = (u - x).abs().mean()
    torch.testing.assert_close(out["mae"], mae)
    torch.testing.assert_close(out["loss"], plain["loss"] + 2.0 * mae)
    with pytest.raises(ValueError, match="mae_weight=-1"):
        GELRLoss(mae_weight=-1.0)


def test_grad_weight_adds_mean_absolute_gradient_error() -> None:
    u, g, x = _batch(2, 3, 12, 10, dtype=torch.float32)
    plain = GELRLoss(lambda1=0.0)(u, g, x, None)
    assert "grad" not in plain
    out = GELRLoss(lambda1=0.0, grad_weight=0.5)(u, g, x, None)
    # Brute force: central differences (f[i+1] - f[i-1]) / 2 with replicated borders, both axes.
    e = torch.nn.functional.pad(u - x, (1, 1, 1, 1), mode="replicate")
    dx = (e[..., 1:-1, 2:] - e[..., 1:-1, :-2]) / 2
    dy = (e[..., 2:, 1:-1] - e[..., :-2, 1:-1]) / 2
    expected = torch.cat([dx.abs().flatten(), dy.abs().flatten()]).mean()
    torch.testing.assert_close(out["grad"], expected)
    torch.testing.assert_close(out["loss"], plain["loss"] + 0.5 * expected)
    # A constant offset changes no gradient, so it costs nothing here.
    flat = GELRLoss(lambda1=0.0, grad_weight=1.0)(x + 0.1, g, x, None)
    assert float(flat["grad"]) < 1e-6
    with pytest.raises(ValueError, match="grad_weight=-1"):
        GELRLoss(grad_weight=-1.0)


def test_psnr_weight_adds_minus_mean_per_image_psnr() -> None:
    u, g, x = _batch(3, 3, 12, 10, dtype=torch.float32)
    u = x + torch.tensor([0.3, 0.03, 0.003]).view(3, 1, 1, 1) * (u - x)  # three error levels
    plain = GELRLoss(lambda1=0.0)(u, g, x, None)
    assert "neg_psnr" not in plain
    out = GELRLoss(lambda1=0.0, psnr_weight=0.01)(u, g, x, None)
    # Brute force: one PSNR per image (peak 1), in dB, averaged over the batch.
    psnrs = [10 * math.log10(1.0 / float(((u[i] - x[i]) ** 2).mean())) for i in range(3)]
    assert float(out["neg_psnr"]) == pytest.approx(-sum(psnrs) / 3, rel=1e-5)
    torch.testing.assert_close(out["loss"], plain["loss"] + 0.01 * out["neg_psnr"])
    # Every image counts the same in dB: the cleanest one gets the largest pull per pixel.
    ur = u.clone().requires_grad_(True)
    GELRLoss(lambda1=0.0, lambda2=0.0, use_ssim=False, psnr_weight=1.0)(ur, g, x, None)[
        "loss"].backward()
    per_image = ur.grad.abs().flatten(1).mean(1)
    assert per_image[2] > per_image[1] > per_image[0]
    # A perfect output stays finite.
    assert torch.isfinite(GELRLoss(lambda1=0.0, psnr_weight=1.0)(x, g, x, None)["loss"])
    with pytest.raises(ValueError, match="psnr_weight=-1"):
        GELRLoss(psnr_weight=-1.0)


def test_flat_fine_term_is_the_fine_band_of_the_error_off_the_gt_edges() -> None:
    import numpy as np
    from scipy.ndimage import gaussian_filter

    # GT: a vertical step 0.2 -> 0.8 between columns 15 and 16, grey. Normalised Sobel
    # magnitude there is 0.3 (> 0.05) on columns 15 and 16; grown by 2 px: edge band 13..18.
    h = w = 32
    x = torch.full((2, 3, h, w), 0.2, dtype=torch.float64)
    x[..., 16:] = 0.8
    flat = np.ones((h, w), bool)
    flat[:, 13:19] = False
    gen = torch.Generator().manual_seed(0)
    amp = torch.full((1, 1, 1, w), 0.01, dtype=torch.float64)
    amp[..., 13:19] = 1.0  # most of the error sits in the edge band, which the term ignores
    err = torch.randn(2, 3, h, w, generator=gen, dtype=torch.float64) * amp
    # Brute force: scipy Gaussian (sigma 2, radius 6, mirrored borders without repeating the
    # edge pixel, as torch's "reflect"), fine residual, mean of |.| over flat pixels x channels.
    e = err.numpy()
    fine = e - gaussian_filter(e, sigma=(0, 0, 2.0, 2.0), mode="mirror", truncate=3.0)
    want = np.abs(fine)[..., flat].mean()
    assert float(flat_fine_error(err, x)) == pytest.approx(want, rel=1e-6)
    # A constant offset has no fine part; a pixel checkerboard is all fine part.
    assert float(flat_fine_error(torch.full_like(x, 0.1), x)) < 1e-9
    checker = 0.02 * (-1.0) ** (torch.arange(h).view(-1, 1) + torch.arange(w)).to(x)
    assert float(flat_fine_error(checker.expand_as(x), x)) == pytest.approx(0.02, rel=1e-3)
    # No flat pixel (stripes of period 4 px are all edge): zero, not nan.
    stripes = ((torch.arange(w) // 2) % 2).to(x).expand_as(x)
    assert float(flat_fine_error(err, stripes)) == 0.0
    # A grey GT (one channel) gives the same mask as its RGB copy.
    grey = flat_fine_error(err[:, :1], x[:, :1])
    assert float(grey) == pytest.approx(np.abs(fine[:, :1])[..., flat].mean(), rel=1e-6)
    # In the loss: weight * term, gradient reaches u.
    u = (x + err).float().requires_grad_(True)
    g = torch.zeros_like(u)
    plain = GELRLoss(lambda1=0.0)(u, g, x.float(), None)
    out = GELRLoss(lambda1=0.0, flat_fine_weight=2.0)(u, g, x.float(), None)
    assert "flat_fine" not in plain
    assert float(out["flat_fine"]) == pytest.approx(want, rel=1e-4)
    torch.testing.assert_close(out["loss"], plain["loss"] + 2.0 * out["flat_fine"])
    out["flat_fine"].backward()
    assert u.grad is not None
    assert float(u.grad[..., :8].abs().sum()) > 0
    with pytest.raises(ValueError, match="flat_fine_weight=-1"):
        GELRLoss(flat_fine_weight=-1.0)


def test_optional_terms_are_logged_by_the_training_step() -> None:
    from functools import partial

    from rpaf.lit import LitRPAF

    lit = LitRPAF(net=torch.nn.Conv2d(3, 3, 3, padding=1),
                  loss=GELRLoss(lambda1=0.0, mae_weight=1.0, grad_weight=2.0, psnr_weight=0.01,
                                flat_fine_weight=0.5),
                  optimizer=partial(torch.optim.Adam, lr=1e-3))
    logged: dict[str, float] = {}
    lit.log = lambda name, value, **_: logged.__setitem__(name, float(value))  # type: ignore[method-assign]
    u, g, x = _batch(2, 3, 16, 16, dtype=torch.float32)
    out = lit.training_step({"input": g, "target": x}, 0)
    assert {"train/loss", "train/l2", "train/mae", "train/grad", "train/neg_psnr",
            "train/flat_fine"} <= set(logged)
    assert logged["train/loss"] == pytest.approx(
        0.3 * logged["train/l2"] + logged["train/mae"] + 2.0 * logged["train/grad"]
        + 0.01 * logged["train/neg_psnr"] + 0.5 * logged["train/flat_fine"], rel=1e-5)
    assert out["u"].shape == g.shape
