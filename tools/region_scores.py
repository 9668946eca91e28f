"""Where does a smoother lose? PSNR split into the edge band and the flat regions of the GT.

A diagnostic for the quality check of ``experiment=cpu_mini`` (findings in
``experiments/results/cpu_mini/README.md``, section 21). For each paired folder (``input/`` +
``gt/``, as ``rpaf-make-data`` writes them) it marks the **edge band** of every ground truth
(Sobel gradient magnitude of its grey image above ``--threshold``, dilated by a square of
radius ``--radius``) and scores each smoother's output, and the input itself, separately on the
edge band and on the rest (the **flat** regions). A low flat score with a good edge score means
texture left in the regions that should be smooth (under-smoothing); the reverse means edges
blurred or moved. The split is exact: with ``s`` the edge band's share of the pixels,
``MSE = s * MSE_edge + (1 - s) * MSE_flat``.

Scores are per-image PSNR (data range 1) over the RGB squared error of the region's pixels,
averaged over the images of a folder (as the other tools report PSNR).

``--bands`` also splits the error on the flat regions by scale (section 22 of the findings):
with ``e = output - GT`` and ``G_s`` a Gaussian blur of standard deviation ``s`` px (kornia,
reflected borders), ``e = bias + coarse + mid + fine`` where ``bias`` is the per-channel mean of
``e`` over the flat pixels, ``coarse = G_8 e - bias``, ``mid = G_2 e - G_8 e`` and
``fine = e - G_2 e``: the blurs pass half the power at periods of about 5.3 s, so fine holds
periods shorter than ~11 px, mid ~11-43 px and coarse longer ones. Each part is reported as the
PSNR of its mean square over the flat pixels (higher: less error at that scale). The parts are
not orthogonal, so their MSEs need not add up exactly; the table compares smoothers band by band.

Example::

    python tools/region_scores.py data/real_pairs --ckpt logs/<run>/checkpoints/last.ckpt \\
        --method rtv_tuned --per-image --bands
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rpaf.checkpoints import load_network
from rpaf.metrics.regions import (
    EDGE_RADIUS,
    EDGE_THRESHOLD,
    FINE_SIGMA,
    edge_mask,
    gaussian_blur,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_passes import load_named_pairs  # noqa: E402
from per_family import load_method  # noqa: E402

Smoother = Callable[[Tensor], Tensor]
#: Standard deviations (px) of the Gaussian blurs that separate the fine / mid / coarse bands.
BAND_SIGMAS = (FINE_SIGMA, 8.0)
BANDS = ("bias", "coarse", "mid", "fine")


def _db(mse: float) -> float:
    """PSNR (dB, data range 1) of a mean squared error; ``inf`` for 0, ``nan`` for ``nan``."""
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def region_psnr(output: Tensor, target: Tensor, mask: Tensor) -> dict[str, float]:
    """PSNR of ``output`` against ``target`` (1, 3, H, W) on all pixels, the edge band (``mask``
    true) and the flat regions, plus the band's share of the pixels (``edge_share``).

    A region without pixels scores ``nan``.
    """
    se = ((output.double() - target.double()) ** 2).mean(1, keepdim=True)
    edge = mask.expand_as(se)
    n_edge = int(edge.sum())
    mse_edge = float(se[edge].mean()) if n_edge else math.nan
    mse_flat = float(se[~edge].mean()) if n_edge < se.numel() else math.nan
    return {"all": _db(float(se.mean())), "flat": _db(mse_flat), "edge": _db(mse_edge),
            "edge_share": n_edge / se.numel()}


def flat_bands(output: Tensor, target: Tensor, mask: Tensor) -> dict[str, float]:
    """PSNR of the bias / coarse / mid / fine parts of ``output - target`` (1, 3, H, W) on the
    flat regions (``mask`` false); see the module docstring. ``nan`` without flat pixels."""
    pad = math.ceil(3 * BAND_SIGMAS[1])
    if min(output.shape[-2:]) <= pad:
        raise ValueError(f"--bands needs images larger than {pad} px on each side (the "
                         f"{BAND_SIGMAS[1]:g} px blur reflects its borders), got "
                         f"{tuple(output.shape[-2:])}")
    e = output.double() - target.double()
    flat = (~mask).expand_as(e)
    if not bool(flat.any()):
        return dict.fromkeys(BANDS, math.nan)
    bias = torch.stack([e[:, c][flat[:, c]].mean() for c in range(e.shape[1])]).view(1, -1, 1, 1)
    fine_cut, coarse_cut = (gaussian_blur(e, s) for s in BAND_SIGMAS)
    parts = {"bias": bias.expand_as(e), "coarse": coarse_cut - bias,
             "mid": fine_cut - coarse_cut, "fine": e - fine_cut}
    return {k: _db(float((v[flat] ** 2).mean())) for k, v in parts.items()}


def score_folder(smoother: Smoother, pairs: list[tuple[Tensor, Tensor]], masks: list[Tensor],
                 bands: bool = False) -> list[dict[str, float]]:
    """:func:`region_psnr` of ``smoother(g).clamp(0, 1)`` for every (g, gt) pair, plus
    :func:`flat_bands` (keys ``flat_bias`` ... ``flat_fine``) when ``bands``."""
    rows = []
    with torch.inference_mode():
        for (g, x), m in zip(pairs, masks, strict=True):
            out = smoother(g).clamp(0, 1)
            row = region_psnr(out, x, m)
            if bands:
                row |= {f"flat_{k}": v for k, v in flat_bands(out, x, m).items()}
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print, per folder, the all / flat / edge PSNR of the input and of each smoother."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", type=Path, nargs="+", help="folder with input/ and gt/")
    ap.add_argument("--ckpt", type=Path, action="append", default=[],
                    help="checkpoint written by rpaf-train (repeatable)")
    ap.add_argument("--method", action="append", default=[],
                    help="conf/method config, e.g. rtv_tuned (repeatable)")
    ap.add_argument("--threshold", type=float, default=EDGE_THRESHOLD,
                    help="Sobel magnitude above which a GT pixel is an edge (default "
                    f"{EDGE_THRESHOLD:g})")
    ap.add_argument("--radius", type=int, default=EDGE_RADIUS,
                    help=f"grow the edge pixels by a square of this radius (default {EDGE_RADIUS})")
    ap.add_argument("--every", type=int, default=1,
                    help="score every k-th pair of each folder (default 1: all)")
    ap.add_argument("--per-image", action="store_true", help="also print one row per image")
    ap.add_argument("--bands", action="store_true",
                    help="also split the flat-region error by scale: bias, coarse (periods over "
                    "~43 px), mid (~11-43 px), fine (under ~11 px)")
    args = ap.parse_args(argv)
    if not args.ckpt and not args.method:
        raise SystemExit("nothing to score: pass --ckpt PATH and/or --method NAME")
    if args.threshold <= 0 or args.radius < 0 or args.every < 1:
        raise SystemExit(f"--threshold must be > 0, --radius >= 0 and --every >= 1, got "
                         f"{args.threshold}, {args.radius}, {args.every}")
    smoothers: list[tuple[str, Smoother]] = [("input", lambda g: g)]
    smoothers += [(str(c), load_network(c).eval()) for c in args.ckpt]
    smoothers += [(f"method={m}", load_method(m)) for m in args.method]
    for folder in args.pairs:
        names, pairs = load_named_pairs(folder, what="pairs folder")
        names, pairs = names[::args.every], pairs[::args.every]
        masks = [edge_mask(x, args.threshold, args.radius) for _, x in pairs]
        share = np.mean([float(m.float().mean()) for m in masks])
        print(f"\n{folder} ({len(pairs)} pairs; edge band {share:.1%} of the pixels: Sobel > "
              f"{args.threshold}, radius {args.radius}) PSNR dB")
        keys = ["all", "flat", "edge"] + ([f"flat_{b}" for b in BANDS] if args.bands else [])
        print("| smoother | image | " + " | ".join(keys) + " |\n|" + "---|" * (len(keys) + 2))
        for label, fn in smoothers:
            rows = score_folder(fn, pairs, masks, bands=args.bands)
            if args.per_image:
                for name, r in zip(names, rows, strict=True):
                    print(f"| {label} | {name} | " + " | ".join(f"{r[k]:.2f}" for k in keys)
                          + " |")
            mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
            print(f"| {label} | mean | " + " | ".join(f"{mean[k]:.2f}" for k in keys) + " |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
