"""Sanity of the baselines' results: texture removal on a synthetic image, and the border trap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rpaf.baselines import (
    RTV,
    WLS,
    BilateralTextureFilter,
    ClassicalSmoother,
    FastGlobalSmoother,
    L0Smoothing,
    RollingGuidanceFilter,
    TVChambolle,
)
from rpaf.baselines._linalg import solve_screened_poisson

TEXTURE_REMOVERS = [L0Smoothing(), RollingGuidanceFilter(), BilateralTextureFilter(), RTV()]
SMOOTHERS = [TVChambolle(), WLS(), FastGlobalSmoother()]
ALL = TEXTURE_REMOVERS + SMOOTHERS


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny images gain nothing from intra-op threads, and on a busy machine the per-op thread
    hand-off dominates (kornia's bilateral tap loop ran 50x slower with 2 threads under load);
    conftest's ``_reset_torch_state`` restores the thread count afterwards."""
    torch.set_num_threads(1)


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


def _total_variation(a: torch.Tensor) -> float:
    vertical = (a[..., 1:, :] - a[..., :-1, :]).abs().sum()
    return float(vertical + (a[..., 1:] - a[..., :-1]).abs().sum())


@pytest.fixture(scope="module")
def striped_step() -> tuple[torch.Tensor, torch.Tensor]:
    """48x48 two-region colour step (the structure) under grey stripes of period 4 (the texture).

    The stripes (amplitude 0.05, one-pixel-scale oscillation) are well below the texture scale
    of every method's published defaults, the regions well above it.
    """
    h = w = 48
    clean = np.zeros((h, w, 3))
    clean[:, : w // 2] = [0.2, 0.3, 0.6]
    clean[:, w // 2 :] = [0.8, 0.6, 0.3]
    rows = np.arange(h)[:, None]
    texture = 0.05 * np.sign(np.sin(2 * np.pi * (rows + 0.5) / 4))
    noisy = np.clip(clean + texture[:, :, None], 0.0, 1.0)
    return _to_tensor(noisy), _to_tensor(clean)


@pytest.mark.parametrize("method", ALL, ids=[m.name for m in ALL])
def test_total_variation_decreases(
    method: ClassicalSmoother, striped_step: tuple[torch.Tensor, torch.Tensor]
) -> None:
    noisy, _ = striped_step
    assert _total_variation(method(noisy)) < 0.5 * _total_variation(noisy)


@pytest.mark.parametrize("method", TEXTURE_REMOVERS, ids=[m.name for m in TEXTURE_REMOVERS])
def test_texture_removers_get_closer_to_the_clean_image(
    method: ClassicalSmoother, striped_step: tuple[torch.Tensor, torch.Tensor]
) -> None:
    noisy, clean = striped_step
    out = method(noisy)
    assert _psnr(out, clean) > _psnr(noisy, clean) + 3.0


@pytest.mark.parametrize("method", SMOOTHERS, ids=[m.name for m in SMOOTHERS])
def test_smoothers_do_not_get_further_from_the_clean_image(
    method: ClassicalSmoother, striped_step: tuple[torch.Tensor, torch.Tensor]
) -> None:
    noisy, clean = striped_step
    assert _psnr(method(noisy), clean) > _psnr(noisy, clean)


@pytest.mark.parametrize("method", ALL, ids=[m.name for m in ALL])
def test_total_variation_decreases_on_make_pair(method: ClassicalSmoother) -> None:
    synthetic = pytest.importorskip("rpaf.data.synthetic")
    inp, _ = synthetic.make_pair(0, size=48)
    x = _to_tensor(inp)
    assert _total_variation(method(x)) < _total_variation(x)


@pytest.fixture(scope="module")
def bright_left_dark_right() -> torch.Tensor:
    """36x40: bright left border strip (0.9), dark textured rest (0.1 +- 0.03)."""
    rng = np.random.default_rng(0)
    img = np.full((36, 40, 3), 0.1) + 0.03 * rng.choice([-1.0, 1.0], size=(36, 40, 1))
    img[:, :6] = 0.9
    return _to_tensor(np.clip(img, 0.0, 1.0))


@pytest.mark.parametrize("method", ALL, ids=[m.name for m in ALL])
def test_border_trap_no_wrap_around(
    method: ClassicalSmoother, bright_left_dark_right: torch.Tensor
) -> None:
    """Brightness from the left border must not appear at the right border."""
    x = bright_left_dark_right
    out = method(x)
    right = out[..., -3:]
    assert float((right - 0.1).abs().max()) < 0.05
    left = out[..., :3]
    assert float((left - 0.9).abs().max()) < 0.05


def test_l0_border_trap(bright_left_dark_right: torch.Tensor) -> None:
    """L0 flattens the dark textured region to its mean; with the paper's periodic FFT the
    bright left border pulls the right border up (measured ~0.018), with the default symmetric
    (DCT) boundary it does not (~0.001)."""
    x = bright_left_dark_right
    dark_mean = float(x[..., 8:].mean())
    default = L0Smoothing()(x)
    assert float((default[..., -3:] - dark_mean).abs().max()) < 0.005
    periodic = L0Smoothing(boundary="periodic")(x)
    assert float((periodic[..., -3:] - dark_mean).abs().max()) > 0.01


def test_screened_poisson_periodic_leaks_and_neumann_does_not() -> None:
    """The mechanism of the border trap in L0's S-step (eq. 8): the plain FFT couples the first
    and last columns, the DCT (= FFT of the mirrored image) does not."""
    img = np.full((16, 24), 0.1)
    img[:, :4] = 0.9
    periodic = solve_screened_poisson(img, 5.0, "periodic")
    neumann = solve_screened_poisson(img, 5.0, "neumann")
    assert float(periodic[:, -1].mean()) > 0.3  # bright left edge leaks into the right border
    assert float(neumann[:, -1].mean()) < 0.11
