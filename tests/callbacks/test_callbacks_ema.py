"""EMA of the weights (``callbacks=ema``): what is saved, tested, evaluated and resumed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_overrides import TINY_TRAIN

from rpaf.builders import build_callbacks
from rpaf.callbacks import EMAWeights
from rpaf.checkpoints import load_checkpoint
from rpaf.train import run_training

TINY = [*TINY_TRAIN, "callbacks=ema", "callbacks.ema.decay=0.5"]


def _train(compose, out: Path, *extra: str) -> dict:
    record = run_training(compose("train", [*TINY, *extra], out))
    assert record["status"] == "ok", record.get("error")
    return record


@pytest.mark.parametrize(("kwargs", "key"), [({"decay": 1.0}, "callbacks.ema.decay=1.0"),
                                         ({"decay": -0.1}, "callbacks.ema.decay=-0.1"),
                                         ({"update_every_n_steps": 0},
                                          "callbacks.ema.update_every_n_steps=0")])
def test_bad_settings_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        EMAWeights(**kwargs)


def test_ema_group_adds_the_callback_to_the_defaults(compose, tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    callbacks = build_callbacks(compose("train", ["experiment=smoke", "callbacks=ema"], tmp_path))
    ema = [c for c in callbacks if isinstance(c, EMAWeights)]
    assert len(ema) == 1
    assert ema[0].decay == 0.999
    assert any(isinstance(c, ModelCheckpoint) for c in callbacks)
    plain = build_callbacks(compose("train", ["experiment=smoke"], tmp_path / "plain"))
    assert not any(isinstance(c, EMAWeights) for c in plain)


@pytest.mark.slow
def test_checkpoint_and_test_after_training_use_the_average(compose, tmp_path: Path) -> None:
    record = _train(compose, tmp_path / "run", "trainer.max_epochs=2", "test=true")
    best = Path(record["best_checkpoint"])
    ckpt = load_checkpoint(best)
    net_keys = [k for k in ckpt["state_dict"] if k.startswith("net.")]
    assert net_keys
    assert set(net_keys) <= set(ckpt["current_model_state"])
    assert any(not torch.equal(ckpt["state_dict"][k], ckpt["current_model_state"][k])
               for k in net_keys), "the average equals the raw weights: nothing was averaged"
    # The score that rpaf-train reports after training is the averaged network's: the same
    # network loaded from the checkpoint's state_dict scores the same ...
    avg = _train(compose, tmp_path / "avg", "train=false", "test=true", f"init_weights={best}")
    assert avg["metrics"]["test/psnr"] == pytest.approx(record["metrics"]["test/psnr"], abs=1e-5)
    # ... and the raw weights score differently (Lightning's callback alone would test those).
    raw = dict(ckpt, state_dict=ckpt["current_model_state"])
    torch.save(raw, tmp_path / "raw.ckpt")
    raw_rec = _train(compose, tmp_path / "raw", "train=false", "test=true",
                     f"init_weights={tmp_path / 'raw.ckpt'}")
    assert abs(raw_rec["metrics"]["test/psnr"] - record["metrics"]["test/psnr"]) > 1e-4


@pytest.mark.slow
def test_resume_restores_the_average_and_the_raw_weights(compose, tmp_path: Path) -> None:
    _train(compose, tmp_path / "full", "trainer.max_epochs=2")
    _train(compose, tmp_path / "half", "trainer.max_epochs=1")
    last = tmp_path / "half" / "checkpoints" / "last.ckpt"
    _train(compose, tmp_path / "resumed", "trainer.max_epochs=2", f"ckpt_path={last}")
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.ckpt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 4
    for part in ("state_dict", "current_model_state", "averaging_state"):
        assert set(a[part]) == set(b[part]), part
        for key, value in a[part].items():
            torch.testing.assert_close(b[part][key], value, rtol=1e-5, atol=1e-6,
                                       msg=f"{part}[{key}]")
