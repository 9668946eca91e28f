"""NKS-style composites from the sample folder's structure and texture thumbnails.

The NKS test set (Xu et al. 2020) crosses 20 structure images with 10 natural textures
(``S{i}T{j}``, 200 inputs). The developers' sample folder (``../shared/data/real-samples/nks``,
not shipped) holds thumbnails of those 20 structures and 10 textures, cut from the PNLS README
figures. :func:`prepare_nks_composites` blends every structure with every texture by the NKS
recipe that the folder's ``chalk`` example shows (structure, fused, adjusted input):

    fused = 0.7 * S + 0.3 * T,   input = per-channel mean/std of fused matched to S, clipped

(:func:`rpaf.data.synthetic.blend_nks` with strength 1 and a zero mean colour; applied to the
chalk example's own fused panel it reproduces its adjusted panel at 40 dB). Each texture is
centre-cropped to the structure's size, upscaled first (bicubic) only where it is smaller.

These are 200 photographed-texture pairs instead of three, so recipe differences that the three
figure pairs cannot resolve become measurable. They are *not* the NKS files: thumbnails
(~243 x 131..188 px), our blend of figure renderings. Report them as "NKS composites (figure
thumbnails)", never as NKS numbers. Write them with

    python -m rpaf.data.nks_composites ../shared/data/real-samples data/nks_composites

and evaluate with ``data=nks_composites`` (a ``paired_folder`` at native size, batch of 1).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from rpaf.data.errors import DatasetError
from rpaf.data.imageio import write_image
from rpaf.data.synthetic import blend_nks

__all__ = ["compose_pair", "main", "prepare_nks_composites"]

STRUCTURE_DIR = "nks/structures"
TEXTURE_DIR = "nks/textures"


def _load(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except OSError as err:
        raise DatasetError(f"cannot read image {path}: {err}") from err


def _fit_texture(texture: Image.Image, width: int, height: int) -> np.ndarray:
    """Centre crop of ``texture`` at (height, width); bicubic upscale first if it is smaller."""
    scale = max(width / texture.width, height / texture.height, 1.0)
    if scale > 1.0:
        size = (int(np.ceil(texture.width * scale)), int(np.ceil(texture.height * scale)))
        texture = texture.resize(size, Image.BICUBIC)
    left, top = (texture.width - width) // 2, (texture.height - height) // 2
    crop = texture.crop((left, top, left + width, top + height))
    return np.asarray(crop, np.float32) / 255.0


def compose_pair(structure: Image.Image, texture: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """One NKS composite: ``(input, ground truth)``, both (H, W, 3) float32 in [0, 1].

    The ground truth is the structure itself; the input is ``blend_nks(S, T, 1, 0)``, i.e.
    ``0.7 S + 0.3 T`` with per-channel mean/std matched to S.
    """
    gt = np.asarray(structure, np.float32) / 255.0
    tex = _fit_texture(texture, structure.width, structure.height)
    return blend_nks(gt, tex, 1.0, np.zeros(3, np.float32)), gt


def prepare_nks_composites(samples: str | Path, out: str | Path) -> list[str]:
    """Write every structure x texture composite as ``out/input/SiiTjj.png`` + ``out/gt/``.

    Args:
        samples: The real-sample folder (holds ``nks/structures`` and ``nks/textures``).
        out: Destination root; its ``input/`` and ``gt/`` are replaced.

    Returns:
        The pair names written (``S01T01`` ... in structure-major order).

    Raises:
        DatasetError: If the folder or either thumbnail folder is missing or empty.
    """
    samples, out = Path(samples), Path(out)
    folders = [samples / STRUCTURE_DIR, samples / TEXTURE_DIR]
    empty = [str(d) for d in folders if not d.is_dir() or not any(d.glob("*.png"))]
    if empty:
        raise DatasetError(
            f"no NKS thumbnails (*.png) in {', '.join(empty)}: pass the developers' real-sample "
            "folder (../shared/data/real-samples), which is not shipped with rpaf"
        )
    structures, textures = (sorted(d.glob("*.png")) for d in folders)
    for sub in ("input", "gt"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    names = []
    for i, s_path in enumerate(structures, 1):
        structure = _load(s_path)
        for j, t_path in enumerate(textures, 1):
            inp, gt = compose_pair(structure, _load(t_path))
            name = f"S{i:02d}T{j:02d}"
            write_image(out / "input" / f"{name}.png", inp)
            write_image(out / "gt" / f"{name}.png", gt)
            names.append(name)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m rpaf.data.nks_composites SAMPLES OUT``."""
    ap = argparse.ArgumentParser(
        prog="python -m rpaf.data.nks_composites",
        description="Write NKS-style composites (every structure thumbnail x every texture "
        "thumbnail of the real-sample folder) as OUT/input + OUT/gt for data=nks_composites.",
    )
    ap.add_argument("samples", type=Path, help="real-sample folder (../shared/data/real-samples)")
    ap.add_argument("out", type=Path, help="output root (e.g. data/nks_composites)")
    args = ap.parse_args(argv)
    try:
        names = prepare_nks_composites(args.samples, args.out)
    except DatasetError as err:
        print(f"error: {err}")
        return 2
    print(f"wrote {len(names)} composites ({names[0]} ... {names[-1]}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
