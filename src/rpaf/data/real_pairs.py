"""The real input/ground-truth pairs of the developers' sample folder, as a ``paired`` dataset.

The sample folder (``../shared/data/real-samples`` on developer machines and CI; not shipped,
not redistributable) holds three real texture-removal pairs cut from published figures:

* ``S15T1`` (NKS, Xu et al. 2020): ``nks/pairs/S15T1_input.png`` vs ``S15T1_gt.png``;
* ``chalk`` (NKS fusion example): ``nks/pairs/chalk_adjusted.png`` (the mean/std-adjusted
  blend, i.e. the network input) vs ``chalk_structure.png``;
* ``car`` (SPS, Easy2Hard): ``sps/pairs/car_input_resized_to_gt.png`` vs ``car_gt.png`` (the
  input panel resized to the ground truth's size: approximate alignment only).

They are figure renderings, so the numbers are sanity checks, not the datasets' (the folder's
MANIFEST says so). :func:`prepare_real_pairs` writes them as ``OUT/input/NAME.png`` and
``OUT/gt/NAME.png`` so that every tool reads them with
``data=paired_folder data.root=OUT data.size=null data.batch_size=1``:

    python -m rpaf.data.real_pairs ../shared/data/real-samples data/real_pairs
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

from rpaf.data.errors import DatasetError

__all__ = ["REAL_PAIRS", "main", "prepare_real_pairs"]

#: name -> (input file, ground-truth file), relative to the sample folder.
REAL_PAIRS: dict[str, tuple[str, str]] = {
    "S15T1": ("nks/pairs/S15T1_input.png", "nks/pairs/S15T1_gt.png"),
    "chalk": ("nks/pairs/chalk_adjusted.png", "nks/pairs/chalk_structure.png"),
    "car": ("sps/pairs/car_input_resized_to_gt.png", "sps/pairs/car_gt.png"),
}


def prepare_real_pairs(samples: str | Path, out: str | Path) -> list[str]:
    """Copy the real pairs into ``out/input`` and ``out/gt`` (file stem = pair name).

    Args:
        samples: The sample folder (holds ``nks/pairs`` and ``sps/pairs``).
        out: Destination root; its ``input/`` and ``gt/`` are replaced.

    Returns:
        The pair names written, in order.

    Raises:
        DatasetError: If the sample folder or one of the pair files is missing (all missing
            files are listed).
    """
    samples, out = Path(samples), Path(out)
    if not samples.is_dir():
        raise DatasetError(
            f"real-sample folder {samples} does not exist: it is the developers' shared folder "
            "(../shared/data/real-samples), not shipped with rpaf; pass its path"
        )
    missing = [str(samples / f) for pair in REAL_PAIRS.values() for f in pair
               if not (samples / f).is_file()]
    if missing:
        raise DatasetError(f"real-sample folder {samples} lacks: {', '.join(missing)}")
    for sub in ("input", "gt"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    for name, (inp, gt) in REAL_PAIRS.items():
        shutil.copyfile(samples / inp, out / "input" / f"{name}.png")
        shutil.copyfile(samples / gt, out / "gt" / f"{name}.png")
    return list(REAL_PAIRS)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m rpaf.data.real_pairs SAMPLES OUT``."""
    ap = argparse.ArgumentParser(
        prog="python -m rpaf.data.real_pairs",
        description="Write the real sample pairs (NKS S15T1, NKS chalk, SPS car) as OUT/input "
        "+ OUT/gt for data=paired_folder.",
    )
    ap.add_argument("samples", type=Path, help="real-sample folder (../shared/data/real-samples)")
    ap.add_argument("out", type=Path, help="output root (e.g. data/real_pairs)")
    args = ap.parse_args(argv)
    try:
        names = prepare_real_pairs(args.samples, args.out)
    except DatasetError as err:
        print(f"error: {err}")
        return 2
    print(f"wrote {len(names)} pairs ({', '.join(names)}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
