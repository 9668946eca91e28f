"""Which runs' ``last.ckpt`` is not their last epoch (written before rpaf's fix of b40ba1c).

Until b40ba1c, ``callbacks.model_checkpoint`` used Lightning's ``save_last=true``, which
rewrites ``last.ckpt`` only in epochs that also write a best-by-``val/psnr`` checkpoint: in a run
whose last epochs did not improve ``val/psnr``, ``last.ckpt`` holds the epoch of the last
improvement. This tool lists, for every run folder under the given roots (``runs/*`` and
``multiruns/*/*``), the epoch stored in ``last.ckpt`` (read with ``mmap``, so 400 MB files cost
little) against the last epoch the run validated (its CSV log), and flags the runs where they
differ::

    python tools/last_checkpoint_epochs.py logs --stale-only

Exit status 0; a run without ``last.ckpt`` or without a CSV log is listed with ``?``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screen_recipes import validation_rows  # noqa: E402


def last_validated_epoch(run: Path) -> int | None:
    """The highest epoch with a ``val/psnr`` row in the run's CSV log, or None."""
    epochs = [int(r["epoch"]) for r in validation_rows(run) or [] if r.get("epoch")]
    return max(epochs) if epochs else None


def checkpoint_epoch(path: Path) -> int | None:
    """The ``epoch`` stored in a Lightning checkpoint, or None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable: reported as "?"
        return None
    return int(ckpt["epoch"]) if "epoch" in ckpt else None


def scan(roots: list[Path]) -> list[tuple[Path, int | None, int | None]]:
    """``(run folder, last.ckpt epoch, last validated epoch)`` for every run under ``roots``."""
    runs = sorted({p.parent.parent for root in roots
                   for p in [*root.glob("*/runs/*/checkpoints/last.ckpt"),
                             *root.glob("*/multiruns/*/*/checkpoints/last.ckpt"),
                             *root.glob("runs/*/checkpoints/last.ckpt")]})
    return [(run, checkpoint_epoch(run / "checkpoints" / "last.ckpt"), last_validated_epoch(run))
            for run in runs]


def main(argv: list[str] | None = None) -> int:
    """Print a Markdown table of the runs (all, or the stale ones)."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("roots", type=Path, nargs="+", help="log folders, e.g. logs")
    ap.add_argument("--stale-only", action="store_true",
                    help="list only runs whose last.ckpt is not their last validated epoch")
    args = ap.parse_args(argv)
    rows = scan(args.roots)
    stale = [r for r in rows if r[1] is not None and r[2] is not None and r[1] != r[2]]
    print("| run | last.ckpt epoch | last validated epoch | stale |")
    print("|---|---|---|---|")
    for run, ck, ep in (stale if args.stale_only else rows):
        flag = "?" if ck is None or ep is None else ("yes" if ck != ep else "no")
        print(f"| {run} | {'?' if ck is None else ck} | {'?' if ep is None else ep} | {flag} |")
    print(f"\n{len(stale)} of {len(rows)} runs have a last.ckpt older than their last epoch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
