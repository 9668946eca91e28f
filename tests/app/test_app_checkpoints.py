"""Safe checkpoint loading: corrupt, truncated, empty and unsafe files give clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from rpaf.checkpoints import CheckpointError, load_checkpoint, load_init_weights, model_config


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


def test_keys_added_later_compare_equal_to_their_old_behaviour() -> None:
    """A network trained before ``model.encoder_norm`` existed has the config of one trained
    after it with ``encoder_norm: none`` (tools/interpolate_checkpoints.py compares them)."""
    base = {"_target_": "rpaf.models.RPAFNet", "widths": [4, 6], "drl_fusion": "enhance"}
    old = {"hyper_parameters": {"config": {"model": dict(base)}}}
    new = {"hyper_parameters": {"config": {"model": {**base, "encoder_norm": "none",
                                                     "refine_kernel": 0}}}}
    assert model_config(old) == model_config(new)
    normed = {"hyper_parameters": {"config": {"model": {**base, "encoder_norm": "group"}}}}
    assert model_config(normed) != model_config(old)


def _net_ckpt(path: Path, net: torch.nn.Module) -> Path:
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


def test_init_weights_copies_every_parameter(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 3, 1))
    torch.manual_seed(1)
    fresh = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 3, 1))
    assert not torch.equal(fresh[0].weight, trained[0].weight)
    load_init_weights(fresh, _net_ckpt(tmp_path / "a.ckpt", trained))
    for key, value in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_init_weights_mismatch_names_file_and_keys(tmp_path: Path) -> None:
    trained = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 3, 1))
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 3, 1),
                                torch.nn.ReLU(), torch.nn.Conv2d(3, 3, 1))
    path = _net_ckpt(tmp_path / "wide.ckpt", trained)
    before = [p.clone() for p in other.parameters()]
    with pytest.raises(CheckpointError, match=r"wide\.ckpt") as err:
        load_init_weights(other, path)
    msg = str(err.value)
    assert "missing: 3.bias, 3.weight" in msg
    assert "with another shape: 0.bias, 0.weight, 1.weight" in msg
    # Nothing was half-loaded.
    assert all(torch.equal(a, b) for a, b in zip(before, other.parameters(), strict=True))


def test_init_weights_without_net_weights(tmp_path: Path) -> None:
    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": {"other.w": torch.ones(1)}}, path)
    with pytest.raises(CheckpointError, match=r"x\.ckpt.*no 'net\.\*' weights"):
        load_init_weights(torch.nn.Linear(1, 1), path)
