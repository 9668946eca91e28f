"""The self-guided output filter (model.refine_kernel; not in the paper)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rpaf.checkpoints import CheckpointError, load_network
from rpaf.models import RPAFNet
from rpaf.models.refine import SelfGuidedRefine

TINY = {"widths": [4, 6, 8], "head_dim": 4, "mlp_ratio": 2.0}


def _box_mean(a: np.ndarray, r: int) -> np.ndarray:
    """Mean of every (2r+1)^2 window of a (H, W, ...) array, reflected borders, by loops."""
    pad = [(r, r), (r, r)] + [(0, 0)] * (a.ndim - 2)
    p = np.pad(a, pad, mode="reflect")
    out = np.zeros_like(a)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i, j] = p[i:i + 2 * r + 1, j:j + 2 * r + 1].mean(axis=(0, 1))
    return out


def _guided_brute_force(u: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s colour guided filter, guide = input = u (H, W, 3), solved window by window."""
    mean_i = _box_mean(u, r)
    outer = u[..., :, None] * u[..., None, :]
    cov = _box_mean(outer, r) - mean_i[..., :, None] * mean_i[..., None, :]
    a = np.linalg.solve(cov + eps * np.eye(3), cov)  # (Sigma + eps I)^-1 cov(I, p), p = I
    b = mean_i - np.einsum("hwji,hwj->hwi", a, mean_i)
    return np.einsum("hwji,hwj->hwi", _box_mean(a, r), u) + _box_mean(b, r)


def test_equals_the_guided_filter_solved_window_by_window() -> None:
    rng = np.random.default_rng(0)
    u = rng.random((11, 13, 3))
    u[:, 6:] += 0.8  # an edge
    for kernel, eps in [(3, 1e-3), (5, 1e-2)]:
        expected = _guided_brute_force(u, kernel // 2, eps)
        got = SelfGuidedRefine(kernel, eps)(torch.from_numpy(u).permute(2, 0, 1)[None])
        np.testing.assert_allclose(got[0].permute(1, 2, 0).numpy(), expected, atol=1e-6)


def test_smooths_faint_texture_and_keeps_a_step_edge() -> None:
    torch.manual_seed(0)
    clean = torch.full((1, 3, 48, 48), 0.3)
    clean[..., 24:] = 0.8
    noisy = clean + 0.01 * torch.randn_like(clean)
    out = SelfGuidedRefine(9, 1e-3)(noisy)
    flat = (slice(None), slice(None), slice(4, 44), slice(2, 18))
    assert out[flat].std() < 0.3 * noisy[flat].std()
    assert (out - clean).abs()[..., 22:26].max() < 0.05  # the edge stays sharp
    assert float(((out - clean) ** 2).mean()) < 0.2 * float(((noisy - clean) ** 2).mean())


@pytest.mark.parametrize(("kwargs", "key"), [({"kernel_size": 4, "eps": 1e-3}, "refine_kernel"),
                                             ({"kernel_size": 1, "eps": 1e-3}, "refine_kernel"),
                                             ({"kernel_size": 9, "eps": 0.0}, "refine_eps")])
def test_bad_settings_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=f"model.{key}"):
        SelfGuidedRefine(**kwargs)


def test_rpafnet_refine_is_parameter_free_and_follows_the_plain_output() -> None:
    torch.manual_seed(0)
    plain = RPAFNet(**TINY).eval()
    refined = RPAFNet(**TINY, refine_kernel=5, refine_eps=1e-2).eval()
    assert plain.refine is None
    # No parameters or buffers: weights move between the two without any key changing.
    assert refined.state_dict().keys() == plain.state_dict().keys()
    refined.load_state_dict(plain.state_dict())
    g = torch.rand(2, 3, 20, 24, requires_grad=True)
    u = plain(g)
    v = refined(g)
    torch.testing.assert_close(v, SelfGuidedRefine(5, 1e-2)(u))
    v.sum().backward()  # trainable through the filter
    assert g.grad is not None
    assert torch.isfinite(g.grad).all()


def test_load_network_adds_the_filter_to_a_trained_network(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = RPAFNet(**TINY)
    path = tmp_path / "n.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "hyper_parameters": {"config": {"model": {"_target_": "rpaf.models.RPAFNet",
                                                          **TINY}}}}, path)
    g = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        plain = load_network(path)(g)
        refined = load_network(path, overrides={"refine_kernel": 7})(g)
    torch.testing.assert_close(refined, SelfGuidedRefine(7, 1e-3)(plain))
    with pytest.raises(CheckpointError, match="'widths'.*refine_kernel"):
        load_network(path, overrides={"widths": [4, 6, 6]})
