"""``rpaf-make-data``: write synthetic pairs to disk in the ``input/`` + ``gt/`` layout."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from rpaf.data.imageio import write_image
from rpaf.data.stats import pair_metrics, summarise
from rpaf.data.structures import (
    PHOTO_NAMES,
    PHOTO_PAINTS,
    PHOTO_SOURCES,
    check_photos,
    check_segment_scale,
)
from rpaf.data.synthetic import (
    DATASET_RECIPES,
    PSNR_RANGE,
    SPLITS,
    STRUCTURE_FRACTION,
    STRUCTURE_SETS,
    check_psnr_range,
    check_recipe_structure,
    check_structure_fraction,
    make_pair,
    pair_recipe,
)
from rpaf.data.textures import TEXTURE_SETS

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="rpaf-make-data",
        description="Write N synthetic texture-over-structure pairs to OUT/input/*.png and "
        "OUT/gt/*.png (read them back with data=paired_folder data.root=OUT).",
    )
    ap.add_argument("out", type=Path, help="output folder")
    ap.add_argument("--n", type=int, default=100, help="number of pairs (default 100)")
    ap.add_argument("--size", type=int, default=256, help="side length in pixels (default 256)")
    ap.add_argument("--recipe", choices=DATASET_RECIPES, default="sps",
                    help="blending recipe (mix: sps on even, nks on odd indices; by_structure: nks "
                    "on photo structures, sps on the others, with --structure-set photo)")
    ap.add_argument("--texture-set", choices=sorted(TEXTURE_SETS), default="base",
                    help="rich/photo/natural: add the training-only texture families (procedural "
                    "ones, crops of texture photographs, or those plus broadband pink noise; "
                    "train/val splits)")
    ap.add_argument("--structure-set", choices=STRUCTURE_SETS, default="base",
                    help="varied/photo: low-contrast or cartoonised-photo structures for a "
                    "share of the pairs (train split only; see --structure-fraction)")
    ap.add_argument("--structure-fraction", type=float, default=STRUCTURE_FRACTION,
                    help="share of the pairs whose structure --structure-set alters "
                    f"(default {STRUCTURE_FRACTION:g})")
    ap.add_argument("--photos", nargs="+", choices=sorted(PHOTO_SOURCES), default=None,
                    metavar="NAME", help="photographs the --structure-set photo structures are "
                    f"cut from, any of {', '.join(sorted(PHOTO_SOURCES))} (default "
                    f"{' '.join(PHOTO_NAMES)}), as data.photos")
    ap.add_argument("--photo-segment-scale", type=float, default=1.0, metavar="S",
                    help="coarseness of the --structure-set photo segments (default 1; 4: fewer, "
                    "larger ones), as data.photo_segment_scale")
    ap.add_argument("--photo-paint", choices=PHOTO_PAINTS, default="mean",
                    help="paint the --structure-set photo segments flat (mean, default) or with "
                    "their colour plane (plane: shading kept), as data.photo_paint")
    ap.add_argument("--psnr-range", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                    help=f"input-vs-GT PSNR range in dB (default {PSNR_RANGE[0]:g} "
                    f"{PSNR_RANGE[1]:g}); e.g. 20 40 adds faint textures, as "
                    "data.train_psnr_range")
    ap.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    ap.add_argument("--split", choices=SPLITS, default="train",
                    help="texture/seed split: test uses held-out texture parameters")
    ap.add_argument("--bits", type=int, choices=(8, 16), default=8, help="PNG bit depth")
    ap.add_argument("--overwrite", action="store_true",
                    help="write even if OUT holds other files (re-running the same command "
                    "needs no flag: its own files are simply replaced)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rpaf-make-data`` console script."""
    args = _parser().parse_args(argv)
    console = Console()
    if args.n < 1:
        console.print(f"[red]--n must be >= 1, got {args.n}")
        return 2
    if args.structure_set != "base" and args.split != "train":
        console.print(f"[red]--structure-set {args.structure_set} changes the train split only "
                      f"(got --split {args.split}): drop it, or write --split train")
        return 2
    for flag, changed in (("--photo-segment-scale", args.photo_segment_scale != 1.0),
                          ("--photo-paint", args.photo_paint != "mean")):
        if changed and args.structure_set != "photo":
            console.print(f"[red]{flag} sets the segments of --structure-set photo (got "
                          f"--structure-set {args.structure_set}): add --structure-set photo, or "
                          f"drop {flag}")
            return 2
    if args.photos is not None and args.structure_set != "photo":
        console.print(f"[red]--photos chooses the photographs of --structure-set photo (got "
                      f"--structure-set {args.structure_set}): add --structure-set photo, or drop "
                      "--photos")
        return 2
    try:
        psnr_range = None if args.psnr_range is None else check_psnr_range(args.psnr_range,
                                                                           "--psnr-range")
        fraction = check_structure_fraction(args.structure_fraction, "--structure-fraction")
        photos = check_photos(args.photos, "--photos")
        segment_scale = check_segment_scale(args.photo_segment_scale, "--photo-segment-scale")
        check_recipe_structure(args.recipe, args.structure_set, "--recipe", "--structure-set")
    except ValueError as err:
        console.print(f"[red]{err}")
        return 2
    dirs = {"input": args.out / "input", "gt": args.out / "gt"}
    names = {f"{args.split}_{i:05d}.png" for i in range(args.n)}
    extra = sorted(str(p) for d in dirs.values() if d.is_dir() for p in d.iterdir()
                   if p.name not in names)
    if extra and not args.overwrite:  # they would silently join the dataset
        console.print(f"[red]{len(extra)} other file(s) already in {args.out} (e.g. {extra[0]}); "
                      "choose another OUT, delete them, or pass --overwrite to write anyway")
        return 2
    t0 = time.perf_counter()
    psnr, ssim, q = [], [], float(2**args.bits - 1)
    for i in range(args.n):
        inp, gt = make_pair(i, seed=args.seed, size=args.size,
                            recipe=pair_recipe(args.recipe, i), split=args.split,
                            texture_set=args.texture_set, structure_set=args.structure_set,
                            psnr_range=psnr_range, structure_fraction=fraction, photos=photos,
                            photo_segment_scale=segment_scale, photo_paint=args.photo_paint)
        name = f"{args.split}_{i:05d}.png"  # as in `names` above
        write_image(dirs["input"] / name, inp, bits=args.bits)
        write_image(dirs["gt"] / name, gt, bits=args.bits)
        p, s = pair_metrics(np.round(inp * q)[None] / q, np.round(gt * q)[None] / q)  # as saved
        psnr.append(p[0])
        ssim.append(s[0])
    seconds = time.perf_counter() - t0
    lo, hi = psnr_range or PSNR_RANGE
    table = Table(title=f"{args.n} pairs ({args.recipe}, split {args.split}, seed {args.seed}, "
                  f"{args.size}x{args.size}, drawn {lo:g}-{hi:g} dB): input vs GT")
    table.add_column("metric")
    for col in ("min", "median", "mean", "max"):
        table.add_column(col, justify="right")
    for label, vals, fmt in (("PSNR (dB)", psnr, "{:.2f}"), ("SSIM", ssim, "{:.3f}")):
        st = summarise(vals)
        table.add_row(label, *(fmt.format(st[k]) for k in ("min", "median", "mean", "max")))
    console.print(table)
    console.print(f"wrote {args.n} pairs to {dirs['input']} and {dirs['gt']} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
