"""``rpaf-smooth``: smooth images, folders or globs with a trained checkpoint.

Usage::

    rpaf-smooth CHECKPOINT INPUT [INPUT ...] -o OUTDIR [--tile 512] [--overlap 64] [--device auto]
                [--self-ensemble 8]

Outputs keep the input file names. An unreadable input is reported and the others are still
processed; the exit status is 1 when anything failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def expand_inputs(items: list[str]) -> tuple[list[Path], list[str]]:
    """Expand files, folders (their images, sorted) and glob patterns.

    Returns:
        The image paths (unique, in order) and the items that matched nothing.
    """
    paths: list[Path] = []
    missing: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            found = [p]
        else:
            found = [Path(q) for q in sorted(glob.glob(item, recursive=True)) if Path(q).is_file()]
        if not found:
            missing.append(item)
        paths.extend(found)
    seen: set[Path] = set()
    unique = [p for p in paths if not (p.resolve() in seen or seen.add(p.resolve()))]
    return unique, missing


def smooth_files(
    checkpoint: str | Path,
    inputs: list[str],
    out_dir: str | Path,
    *,
    tile: int | None = None,
    overlap: int = 64,
    device: str = "auto",
    self_ensemble: int = 1,
    model_overrides: dict[str, Any] | None = None,
    console: Console | None = None,
) -> int:
    """Smooth every input image with the checkpoint's network; returns the number of failures.

    ``self_ensemble`` > 1 averages over that many flips/transposes (1, 2, 4 or 8);
    ``model_overrides`` changes inference-only model keys (:func:`rpaf.checkpoints.load_network`).
    """
    from rpaf.checkpoints import load_network
    from rpaf.data.imageio import read_image, write_image
    from rpaf.evaluation import Smoother

    console = console or Console(stderr=True)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    net = load_network(checkpoint, map_location=dev, overrides=model_overrides)
    smoother = Smoother(net, name="RPAFNet", tile=tile, overlap=overlap,
                        self_ensemble=self_ensemble)
    paths, missing = expand_inputs(inputs)
    failures = len(missing)
    for item in missing:
        console.print(f"[red]no image found for input {item!r}[/red]")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with Progress(console=console) as progress, torch.inference_mode():
        task = progress.add_task("smoothing", total=len(paths))
        for path in paths:
            try:
                img = read_image(path)
                g = torch.from_numpy(img).permute(2, 0, 1)[None].to(dev)
                write_image(out_dir / path.name, smoother(g)[0].cpu())
            except Exception as err:  # noqa: BLE001 - report and go on with the other files
                failures += 1
                console.print(f"[red]failed: {path}: {type(err).__name__}: {err}[/red]")
            progress.advance(task)
    ok = len(paths) - (failures - len(missing))
    console.print(f"wrote {ok} image(s) to {out_dir}; {failures} failure(s)")
    return failures


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="rpaf-smooth", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a .ckpt written by rpaf-train")
    parser.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--tile", type=int, default=None, help="tile size for large images")
    parser.add_argument("--overlap", type=int, default=64, help="tile overlap in pixels")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    from rpaf.models.self_ensemble import SELF_ENSEMBLE_SIZES

    parser.add_argument("--self-ensemble", type=int, choices=SELF_ENSEMBLE_SIZES, default=1,
                        help="average over N flips/transposes (test-time ensemble; default 1)")
    parser.add_argument("--refine-kernel", type=int, default=None,
                        help="add the self-guided output filter with this odd window (e.g. 9) "
                             "to a network trained without it; 0 removes it (not in the paper)")
    parser.add_argument("--refine-eps", type=float, default=None,
                        help="its eps (squared intensity units, e.g. 1e-3)")
    args = parser.parse_args(argv)
    from rpaf.checkpoints import CheckpointError

    overrides = {k: v for k, v in (("refine_kernel", args.refine_kernel),
                                   ("refine_eps", args.refine_eps)) if v is not None}

    try:
        failures = smooth_files(args.checkpoint, args.inputs, args.out, tile=args.tile,
                                overlap=args.overlap, device=args.device,
                                self_ensemble=args.self_ensemble, model_overrides=overrides)
    except (CheckpointError, ValueError) as err:
        print(f"rpaf-smooth: {err}", file=sys.stderr)
        return 2
    return 1 if failures else 0


def cli() -> None:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
