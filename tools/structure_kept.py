"""Does a smoother leave clean structure alone? PSNR of smoother(GT) against GT, per image.

A diagnostic for the quality check of ``experiment=cpu_mini`` (findings in
``experiments/results/cpu_mini/README.md``, section 7): applies checkpoints and classical
methods (``conf/method`` configs) to texture-free ground-truth images, by default the NKS
structure thumbnails of the developers' sample folder, and prints the PSNR of each output
against its own input. An ideal texture filter returns a clean structure image unchanged; a low
score means it takes structure for texture (blurred edges, erased low-contrast regions).

Example::

    python tools/structure_kept.py ../shared/data/real-samples/nks/structures \\
        --ckpt logs/cpu_mini/runs/<run>/checkpoints/last.ckpt --method tv --method rtv_tuned
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio as psnr

from rpaf.checkpoints import load_network
from rpaf.data.imageio import read_image
from rpaf.smooth import IMAGE_SUFFIXES, expand_inputs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from per_family import load_method  # noqa: E402


def load_images(folder: Path) -> list[torch.Tensor]:
    """Every image of ``folder`` as a (1, 3, H, W) tensor in [0, 1]; exits if there is none."""
    files, _ = expand_inputs([str(folder)])
    if not files:
        raise SystemExit(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return [torch.from_numpy(read_image(f)).permute(2, 0, 1)[None].contiguous() for f in files]


def kept_scores(smoother, images: list[torch.Tensor]) -> list[float]:
    """PSNR (dB, range 1) of ``smoother(g).clamp(0, 1)`` against ``g`` for each (1, 3, H, W) g."""
    out = []
    with torch.no_grad():
        for g in images:
            out.append(float(psnr(smoother(g).clamp(0, 1), g, data_range=1.0)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Print how well each checkpoint/method keeps the clean images of a folder."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="folder of texture-free ground-truth images")
    ap.add_argument("--ckpt", type=Path, action="append", default=[],
                    help="checkpoint written by rpaf-train (repeatable)")
    ap.add_argument("--method", action="append", default=[],
                    help="conf/method config, e.g. tv or rtv_tuned (repeatable)")
    args = ap.parse_args(argv)
    images = load_images(args.folder)
    if not args.ckpt and not args.method:
        raise SystemExit("nothing to score: pass --ckpt PATH and/or --method NAME")
    rows: list[tuple[str, list[float]]] = []
    for ckpt in args.ckpt:
        rows.append((str(ckpt), kept_scores(load_network(ckpt).eval(), images)))
    for name in args.method:
        rows.append((f"method={name}", kept_scores(load_method(name), images)))
    print(f"structure kept: PSNR of smoother(GT) vs GT on {len(images)} images of {args.folder}")
    print("| smoother | mean | min | max |\n|---|---|---|---|")
    for label, scores in rows:
        print(f"| {label} | {np.mean(scores):.2f} | {min(scores):.2f} | {max(scores):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
