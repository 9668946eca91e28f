"""Choosing a baseline's tuned setting from its grid's metrics.json files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rpaf.baselines.tuning import load_grid, main, rank, to_markdown


def _job(root: Path, i: int, lam: str, psnr: float | None, status: str = "ok") -> None:
    d = root / str(i)
    d.mkdir(parents=True)
    record = {"status": status, "overrides": ["+method_grid=l0", f"method.lam={lam}"],
              "config": {"split": "val"},
              "metrics": {} if psnr is None else {"psnr": psnr, "ssim": psnr / 40}}
    (d / "metrics.json").write_text(json.dumps(record))


def test_rank_and_table(tmp_path: Path) -> None:
    _job(tmp_path, 0, "0.01", 30.0)
    _job(tmp_path, 1, "0.04", 32.5)
    _job(tmp_path, 2, "0.08", None, status="failed")
    results = load_grid(tmp_path)
    assert [r.params["lam"] for r in rank(results)] == ["0.04", "0.01"]
    assert [r.params["lam"] for r in rank(results, higher_is_better=False)] == ["0.01", "0.04"]
    table = to_markdown(results)
    assert table.splitlines()[2].startswith("| 1 | 0.04 | 32.5000")
    assert "| failed | 0.08 |" in table
    out = tmp_path / "grid.md"
    assert main([str(tmp_path), "--out", str(out)]) == 0
    assert "split val" in out.read_text()


def test_empty_or_all_failed(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="method_grid"):
        load_grid(tmp_path)
    _job(tmp_path, 0, "0.01", None, status="failed")
    assert main([str(tmp_path)]) == 1


def test_network_inference_keys_are_grid_parameters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``rpaf-eval -m ckpt_path=... model_overrides.refine_kernel=5,9`` ranks like a method grid."""
    for i, (kernel, psnr) in enumerate([("5", 31.0), ("9", 31.5)]):
        d = tmp_path / str(i)
        d.mkdir()
        (d / "metrics.json").write_text(json.dumps({
            "status": "ok", "config": {"split": "val"}, "metrics": {"psnr": psnr},
            "overrides": ["ckpt_path=a.ckpt", f"model_overrides.refine_kernel={kernel}"]}))
    assert [r.params for r in rank(load_grid(tmp_path))] == [{"refine_kernel": "9"},
                                                              {"refine_kernel": "5"}]
    # The chosen point is printed as the overrides that reproduce it, with their own prefix.
    assert main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "best: model_overrides.refine_kernel=9"


def test_method_grid_best_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _job(tmp_path, 0, "0.01", 30.0)
    _job(tmp_path, 1, "0.04", 32.5)
    assert main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "best: method.lam=0.04"
