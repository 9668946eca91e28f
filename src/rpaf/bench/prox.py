"""Throughput of the truncated-nuclear-norm prox (:func:`rpaf.gelr.ops.tnn_prox`).

Measures matrices per second for ``method="gram"`` (eigh of the Gram matrix) against
``method="svd"`` (the reference), each with float32 and float64 decompositions (the choice
:func:`rpaf.gelr.ops.prox_compute_dtype` makes by default rests on these), on a batch of 24 float32
matrices (4 images x 3 channels x 2 gradient directions) at 256^2 and 512^2, plus the
relative error of each fast path against the float64 SVD reference. Used by
``python -m rpaf.bench gelr`` (:func:`run`) and runnable alone::

    python -m rpaf.bench.prox [--sizes 256 512] [--batch 24] [--device auto] [--threads N]
                              [--out FILE]

Results go to ``experiments/bench/prox_<device>.md`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rpaf.bench.common import (
    env_info,
    markdown_table,
    resolve_device,
    time_fn,
    write_markdown,
)
from rpaf.gelr import ops

__all__ = ["VARIANTS", "main", "run"]

#: name -> keyword arguments of tnn_prox
VARIANTS: dict[str, dict[str, Any]] = {
    "gram (fp32 eigh)": {"method": "gram", "compute_dtype": torch.float32},
    "gram (fp64 eigh)": {"method": "gram", "compute_dtype": torch.float64},
    "svd (fp32)": {"method": "svd", "compute_dtype": torch.float32},
    "svd (fp64)": {"method": "svd", "compute_dtype": torch.float64},
}


def _test_batch(batch: int, size: int, device: torch.device, seed: int) -> torch.Tensor:
    """Gradient-error-like matrices: a decaying spectrum plus noise, in [0, 1]-image units."""
    gen = torch.Generator().manual_seed(seed)
    k = min(size, 64)
    left = torch.randn(batch, size, k, generator=gen)
    right = torch.randn(batch, k, size, generator=gen)
    decay = torch.logspace(0, -2, k).reshape(1, 1, k)
    w = (left * decay) @ right / math.sqrt(size) + 0.05 * torch.randn(batch, size, size,
                                                                        generator=gen)
    return w.to(device=device, dtype=torch.float32)


def run(
    sizes: Sequence[int] = (256, 512),
    batch: int = 24,
    device: str | torch.device = "auto",
    *,
    tau: float = 0.6,
    theta: float = ops.DEFAULT_THETA,
    repeats: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Time every :data:`VARIANTS` entry; returns one row dict per (size, variant).

    Row keys: ``size``, ``method``, ``batch``, ``seconds`` (median per batch),
    ``matrices_per_s``, ``rel_error`` (Frobenius, against a float64 SVD prox), ``device``.
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        w = _test_batch(batch, size, dev, seed)
        r = ops.truncation_rank(size, size, theta)
        ref = ops.tnn_prox(w.double(), tau, r, "svd")
        for name, kw in VARIANTS.items():
            out = ops.tnn_prox(w, tau, r, **kw).double()  # also the warm-up call
            rel = float((out - ref).norm() / ref.norm().clamp_min(1e-30))
            timing = time_fn(lambda w=w, r=r, kw=kw: ops.tnn_prox(w, tau, r, **kw),
                             iters=repeats, warmup=0, device=dev)
            rows.append({
                "size": size, "method": name, "batch": batch, "r": r,
                "seconds": timing.median, "matrices_per_s": batch / timing.median,
                "rel_error": rel, "device": str(dev),
            })
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`run`'s rows."""
    return markdown_table(
        ["size", "method", "batch", "r", "s / batch (median)", "matrices/s", "rel. error"],
        [[f"{x['size']}x{x['size']}", x["method"], x["batch"], x["r"], f"{x['seconds']:.3f}",
          f"{x['matrices_per_s']:.1f}", f"{x['rel_error']:.1e}"] for x in rows],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(prog="python -m rpaf.bench.prox", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--batch", type=int, default=24)
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice); 1 is steadier on a busy host")
    p.add_argument("--out", default=None, help="Markdown result file ('' = do not write)")
    args = p.parse_args(argv)
    dev = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(args.sizes, args.batch, dev, repeats=args.repeats)
    text = table(rows)
    print(text)
    if args.out != "":
        out = Path(args.out or f"experiments/bench/prox_{dev.type}.md")
        note = (f"Batch of {args.batch} float32 matrices, tau = 0.6, r = floor(0.05 * side); "
                f"median of {args.repeats} runs after one warm-up. Rel. error: Frobenius, "
                "against a float64 SVD prox. Command: `python -m rpaf.bench.prox "
                + " ".join(argv if argv is not None else sys.argv[1:]) + "`.")
        if hasattr(os, "getloadavg"):
            note += f" Host load average at the end: {os.getloadavg()[0]:.1f}."
        write_markdown(out, "Truncated-nuclear-norm prox throughput (rpaf.gelr.ops.tnn_prox)",
                       env_info(dev), [text, note])
        print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
