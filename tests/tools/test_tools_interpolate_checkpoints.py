"""tools/interpolate_checkpoints.py: weight interpolation of two checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rpaf.checkpoints import CheckpointError, load_network

MODEL = {"_target_": "torch.nn.Conv2d", "in_channels": 3, "out_channels": 3, "kernel_size": 1}


def _ckpt(path: Path, seed: int, model: dict = MODEL) -> Path:
    torch.manual_seed(seed)
    net = torch.nn.Conv2d(model["in_channels"], model["out_channels"], model["kernel_size"])
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    state["net.steps"] = torch.tensor(seed)  # an integer buffer: taken from B, not averaged
    torch.save({"state_dict": state, "optimizer_states": [],
                "hyper_parameters": {"config": {"model": dict(model)}}}, path)
    return path


def test_endpoints_and_midpoint(tmp_path: Path, load_tool) -> None:
    tool = load_tool("interpolate_checkpoints")
    a, b = _ckpt(tmp_path / "a.ckpt", 0), _ckpt(tmp_path / "b.ckpt", 1)
    out = tmp_path / "soups"
    assert tool.main([str(a), str(b), "--alpha", "0", "0.5", "1", "-o", str(out)]) == 0
    sa, sb = torch.load(a)["state_dict"], torch.load(b)["state_dict"]
    for alpha in (0.0, 0.5, 1.0):
        soup = torch.load(out / f"alpha_{alpha:g}.ckpt")
        assert soup["interpolation"]["alpha"] == alpha
        for key in ("net.weight", "net.bias"):
            expected = (1 - alpha) * sa[key] + alpha * sb[key]
            torch.testing.assert_close(soup["state_dict"][key], expected)
        assert int(soup["state_dict"]["net.steps"]) == 1
    # The midpoint network computes the mean of the two outputs (a 1x1 convolution is affine).
    x = torch.rand(1, 3, 4, 4)
    nets = [torch.nn.Conv2d(3, 3, 1) for _ in range(2)]
    for net, s in zip(nets, (sa, sb), strict=True):
        net.load_state_dict({k[4:]: v for k, v in s.items() if k != "net.steps"})
    mid = torch.load(out / "alpha_0.5.ckpt")["state_dict"]
    soup_net = torch.nn.Conv2d(3, 3, 1)
    soup_net.load_state_dict({k[4:]: v for k, v in mid.items() if k != "net.steps"})
    torch.testing.assert_close(soup_net(x), (nets[0](x) + nets[1](x)) / 2)


def test_loads_like_any_checkpoint(tmp_path: Path, load_tool) -> None:
    tool = load_tool("interpolate_checkpoints")
    ckpt = tool.interpolate(_ckpt(tmp_path / "a.ckpt", 0), _ckpt(tmp_path / "b.ckpt", 1), 0.3)
    ckpt["state_dict"].pop("net.steps")
    torch.save(ckpt, tmp_path / "soup.ckpt")
    assert isinstance(load_network(tmp_path / "soup.ckpt"), torch.nn.Conv2d)


def test_different_architectures_refused(tmp_path: Path, load_tool) -> None:
    tool = load_tool("interpolate_checkpoints")
    wide = dict(MODEL, out_channels=4)
    a, b = _ckpt(tmp_path / "a.ckpt", 0), _ckpt(tmp_path / "b.ckpt", 1, wide)
    with pytest.raises(CheckpointError, match=r"a\.ckpt and .*b\.ckpt .*different model configs"):
        tool.interpolate(a, b, 0.5)
    with pytest.raises(CheckpointError, match=r"net\.weight has shape \(3, 3, 1, 1\) in A"):
        tool.interpolate_states({"net.weight": torch.zeros(3, 3, 1, 1)},
                                {"net.weight": torch.zeros(4, 3, 1, 1)}, 0.5)


def test_alpha_outside_unit_interval_refused(tmp_path: Path, load_tool) -> None:
    tool = load_tool("interpolate_checkpoints")
    a = _ckpt(tmp_path / "a.ckpt", 0)
    with pytest.raises(SystemExit, match=r"\[1\.5\]"):
        tool.main([str(a), str(a), "--alpha", "0.5", "1.5", "-o", str(tmp_path)])


def test_task_folders_with_a_seed(tmp_path: Path, load_tool) -> None:
    """``A``/``B`` as task log folders + ``--seed``: the newest finished run of that seed."""
    import json

    tool = load_tool("interpolate_checkpoints")
    for task, seed in (("stage1", 0), ("stage1", 1), ("stage2", 1)):
        run = tmp_path / task / "runs" / f"r{seed}"
        (run / "checkpoints").mkdir(parents=True)
        _ckpt(run / "checkpoints" / "last.ckpt", seed + (10 if task == "stage2" else 0))
        (run / "metrics.json").write_text(json.dumps({"status": "ok", "seed": seed}))
    out = tmp_path / "soups"
    args = [str(tmp_path / "stage1"), str(tmp_path / "stage2"), "--alpha", "0", "-o", str(out)]
    assert tool.main([*args, "--seed", "1"]) == 0
    want = torch.load(tmp_path / "stage1" / "runs" / "r1" / "checkpoints" / "last.ckpt")
    torch.testing.assert_close(torch.load(out / "alpha_0.ckpt")["state_dict"]["net.weight"],
                               want["state_dict"]["net.weight"])
    with pytest.raises(SystemExit, match="--seed"):
        tool.main(args)
    with pytest.raises(SystemExit, match="seed=0") as err:  # stage 2 never ran with seed 0
        tool.main([*args, "--seed", "0"])
    assert "name a .ckpt file" in str(err.value)
    assert "init_weights" not in str(err.value)  # the fine-tune's way out, not the tool's
