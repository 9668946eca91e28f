"""Folder readers for the real datasets: layouts -> a list of (input, ground truth) files.

Layouts (``PairedFolderDataset(root, layout=...)``):

``paired``
    ``root/<input_dir>/NAME.*`` + ``root/<gt_dir>/NAME.*``, paired by file stem (ECS, your own
    data, and what ``rpaf-make-data`` writes).
``sps_concat``
    SPS as released by Easy2Hard: every image in ``root`` is ``[GT | input]`` side by side
    (left half ground truth, right half textured input), e.g. ``train/0.png``.
``sps_split``
    SPS re-organised into ``root/<gt_dir>`` and ``root/<input_dir>``: paired by stem; when the
    GT folder holds fewer files and all stems are integers, textured ``k`` uses GT
    ``k mod n_gt`` (Easy2Hard's blend order: textures outer loop, GTs inner loop).
``nks``
    ``root/<input_dir>/S{i}T{j}.*``; ground truth ``root/<gt_dir>/S{i}T{j}.*`` (one per input)
    or ``root/<gt_dir>/S{i}.*`` (one per structure, shared by its textured inputs).
``inputs_only``
    RTV-style: textured images without ground truth in ``root/<input_dir>`` or, if that folder
    does not exist, directly in ``root``.

Samples are ordered by file name in natural order (``2`` before ``10``); a sample's ``index`` is
its position in that order (after skipped files are removed), so it is the same on every epoch
and rank.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from rpaf.data.errors import DatasetError
from rpaf.data.imageio import is_image_file, read_image, to_tensor
from rpaf.data.transforms import parse_size, random_flip, resize

__all__ = ["LAYOUTS", "Entry", "PairedFolderDataset", "natural_key", "parse_layout"]

LAYOUTS: tuple[str, ...] = ("paired", "sps_concat", "sps_split", "nks", "inputs_only")
_NKS_NAME = re.compile(r"^S(\d+)T(\d+)$", re.IGNORECASE)
_NKS_STRUCTURE = re.compile(r"^S(\d+)$", re.IGNORECASE)
_MAX_LISTED = 20


@dataclass(frozen=True)
class Entry:
    """One sample's files.

    Attributes:
        name: Sample name (the input's stem).
        input: Input image file (for ``concat``: the side-by-side file).
        target: Ground-truth file, or None when there is none.
        concat: The file holds ``[GT | input]`` side by side (SPS release).
    """

    name: str
    input: Path
    target: Path | None
    concat: bool = False


def natural_key(name: str) -> list[Any]:
    """Sort key that orders embedded numbers numerically (``img2`` < ``img10``)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    more = f" ... and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    return f"{len(names)}: {shown}{more}"


def _images(folder: Path, what: str) -> dict[str, Path]:
    """Image files in ``folder`` by stem, in natural order; errors on missing/empty/duplicate."""
    if not folder.is_dir():
        raise DatasetError(f"{what} folder {folder} does not exist")
    files = sorted((p for p in folder.iterdir() if p.is_file() and is_image_file(p)),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise DatasetError(f"{what} folder {folder} holds no image files")
    by_stem: dict[str, Path] = {}
    for p in files:
        if p.stem in by_stem:
            raise DatasetError(
                f"{folder}: two files share the name {p.stem!r} ({by_stem[p.stem].name}, {p.name});"
                " keep one"
            )
        by_stem[p.stem] = p
    return by_stem


def _unmatched_error(root: Path, no_gt: list[str], no_input: list[str]) -> DatasetError:
    parts = []
    if no_gt:
        parts.append(f"inputs without ground truth ({_listing(no_gt)})")
    if no_input:
        parts.append(f"ground truths without input ({_listing(no_input)})")
    return DatasetError(
        f"{root}: {'; '.join(parts)}. Add the missing files or move the extra ones out."
    )


def _parse_paired(root: Path, input_dir: str, gt_dir: str) -> list[Entry]:
    inputs = _images(root / input_dir, "input")
    gts = _images(root / gt_dir, "ground-truth")
    no_gt = [s for s in inputs if s not in gts]
    no_input = [s for s in gts if s not in inputs]
    if no_gt or no_input:
        raise _unmatched_error(root, no_gt, no_input)
    return [Entry(s, p, gts[s]) for s, p in inputs.items()]


def _parse_sps_split(root: Path, input_dir: str, gt_dir: str) -> list[Entry]:
    inputs = _images(root / input_dir, "textured-input")
    gts = _images(root / gt_dir, "ground-truth")
    numeric = all(s.isdigit() for s in [*inputs, *gts])
    if numeric and len(gts) < len(inputs) and {int(s) for s in gts} == set(range(len(gts))):
        by_num = {int(s): p for s, p in gts.items()}  # Easy2Hard: input k -> GT k mod n_gt
        return [Entry(s, p, by_num[int(s) % len(gts)]) for s, p in inputs.items()]
    return _parse_paired(root, input_dir, gt_dir)


def _parse_nks(root: Path, input_dir: str, gt_dir: str) -> list[Entry]:
    inputs = _images(root / input_dir, "input")
    gts = _images(root / gt_dir, "ground-truth")
    bad = [s for s in inputs if not _NKS_NAME.match(s)]
    if bad:
        raise DatasetError(
            f"{root / input_dir}: NKS inputs must be named S{{i}}T{{j}} (e.g. S15T1.png); "
            f"these are not ({_listing(bad)})"
        )
    per_structure = {int(m.group(1)): g for g in gts if (m := _NKS_STRUCTURE.match(g))}
    entries, used, no_gt = [], set(), []
    for s, p in inputs.items():
        num = int(_NKS_NAME.match(s).group(1))  # type: ignore[union-attr]
        key = s if s in gts else per_structure.get(num)
        if key is None:
            no_gt.append(s)
        else:
            used.add(key)
            entries.append(Entry(s, p, gts[key]))
    no_input = [s for s in gts if s not in used]
    if no_gt or no_input:
        raise _unmatched_error(root, no_gt, no_input)
    return entries


def parse_layout(
    root: str | Path, layout: str, *, input_dir: str = "input", gt_dir: str = "gt"
) -> list[Entry]:
    """List the samples of a dataset folder.

    Args:
        root: Dataset (split) folder.
        layout: One of :data:`LAYOUTS` (see the module docstring).
        input_dir: Sub-folder of textured inputs.
        gt_dir: Sub-folder of ground truths.

    Returns:
        Entries in natural file-name order.

    Raises:
        DatasetError: Missing folders, no images, unmatched or badly named files.
    """
    root = Path(root)
    if layout not in LAYOUTS:
        raise DatasetError(f"layout={layout!r} is not one of {LAYOUTS}")
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist (layout {layout!r})")
    if layout == "paired":
        return _parse_paired(root, input_dir, gt_dir)
    if layout == "sps_split":
        return _parse_sps_split(root, input_dir, gt_dir)
    if layout == "nks":
        return _parse_nks(root, input_dir, gt_dir)
    if layout == "sps_concat":
        return [Entry(s, p, None, concat=True) for s, p in _images(root, "SPS").items()]
    folder = root / input_dir if (root / input_dir).is_dir() else root
    return [Entry(s, p, None) for s, p in _images(folder, "input").items()]


def _split_concat(img: Any, path: Path) -> tuple[Any, Any]:
    """(H, 2W, 3) side-by-side ``[GT | input]`` -> (input, GT)."""
    w2 = img.shape[1]
    if w2 % 2:
        raise DatasetError(
            f"{path}: width {w2} is odd, so it is not a side-by-side [GT | input] SPS pair; "
            "use layout='sps_split' or 'paired' for separate files"
        )
    return img[:, w2 // 2 :], img[:, : w2 // 2]


class PairedFolderDataset(Dataset):
    """Image pairs (or inputs only) read from a dataset folder.

    Args:
        root: Dataset (split) folder.
        layout: One of :data:`LAYOUTS`.
        input_dir: Sub-folder of textured inputs (layouts ``paired``, ``sps_split``, ``nks``,
            ``inputs_only``).
        gt_dir: Sub-folder of ground truths.
        size: Resize both images to this size (int or [h, w]; bicubic, antialiased); None keeps
            the native size, and then an input and ground truth of different sizes are an error.
        skip_bad_files: Decode every file once at start-up and leave out samples whose files are
            unreadable, empty or truncated, printing how many and which. False (default): such
            files raise :class:`DatasetError` (empty files at start-up, others when read).
        augment: Random flips applied to input and target together.
        entries: Use these entries instead of parsing ``root`` (see :meth:`subset`).

    Items are dicts: ``input`` (3, H, W) float32 in [0, 1]; ``target`` the same (absent for
    ``inputs_only``); ``index`` the sample's position; ``name`` the input's file stem.
    """

    def __init__(
        self,
        root: str | Path,
        layout: str = "paired",
        *,
        input_dir: str = "input",
        gt_dir: str = "gt",
        size: int | Sequence[int] | None = None,
        skip_bad_files: bool = False,
        augment: bool = False,
        entries: Sequence[Entry] | None = None,
    ) -> None:
        self.root, self.layout = Path(root), layout
        self.size = parse_size(size)
        self.augment, self.skip_bad_files = augment, skip_bad_files
        self._kw = {"input_dir": input_dir, "gt_dir": gt_dir}
        if entries is None:
            entries = parse_layout(self.root, layout, input_dir=input_dir, gt_dir=gt_dir)
            entries = self._drop_bad(entries) if skip_bad_files else self._check_empty(entries)
        self.entries: list[Entry] = list(entries)
        self.has_target = any(e.target is not None or e.concat for e in self.entries)

    def _check_empty(self, entries: list[Entry]) -> list[Entry]:
        files = {f for e in entries for f in (e.input, e.target) if f is not None}
        empty = sorted(str(f) for f in files if f.stat().st_size == 0)
        if empty:
            raise DatasetError(
                f"{self.root}: empty (0-byte) image files ({_listing(empty)}); re-copy or delete "
                "them, or set skip_bad_files=true to leave those samples out"
            )
        return entries

    def _drop_bad(self, entries: list[Entry]) -> list[Entry]:
        files = sorted({f for e in entries for f in (e.input, e.target) if f is not None})
        bad: dict[Path, str] = {}
        for f in files:
            try:
                read_image(f)
            except DatasetError as err:
                bad[f] = str(err)
        if not bad:
            return entries
        kept = [e for e in entries if e.input not in bad and e.target not in bad]
        print(f"[rpaf.data] skipped {len(entries) - len(kept)} of {len(entries)} samples under "
              f"{self.root}: {len(bad)} unreadable file(s):")
        for msg in bad.values():
            print(f"  - {msg.split(';')[0]}")
        if not kept:
            raise DatasetError(f"{self.root}: every sample has an unreadable file")
        return kept

    def subset(
        self, positions: Sequence[int] | None = None, *, augment: bool | None = None
    ) -> PairedFolderDataset:
        """A dataset of the samples at ``positions`` (all when None), re-indexed 0..n-1 in the
        given order; ``augment`` overrides the flip setting."""
        entries = self.entries if positions is None else [self.entries[i] for i in positions]
        return PairedFolderDataset(
            self.root, self.layout, size=self.size, skip_bad_files=self.skip_bad_files,
            augment=self.augment if augment is None else augment, entries=entries, **self._kw,
        )

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        e = self.entries[index]
        img = read_image(e.input)
        gt = None
        if e.concat:
            img, gt = _split_concat(img, e.input)
        elif e.target is not None:
            gt = read_image(e.target)
            if gt.shape != img.shape and self.size is None:
                raise DatasetError(
                    f"input {e.input} is {img.shape[1]}x{img.shape[0]} but ground truth "
                    f"{e.target} is {gt.shape[1]}x{gt.shape[0]} (WxH); fix the files or set a "
                    "resize `size` so both are resized"
                )
        sample: dict[str, Any] = {"input": resize(to_tensor(img), self.size)}
        if gt is not None:
            sample["target"] = resize(to_tensor(gt), self.size)
        if self.augment:
            flipped = random_flip(*(sample[k] for k in ("input", "target") if k in sample))
            sample.update(zip(("input", "target"), flipped, strict=False))
        sample["index"] = index
        sample["name"] = e.name
        return sample

    def describe(self) -> str:
        """One line: root, layout, number of samples and resize."""
        size = "native size" if self.size is None else f"resized to {self.size[0]}x{self.size[1]}"
        return f"{self.root} ({self.layout}): {len(self)} samples, {size}"

