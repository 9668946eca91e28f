"""Range checks on composed configs name the key at fault."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from rpaf.builders import ConfigError, build
from rpaf.config_checks import check_config


def _cfg(**over):
    base = {
        "seed": 0,
        "gelr": {"alpha": 0.4, "beta": 0.6, "rho1": 1.0, "rho2": 1.0, "theta": 0.1},
        "loss": {"lambda1": 0.7, "lambda2": 0.3},
        "model": {"ratio": 0.8, "dilations": [1, 2, 4]},
        "optim": {"lr": 1e-3},
    }
    cfg = OmegaConf.create(base)
    for k, v in over.items():
        OmegaConf.update(cfg, k, v)
    return cfg


def test_valid_config_passes() -> None:
    check_config(_cfg())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gelr.alpha", -0.1),
        ("gelr.theta", 1.0),
        ("gelr.theta", -0.5),
        ("gelr.rho1", 0.0),
        ("model.ratio", 0.0),
        ("model.ratio", 1.5),
        ("model.dilations", []),
        ("loss.lambda1", -1),
        ("optim.lr", 0),
        ("seed", "abc"),
    ],
)
def test_out_of_range_names_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_config(_cfg(**{key: value}))


def test_seed_zero_is_a_seed() -> None:
    check_config(_cfg(seed=0))


def test_unknown_kwarg_names_key() -> None:
    node = OmegaConf.create({"_target_": "torch.nn.ReLU", "foo": 1})
    with pytest.raises(ConfigError, match="'model'"):
        build(node, "model")


def test_missing_target_names_key() -> None:
    with pytest.raises(ConfigError, match="'data' has no _target_"):
        build(OmegaConf.create({"root": "x"}), "data")


def test_unknown_top_level_key_is_rejected(compose, tmp_path) -> None:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="alhpa"):
        compose("train", ["gelr.alhpa=0.3"], tmp_path)


def test_out_of_range_fails_at_start_and_is_recorded(compose, tmp_path) -> None:
    import json

    from rpaf.train import run_training

    cfg = compose("train", ["experiment=smoke", "logger=[]", "gelr.alpha=-1"], tmp_path)
    with pytest.raises(ConfigError, match=r"gelr\.alpha=-1"):
        run_training(cfg)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "failed"
    assert "gelr.alpha" in record["error"]


def test_init_weights_and_resume_together_are_refused() -> None:
    cfg = _cfg(init_weights="a.ckpt", ckpt_path="b.ckpt", train=True)
    with pytest.raises(ConfigError, match=r"init_weights='a\.ckpt' and ckpt_path='b\.ckpt'"):
        check_config(cfg)
    with pytest.raises(ConfigError, match="add init_weights=null"):  # resuming a fine-tune
        check_config(cfg)
    check_config(_cfg(init_weights="a.ckpt"))


@pytest.mark.parametrize(("over", "match"), [
    ({"init_weights_mix": 0.5}, r"init_weights_mix=0\.5 needs init_weights=PATH"),
    ({"init_weights": "a.ckpt", "init_weights_mix": 1.5}, r"init_weights_mix=1\.5 is out of range"),
    ({"init_weights": "a.ckpt", "init_weights_mix": "half"}, "init_weights_mix='half' is out"),
    ({"init_weights": "a.ckpt", "init_weights_mix": 0.5, "train": False}, "needs train=true"),
])
def test_init_weights_mix_is_checked(over: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config(_cfg(**over))


def test_resumed_fine_tune_may_name_its_mix_partner() -> None:
    """With init_weights_mix, init_weights + ckpt_path is a resumed fine-tune, not a conflict."""
    check_config(_cfg(init_weights="a.ckpt", ckpt_path="b.ckpt", init_weights_mix=0.75, train=True))
    check_config(_cfg(init_weights="a.ckpt", init_weights_mix=0, train=True))
