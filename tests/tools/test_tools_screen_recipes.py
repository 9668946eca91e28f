"""tools/screen_recipes.py: variant parsing, the summary table, one tiny end-to-end screen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def test_parse_variant_splits_name_and_quoted_overrides(load_tool) -> None:
    spec = "psn_s1=loss.psnr_weight=0.005 'data.size=[64,64]' seed=1"
    name, overrides = load_tool("screen_recipes").parse_variant(spec)
    assert name == "psn_s1"
    assert overrides == ["loss.psnr_weight=0.005", "data.size=[64,64]", "seed=1"]


@pytest.mark.parametrize("spec", ["loss.psnr_weight", "=seed=1", "a b=seed=1", "x/y=seed=1"])
def test_parse_variant_rejects_bad_specs(spec: str, load_tool) -> None:
    with pytest.raises(SystemExit, match="NAME=OVERRIDES"):
        load_tool("screen_recipes").parse_variant(spec)


def _run_folder(log_dir: Path, task: str, stamp: str = "2026-11-26_00-00-00_000000") -> Path:
    run = log_dir / task / "runs" / stamp
    run.mkdir(parents=True)
    return run


def test_summary_table_reads_runs_and_marks_what_is_missing(tmp_path: Path, load_tool) -> None:
    tool = load_tool("screen_recipes")
    old = _run_folder(tmp_path, "screen_a", "2026-11-25_00-00-00_000000")
    (old / "csv").mkdir()
    (old / "csv" / "metrics.csv").write_text("epoch,step,val/psnr\n0,10,11.0\n")
    new = _run_folder(tmp_path, "screen_a")  # the newest run folder is the one read
    (new / "csv").mkdir()
    (new / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/psnr\n0,5,0.1,\n0,10,,25.5\n1,20,,27.25\n")
    syn = _run_folder(tmp_path, "syn_screen_a")
    (syn / "metrics.json").write_text(json.dumps(
        {"status": "ok", "metrics": {"psnr": 30.123, "ssim": 0.91234}}))
    comp = _run_folder(tmp_path, "comp_screen_a")  # a failed evaluation is not a score
    (comp / "metrics.json").write_text(json.dumps({"status": "failed", "metrics": {}}))
    tool.kept_file(tmp_path, "a").write_text(json.dumps({"kept_db": 33.333}))
    table = tool.summary_table(tmp_path, ["a", "b"]).splitlines()
    assert len(table) == 4
    assert table[2] == "| a | 2 | 27.25 | 30.12 / 0.9123 | — | — | 33.33 |"
    assert table[3] == "| b | — | — | — | — | — | — |"


@pytest.mark.slow
def test_tiny_screen_end_to_end(tmp_path: Path, capsys, load_tool) -> None:
    """A one-epoch smoke variant trains, is scored on the synthetic split and on clean images."""
    structures = tmp_path / "structures"
    structures.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        img = np.zeros((40, 48, 3), np.uint8)
        img[:, 24:] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(structures / f"s{i}.png")
    logs = tmp_path / "logs"
    tool = load_tool("screen_recipes")
    rc = tool.main(["--experiment", "smoke", "--variant", "tiny=data.n_train=4 seed=0",
                    "--jobs", "1", "--log-dir", str(logs), "--structures", str(structures),
                    "--real-root", str(tmp_path / "absent"),
                    "--composites-root", str(tmp_path / "absent"),
                    "--out", str(tmp_path / "screen.md")])
    assert rc == 0
    row = (tmp_path / "screen.md").read_text().splitlines()[2].split(" | ")
    assert row[0] == "| tiny"
    assert row[1] == "1"  # epochs completed
    psnr, ssim = (float(v) for v in row[3].split(" / "))
    assert 10 < psnr < 60
    assert 0 < ssim <= 1
    assert row[4] == row[5] == "—"  # absent check sets are left out, not invented
    assert float(row[6].rstrip(" |")) > 10
    assert "[tiny] training rc=0" in capsys.readouterr().out
