"""Efficient Attention against the brute-force N x N reference."""

from __future__ import annotations

import pytest
import torch

from rpaf.models.attention import (
    EfficientAttention,
    efficient_attention,
    naive_efficient_attention,
)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny tensors: one thread is faster and immune to OpenMP spin-waits on a busy CPU
    (the root conftest restores the thread count after each test)."""
    torch.set_num_threads(1)


@pytest.mark.parametrize(("b", "h", "dk", "dv", "n"), [(1, 1, 4, 4, 9), (2, 3, 5, 7, 31)])
def test_efficient_attention_matches_naive(b: int, h: int, dk: int, dv: int, n: int) -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(b, h, dk, n, generator=g, dtype=torch.float64) * 3
    k = torch.randn(b, h, dk, n, generator=g, dtype=torch.float64) * 3
    v = torch.randn(b, h, dv, n, generator=g, dtype=torch.float64)
    torch.testing.assert_close(efficient_attention(q, k, v), naive_efficient_attention(q, k, v))


def test_softmax_axes_matter() -> None:
    """Swapping the normalisation axes changes the result, so the test above can fail."""
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 1, 4, 10, generator=g, dtype=torch.float64) for _ in range(3))
    ref = naive_efficient_attention(q, k, v)
    swapped = torch.softmax(q, -1).transpose(-1, -2) @ torch.softmax(k, -2)  # wrong axes
    assert not torch.allclose(v @ swapped.transpose(-1, -2), ref)


def test_module_multihead_equals_per_head_reference() -> None:
    torch.manual_seed(0)
    attn = EfficientAttention(8, heads=2).double()
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    y = attn(x)
    split = lambda t: t.reshape(2, 2, 4, 30)  # noqa: E731
    ref = naive_efficient_attention(split(attn.query(x)), split(attn.key(x)), split(attn.value(x)))
    torch.testing.assert_close(y, attn.reprojection(ref.reshape(2, 8, 5, 6)))


def test_banded_context_equals_one_shot() -> None:
    """The online-softmax context over row bands equals the one-shot attention."""
    torch.manual_seed(0)
    attn = EfficientAttention(8, heads=4).double()
    x = torch.randn(2, 8, 11, 7, dtype=torch.float64) * 4
    ctx = attn.context(x[:, :, r : r + 3] for r in range(0, 11, 3))
    banded = torch.cat([attn.apply_context(x[:, :, r : r + 3], ctx) for r in range(0, 11, 3)], 2)
    torch.testing.assert_close(banded, attn(x))


def test_linear_memory_shape_independent_of_n_squared() -> None:
    """A 256x256 map (N = 65536, N^2 would be 16 GiB in float32) runs fine."""
    attn = EfficientAttention(4, heads=1)
    with torch.no_grad():
        y = attn(torch.randn(1, 4, 256, 256))
    assert y.shape == (1, 4, 256, 256)
    assert torch.isfinite(y).all()


def test_gradcheck() -> None:
    torch.manual_seed(0)
    attn = EfficientAttention(4, heads=2).double()
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(attn, (x,))


def test_heads_must_divide_channels() -> None:
    with pytest.raises(ValueError, match="divide channels"):
        EfficientAttention(6, heads=4)
