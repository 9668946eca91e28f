"""Test-time geometric self-ensemble (rpaf.models.self_ensemble)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rpaf.models import RPAFNet, self_ensemble


def test_equivariant_maps_are_unchanged() -> None:
    g = torch.rand(2, 3, 17, 23)
    for n in (1, 2, 4, 8):
        torch.testing.assert_close(self_ensemble(lambda x: 2 * x, g, n), 2 * g)


def test_matches_the_explicit_average_of_the_eight_transforms() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)  # not flip-equivariant
    g = torch.rand(1, 3, 9, 13)
    with torch.no_grad():
        outs = []
        for t in (False, True):
            for fh in (False, True):
                for fw in (False, True):
                    x = g.transpose(-1, -2) if t else g
                    x = x.flip(-1) if fw else x
                    x = x.flip(-2) if fh else x
                    y = conv(x)
                    y = y.flip(-2) if fh else y
                    y = y.flip(-1) if fw else y
                    outs.append(y.transpose(-1, -2) if t else y)
        want = torch.stack(outs).mean(0)
        got = self_ensemble(conv, g, 8)
        plain = self_ensemble(conv, g, 1)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(plain, conv(g).detach())
    assert not torch.allclose(got, plain)


def test_network_non_square_shape_and_bad_n() -> None:
    net = RPAFNet(widths=[4, 6, 8], head_dim=4, mlp_ratio=2.0).eval()
    g = torch.rand(1, 3, 20, 33)
    with torch.no_grad():
        assert self_ensemble(net, g, 8).shape == g.shape
    with pytest.raises(ValueError, match="n=3"):
        self_ensemble(net, g, 3)


def test_transformed_forward_indices() -> None:
    """Each index is one distinct transform of the group, undone on the output."""
    from rpaf.models.self_ensemble import transformed_forward

    g = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    seen = []
    for k in range(8):
        # identity map: T^-1(T(g)) == g for every k
        torch.testing.assert_close(transformed_forward(lambda x: x, g, k), g)
        # what the map saw: T_k(g); all 8 differ on an asymmetric image
        captured: list[torch.Tensor] = []
        transformed_forward(lambda x, c=captured: c.append(x) or x, g, k)
        seen.append(captured[0])
    assert all(not torch.equal(a, b) for i, a in enumerate(seen) for b in seen[i + 1:])
    torch.testing.assert_close(seen[1], g.flip(-1))
    torch.testing.assert_close(seen[4], g.transpose(-1, -2))
    with pytest.raises(ValueError, match="index=8"):
        transformed_forward(lambda x: x, g, 8)
