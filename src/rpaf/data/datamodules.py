"""LightningDataModules: built-in synthetic pairs and the paper's datasets (SPS, NKS, ECS, RTV).

Every module yields sample dicts (``input``, ``target`` when there is ground truth, ``index``,
``name``; see :class:`~rpaf.data.folders.PairedFolderDataset`), has ``geometry_is_fixed``
(False only when ``augment=True``: the GELR state needs fixed geometry) and, after
``setup("fit")``, ``num_train_samples``. Training loaders shuffle; validation, test and
predict loaders do not (predict = test).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader, Dataset

from rpaf.data.errors import DatasetError
from rpaf.data.folders import PairedFolderDataset
from rpaf.data.structures import check_paint, check_photos, check_segment_scale
from rpaf.data.synthetic import (
    DATASET_RECIPES,
    RECIPES,
    STRUCTURE_FRACTION,
    SyntheticPairDataset,
    check_psnr_range,
    check_recipe_structure,
    check_structure_fraction,
    check_structure_set,
)
from rpaf.data.textures import check_texture_set
from rpaf.data.transforms import collate

__all__ = [
    "ECSDataModule",
    "NKSDataModule",
    "PairedFolderDataModule",
    "RTVDataModule",
    "SPSDataModule",
    "SyntheticDataModule",
]


class _BaseDataModule(L.LightningDataModule):
    """Loaders, flags and stage bookkeeping shared by every rpaf DataModule."""

    def __init__(
        self, *, batch_size: int, num_workers: int, pin_memory: bool, augment: bool
    ) -> None:
        super().__init__()
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.augment = augment
        self.geometry_is_fixed: bool = not augment
        self.num_train_samples: int | None = None
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def _loader(self, ds: Dataset | None, stage: str, shuffle: bool) -> DataLoader:
        if ds is None:
            raise DatasetError(f"{type(self).__name__}: call setup() before the {stage} loader")
        return DataLoader(
            ds, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
            pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0,
            collate_fn=collate,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches."""
        return self._loader(self.train_set, "train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches in dataset order."""
        return self._loader(self.val_set, "val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches in dataset order."""
        return self._loader(self.test_set, "test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """The test set, in order."""
        return self.test_dataloader()


class SyntheticDataModule(_BaseDataModule):
    """Built-in synthetic texture-over-structure pairs (no download needed).

    Pairs are generated on access by :func:`rpaf.data.synthetic.make_pair`; each split uses its
    own random stream (``[seed, split, index]``) and the test split draws textures from
    held-out families, orientations and scales (see :mod:`rpaf.data.textures`).

    Args:
        n_train: Training pairs.
        n_val: Validation pairs (same texture distribution as training, other seeds).
        n_test: Test pairs (unseen texture parameters).
        size: Side length in pixels.
        recipe: ``"sps"`` or ``"nks"`` blending (every split unless ``train_recipe`` is set).
        seed: Dataset seed.
        cache: Keep generated pairs in memory.
        augment: Random flips (sets ``geometry_is_fixed`` False).
        batch_size: Batch size of every loader.
        num_workers: DataLoader workers (persistent when > 0, so caches survive epochs).
        pin_memory: DataLoader ``pin_memory``.
        train_recipe: Blend of the training split only (``"sps"``, ``"nks"``, ``"mix"``:
            both, alternating, or ``"by_structure"``: nks on photo structures, sps on the
            procedural ones, with ``structure_set="photo"``); ``None``: ``recipe``. Validation
            and test keep ``recipe``, so scores stay comparable with runs trained on one blend.
        texture_set: ``"base"`` (the original families), ``"rich"``, ``"photo"`` or
            ``"natural"`` (each adds training-only families to train/val; see
            :data:`rpaf.data.textures.TEXTURE_SETS`; the held-out test split is the same).
        structure_set: ``"base"``, ``"varied"`` (training split only: half of the
            structures with reduced colour contrast), ``"photo"`` (half of them cartoonised
            photo crops) or ``"detail"`` (half of them with small, partly faint objects
            painted over); validation and test are unchanged.
        train_psnr_range: ``[lo, hi]`` dB range of the training pairs' input-vs-target PSNR
            (``None``: 20-32 dB, as validation and test). A higher ``hi`` adds faint textures.
        structure_fraction: Share of the training structures that a non-base
            ``structure_set`` alters, in [0, 1] (default one half).
        photos: Names of the bundled photographs the ``photo`` structures are cut from
            (:data:`rpaf.data.structures.PHOTO_SOURCES`, e.g. ``[astronaut, chelsea, coffee,
            rocket, motorcycle]``); ``None``: the default four.
        photo_segment_scale: Coarseness of the ``photo`` structures' segments (multiplies the
            Felzenszwalb scale and minimum segment size; 1: default, 4: fewer, larger ones).
        photo_paint: ``"mean"`` (flat segments, the default) or ``"plane"`` (each segment's
            least-squares colour plane, so smooth shading stays in the training targets).
        test_size: Side length of the test split only (``None``: ``size``). Lets a short run
            train on small crops and still be scored at a size the no-reference metrics accept
            (NIQE needs 96 x 96); the network is fully convolutional.
    """

    def __init__(
        self,
        n_train: int = 1000,
        n_val: int = 50,
        n_test: int = 100,
        size: int = 256,
        recipe: str = "sps",
        seed: int = 0,
        cache: bool = False,
        augment: bool = False,
        batch_size: int = 4,
        num_workers: int = 0,
        pin_memory: bool = False,
        train_recipe: str | None = None,
        texture_set: str = "base",
        structure_set: str = "base",
        train_psnr_range: Sequence[float] | None = None,
        structure_fraction: float = STRUCTURE_FRACTION,
        test_size: int | None = None,
        photos: Sequence[str] | None = None,
        photo_segment_scale: float = 1.0,
        photo_paint: str = "mean",
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                         augment=augment)
        self.save_hyperparameters(logger=False)
        if test_size is not None and (isinstance(test_size, bool) or not isinstance(test_size, int)
                                      or test_size < 1):
            raise ValueError(f"data.test_size={test_size!r} must be a positive integer side "
                             f"length or null (= data.size)")
        if recipe not in RECIPES:
            raise ValueError(f"data.recipe={recipe!r} is not one of {RECIPES} (a mixed training "
                             f"set: data.train_recipe=mix)")
        if train_recipe is not None and train_recipe not in DATASET_RECIPES:
            raise ValueError(f"data.train_recipe={train_recipe!r} is not one of "
                             f"{DATASET_RECIPES} or null")
        check_texture_set(texture_set, key="data.texture_set")
        check_structure_set(structure_set, key="data.structure_set")
        if train_recipe is not None:
            check_recipe_structure(train_recipe, structure_set, key="data.train_recipe",
                                   set_key="data.structure_set")
        self.structure_fraction = check_structure_fraction(structure_fraction,
                                                           "data.structure_fraction")
        self.photos = check_photos(photos, key="data.photos")
        self.photo_segment_scale = check_segment_scale(photo_segment_scale,
                                                       "data.photo_segment_scale")
        self.photo_paint = check_paint(photo_paint, "data.photo_paint")
        # Settings of the photo structures only: refused with any other structure set.
        for key, changed, shown, reset, does in (
                ("photos", photos is not None, repr(list(self.photos)), "null",
                 "chooses the photographs of"),
                ("photo_segment_scale", self.photo_segment_scale != 1.0,
                 f"{self.photo_segment_scale:g}", "1", "sets the segments of"),
                ("photo_paint", self.photo_paint != "mean", repr(self.photo_paint), "mean",
                 "paints the segments of")):
            if changed and structure_set != "photo":
                raise ValueError(f"data.{key}={shown} {does} data.structure_set=photo, got "
                                 f"data.structure_set={structure_set!r}: set "
                                 f"data.structure_set=photo, or data.{key}={reset}")
        self.counts = {"train": n_train, "val": n_val, "test": n_test}
        self.size, self.recipe, self.seed, self.cache = size, recipe, seed, cache
        self.test_size = size if test_size is None else test_size
        self.train_recipe = train_recipe or recipe
        self.texture_set, self.structure_set = texture_set, structure_set
        self.train_psnr_range = (None if train_psnr_range is None
                                 else check_psnr_range(train_psnr_range, "data.train_psnr_range"))

    def _make(self, split: str, augment: bool = False) -> SyntheticPairDataset:
        recipe = self.train_recipe if split == "train" else self.recipe
        return SyntheticPairDataset(self.counts[split], split=split, seed=self.seed,
                                    size=self.test_size if split == "test" else self.size,
                                    recipe=recipe, cache=self.cache,
                                    augment=augment, texture_set=self.texture_set,
                                    structure_set=self.structure_set if split == "train"
                                    else "base",
                                    psnr_range=self.train_psnr_range if split == "train"
                                    else None,
                                    structure_fraction=self.structure_fraction,
                                    photos=self.photos,
                                    photo_segment_scale=self.photo_segment_scale,
                                    photo_paint=self.photo_paint)

    def setup(self, stage: str | None = None) -> None:
        """Create the datasets needed by ``stage`` (``fit``/``validate``/``test``/``predict``)."""
        if stage in (None, "fit"):
            self.train_set = self._make("train", augment=self.augment)
            self.num_train_samples = len(self.train_set)
        if stage in (None, "fit", "validate"):
            self.val_set = self._make("val")
        if stage in (None, "test", "predict"):
            self.test_set = self._make("test")


class PairedFolderDataModule(_BaseDataModule):
    """Any folder of ``input/`` + ``gt/`` pairs (the layout ``rpaf-make-data`` writes).

    Folder resolution: if any split folder exists, the splits are ``root/<train_dir>``,
    ``root/<val_dir>`` and ``root/<test_dir>`` (a missing val folder falls back to a
    ``val_fraction`` hold-out of train, else to the test folder; a missing test folder falls
    back to val). Otherwise ``root`` itself is the one set, used for every stage (minus a
    ``val_fraction`` hold-out for val/test when > 0).

    Args:
        root: Dataset folder.
        layout: Folder layout (:data:`rpaf.data.folders.LAYOUTS`).
        input_dir: Sub-folder of inputs inside each split folder.
        gt_dir: Sub-folder of ground truths inside each split folder.
        train_dir: Training split folder name.
        val_dir: Validation split folder name.
        test_dir: Test split folder name.
        val_fraction: Fraction of the training samples held out for validation when there is
            no val folder (chosen by a permutation seeded with ``split_seed``).
        split_seed: Seed of that hold-out.
        size: Resize to this size (paper: 512); null keeps native size (use ``batch_size=1``).
        skip_bad_files: Leave out unreadable files, printing them (default: raise).
        augment: Random flips on training samples (sets ``geometry_is_fixed`` False).
        allow_fit: For evaluation-only datasets: allow ``fit`` on the whole set (test-time
            fitting); ignored by training datasets.
        batch_size: Batch size of every loader.
        num_workers: DataLoader workers.
        pin_memory: DataLoader ``pin_memory``.
    """

    dataset_name = "paired-folder dataset"
    expected_layout = (
        "root/input/NAME.png + root/gt/NAME.png (paired by file name), optionally inside "
        "root/train, root/val, root/test"
    )
    published = "your own data, or `rpaf-make-data ROOT --n N` for synthetic pairs"
    default_layout = "paired"
    eval_only = False

    def __init__(
        self,
        root: str | Path,
        layout: str | None = None,
        input_dir: str = "input",
        gt_dir: str = "gt",
        train_dir: str = "train",
        val_dir: str = "val",
        test_dir: str = "test",
        val_fraction: float = 0.0,
        split_seed: int = 0,
        size: int | Sequence[int] | None = 512,
        skip_bad_files: bool = False,
        augment: bool = False,
        allow_fit: bool = False,
        batch_size: int = 4,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                         augment=augment)
        self.save_hyperparameters(logger=False)
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        self.root = Path(root).expanduser()
        self.layout = layout or self.default_layout
        self.dirs = {"train": train_dir, "val": val_dir, "test": test_dir}
        self.val_fraction, self.split_seed, self.allow_fit = val_fraction, split_seed, allow_fit
        self.reader_kw: dict[str, Any] = {
            "layout": self.layout, "input_dir": input_dir, "gt_dir": gt_dir, "size": size,
            "skip_bad_files": skip_bad_files,
        }

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise DatasetError(
                f"{self.dataset_name} root {self.root} does not exist. Expected layout: "
                f"{self.expected_layout}. Published: {self.published}. "
                "Point data.root at the folder."
            )

    def _read(self, folder: Path) -> PairedFolderDataset:
        return PairedFolderDataset(folder, **self.reader_kw)

    def _hold_out(self, ds: PairedFolderDataset) -> tuple[PairedFolderDataset, PairedFolderDataset]:
        """Split ``ds`` into (train, held-out) with a seeded permutation; both re-indexed."""
        n_val = max(1, round(self.val_fraction * len(ds)))
        if n_val >= len(ds):
            raise DatasetError(f"{ds.root}: {len(ds)} samples are too few for val_fraction="
                               f"{self.val_fraction}")
        perm = np.random.default_rng(self.split_seed).permutation(len(ds))
        return ds.subset(sorted(perm[n_val:].tolist())), ds.subset(sorted(perm[:n_val].tolist()))

    def _sets(self, stage: str) -> dict[str, PairedFolderDataset]:
        """Datasets for the splits ``stage`` needs, resolved as in the class docstring."""
        self._check_root()
        need = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",),
                "predict": ("test",)}[stage]
        if stage == "fit" and self.eval_only and not self.allow_fit:
            raise DatasetError(
                f"{self.dataset_name} is an evaluation set; train on data=sps or "
                "data=synthetic, or set data.allow_fit=true to fit on it on purpose"
            )
        single = self.eval_only or not any((self.root / d).is_dir() for d in self.dirs.values())

        def folder(split: str) -> Path:
            return self.root if single else self.root / self.dirs[split]

        hold = self.val_fraction > 0 and not self.eval_only and (
            single or not folder("val").is_dir())
        test_from_hold = single or not folder("test").is_dir()
        sets: dict[str, PairedFolderDataset] = {}
        if hold and ("train" in need or "val" in need or test_from_hold):
            sets["train"], sets["val"] = self._hold_out(self._read(folder("train")))
            if test_from_hold:
                sets["test"] = sets["val"]
        elif single:
            full = self._read(self.root)
            sets = {"train": full, "val": full, "test": full}
            if stage == "fit" and not self.eval_only:
                rank_zero_info(f"[rpaf.data] {self.root} has no {self.dirs['train']}/ folder: "
                               "training and validating on the same samples")
        for split in need:
            if split in sets:
                continue
            other = {"val": "test", "test": "val"}.get(split, split)
            if folder(split).is_dir():
                sets[split] = self._read(folder(split))
            elif folder(other).is_dir():
                rank_zero_info(f"[rpaf.data] no {folder(split)}: using {folder(other)} for {split}")
                sets[split] = self._read(folder(other))
            else:
                alt = "" if other == split else f" or {self.dirs[other]}/"
                raise DatasetError(
                    f"{self.root}: no {self.dirs[split]}/{alt} folder for the {split} stage "
                    f"(expected layout: {self.expected_layout})"
                    + ("; or set val_fraction > 0 to hold out training samples"
                       if split != "train" else "")
                )
        if self.augment and "train" in need:
            sets["train"] = sets["train"].subset(augment=True)
        return {k: sets[k] for k in need}

    def setup(self, stage: str | None = None) -> None:
        """Read the folders needed by ``stage`` (``fit``/``validate``/``test``/``predict``)."""
        for st in (("fit", "test") if stage is None else (stage,)):
            sets = self._sets(st)
            self.train_set = sets.get("train", self.train_set)
            self.val_set = sets.get("val", self.val_set)
            self.test_set = sets.get("test", self.test_set)
            if "train" in sets:
                self.num_train_samples = len(sets["train"])


class SPSDataModule(PairedFolderDataModule):
    """SPS (Feng et al. 2021, Easy2Hard), the paper's training set.

    Default layout ``sps_concat``: ``root/train/*.png`` and ``root/val/*.png`` hold
    ``[GT | input]`` side by side, as released. The re-organised layout with separate folders is
    ``layout=sps_split`` (``root/train/gt`` + ``root/train/input``; names set by ``gt_dir``,
    ``input_dir``). See :class:`PairedFolderDataModule` for the arguments.
    """

    dataset_name = "SPS"
    expected_layout = (
        "root/train/*.png and root/val/*.png, each PNG [GT | input] side by side (as released); "
        "or layout=sps_split with root/train/gt + root/train/input"
    )
    published = ("Easy2Hard, Feng et al. 2021 (IEEE TNNLS), https://github.com/YidFeng/Easy2Hard "
                 "(Google Drive links in its README; build with dataset_utils/blend&conc.py)")
    default_layout = "sps_concat"


class NKSDataModule(PairedFolderDataModule):
    """NKS (Xu et al. 2020, Nankai Smoothing): 200 test inputs ``S{i}T{j}`` = 20 structures x 10
    natural textures, ground truth per input or per structure (``S{i}.*``).

    An evaluation set: every stage reads ``root`` (``root/input`` + ``root/gt``); ``fit`` needs
    ``allow_fit=true``. See :class:`PairedFolderDataModule` for the arguments.
    """

    dataset_name = "NKS"
    expected_layout = ("root/input/S{i}T{j}.png + root/gt/S{i}T{j}.png or root/gt/S{i}.png "
                       "(20 structures x 10 textures)")
    published = ("Xu et al. 2020, 'Pixel-level non-local image smoothing with objective "
                 "evaluation' (IEEE TMM), https://github.com/zal0302/PNLS (Baidu/Google Drive "
                 "links in its README)")
    default_layout = "nks"
    eval_only = True


class ECSDataModule(PairedFolderDataModule):
    """ECS (Qi et al. 2024): an evaluation set read with the generic paired-folder layout
    (``root/input`` + ``root/gt``; no public layout is documented). See
    :class:`PairedFolderDataModule` for the arguments.
    """

    dataset_name = "ECS"
    expected_layout = "root/input/NAME.png + root/gt/NAME.png (paired by file name)"
    published = ("Qi et al. 2024, 'Self-supervised dual generative networks for edge-preserving "
                 "image smoothing' (ICASSP 2024); no public download is known: obtain it from the "
                 "authors")
    default_layout = "paired"
    eval_only = True


class RTVDataModule(PairedFolderDataModule):
    """RTV (Xu et al. 2012): textured images without ground truth, for no-reference metrics.

    Reads ``root/input/*`` or, if there is no ``input/`` folder, ``root/*``; samples have no
    ``target``. See :class:`PairedFolderDataModule` for the arguments.
    """

    dataset_name = "RTV"
    expected_layout = "root/*.jpg|png (or root/input/*): textured images, no ground truth"
    published = ("Xu et al. 2012, 'Structure extraction from texture via relative total "
                 "variation' (ACM TOG), official RTV project page "
                 "https://www.cse.cuhk.edu.hk/~leojia/projects/texturesep/")
    default_layout = "inputs_only"
    eval_only = True
