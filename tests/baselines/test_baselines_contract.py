"""Call contract of every classical baseline: shapes, dtype, range, device, no in-place writes."""

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
    check_image,
)

METHODS = [
    L0Smoothing(),
    WLS(),
    FastGlobalSmoother(),
    RollingGuidanceFilter(),
    BilateralTextureFilter(),
    TVChambolle(),
    RTV(),
]
IDS = [m.name for m in METHODS]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny images gain nothing from intra-op threads, and on a busy machine the per-op thread
    hand-off dominates (kornia's bilateral tap loop ran 50x slower with 2 threads under load);
    conftest's ``_reset_torch_state`` restores the thread count afterwards."""
    torch.set_num_threads(1)


def _rand(
    shape: tuple[int, ...], seed: int = 0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)


def test_names_are_unique_and_no_target_needed() -> None:
    assert len(set(IDS)) == len(IDS)
    for m in METHODS:
        assert isinstance(m, ClassicalSmoother)
        assert m.needs_target is False
        assert m.name in repr(m).lower() or type(m).__name__ in repr(m)


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_output_contract(method: ClassicalSmoother) -> None:
    """Shape, float32, [0, 1], same device; also inside inference_mode (as rpaf-eval calls it)."""
    x = _rand((2, 3, 19, 26), dtype=torch.float64)
    with torch.inference_mode():
        out = method(x)
    assert out.shape == x.shape
    assert out.dtype == torch.float32
    assert out.device == x.device
    assert torch.isfinite(out).all()
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 1.0


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_input_not_modified(method: ClassicalSmoother) -> None:
    """The in-place trap: neither a plain tensor nor one sharing memory with numpy may change."""
    rng = np.random.default_rng(1)
    arr = rng.random((1, 3, 15, 18))  # float64: .to(float64).numpy() would be a view of it
    keep = arr.copy()
    shared = torch.from_numpy(arr)
    method(shared)
    np.testing.assert_array_equal(arr, keep)
    np.testing.assert_array_equal(shared.numpy(), keep)

    x = torch.from_numpy(arr.astype(np.float32))
    x_keep = x.clone()
    method(x)
    assert torch.equal(x, x_keep)


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_odd_and_non_square_sizes(method: ClassicalSmoother) -> None:
    for size in [(17, 13), (9, 31)]:
        x = _rand((1, 3, *size), seed=3)
        out = method(x)
        assert out.shape == x.shape
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_constant_image_is_a_fixed_point(method: ClassicalSmoother) -> None:
    colour = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    x = colour.expand(1, 3, 16, 21).contiguous()
    torch.testing.assert_close(method(x), x, atol=1e-4, rtol=0)


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_batch_elements_are_independent(method: ClassicalSmoother) -> None:
    x = _rand((2, 3, 15, 16), seed=4)
    both = method(x)
    torch.testing.assert_close(both[1:], method(x[1:]), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("bad", "err", "match"),
    [
        (torch.rand(3, 8, 8), ValueError, r"\(B, 3, H, W\)"),
        (torch.rand(1, 1, 8, 8), ValueError, r"\(B, 3, H, W\)"),
        (torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.uint8), TypeError, "floating"),
        (torch.rand(1, 3, 8, 8) * 255, ValueError, "divide by 255"),
        (torch.full((1, 3, 8, 8), float("nan")), ValueError, "NaN"),
        (torch.rand(1, 3, 1, 8), ValueError, "minimum"),
        (np.zeros((8, 8, 3)), TypeError, "torch.Tensor"),
    ],
)
@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_rejects_bad_input(method: ClassicalSmoother, bad: object, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        method(bad)  # type: ignore[arg-type]


def test_check_image_names_the_method() -> None:
    with pytest.raises(ValueError, match="^myfilter:"):
        check_image(torch.rand(1, 2, 8, 8), "myfilter")


def test_slightly_out_of_range_input_is_accepted_and_clipped() -> None:
    x = _rand((1, 3, 10, 10), seed=7) * 1.0005 - 0.0002
    out = TVChambolle()(x)
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 1.0


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: L0Smoothing(boundary="wrap"), "boundary"),
        (lambda: L0Smoothing(kappa=1.0), "kappa"),
        (lambda: WLS(guide="hsv"), "guide"),
        (lambda: WLS(alpha=0.0), "alpha"),
        (lambda: RTV(n_iter=0), "n_iter"),
        (lambda: BilateralTextureFilter(k=4), "odd"),
        (lambda: RollingGuidanceFilter(sigma_r=0.0), "sigma_r"),
        (lambda: TVChambolle(weight=-1.0), "weight"),
        (lambda: RTV(lam=-1.0), "lam"),
        (lambda: FastGlobalSmoother(attenuation=1.0), "attenuation"),
    ],
)
def test_bad_parameters_raise_clear_errors(factory: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()  # type: ignore[operator]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_device_round_trip_cuda(method: ClassicalSmoother) -> None:
    x = _rand((2, 3, 20, 23), seed=8)
    out_gpu = method(x.cuda())
    assert out_gpu.device.type == "cuda"
    assert out_gpu.dtype == torch.float32
    torch.testing.assert_close(out_gpu.cpu(), method(x), atol=2e-3, rtol=0)
