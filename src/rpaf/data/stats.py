"""Input-vs-GT PSNR/SSIM distribution of the synthetic pairs.

Run ``python -m rpaf.data.stats --n 200`` to measure it and write
``experiments/synthetic_data_stats.md`` (with the command, date and git SHA).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from rpaf.data.synthetic import PSNR_RANGE, RECIPES, SPLITS, make_pair
from rpaf.utils.runinfo import git_sha

__all__ = ["git_sha", "main", "measure", "pair_metrics", "summarise"]

_STATS = ("min", "p5", "median", "mean", "p95", "max")


def pair_metrics(inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PSNR (dB) and SSIM of each input against its target (RGB, data range 1, no border crop).

    Args:
        inputs: (N, H, W, 3) float array in [0, 1].
        targets: Same shape.

    Returns:
        ``(psnr, ssim)``, each (N,) float64. SSIM: Gaussian window 11, sigma 1.5 (torchmetrics).
    """
    x = torch.from_numpy(np.ascontiguousarray(inputs)).permute(0, 3, 1, 2).float()
    y = torch.from_numpy(np.ascontiguousarray(targets)).permute(0, 3, 1, 2).float()
    psnr = peak_signal_noise_ratio(x, y, data_range=1.0, reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(x, y, data_range=1.0, reduction="none")
    return psnr.numpy(), ssim.numpy()


def summarise(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """min, 5th percentile, median, mean, 95th percentile and max of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    return {"min": v.min(), "p5": np.percentile(v, 5), "median": np.median(v),
            "mean": v.mean(), "p95": np.percentile(v, 95), "max": v.max()}


def measure(
    n: int, *, size: int = 256, recipe: str = "sps", split: str = "train", seed: int = 0
) -> dict[str, np.ndarray | float]:
    """Generate ``n`` pairs and measure them.

    Returns:
        ``{"psnr": (n,), "ssim": (n,), "ms_per_pair": float}``: generation CPU time of this
        process per pair (not wall time, which a busy machine inflates).
    """
    inputs, targets, t0 = [], [], time.process_time()
    for i in range(n):
        a, b = make_pair(i, seed=seed, size=size, recipe=recipe, split=split)
        inputs.append(a)
        targets.append(b)
    ms = (time.process_time() - t0) / max(n, 1) * 1e3
    psnr, ssim = [], []
    for k in range(0, n, 32):  # batched metrics keep memory small
        p, s = pair_metrics(np.stack(inputs[k : k + 32]), np.stack(targets[k : k + 32]))
        psnr.append(p)
        ssim.append(s)
    return {"psnr": np.concatenate(psnr), "ssim": np.concatenate(ssim), "ms_per_pair": ms}


def _markdown(rows: list[tuple[str, str, dict]], args: argparse.Namespace, cmd: str) -> str:
    head = " | ".join(f"PSNR {s}" for s in _STATS) + " | " + " | ".join(
        f"SSIM {s}" for s in ("min", "median", "mean", "max"))
    lines = [
        "# Synthetic pairs: input-vs-GT PSNR / SSIM",
        "",
        f"- Command: `{cmd}`",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Git SHA: {git_sha()}",
        f"- Hardware: {platform.processor() or platform.machine()}, {platform.system()}, "
        f"python {platform.python_version()}, torch {torch.__version__} (CPU)",
        f"- Data: `rpaf.data.synthetic.make_pair(index, seed={args.seed}, size={args.size}, "
        f"recipe, split)`, index 0..{args.n - 1}; target PSNR drawn uniformly in "
        f"{PSNR_RANGE[0]:g}-{PSNR_RANGE[1]:g} dB, strength found by bisection.",
        "- Metrics: RGB, data range 1.0, no border crop, float images (before 8-bit saving); "
        "SSIM Gaussian window 11, sigma 1.5 (torchmetrics).",
        "- CPU ms/pair: generation only, process CPU time (numpy is single-threaded here).",
        "",
        f"| recipe | split | n | {head} | CPU ms/pair |",
        "|" + "---|" * (3 + len(_STATS) + 4 + 1),
    ]
    for recipe, split, r in rows:
        p, s = summarise(r["psnr"]), summarise(r["ssim"])
        cells = [f"{p[k]:.2f}" for k in _STATS] + [f"{s[k]:.3f}" for k in ("min", "median",
                                                                          "mean", "max")]
        lines.append(f"| {recipe} | {split} | {len(r['psnr'])} | {' | '.join(cells)} | "
                     f"{r['ms_per_pair']:.1f} |")
    edges = np.arange(PSNR_RANGE[0] - 2, PSNR_RANGE[1] + 4, 2.0)
    lines += ["", "PSNR histogram (pairs per 2 dB bin, all recipes and splits above):", "",
              "| bin (dB) | " + " | ".join(f"{a:g}-{a + 2:g}" for a in edges[:-1]) + " |",
              "|---|" + "---|" * (len(edges) - 1)]
    counts, _ = np.histogram(np.concatenate([r["psnr"] for *_, r in rows]), bins=edges)
    lines.append("| pairs | " + " | ".join(str(c) for c in counts) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: measure the synthetic pairs and write the markdown table."""
    ap = argparse.ArgumentParser(prog="python -m rpaf.data.stats", description=__doc__)
    ap.add_argument("--n", type=int, default=200, help="pairs per recipe and split")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    ap.add_argument("--splits", nargs="+", default=["train", "test"], choices=SPLITS)
    ap.add_argument("--out", type=Path, default=Path("experiments/synthetic_data_stats.md"))
    args = ap.parse_args(argv)
    rows = []
    for recipe in args.recipes:
        for split in args.splits:
            r = measure(args.n, size=args.size, recipe=recipe, split=split, seed=args.seed)
            rows.append((recipe, split, r))
            p = summarise(r["psnr"])
            print(f"{recipe:>4} {split:>5}: PSNR {p['min']:.2f}..{p['max']:.2f} dB "
                  f"(mean {p['mean']:.2f}), SSIM mean {np.mean(r['ssim']):.3f}, "
                  f"{r['ms_per_pair']:.1f} ms/pair")
    cmd = "python -m rpaf.data.stats " + " ".join(shlex.quote(a) for a in (
        sys.argv[1:] if argv is None else argv))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_markdown(rows, args, cmd.strip()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
