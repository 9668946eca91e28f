"""tools/per_family.py: per-pair scores and the per-family summary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch


def test_identity_network_scores_as_the_input(tmp_path: Path, capsys, load_tool) -> None:
    """An identity "network" must score exactly the input's PSNR on every pair."""
    ckpt = tmp_path / "id.ckpt"
    weight = torch.eye(3).reshape(3, 3, 1, 1)  # a 1x1 convolution that copies its input
    torch.save({"state_dict": {"net.weight": weight, "net.bias": torch.zeros(3)},
                "hyper_parameters": {"config": {"model": {
                    "_target_": "torch.nn.Conv2d", "in_channels": 3, "out_channels": 3,
                    "kernel_size": 1}}}}, ckpt)
    tool = load_tool("per_family")
    assert tool.main([str(ckpt), "--method", "tv", "--n", "3", "--size", "32"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"input\s+([\d.]+)\s+net\s+([\d.]+)\s+tv\s+([\d.]+)\s+diff\s+([-+\d.]+)", out)
    assert len(rows) == 3
    for inp, net, tv, diff in rows:
        assert float(net) == pytest.approx(float(inp), abs=0.01)
        assert float(diff) == pytest.approx(float(net) - float(tv), abs=0.02)
    assert "per family" in out
    # The identity keeps the ground truth exactly; TV does not.
    kept = re.search(r"structure kept .*: net (\S+) dB\s+tv ([\d.]+) dB", out)
    assert kept is not None
    assert float(kept.group(1)) == float("inf")
    assert float(kept.group(2)) < 80


def test_unknown_method_named(load_tool) -> None:
    with pytest.raises(SystemExit, match="nope"):
        load_tool("per_family").load_method("nope")
