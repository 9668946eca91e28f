"""RPAFNet: sizes, switches, parameter counts, validation, gradients, dtypes, configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from rpaf.models import RPAFNet, level_sizes
from rpaf.models.attention import EfficientAttention
from rpaf.models.blocks import CTUM, DRL, LDSC, TransBlock, Upsample

CONF = Path(__file__).resolve().parents[2] / "conf"
TINY = {"widths": [4, 6, 8], "head_dim": 4, "mlp_ratio": 2.0}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny tensors: one thread is faster and immune to OpenMP spin-waits on a busy CPU
    (the root conftest restores the thread count after each test)."""
    torch.set_num_threads(1)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_paper_config_parameter_count() -> None:
    n = n_params(RPAFNet())
    assert abs(n - 16.07e6) <= 0.03 * 16.07e6, n


@pytest.mark.parametrize(("h", "w"), [(16, 16), (17, 23), (31, 16), (16, 45), (33, 33)])
def test_output_size_equals_input_size(h: int, w: int) -> None:
    torch.manual_seed(0)
    m = RPAFNet(widths=[8, 12, 16, 24, 32, 48, 64, 160]).eval()  # lite widths, 8 levels
    with torch.no_grad():
        y = m(torch.rand(1, 3, h, w))
    assert y.shape == (1, 3, h, w)
    assert torch.isfinite(y).all()


@pytest.mark.slow
def test_paper_config_2048_shapes_on_meta() -> None:
    """2048x2048 through the full paper network, shapes only (meta device: no compute)."""
    m = RPAFNet().to("meta").eval()
    with torch.no_grad():
        y = m(torch.empty(1, 3, 2048, 2048, device="meta"))
    assert y.shape == (1, 3, 2048, 2048)


def test_level_sizes_and_vanishing() -> None:
    assert level_sizes(16, 20, 4, 0.8) == [(16, 20), (12, 16), (9, 12), (7, 9)]
    assert level_sizes(15, 10, 3, 0.8) == [(15, 10), (12, 8), (9, 6)]  # 15*0.8 = 12.000...02
    assert level_sizes(10, 10, 3, 1.0) == [(10, 10)] * 3
    with pytest.raises(ValueError, match="vanishes at level"):
        level_sizes(16, 16, 9, 0.8)  # 16,12,9,7,5,4,3,2,1


def test_construction_rejects_depth_that_vanishes() -> None:
    with pytest.raises(ValueError, match="vanishes"):
        RPAFNet(widths=[4] * 6, head_dim=4, ratio=0.4)
    # fine once the promised minimum input is larger
    RPAFNet(widths=[4] * 6, head_dim=4, ratio=0.4, min_input_size=256)


def test_forward_rejects_too_small_input() -> None:
    m = RPAFNet(**TINY)
    with pytest.raises(ValueError, match="vanishes"):
        m(torch.rand(1, 3, 2, 40))
    with pytest.raises(ValueError, match="expected"):
        m(torch.rand(3, 20, 20))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ratio": 0.0}, "ratio"),
        ({"ratio": -0.5}, "ratio"),
        ({"ratio": 1.2}, "ratio"),
        ({"dilations": []}, "dilations"),
        ({"dilations": [1, 0]}, "dilations"),
        ({"dilations": [1.5]}, "dilations"),
        ({"dilations": "124"}, "dilations"),
        ({"levels": 1}, "levels"),
        ({"levels": 9}, "levels"),
        ({"widths": [8, 0]}, "widths"),
        ({"widths": [8.0, 16.0]}, "widths"),
        ({"widths": [8, 100], "head_dim": 32}, "attention heads"),
        ({"out_channels": 1}, "residual"),
        ({"encoder_act": "tanh"}, "encoder_act"),
        ({"encoder_norm": "layer"}, "encoder_norm"),
        ({"mlp_ratio": 0}, "mlp_ratio"),
        ({"infer_chunk": 0}, "infer_chunk"),
    ],
)
def test_invalid_configs_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RPAFNet(**kwargs)


def test_switch_ldsc() -> None:
    on, off = RPAFNet(**TINY), RPAFNet(**TINY, ldsc=False)
    assert sum(isinstance(m, LDSC) for m in on.modules()) == 3
    assert not any(isinstance(m, LDSC) for m in off.modules())
    assert all(isinstance(e, nn.Conv2d) and e.kernel_size == (3, 3) for e in off.encoders)
    assert n_params(off) < n_params(on)


def test_switch_dilations_appear_in_convs() -> None:
    m = RPAFNet(**TINY, dilations=[1, 3, 5, 7])
    for enc in m.encoders:
        assert [c.dilation[0] for c in enc.branches] == [1, 3, 5, 7]
    assert n_params(m) > n_params(RPAFNet(**TINY))


def test_switch_ctum() -> None:
    on, off = RPAFNet(**TINY), RPAFNet(**TINY, ctum=False)
    assert sum(isinstance(m, CTUM) for m in on.modules()) == 2
    assert sum(isinstance(m, TransBlock | EfficientAttention) for m in on.modules()) == 4
    assert not any(isinstance(m, CTUM | EfficientAttention) for m in off.modules())
    assert all(isinstance(d, Upsample) for d in off.decoders)
    assert n_params(off) < n_params(on)


def test_switch_drl_changes_output_not_parameters() -> None:
    torch.manual_seed(0)
    on = RPAFNet(**TINY).eval()
    off = RPAFNet(**TINY, drl=False).eval()
    off.load_state_dict(on.state_dict())  # DRL has no parameters: same state dict
    assert sum(isinstance(m, DRL) for m in on.modules()) == 2
    assert not any(isinstance(m, DRL) for m in off.modules())
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert not torch.allclose(on(x), off(x))


def test_switch_ratio_and_levels() -> None:
    m = RPAFNet(**TINY, ratio=1.0)
    assert m.level_sizes(20, 30) == [(20, 30)] * 3
    m5 = RPAFNet(widths=[4, 4, 8, 8, 8], head_dim=4, mlp_ratio=2.0, levels=4)
    assert len(m5.encoders) == 4
    assert len(m5.decoders) == 3
    assert m5.widths == [4, 4, 8, 8]


def test_residual_switch() -> None:
    torch.manual_seed(0)
    m = RPAFNet(**TINY).eval()
    plain = RPAFNet(**TINY, residual=False).eval()
    plain.load_state_dict(m.state_dict())
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(m(x), x + plain(x))


@pytest.mark.parametrize("encoder_norm", ["none", "batch", "group"])
def test_gradients_reach_every_parameter(encoder_norm: str) -> None:
    torch.manual_seed(0)
    m = RPAFNet(**TINY, encoder_norm=encoder_norm).train()
    x = torch.rand(2, 3, 21, 18, requires_grad=True)
    m(x).square().mean().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert x.grad is not None
    assert x.grad.abs().sum() > 0


@pytest.mark.slow
def test_gradcheck_input() -> None:
    torch.manual_seed(0)
    m = RPAFNet(widths=[2, 4], head_dim=2, mlp_ratio=1.0, min_input_size=8).double().eval()
    x = torch.rand(1, 3, 8, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,), eps=1e-6, atol=1e-5)


def test_deterministic_under_seed() -> None:
    x = torch.rand(2, 3, 19, 17)
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        m = RPAFNet(**TINY).train()
        outs.append(m(x))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_bf16_autocast_cpu() -> None:
    torch.manual_seed(0)
    m = RPAFNet(**TINY).eval()
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        ref = m(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    assert (y.float() - ref).abs().max() < 0.1  # bf16 has ~3 significant digits


def test_bf16_autocast_training_step() -> None:
    torch.manual_seed(0)
    m = RPAFNet(**TINY).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = m(torch.rand(2, 3, 20, 20)).float().square().mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_autocast(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    m = RPAFNet(widths=[8, 12, 16, 24], head_dim=8).cuda().eval()
    x = torch.rand(2, 3, 67, 45, device="cuda")
    with torch.no_grad():
        ref = m(x)
        with torch.autocast("cuda", dtype=dtype):
            y = m(x)
    assert y.shape == x.shape
    assert y.device == x.device
    assert torch.isfinite(y).all()
    assert (y.float() - ref).abs().max() < 0.1
    m.train()
    with torch.autocast("cuda", dtype=dtype):
        m(x).float().mean().backward()


def _compose(name: str, *overrides: str):
    pytest.importorskip("hydra")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=None, overrides=[f"+model={name}", *overrides])


def test_hydra_paper_config_instantiates_defaults() -> None:
    from hydra.utils import instantiate

    cfg = _compose("rpafnet")
    assert cfg.model._target_ == "rpaf.models.RPAFNet"
    m = instantiate(cfg.model)
    ref = RPAFNet()
    assert m.widths == ref.widths
    assert n_params(m) == n_params(ref)


def test_hydra_lite_config_inherits_and_is_small() -> None:
    from hydra.utils import instantiate

    cfg = _compose("rpafnet_lite")
    paper = _compose("rpafnet")
    assert cfg.model.ratio == paper.model.ratio
    assert cfg.model.mlp_ratio == paper.model.mlp_ratio
    assert list(cfg.model.widths) != list(paper.model.widths)
    m = instantiate(cfg.model)
    assert n_params(m) <= 2_000_000
    ablation = instantiate(_compose("rpafnet_lite", "model.ldsc=false", "model.levels=3").model)
    assert len(ablation.encoders) == 3
    assert not any(isinstance(x, LDSC) for x in ablation.modules())


def test_drl_fusion_enhance_keeps_the_skip() -> None:
    replace = RPAFNet(**TINY, drl_fusion="replace")
    enhance = RPAFNet(**TINY, drl_fusion="enhance")
    # enhance: Conv1x1([p, e, DRL(p, e)]) has one more part of `cout` channels per level.
    for fr, fe, c in zip(replace.skip_fuse, enhance.skip_fuse, TINY["widths"], strict=False):
        assert fr.in_channels == 2 * c
        assert fe.in_channels == 3 * c
    assert RPAFNet(**TINY, drl=False, drl_fusion="enhance").skip_fuse[0].in_channels == 8
    # The skip's magnitude reaches the decoder: scaling the encoder output of level 0 changes
    # the output through the e-part of the fuse even where DRL(p, e) is unit-norm.
    torch.manual_seed(0)
    enhance.eval()
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        y = enhance(x)
        enhance.skip_fuse[0].weight[:, 4:8].zero_()  # drop the e-part of level 0
        assert not torch.allclose(enhance(x), y)
    with pytest.raises(ValueError, match="model.drl_fusion='sum'"):
        RPAFNet(**TINY, drl_fusion="sum")


def _encoder_outputs(m: RPAFNet, x: torch.Tensor) -> list[torch.Tensor]:
    """Each encoder level's output before its activation (LDSC, then the optional norm)."""
    outs: list[torch.Tensor] = []
    for norm in m.encoder_norms:
        norm.register_forward_hook(lambda _m, _i, o: outs.append(o.detach()))
    with torch.no_grad():
        m(x)
    return outs


def test_encoder_norm_none_is_the_paper_network() -> None:
    # No parameters or buffers added: state dicts of networks trained before the key existed load.
    net = RPAFNet(**TINY, encoder_norm="none")
    assert not [k for k in net.state_dict() if k.startswith("encoder_norms.")]
    assert all(isinstance(n, nn.Identity) for n in net.encoder_norms)
    grouped = RPAFNet(**TINY, encoder_norm="group")
    assert [k for k in grouped.state_dict() if k.startswith("encoder_norms.")]


@pytest.mark.parametrize("kind", ["batch", "group"])
def test_encoder_norm_bounds_each_level(kind: str) -> None:
    # Encoder weights scaled up 4x per layer make activations grow with depth without the
    # norm; with it every level's pre-activation output has zero mean and unit variance.
    torch.manual_seed(0)
    x = torch.rand(2, 3, 24, 24)
    grown = {}
    for name in ("none", kind):
        m = RPAFNet(**TINY, encoder_norm=name).train()
        with torch.no_grad():
            for p in m.encoders.parameters():
                p.mul_(4.0)
        grown[name] = _encoder_outputs(m, x)
    stds = [o.std().item() for o in grown["none"]]
    assert stds[-1] > 10 * stds[0]
    for o in grown[kind]:
        dims = (0, 2, 3) if kind == "batch" else (1, 2, 3)
        torch.testing.assert_close(o.mean(dims), torch.zeros_like(o.mean(dims)), atol=1e-4, rtol=0)
        torch.testing.assert_close(
            o.var(dims, correction=0), torch.ones_like(o.mean(dims)), atol=1e-2, rtol=0)
    m = RPAFNet(**TINY, encoder_norm=kind)
    assert n_params(m) == n_params(RPAFNet(**TINY)) + 2 * sum(TINY["widths"])


def test_encoder_norm_from_the_hydra_config() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["model=rpafnet_lite",
                                                      "model.encoder_norm=group"])
    net = instantiate(cfg.model)
    assert all(isinstance(n, nn.GroupNorm) and n.num_groups == 1 for n in net.encoder_norms)
