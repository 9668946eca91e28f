"""tools/last_checkpoint_epochs.py: runs whose last.ckpt is older than their last epoch."""

from __future__ import annotations

from pathlib import Path

import torch


def _run(root: Path, name: str, ckpt_epoch: int, val_epochs: list[int] | None) -> Path:
    run = root / name / "runs" / "2026-01-01_00-00-00_000000"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"epoch": ckpt_epoch, "state_dict": {"net.w": torch.zeros(2)}},
               run / "checkpoints" / "last.ckpt")
    if val_epochs is not None:
        (run / "csv").mkdir()
        lines = ["epoch,step,train/loss,val/psnr"]
        for e in val_epochs:
            lines += [f"{e},{10 * e + 5},0.5,", f"{e},{10 * e + 9},,{30 + e}"]
        (run / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")
    return run


def test_flags_a_last_checkpoint_older_than_the_last_epoch(tmp_path: Path, capsys,
                                                           load_tool) -> None:
    _run(tmp_path, "stale", 2, [0, 1, 2, 3, 4])
    _run(tmp_path, "fresh", 4, [0, 1, 2, 3, 4])
    _run(tmp_path, "nolog", 1, None)
    tool = load_tool("last_checkpoint_epochs")
    rows = {run.parent.parent.name: (ck, ep) for run, ck, ep in tool.scan([tmp_path])}
    assert rows == {"stale": (2, 4), "fresh": (4, 4), "nolog": (1, None)}
    assert tool.main([str(tmp_path), "--stale-only"]) == 0
    out = capsys.readouterr().out
    assert "stale/runs" in out
    assert "fresh/runs" not in out
    assert "1 of 3 runs" in out
