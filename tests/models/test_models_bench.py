"""Benchmark helpers (rpaf.bench.common) and the `python -m rpaf.bench model` entry point."""

from __future__ import annotations

import json
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
    # The JSON beside it feeds Table 10: NaN (not run) becomes null, device is recorded.
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["device_type"] == "cpu"
    assert doc["dtype"] == "float32"
    (rec,) = doc["results"]
    assert rec["method"] == "rpafnet_lite"
    assert rec["size"] == 64
    assert rec["latency_s"] is None
    assert rec["params_m"] > 0


def test_bench_json_feeds_table10(tmp_path: Path) -> None:
    """A real (tiny) bench run lands in the Table 10 CPU row of its config."""
    pytest.importorskip("hydra")
    from rpaf.bench.__main__ import main
    from rpaf.tables import build_table, collect_runs, load_spec

    out = tmp_path / "bench" / "model_cpu.md"
    argv = ["model", "--configs", "rpafnet_lite", "--sizes", "512", "--iters", "0",
            "--no-isolate", "--ceiling-size", "64", "--threads", "1", "--out", str(out)]
    assert main(argv) == 0
    runs = collect_runs(tmp_path / "none", bench_dirs=[out.parent])
    spec = load_spec(Path(__file__).resolve().parents[2] / "experiments"
                     / "table10_inference.yaml")
    table = build_table(spec, runs, scale="test", date="d", git_sha="s")
    labels = [r.label for r in spec.rows]
    ids = [c.id for c in spec.columns]
    row = table.cells[labels.index("RPAFNet lite (rpaf), CPU")]
    assert row[ids.index("latency_512")].mean > 0
    assert row[ids.index("params_m")].mean == pytest.approx(
        json.loads(out.with_suffix(".json").read_text())["results"][0]["params_m"])
    gpu = table.cells[labels.index("RPAFNet lite (rpaf), GPU")]
    assert gpu[ids.index("latency_512")].mean is None


def test_bench_dispatch_unknown_command() -> None:
    from rpaf.bench.__main__ import main

    assert main(["nope"]) == 2
