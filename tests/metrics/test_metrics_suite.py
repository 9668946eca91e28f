"""MetricSuite: keys, directions, Hydra configs, and agreement with the individual metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from rpaf.metrics import MetricConvention, MetricSuite, edge_psnr_ssim, psnr, ssim

CONF = Path(__file__).resolve().parents[2] / "conf"


def _pair(b: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(b, 3, size, size, generator=g)
    return (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1), x


def test_full_reference_only_matches_functions():
    suite = MetricSuite(no_reference=(), structural=True, convention=MetricConvention(color="y"))
    pred, target = _pair()
    out = suite(pred, target)
    assert list(out) == ["psnr", "ssim", "edge_psnr", "edge_ssim"] == suite.keys()
    torch.testing.assert_close(out["psnr"], psnr(pred, target, color="y"))
    torch.testing.assert_close(out["ssim"], ssim(pred, target, color="y"))
    ref = edge_psnr_ssim(pred, target, convention=suite.convention)
    torch.testing.assert_close(out["edge_ssim"], ref["edge_ssim"])
    assert all(v.shape == (2,) for v in out.values())
    assert suite(pred) == {}  # no target: no full-reference keys
    assert suite.keys(with_target=False) == []
    assert suite.higher_is_better == dict.fromkeys(suite.keys(), True)
    assert "Y (BT.601" in suite.describe()
    assert suite.images_seen == 4
    assert set(suite.seconds_per_image()) == {"psnr_ssim", "structural"}


def test_convention_from_mapping():
    suite = MetricSuite(no_reference=None, convention={"crop_border": 2, "data_range": 255.0})
    assert suite.convention == MetricConvention(data_range=255.0, crop_border=2)


def test_no_reference_and_bliinds2(iqa_dir: Path):
    if not (iqa_dir / "bliinds2" / "live_model.json").is_file():
        pytest.skip("no BLIINDS-II model in the shared folder")
    suite = MetricSuite(no_reference=("piqe", "brisque"), bliinds2=True, param_dir=iqa_dir)
    pred, target = _pair(size=64)
    out = suite(pred, target)
    assert list(out) == ["psnr", "ssim", "piqe", "brisque", "bliinds2"]
    assert list(suite(pred)) == ["piqe", "brisque", "bliinds2"]
    assert suite.higher_is_better == {
        "psnr": True,
        "ssim": True,
        "piqe": False,
        "brisque": False,
        "bliinds2": False,
    }
    assert all(v.shape == (2,) and torch.isfinite(v).all() for v in out.values())
    info = suite.to_dict()
    assert info["bliinds2_model"].endswith("live_model.json")


def test_bliinds2_without_model_fails_at_construction(tmp_path, monkeypatch):
    monkeypatch.delenv("RPAF_IQA_DIR", raising=False)
    monkeypatch.delenv("RPAF_BLIINDS2_MODEL", raising=False)
    with pytest.raises(FileNotFoundError, match="metrics=fast"):
        MetricSuite(no_reference=(), bliinds2=True, param_dir=tmp_path)


@pytest.mark.parametrize("variant", ["default", "fast", "full"])
def test_hydra_configs_compose_and_instantiate(variant, iqa_dir, monkeypatch):
    monkeypatch.setenv("RPAF_IQA_DIR", str(iqa_dir))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(overrides=[f"+metrics={variant}"])
    suite = instantiate(cfg.metrics)
    assert isinstance(suite, MetricSuite)
    assert suite.convention == MetricConvention()
    nr = set(suite.no_reference.names)
    assert {"brisque", "niqe", "piqe"} <= nr
    assert ("ilniqe" in nr) == (variant == "full")
    assert (suite.bliinds2 is not None) == (variant != "fast")
    assert suite.structural
    assert suite.no_reference.param_dir == iqa_dir


def _fast_suite(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(overrides=["+metrics=fast", *overrides])
    return instantiate(cfg.metrics)


def test_fast_config_uses_pyiqa_cache(offline_pyiqa: Path, iqa_dir: Path, monkeypatch):
    """No parameter directory: the files come from pyiqa's cache (no BLIINDS-II file needed)."""
    monkeypatch.delenv("RPAF_BLIINDS2_MODEL", raising=False)
    offline_pyiqa.mkdir()
    for name in ("brisque_svm_weights.pth", "niqe_modelparameters.mat"):
        (offline_pyiqa / name).symlink_to(iqa_dir / name)
    suite = _fast_suite()
    assert suite.no_reference.param_dir is None
    assert suite.keys() == ["psnr", "ssim", "edge_psnr", "edge_ssim", "brisque", "niqe", "piqe"]


def test_fast_config_offline_skips_or_fails(offline_pyiqa: Path, monkeypatch):
    """Offline with an empty cache: an error at construction, or (skip) PIQE only."""
    monkeypatch.delenv("RPAF_BLIINDS2_MODEL", raising=False)
    with pytest.raises(InstantiationException, match="niqe|brisque"):
        _fast_suite()
    suite = _fast_suite("metrics.unavailable=skip")
    assert suite.keys() == ["psnr", "ssim", "edge_psnr", "edge_ssim", "piqe"]
    assert set(suite.to_dict()["no_reference_unavailable"]) == {"brisque", "niqe"}
    assert "unavailable, not scored" in suite.describe()
