"""Test-time options of a trained network: self-ensemble size and repeated passes.

A diagnostic for the quality check of ``experiment=cpu_mini`` (findings in
``experiments/results/cpu_mini/README.md``, section 18). For each checkpoint it scores every
combination of a geometric self-ensemble (:func:`rpaf.models.self_ensemble`: 1, 2, 4 or 8
flips/transposes, as ``rpaf-eval self_ensemble=N``) and a number of passes (the network applied
again to its own clamped output, ``u_k = f(u_{k-1})``, ``u_0 = g``) on paired folders
(``input/`` + ``gt/``, the layout ``rpaf-make-data`` writes) and, optionally, on the built-in
synthetic test split. Scores are the means of per-image PSNR and SSIM
(:mod:`rpaf.metrics.full_reference`: RGB, data range 1, Gaussian 11 x 11 window), the convention
of ``metrics=fast``; with one pass and no ensemble they equal ``rpaf-eval``'s.

Example::

    python tools/inference_passes.py --ckpt logs/<run>/checkpoints/last.ckpt \\
        --pairs data/real_pairs --pairs data/nks_composites --every 5 --synthetic 32 \\
        --ensemble 1 8 --passes 1 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rpaf.checkpoints import load_network
from rpaf.data import DatasetError, PairedFolderDataset
from rpaf.metrics.full_reference import psnr, ssim
from rpaf.models import SELF_ENSEMBLE_SIZES, self_ensemble

Pairs = list[tuple[Tensor, Tensor]]


def load_named_pairs(folder: Path, what: str = "--pairs") -> tuple[list[str], Pairs]:
    """Names and (input, gt) pairs of ``folder`` (``input/`` + ``gt/`` matched by file stem, in
    natural name order: :class:`rpaf.data.PairedFolderDataset`) as (1, 3, H, W) tensors; a bad
    folder exits with ``"{what} {folder}: <why>"``."""
    try:
        ds = PairedFolderDataset(folder, "paired")
        samples = [ds[i] for i in range(len(ds))]
    except DatasetError as err:
        raise SystemExit(f"{what} {folder}: {err}") from None
    return [s["name"] for s in samples], [(s["input"][None], s["target"][None]) for s in samples]


def load_pairs(folder: Path) -> Pairs:
    """Every (input, gt) pair of ``folder``, without the names (:func:`load_named_pairs`)."""
    return load_named_pairs(folder)[1]


def synthetic_pairs(n: int, size: int = 96, seed: int = 0) -> Pairs:
    """The built-in synthetic test split (held-out textures), as ``data=synthetic`` draws it."""
    from rpaf.data import SyntheticDataModule

    dm = SyntheticDataModule(n_train=1, n_val=1, n_test=n, size=size, seed=seed)
    dm.setup("test")
    return [(s["input"][None], s["target"][None]) for s in (dm.test_set[i] for i in range(n))]


def score(net: torch.nn.Module, pairs: Pairs, ensemble: int, passes: int) -> tuple[float, float]:
    """Mean PSNR and SSIM of ``passes`` applications of the ``ensemble``-averaged network."""
    ps, ss = [], []
    with torch.inference_mode():
        for g, x in pairs:
            u = g
            for _ in range(passes):
                u = self_ensemble(net, u, ensemble).clamp(0, 1)
            ps.append(float(psnr(u, x, data_range=1.0)))
            ss.append(float(ssim(u, x, data_range=1.0)))
    return float(np.mean(ps)), float(np.mean(ss))


def main(argv: list[str] | None = None) -> int:
    """Print one Markdown row per checkpoint, ensemble size and pass count."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, action="append", required=True,
                    help="checkpoint written by rpaf-train (repeatable)")
    ap.add_argument("--pairs", type=Path, action="append", default=[],
                    help="folder with input/ and gt/ (repeatable)")
    ap.add_argument("--every", type=int, default=1,
                    help="score every k-th pair of folders with more than 10 pairs (default 1)")
    ap.add_argument("--synthetic", type=int, default=0, metavar="N",
                    help="also score the first N pairs of the synthetic test split (96 px, seed 0)")
    ap.add_argument("--ensemble", type=int, nargs="+", default=[1, 8],
                    choices=SELF_ENSEMBLE_SIZES)
    ap.add_argument("--passes", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    if args.every < 1 or min(args.passes) < 1:
        raise SystemExit("--every and --passes must be >= 1")
    sets: dict[str, Pairs] = {}
    if args.synthetic:
        sets["synthetic"] = synthetic_pairs(args.synthetic)
    for folder in args.pairs:
        pairs = load_pairs(folder)
        sets[folder.name] = pairs[::args.every] if len(pairs) > 10 else pairs
    if not sets:
        raise SystemExit("nothing to score: pass --pairs FOLDER and/or --synthetic N")
    head = " | ".join(f"{k} ({len(v)}) PSNR / SSIM" for k, v in sets.items())
    print(f"| checkpoint | ensemble | passes | {head} |")
    print("|---|---|---|" + "---|" * len(sets))
    for ckpt in args.ckpt:
        net = load_network(ckpt).eval()
        for ens in args.ensemble:
            for passes in args.passes:
                cells = [score(net, pairs, ens, passes) for pairs in sets.values()]
                row = " | ".join(f"{p:.2f} / {s:.4f}" for p, s in cells)
                print(f"| {ckpt} | {ens} | {passes} | {row} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
