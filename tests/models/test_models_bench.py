"""Benchmark helpers (rpaf.bench.common) and the `python -m rpaf.bench model` entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from rpaf.bench.common import count_flops, live_tensor_peak, markdown_table, peak_memory


def test_count_flops_of_a_convolution() -> None:
    conv = nn.Conv2d(2, 3, 3, padding=1)
    assert count_flops(conv, (1, 2, 8, 8)) == 2 * 2 * 3 * 9 * 8 * 8


class _TwoTemporaries(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x * 2  # 4 MiB live
        b = a + 1  # 8 MiB live at the peak
        del a
        return b.sum()


def test_live_tensor_peak_counts_live_storages() -> None:
    peak = live_tensor_peak(_TwoTemporaries(), (1, 1, 1024, 1024))
    assert peak == 2 * 4 * 1024 * 1024 + 4  # two float maps (+ the 4-byte sum)


def test_peak_memory_cpu_sees_a_large_allocation() -> None:
    with peak_memory(torch.device("cpu")) as mem:
        x = torch.ones(64, 1024, 1024)  # 256 MiB
        del x
    assert mem.peak_mib > 128


def test_markdown_table() -> None:
    assert markdown_table(["a", "b"], [[1, 2]]).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| 1 | 2 |",
    ]


def test_bench_model_cli_skip_run(tmp_path: Path) -> None:
    pytest.importorskip("hydra")
    from rpaf.bench.__main__ import main

    out = tmp_path / "m.md"
    argv = ["model", "--configs", "rpafnet_lite", "--sizes", "64", "--skip-run"]
    assert main([*argv, "--ceiling-size", "64", "--out", str(out)]) == 0
    text = out.read_text()
    assert "rpafnet_lite" in text
    assert "| torch |" in text
    assert "git SHA" in text


def test_bench_dispatch_unknown_command() -> None:
    from rpaf.bench.__main__ import main

    assert main(["nope"]) == 2
