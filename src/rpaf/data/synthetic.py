"""Synthetic texture-over-structure pairs, generated on the fly and deterministically.

A pair is (input, target) = (structure blended with a multi-scale texture, structure). Two
blending recipes follow the published datasets:

* ``sps`` (Easy2Hard, Feng et al. 2021): a zero-mean grey texture is added to all three
  channels, then the result is clipped to [0, 1].
* ``nks`` (Xu et al. 2020): ``0.7 * S + 0.3 * T`` with a colour texture T in [0, 1], then each
  channel's mean and standard deviation are matched to those of S (and clipped to [0, 1]).

A dataset may also use ``mix``: even indices use ``sps``, odd ones ``nks`` (training on both
blends; the evaluation splits normally keep one recipe, see
:class:`rpaf.data.SyntheticDataModule`'s ``train_recipe``), or ``by_structure`` (with the
``photo`` structure set: ``nks`` on the cartoonised photo structures, ``sps`` on the procedural
ones, so each blend meets the kind of image it comes with in the evaluation sets).

The texture strength is not a fixed constant: each pair draws a target input-vs-GT PSNR
uniformly in :data:`PSNR_RANGE` (20-32 dB; the NKS paper's S15T1 input is 27.26 dB) and the
strength that reaches it is found by bisection. Where clipping makes the target unreachable
(texture on near-black/white structure) the pair keeps the strongest texture allowed.

Determinism: every pair is a pure function of ``(seed, split, index)`` (numpy ``SeedSequence``
entropy ``[seed, split_code, index]``; the three splits use disjoint streams) and the structure
does not depend on the recipe. Splits also differ in texture parameters: see
:mod:`rpaf.data.textures` (held-out families, orientations and scale bins for ``test``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from rpaf.data.errors import check_number
from rpaf.data.imageio import to_tensor
from rpaf.data.structures import (
    add_small_details,
    check_paint,
    check_photos,
    check_segment_scale,
    make_photo_structure,
    make_structure,
)
from rpaf.data.textures import check_texture_set, render_texture, sample_texture
from rpaf.data.transforms import random_flip

__all__ = [
    "DATASET_RECIPES",
    "PSNR_RANGE",
    "RECIPES",
    "SPLITS",
    "STRUCTURE_FRACTION",
    "STRUCTURE_SETS",
    "SyntheticPairDataset",
    "VARIED_CONTRAST",
    "blend_nks",
    "blend_sps",
    "check_psnr_range",
    "check_recipe_structure",
    "check_structure_fraction",
    "check_structure_set",
    "make_pair",
    "make_pair_with_info",
    "pair_recipe",
]

RECIPES: tuple[str, ...] = ("sps", "nks")
#: Structure sets: ``base`` (every split); training split only: ``varied`` (a share of the
#: structures, :data:`STRUCTURE_FRACTION` unless set, get their colour contrast about the
#: mean scaled by a factor in
#: :data:`VARIED_CONTRAST`, so faint edges next to strong texture are seen in training) or
#: ``photo`` (that share of the structures are cartoonised photo crops:
#: :func:`rpaf.data.structures.make_photo_structure`) or ``detail`` (that share get many small,
#: partly faint objects painted over them: :func:`rpaf.data.structures.add_small_details`).
STRUCTURE_SETS: tuple[str, ...] = ("base", "varied", "photo", "detail")
VARIED_CONTRAST: tuple[float, float] = (0.15, 0.6)
#: Default share of the training structures that a non-base structure set alters.
STRUCTURE_FRACTION: float = 0.5
#: Blends a dataset accepts: ``mix`` (sps on even indices, nks on odd) and ``by_structure`` (nks on
#: photo structures, sps on procedural ones; needs ``structure_set="photo"``) besides
#: :data:`RECIPES`.
DATASET_RECIPES: tuple[str, ...] = (*RECIPES, "mix", "by_structure")
SPLITS: tuple[str, ...] = ("train", "val", "test")
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
PSNR_RANGE: tuple[float, float] = (20.0, 32.0)


def blend_sps(structure: np.ndarray, texture: np.ndarray, strength: float) -> np.ndarray:
    """Easy2Hard blend: ``clip(S + strength * T, 0, 1)`` with grey T added to every channel.

    Args:
        structure: (H, W, 3) ground truth in [0, 1].
        texture: (H, W) zero-mean grey texture.
        strength: Amplitude multiplier of the texture.
    """
    return np.clip(structure + strength * texture[..., None], 0.0, 1.0)


def _nks_flat(s_flat: np.ndarray, t_flat: np.ndarray, strength: float, mean: np.ndarray):
    """:func:`blend_nks` on channel-first (3, N) arrays (contiguous reductions: fast)."""
    fused = 0.3 * np.clip(mean[:, None] + strength * t_flat, 0.0, 1.0)
    fused += 0.7 * s_flat
    mu_f, sd_f = fused.mean(axis=1, keepdims=True), fused.std(axis=1, keepdims=True)
    mu_s, sd_s = s_flat.mean(axis=1, keepdims=True), s_flat.std(axis=1, keepdims=True)
    return np.clip((fused - mu_f) * (sd_s / np.maximum(sd_f, 1e-6)) + mu_s, 0.0, 1.0)


def blend_nks(
    structure: np.ndarray, texture: np.ndarray, strength: float, mean_colour: np.ndarray
) -> np.ndarray:
    """NKS blend: ``0.7 S + 0.3 T`` then per-channel mean/std matched to S.

    Args:
        structure: (H, W, 3) ground truth S in [0, 1].
        texture: (H, W, 3) zero-mean colour texture field; the texture image is
            ``T = clip(mean_colour + strength * texture, 0, 1)``.
        strength: Contrast of the texture image.
        mean_colour: (3,) mean colour of the texture image.

    Returns:
        (H, W, 3) blended input in [0, 1].
    """
    h, w, _ = structure.shape
    s_flat = np.ascontiguousarray(structure.reshape(-1, 3).T)
    t_flat = np.ascontiguousarray(texture.reshape(-1, 3).T)
    out = _nks_flat(s_flat, t_flat, strength, np.asarray(mean_colour, np.float32))
    return np.ascontiguousarray(out.T.reshape(h, w, 3))


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


def _calibrate(
    blend: Callable[[float], np.ndarray], target: np.ndarray, psnr: float, lo: float, hi: float
) -> float:
    """Strength in [lo, hi] whose blend has input-vs-target PSNR ``psnr`` (log bisection).

    Assumes the error grows with the strength; returns ``hi`` when even ``hi`` stays above
    the target PSNR (e.g. texture clipped away on saturated structure).
    """
    goal = 10.0 ** (-psnr / 10.0)  # MSE for data range 1
    if _mse(blend(hi), target) <= goal:
        return hi
    if _mse(blend(lo), target) >= goal:
        return lo
    a, b = np.log(lo), np.log(hi)
    for _ in range(12):
        m = 0.5 * (a + b)
        if _mse(blend(float(np.exp(m))), target) < goal:
            a = m
        else:
            b = m
    return float(np.exp(0.5 * (a + b)))


def _check(recipe: str, split: str, size: int, recipes: tuple[str, ...] = RECIPES,
           texture_set: str = "base") -> None:
    if recipe not in recipes:
        raise ValueError(f"recipe={recipe!r} is not one of {recipes}")
    check_texture_set(texture_set)
    if split not in _SPLIT_CODE:
        raise ValueError(f"split={split!r} is not one of {SPLITS}")
    if size < 16:
        raise ValueError(f"size={size} is too small for a structure image; use size >= 16")


def pair_recipe(recipe: str, index: int) -> str:
    """The blend used for pair ``index`` of a dataset with ``recipe`` (resolves ``mix``;
    ``by_structure`` is passed on: :func:`make_pair` resolves it once the structure is drawn)."""
    if recipe == "mix":
        return RECIPES[index % 2]
    return recipe


def check_structure_set(name: str, split: str | None = None,
                        key: str = "structure_set") -> None:
    """ValueError naming ``key`` unless ``name`` is in :data:`STRUCTURE_SETS` and, for a
    non-base set, ``split`` is ``"train"`` or ``None`` (not yet known)."""
    if name not in STRUCTURE_SETS:
        raise ValueError(f"{key}={name!r} is not one of {STRUCTURE_SETS}")
    if name != "base" and split not in (None, "train"):
        raise ValueError(f"{key}={name!r} applies to the train split only (got "
                         f"split={split!r}): validation and test keep the base structures")


def check_structure_fraction(fraction: float, key: str = "structure_fraction") -> float:
    """``fraction`` as a float if it lies in [0, 1], else a ValueError naming ``key``."""
    return check_number(fraction, key, 0.0, 1.0, "share of the training structures that the "
                        f"structure set alters; default {STRUCTURE_FRACTION:g}")


def check_recipe_structure(recipe: str, structure_set: str, key: str = "recipe",
                           set_key: str = "structure_set") -> None:
    """ValueError naming both keys if ``recipe`` is ``by_structure`` and ``structure_set`` is
    not ``photo`` (the only set whose altered structures are a different kind of image)."""
    if recipe == "by_structure" and structure_set != "photo":
        raise ValueError(f"{key}='by_structure' picks the blend from the kind of structure "
                         f"(nks on photo structures, sps on procedural ones) and needs "
                         f"{set_key}=photo, got {set_key}={structure_set!r}: set {set_key}=photo "
                         f"or use {key}=mix")


def _alter_structure(target: np.ndarray, structure_set: str, seed: int, split: str,
                     index: int, fraction: float = STRUCTURE_FRACTION,
                     photos: Sequence[str] | None = None,
                     segment_scale: float = 1.0,
                     paint: str = "mean") -> tuple[np.ndarray, bool]:
    """The non-base structure sets: a share ``fraction`` of the structures is altered.

    Returns ``(structure, altered)``.

    ``varied`` scales the contrast about the mean colour by a factor in
    :data:`VARIED_CONTRAST`; ``photo`` replaces the structure by a cartoonised crop of one of
    ``photos``. The draws use their own random stream, so the base pair's structure and texture
    are unchanged (and, for one ``index``, a larger ``fraction`` alters a superset of the
    structures).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SPLIT_CODE[split],
                                                        int(index), 7]))
    if rng.random() >= fraction:
        return target, False
    if structure_set == "photo":
        return make_photo_structure(rng, target.shape[0], photos, segment_scale, paint), True
    if structure_set == "detail":
        return add_small_details(rng, target), True
    c = rng.uniform(*VARIED_CONTRAST)
    mean = target.mean(axis=(0, 1), keepdims=True)
    return (mean + c * (target - mean)).astype(np.float32), True


def check_psnr_range(psnr_range: Sequence[float], key: str = "psnr_range") -> tuple[float, float]:
    """``(lo, hi)`` as floats if ``10 <= lo < hi <= 60`` dB, else a ValueError naming ``key``."""
    try:
        lo, hi = (float(v) for v in psnr_range)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={psnr_range!r}: give two numbers [lo, hi] in dB, e.g. "
                         f"[{PSNR_RANGE[0]:g}, {PSNR_RANGE[1]:g}]") from None
    if not 10.0 <= lo < hi <= 60.0:
        raise ValueError(f"{key}=[{lo:g}, {hi:g}]: need 10 <= lo < hi <= 60 (dB)")
    return lo, hi


def make_pair_with_info(
    index: int, *, seed: int = 0, size: int = 256, recipe: str = "sps", split: str = "train",
    texture_set: str = "base", structure_set: str = "base",
    psnr_range: Sequence[float] | None = None, structure_fraction: float = STRUCTURE_FRACTION,
    photos: Sequence[str] | None = None, photo_segment_scale: float = 1.0,
    photo_paint: str = "mean",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Like :func:`make_pair`, also returning how the pair was made.

    Returns:
        ``(input, target, info)``; ``info`` holds ``texture`` (tuple of
        :class:`~rpaf.data.textures.TextureComponent`), ``target_psnr``, ``strength``,
        ``recipe`` (the blend used: ``by_structure`` resolved), ``split``, ``texture_set``,
        ``structure_set``, ``structure_fraction``, ``photos``, ``photo_segment_scale``,
        ``photo_paint``.
    """
    _check(recipe, split, size, (*RECIPES, "by_structure"), texture_set=texture_set)
    check_structure_set(structure_set, split)
    check_recipe_structure(recipe, structure_set)
    structure_fraction = check_structure_fraction(structure_fraction)
    photos = check_photos(photos)
    photo_segment_scale = check_segment_scale(photo_segment_scale, "photo_segment_scale")
    check_paint(photo_paint)
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    ss = np.random.SeedSequence([int(seed), _SPLIT_CODE[split], int(index)])
    rng_s, rng_t, rng_b = (np.random.default_rng(s) for s in ss.spawn(3))
    target = make_structure(rng_s, size)
    altered = False
    if structure_set != "base":
        target, altered = _alter_structure(target, structure_set, seed, split, index,
                                           structure_fraction, photos, photo_segment_scale,
                                           photo_paint)
    if recipe == "by_structure":
        recipe = "nks" if altered else "sps"
    lo, hi = PSNR_RANGE if psnr_range is None else check_psnr_range(psnr_range)
    psnr = float(rng_b.uniform(lo, hi))
    colour = recipe == "nks"
    for _ in range(8):  # redraw a texture that is flat in view (e.g. a period >> size)
        comps = sample_texture(rng_t, split, texture_set)
        tex = render_texture(comps, size, colour=colour, rng=rng_t)
        if float(np.abs(tex).max()) > 0.0:
            break
    if recipe == "sps":
        s0 = 10.0 ** (-psnr / 20.0)  # unit-RMS texture: exact strength when nothing clips
        strength = _calibrate(lambda s: blend_sps(target, tex, s), target, psnr, s0, 8.0 * s0)
        inp = blend_sps(target, tex, strength)
    else:
        mean_colour = rng_b.uniform(0.3, 0.7, 3).astype(np.float32)
        s_flat = np.ascontiguousarray(target.reshape(-1, 3).T)
        t_flat = np.ascontiguousarray(tex.reshape(-1, 3).T)
        strength = _calibrate(
            lambda s: _nks_flat(s_flat, t_flat, s, mean_colour), s_flat, psnr, 1e-3, 3.0
        )
        inp = blend_nks(target, tex, strength, mean_colour)
    info = {"texture": comps, "target_psnr": psnr, "strength": strength,
            "recipe": recipe, "split": split, "texture_set": texture_set,
            "structure_set": structure_set, "structure_fraction": structure_fraction,
            "photos": photos, "photo_segment_scale": photo_segment_scale,
            "photo_paint": photo_paint}
    return inp.astype(np.float32), target.astype(np.float32), info


def make_pair(
    index: int, *, seed: int = 0, size: int = 256, recipe: str = "sps", split: str = "train",
    texture_set: str = "base", structure_set: str = "base",
    psnr_range: Sequence[float] | None = None, structure_fraction: float = STRUCTURE_FRACTION,
    photos: Sequence[str] | None = None, photo_segment_scale: float = 1.0,
    photo_paint: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Generate one synthetic (input, target) pair.

    Args:
        index: Sample number (>= 0).
        seed: Dataset seed; with ``split`` and ``index`` it fixes the pair completely.
        size: Side length in pixels.
        recipe: ``"sps"`` (grey texture added, clipped) or ``"nks"`` (0.7 S + 0.3 T, moments
            matched): see the module docstring; ``"by_structure"`` (with ``structure_set=
            "photo"``): ``nks`` if the structure is a photo crop, else ``sps``.
        split: ``"train"``, ``"val"`` or ``"test"``: disjoint random streams; ``"test"`` also
            draws textures from held-out families/orientations/scales.
        texture_set: ``"base"``, ``"rich"``, ``"photo"`` or ``"natural"`` (extra training-only
            families for train/val; :data:`rpaf.data.textures.TEXTURE_SETS`). The test split is
            the same for all of them.
        structure_set: ``"base"``, ``"varied"`` (train split only: half of the structures
            with reduced colour contrast) or ``"photo"`` (train split only: half of them
            cartoonised photo crops); :data:`STRUCTURE_SETS`.
        psnr_range: ``(lo, hi)`` dB range of the drawn input-vs-target PSNR; ``None``:
            :data:`PSNR_RANGE`. The draw itself is the same, so only the strengths change.
        structure_fraction: Share of the structures that a non-base ``structure_set``
            alters, in [0, 1] (default one half).
        photos: Photographs the ``photo`` structures are cut from (names in
            :data:`rpaf.data.structures.PHOTO_SOURCES`; ``None``: the default four).
        photo_segment_scale: Coarseness of the ``photo`` structures' segments (1: default;
            4: about 4x the Felzenszwalb scale and minimum segment size).
        photo_paint: ``"mean"`` (flat segments) or ``"plane"`` (each segment's least-squares
            colour plane: smooth shading kept; :func:`rpaf.data.structures.paint_segments`).

    Returns:
        ``(input, target)``: float32 arrays (size, size, 3) in [0, 1].
    """
    inp, target, _ = make_pair_with_info(index, seed=seed, size=size, recipe=recipe, split=split,
                                         texture_set=texture_set, structure_set=structure_set,
                                         psnr_range=psnr_range,
                                         structure_fraction=structure_fraction, photos=photos,
                                         photo_segment_scale=photo_segment_scale,
                                         photo_paint=photo_paint)
    return inp, target


class SyntheticPairDataset(Dataset):
    """``n`` synthetic pairs of one split, generated on access.

    Args:
        n: Number of samples.
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: Dataset seed.
        size: Side length in pixels.
        recipe: ``"sps"``, ``"nks"``, ``"mix"`` (sps on even indices, nks on odd) or
            ``"by_structure"`` (nks on photo structures, sps on the others; needs
            ``structure_set="photo"``).
        texture_set: ``"base"``, ``"rich"``, ``"photo"`` or ``"natural"`` (see
            :func:`make_pair`).
        structure_set: ``"base"``, ``"varied"`` or ``"photo"`` (train split only; see
            :func:`make_pair`).
        psnr_range: Input-vs-target PSNR range (dB) of the pairs; ``None``: :data:`PSNR_RANGE`.
        structure_fraction: Share of the structures a non-base ``structure_set`` alters.
        photos: Photographs behind ``photo`` structures (see :func:`make_pair`).
        photo_segment_scale: Coarseness of their segments (see :func:`make_pair`).
        photo_paint: How their segments are painted (see :func:`make_pair`).
        cache: Keep generated pairs in memory (per process: with ``num_workers > 0`` use
            persistent workers, or each worker fills its own cache).
        augment: Random horizontal/vertical flips (same on input and target).

    Items are dicts: ``input``/``target`` float32 (3, size, size) in [0, 1], ``index`` (the
    position, 0..n-1), ``name`` (``"{split}_{index:05d}"``).
    """

    def __init__(
        self,
        n: int,
        *,
        split: str = "train",
        seed: int = 0,
        size: int = 256,
        recipe: str = "sps",
        cache: bool = False,
        augment: bool = False,
        texture_set: str = "base",
        structure_set: str = "base",
        psnr_range: Sequence[float] | None = None,
        structure_fraction: float = STRUCTURE_FRACTION,
        photos: Sequence[str] | None = None,
        photo_segment_scale: float = 1.0,
        photo_paint: str = "mean",
    ) -> None:
        _check(recipe, split, size, DATASET_RECIPES, texture_set)
        check_recipe_structure(recipe, structure_set)
        self.structure_fraction = check_structure_fraction(structure_fraction)
        self.photos = check_photos(photos)
        self.photo_segment_scale = check_segment_scale(photo_segment_scale)
        self.photo_paint = check_paint(photo_paint)
        self.psnr_range = None if psnr_range is None else check_psnr_range(psnr_range)
        check_structure_set(structure_set, split)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n, self.split, self.seed, self.size, self.recipe = n, split, seed, size, recipe
        self.augment, self.texture_set, self.structure_set = augment, texture_set, structure_set
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        pair = self._cache.get(index) if self._cache is not None else None
        if pair is None:
            inp, tgt = make_pair(index, seed=self.seed, size=self.size,
                                 recipe=pair_recipe(self.recipe, index), split=self.split,
                                 texture_set=self.texture_set, structure_set=self.structure_set,
                                 psnr_range=self.psnr_range,
                                 structure_fraction=self.structure_fraction,
                                 photos=self.photos,
                                 photo_segment_scale=self.photo_segment_scale,
                                 photo_paint=self.photo_paint)
            pair = (to_tensor(inp), to_tensor(tgt))
            if self._cache is not None:
                self._cache[index] = pair
        inp_t, tgt_t = pair
        if self.augment:
            inp_t, tgt_t = random_flip(inp_t, tgt_t)
        return {"input": inp_t, "target": tgt_t, "index": index,
                "name": f"{self.split}_{index:05d}"}
