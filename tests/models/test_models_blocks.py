"""LDSC, DRL, TransBlock, CTUM and the fused 1x1 convolution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rpaf.models.blocks import CTUM, DRL, LDSC, ConcatConv1x1, LayerNorm2d, TransBlock


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny tensors: one thread is faster and immune to OpenMP spin-waits on a busy CPU
    (the root conftest restores the thread count after each test)."""
    torch.set_num_threads(1)


def test_ldsc_structure_follows_paper() -> None:
    m = LDSC(4, 6, (1, 2, 4))
    assert [c.dilation for c in m.branches] == [(1, 1), (2, 2), (4, 4)]
    assert all(c.kernel_size == (3, 3) and c.padding == c.dilation for c in m.branches)
    assert m.fuse.kernel_size == (1, 1)
    assert m.fuse.in_channels == 18
    # no BatchNorm and no activation inside
    assert not any(isinstance(x, nn.BatchNorm2d | nn.ReLU | nn.GELU) for x in m.modules())
    assert m(torch.randn(2, 4, 9, 7)).shape == (2, 6, 9, 7)


def test_ldsc_is_linear() -> None:
    """No activation inside: LDSC(a x + b y) - bias terms behave linearly."""
    torch.manual_seed(0)
    m = LDSC(3, 4, (1, 3)).double()
    x, y = torch.randn(2, 1, 3, 8, 8, dtype=torch.float64)
    zero = m(torch.zeros_like(x))
    torch.testing.assert_close(m(2 * x + 3 * y) - zero, 2 * (m(x) - zero) + 3 * (m(y) - zero))


def test_ldsc_dilations_validated() -> None:
    with pytest.raises(ValueError, match="dilations"):
        LDSC(3, 3, [])
    with pytest.raises(ValueError, match="dilations"):
        LDSC(3, 3, [1, 0])


def test_drl_is_unit_norm_difference() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(2, 2, 5, 4, 3)
    y = DRL()(a, b)
    diff = a - b
    torch.testing.assert_close(y, diff / diff.norm(dim=1, keepdim=True))
    torch.testing.assert_close(y.norm(dim=1), torch.ones(2, 4, 3))
    assert torch.equal(DRL()(a, a), torch.zeros_like(a))  # no NaN where they agree


def test_layernorm2d_matches_nn_layernorm() -> None:
    torch.manual_seed(0)
    ln = LayerNorm2d(5)
    nn.init.normal_(ln.weight)
    nn.init.normal_(ln.bias)
    ref = nn.LayerNorm(5, eps=ln.eps)
    ref.load_state_dict(ln.state_dict())
    x = torch.randn(2, 5, 3, 4)
    torch.testing.assert_close(ln(x), ref(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


@pytest.mark.parametrize("grad", [True, False])
def test_concat_conv_equals_conv_of_cat(grad: bool) -> None:
    torch.manual_seed(0)
    m = ConcatConv1x1([2, 3], 4)
    a, b = torch.randn(1, 2, 5, 5), torch.randn(1, 3, 5, 5)
    with torch.set_grad_enabled(grad):
        y = m.forward_parts(iter([a, b]))
    torch.testing.assert_close(y, m(torch.cat([a, b], 1)))


def test_transblock_banded_inference_equals_plain() -> None:
    torch.manual_seed(0)
    blk = TransBlock(8, heads=2, mlp_ratio=2.0, chunk=8 * 16 * 3).eval()  # 3-row bands
    x = torch.randn(1, 8, 13, 8)
    with torch.no_grad():
        banded = blk(x)
        blk.chunk = None
        plain = blk(x)
    torch.testing.assert_close(banded, plain, rtol=1e-5, atol=1e-5)


def test_ctum_output_size_and_width() -> None:
    m = CTUM(16, 8, heads=2, mlp_ratio=2.0)
    y = m(torch.randn(2, 16, 7, 5), (9, 7))
    assert y.shape == (2, 8, 9, 7)
    assert (y >= 0).all()  # ends with BatchNorm + ReLU
