"""Safe checkpoint loading: corrupt, truncated, empty and unsafe files give clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from rpaf.checkpoints import CheckpointError, load_checkpoint, model_config


def _good(path: Path) -> Path:
    torch.save({"state_dict": {"net.w": torch.ones(2)}, "hyper_parameters": {"config": {
        "model": {"_target_": "torch.nn.Identity"}}}}, path)
    return path


def test_load_good_checkpoint(tmp_path: Path) -> None:
    ckpt = load_checkpoint(_good(tmp_path / "a.ckpt"))
    assert torch.equal(ckpt["state_dict"]["net.w"], torch.ones(2))
    assert model_config(ckpt)["_target_"] == "torch.nn.Identity"


def test_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.ckpt")


def test_empty_file_named(tmp_path: Path) -> None:
    p = tmp_path / "empty.ckpt"
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.ckpt.*0 bytes"):
        load_checkpoint(p)


def test_truncated_file(tmp_path: Path) -> None:
    p = _good(tmp_path / "t.ckpt")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(p)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_untrusted_pickle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _Evil()}, p)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(p)
    assert "pwned" not in capsys.readouterr().out


def test_plain_pickle_not_a_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "x.ckpt"
    p.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointError):
        load_checkpoint(p)


def test_not_lightning_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "w.ckpt"
    torch.save({"weights": torch.zeros(1)}, p)
    with pytest.raises(CheckpointError, match="state_dict"):
        load_checkpoint(p)
    torch.save({"state_dict": {}}, p)
    with pytest.raises(CheckpointError, match="hyper_parameters"):
        model_config(load_checkpoint(p), p)


def test_rpafnet_checkpoints_from_before_drl_fusion_load_as_replace() -> None:
    old = {"hyper_parameters": {"config": {"model": {"_target_": "rpaf.models.RPAFNet"}}}}
    assert model_config(old)["drl_fusion"] == "replace"
    new = {"hyper_parameters": {"config": {"model": {"_target_": "rpaf.models.RPAFNet",
                                                     "drl_fusion": "enhance"}}}}
    assert model_config(new)["drl_fusion"] == "enhance"
