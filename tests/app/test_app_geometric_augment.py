"""Training-time geometric augmentation inside the LightningModule (``geometric_augment``)."""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

import pytest
import torch
from torch import nn

from rpaf.gelr.loss import GELRLoss
from rpaf.lit import LitRPAF
from rpaf.models.self_ensemble import transformed_forward
from rpaf.train import run_training


def _lit(net: nn.Module, n: int, seed: int = 0) -> LitRPAF:
    lit = LitRPAF(net=net, loss=GELRLoss(lambda1=0.0), geometric_augment=n, augment_seed=seed,
                  optimizer=partial(torch.optim.Adam, lr=1e-3))
    lit.log = lambda *args, **kwargs: None  # type: ignore[method-assign]
    return lit


def test_draws_are_deterministic_per_step_and_cover_the_group() -> None:
    lit = _lit(nn.Identity(), 8, seed=3)
    draws = [lit.augment_index(s) for s in range(400)]
    assert draws == [_lit(nn.Identity(), 8, seed=3).augment_index(s) for s in range(400)]
    assert set(Counter(draws)) == set(range(8))
    assert min(Counter(draws).values()) > 25  # roughly uniform (50 expected)
    assert draws != [_lit(nn.Identity(), 8, seed=4).augment_index(s) for s in range(400)]
    assert {_lit(nn.Identity(), 4).augment_index(s) for s in range(100)} == set(range(4))
    assert {_lit(nn.Identity(), 1).augment_index(s) for s in range(100)} == {0}
    with pytest.raises(ValueError, match="geometric_augment=3"):
        _lit(nn.Identity(), 3)


def test_training_step_returns_the_output_in_the_sample_geometry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The GELR callback gets u aligned with the sample: T^-1(net(T g))."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)  # not flip-equivariant
    lit = _lit(conv, 8)
    g, x = torch.rand(2, 3, 12, 12), torch.rand(2, 3, 12, 12)
    step = next(s for s in range(50) if lit.augment_index(s) == 6)
    monkeypatch.setattr(LitRPAF, "global_step", property(lambda self: step))
    u = lit.training_step({"input": g, "target": x}, 0)["u"]
    torch.testing.assert_close(u, transformed_forward(conv, g, 6).detach())
    assert not torch.allclose(u, conv(g).detach())
    # A pointwise map is equivariant: augmentation changes nothing there.
    point = _lit(nn.Conv2d(3, 3, 1), 8)
    torch.testing.assert_close(point.training_step({"input": g, "target": x}, 0)["u"],
                               point.net(g).detach())


def test_run_with_gelr_and_augmentation(compose, tmp_path: Path) -> None:
    """GELR (fixed-geometry per-sample state) trains with geometric_augment=8."""
    cfg = compose("train", [
        "experiment=smoke", "logger=[]", "callbacks.progress_bar=null",
        "callbacks.image_panels=null", "trainer.enable_model_summary=false",
        "test=false", "evaluate=false", "geometric_augment=8", "trainer.max_epochs=2",
    ], tmp_path)
    record = run_training(cfg)
    assert record["status"] == "ok"
    assert record["config"]["geometric_augment"] == 8
