"""Synthetic generator: determinism, value range, texture strength, split disjointness."""

from __future__ import annotations

import numpy as np
import pytest

from rpaf.data.synthetic import (
    PSNR_RANGE,
    SyntheticPairDataset,
    blend_nks,
    blend_sps,
    make_pair,
    make_pair_with_info,
)
from rpaf.data.textures import (
    SPLIT_RULES,
    TEXTURE_SETS,
    TextureComponent,
    render_component,
    sample_texture,
)

SIZE = 48


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(-10 * np.log10(np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("recipe", ["sps", "nks"])
def test_shape_dtype_range(recipe: str) -> None:
    inp, tgt = make_pair(3, seed=1, size=SIZE, recipe=recipe)
    for a in (inp, tgt):
        assert a.shape == (SIZE, SIZE, 3)
        assert a.dtype == np.float32
        assert a.min() >= 0.0
        assert a.max() <= 1.0


@pytest.mark.parametrize("recipe", ["sps", "nks"])
def test_deterministic_per_seed_split_index(recipe: str) -> None:
    a = make_pair(5, seed=7, size=SIZE, recipe=recipe, split="val")
    b = make_pair(5, seed=7, size=SIZE, recipe=recipe, split="val")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for other in (dict(index=6, seed=7, split="val"), dict(index=5, seed=8, split="val"),
                  dict(index=5, seed=7, split="train")):
        c = make_pair(other["index"], seed=other["seed"], size=SIZE, recipe=recipe,
                      split=other["split"])
        assert not np.array_equal(a[1], c[1]), other


def test_structure_shared_across_recipes() -> None:
    _, t_sps = make_pair(2, size=SIZE, recipe="sps")
    _, t_nks = make_pair(2, size=SIZE, recipe="nks")
    np.testing.assert_array_equal(t_sps, t_nks)


@pytest.mark.parametrize("recipe", ["sps", "nks"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_texture_present_psnr_in_range(recipe: str, split: str) -> None:
    psnrs = []
    for i in range(16):
        inp, tgt, info = make_pair_with_info(i, size=SIZE, recipe=recipe, split=split)
        p = _psnr(inp, tgt)
        psnrs.append(p)
        # calibrated to the drawn target, or weaker only where clipping hides texture
        assert p >= info["target_psnr"] - 0.1
    psnrs = np.array(psnrs)
    assert np.all(np.isfinite(psnrs))  # never a texture-free input
    assert np.all(psnrs > PSNR_RANGE[0] - 0.1)
    assert np.mean(psnrs < PSNR_RANGE[1] + 0.5) >= 0.9
    assert np.median(psnrs) < PSNR_RANGE[1]  # texture really there
    assert psnrs.max() - psnrs.min() > 3.0  # a spread of strengths, not one value


def test_sps_texture_is_grey_and_additive() -> None:
    inp, tgt = make_pair(0, size=SIZE, recipe="sps")
    diff = inp.astype(np.float64) - tgt
    unclipped = np.all((inp > 0) & (inp < 1), axis=2)
    spread = diff[unclipped].max(axis=1) - diff[unclipped].min(axis=1)
    assert spread.max() < 1e-5  # the same grey value added to R, G and B


def test_blend_sps_closed_form() -> None:
    s = np.full((4, 4, 3), 0.5, np.float32)
    t = np.array([[1.0, -1.0, 3.0, -3.0]] * 4, np.float32)
    out = blend_sps(s, t, 0.1)
    np.testing.assert_allclose(out[0, :, 0], [0.6, 0.4, 0.8, 0.2], atol=1e-6)
    np.testing.assert_allclose(blend_sps(s, t, 1.0)[0, :, 1], [1.0, 0.0, 1.0, 0.0])


def test_blend_nks_matches_moments() -> None:
    rng = np.random.default_rng(0)
    s = rng.uniform(0.2, 0.8, (32, 32, 3)).astype(np.float32)
    tex = rng.standard_normal((32, 32, 3)).astype(np.float32) * 0.1
    out = blend_nks(s, tex, 1.0, np.array([0.5, 0.5, 0.5], np.float32))
    np.testing.assert_allclose(out.mean(axis=(0, 1)), s.mean(axis=(0, 1)), atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1)), s.std(axis=(0, 1)), atol=1e-4)
    # the brute-force recipe: 0.7 S + 0.3 T, then per-channel standardise to S's moments
    fused = 0.7 * s + 0.3 * np.clip(0.5 + tex, 0, 1)
    ref = (fused - fused.mean((0, 1))) / fused.std((0, 1)) * s.std((0, 1)) + s.mean((0, 1))
    np.testing.assert_allclose(out, np.clip(ref, 0, 1), atol=1e-5)


def _in_bins(period: float, bins) -> bool:
    return any(lo <= period <= hi for lo, hi in bins)


def _angle_ok(angle: float, angles, jitter: float) -> bool:
    return any(abs(angle - a) <= jitter + 1e-9 for a in angles)


def test_split_texture_parameters_disjoint() -> None:
    train, test = SPLIT_RULES["train"], SPLIT_RULES["test"]
    assert SPLIT_RULES["val"] == train
    # the rules themselves: no shared period range, no shared orientation window
    for lo, hi in train.period_bins:
        assert not any(lo < h and l2 < hi for l2, h in test.period_bins)
    for a in train.angles:
        assert all(abs(a - b) > train.angle_jitter + test.angle_jitter for b in test.angles)
    held_out = set(test.families) - set(train.families)
    assert held_out == {"weave", "cellular"}
    # and what the generator actually draws
    seen = {"train": [], "test": []}
    for split in ("train", "test"):
        for i in range(60):
            comps = make_pair_with_info(i, size=16, split=split)[2]["texture"]
            seen[split].extend(comps)
    for c in seen["train"]:
        assert c.family in train.families
        assert _in_bins(c.period, train.period_bins)
        assert _angle_ok(c.angle, train.angles, train.angle_jitter)
    for c in seen["test"]:
        assert _in_bins(c.period, test.period_bins)
        assert not _in_bins(c.period, train.period_bins)
        assert _angle_ok(c.angle, test.angles, test.angle_jitter)
        assert not _angle_ok(c.angle, train.angles, train.angle_jitter)
    assert {c.family for c in seen["test"]} & held_out  # held-out families really used


def test_sample_texture_deterministic() -> None:
    a = sample_texture(np.random.default_rng(4), "train")
    b = sample_texture(np.random.default_rng(4), "train")
    assert a == b


@pytest.mark.parametrize(
    "family", ["stripes", "checks", "bricks", "dots", "weave", "fractal", "blobs", "cellular",
               "hatch", "zigzag", "marble", "grain", "scales"]
)
def test_every_family_renders_normalised(family: str) -> None:
    for seed in range(3):
        c = TextureComponent(family=family, period=7.0, angle=20.0, seed=seed)
        t = render_component(c, 40)
        assert t.shape == (40, 40)
        assert t.dtype == np.float32
        assert np.isfinite(t).all()
        assert abs(float(t.mean())) < 1e-4
        assert abs(float(t.std()) - 1) < 1e-3


def test_periodic_texture_has_its_period() -> None:
    c = TextureComponent(family="stripes", period=8.0, angle=0.0, seed=0)
    t = render_component(c, 64)
    np.testing.assert_allclose(t[:, :56], t[:, 8:], atol=1e-3)  # period 8 along x
    row_spectrum = np.abs(np.fft.rfft(t[0]))
    assert int(np.argmax(row_spectrum)) == 64 // 8


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="recipe"):
        make_pair(0, recipe="foo")
    with pytest.raises(ValueError, match="split"):
        make_pair(0, split="dev")
    with pytest.raises(ValueError, match="size"):
        make_pair(0, size=8)


def test_dataset_items_and_cache() -> None:
    ds = SyntheticPairDataset(3, split="test", size=32, recipe="nks", cache=True)
    s = ds[2]
    assert set(s) == {"input", "target", "index", "name"}
    assert s["input"].shape == (3, 32, 32)
    assert s["index"] == 2
    assert s["name"] == "test_00002"
    inp, _ = make_pair(2, size=32, recipe="nks", split="test")
    np.testing.assert_array_equal(s["input"].permute(1, 2, 0).numpy(), inp)
    assert ds[2]["input"] is s["input"]  # served from the cache
    with pytest.raises(IndexError):
        ds[3]


def test_rich_texture_set_adds_training_families_only() -> None:
    """`rich` widens train/val; the held-out test split is byte-identical to `base`."""
    base, rich = TEXTURE_SETS["base"], TEXTURE_SETS["rich"]
    assert base["test"] == rich["test"] == SPLIT_RULES["test"]
    extra = set(rich["train"].families) - set(base["train"].families)
    assert extra == {"hatch", "zigzag", "marble", "grain", "scales"}
    assert not extra & set(rich["test"].families)  # none of them is ever a test texture
    assert rich["train"].angles == base["train"].angles
    assert rich["train"].period_bins == base["train"].period_bins
    for i in range(4):
        a = make_pair(i, size=32, split="test")
        b = make_pair(i, size=32, split="test", texture_set="rich")
        np.testing.assert_array_equal(a[0], b[0])
    drawn = set()
    for i in range(80):
        info = make_pair_with_info(i, size=16, split="train", texture_set="rich")[2]
        assert info["texture_set"] == "rich"
        for c in info["texture"]:
            assert c.family in rich["train"].families
            assert _angle_ok(c.angle, rich["train"].angles, rich["train"].angle_jitter)
            drawn.add(c.family)
    assert drawn & extra  # the new families are really drawn
    with pytest.raises(ValueError, match="texture_set='fancy'"):
        make_pair(0, texture_set="fancy")


def test_mixed_recipe_alternates_blends() -> None:
    from rpaf.data.synthetic import pair_recipe

    ds = SyntheticPairDataset(4, split="train", size=32, recipe="mix")
    for i in range(4):
        want = make_pair(i, size=32, recipe=("sps", "nks")[i % 2], split="train")
        np.testing.assert_array_equal(ds[i]["input"].permute(1, 2, 0).numpy(), want[0])
        assert pair_recipe("mix", i) == ("sps", "nks")[i % 2]
    with pytest.raises(ValueError, match="recipe"):
        make_pair(0, recipe="mix")  # a single pair needs a concrete blend


def test_varied_structure_set_lowers_contrast_of_training_pairs_only() -> None:
    """`varied`: about half the training structures at 0.15-0.6x contrast about their mean,
    the texture still calibrated to the pair's PSNR; other pairs and other splits unchanged."""
    from rpaf.data.synthetic import VARIED_CONTRAST

    scaled = 0
    for i in range(24):
        base_in, base_gt, base_info = make_pair_with_info(i, size=SIZE, split="train")
        inp, gt, info = make_pair_with_info(i, size=SIZE, split="train", structure_set="varied")
        assert info["structure_set"] == "varied"
        assert info["target_psnr"] == base_info["target_psnr"]
        mean = base_gt.mean(axis=(0, 1))
        ratio = float(np.std(gt - mean) / np.std(base_gt - mean))
        if np.array_equal(gt, base_gt):
            np.testing.assert_array_equal(inp, base_in)
            continue
        scaled += 1
        assert VARIED_CONTRAST[0] - 1e-3 <= ratio <= VARIED_CONTRAST[1] + 1e-3
        np.testing.assert_allclose(gt.mean(axis=(0, 1)), mean, atol=1e-4)
        assert abs(_psnr(inp, gt) - info["target_psnr"]) < 0.5
    assert 6 <= scaled <= 18
    with pytest.raises(ValueError, match="train split only"):
        make_pair(0, split="test", structure_set="varied")
    with pytest.raises(ValueError, match="structure_set='odd'"):
        make_pair(0, structure_set="odd")


def test_datamodule_varies_only_the_training_split() -> None:
    from rpaf.data import SyntheticDataModule

    dm = SyntheticDataModule(n_train=6, n_val=2, n_test=2, size=32, structure_set="varied",
                             structure_fraction=1.0)
    dm.setup("fit")
    dm.setup("test")
    assert dm.train_set.structure_set == "varied"
    assert dm.train_set.structure_fraction == 1.0
    assert dm.val_set.structure_set == dm.test_set.structure_set == "base"
    with pytest.raises(ValueError, match="data.structure_set"):
        SyntheticDataModule(structure_set="soft")
    with pytest.raises(ValueError, match="data.structure_fraction=2"):
        SyntheticDataModule(structure_set="photo", structure_fraction=2)


def test_photo_structures_are_cartoonised_crops() -> None:
    """`photo`: a deterministic, piecewise-constant crop of a bundled photograph."""
    from rpaf.data.structures import make_photo_structure

    a = make_photo_structure(np.random.default_rng(3), 64)
    b = make_photo_structure(np.random.default_rng(3), 64)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (64, 64, 3)
    assert a.dtype == np.float32
    assert 0.0 <= a.min() <= a.max() <= 1.0
    colours = np.unique(a.reshape(-1, 3), axis=0)
    assert 2 <= len(colours) <= 64 * 64 // 8  # segments of >= 8 px, painted flat
    with pytest.raises(ValueError, match="size <= 299"):
        make_photo_structure(np.random.default_rng(0), 400)


def test_photo_structure_set_replaces_about_half_of_the_training_structures() -> None:
    replaced = 0
    for i in range(16):
        base_gt = make_pair(i, size=SIZE, split="train")[1]
        inp, gt, info = make_pair_with_info(i, size=SIZE, split="train", structure_set="photo")
        assert info["structure_set"] == "photo"
        if not np.array_equal(gt, base_gt):
            replaced += 1
            assert abs(_psnr(inp, gt) - info["target_psnr"]) < 0.5
    assert 3 <= replaced <= 13
    with pytest.raises(ValueError, match="train split only"):
        make_pair(0, split="val", structure_set="photo")


def test_photo_max_size_is_the_smallest_photo_less_one() -> None:
    from rpaf.data.structures import PHOTO_MAX_SIZE, PHOTO_NAMES, _photo, make_photo_structure

    assert min(min(_photo(n).shape[:2]) for n in PHOTO_NAMES) - 1 == PHOTO_MAX_SIZE
    for seed in range(6):  # every photo can give the largest size
        assert make_photo_structure(np.random.default_rng(seed), PHOTO_MAX_SIZE).shape[0] == 299


def test_psnr_range_moves_only_the_texture_strength() -> None:
    from rpaf.data.synthetic import check_psnr_range

    for i in range(6):
        base_in, base_gt, base_info = make_pair_with_info(i, size=SIZE)
        inp, gt, info = make_pair_with_info(i, size=SIZE, psnr_range=(20.0, 40.0))
        np.testing.assert_array_equal(gt, base_gt)  # same structure, same draw
        u = (base_info["target_psnr"] - PSNR_RANGE[0]) / (PSNR_RANGE[1] - PSNR_RANGE[0])
        assert info["target_psnr"] == pytest.approx(20.0 + 20.0 * u)
        assert abs(_psnr(inp, gt) - info["target_psnr"]) < 0.5
    assert check_psnr_range([20, 40]) == (20.0, 40.0)
    for bad in ([32, 20], [5, 30], [20, 70], [20], "20-40"):
        with pytest.raises(ValueError, match="psnr_range"):
            check_psnr_range(bad)


def test_datamodule_train_psnr_range_is_for_training_only() -> None:
    from rpaf.data import SyntheticDataModule

    dm = SyntheticDataModule(n_train=4, n_val=2, n_test=2, size=32, train_psnr_range=[30, 40])
    dm.setup("fit")
    dm.setup("test")
    assert dm.train_set.psnr_range == (30.0, 40.0)
    assert dm.val_set.psnr_range is None
    assert dm.test_set.psnr_range is None
    with pytest.raises(ValueError, match="data.train_psnr_range"):
        SyntheticDataModule(train_psnr_range=[40, 30])


def test_train_psnr_range_from_hydra_saves_as_a_plain_list(tmp_path) -> None:
    """A ListConfig in the saved hyperparameters would break weights_only checkpoint loading."""
    import torch
    from omegaconf import OmegaConf

    from rpaf.builders import build_datamodule

    cfg = OmegaConf.create({"data": {"_target_": "rpaf.data.SyntheticDataModule", "n_train": 2,
                                     "size": 32, "train_psnr_range": [20, 40]}})
    dm = build_datamodule(cfg)
    assert type(dm.hparams["train_psnr_range"]) is list
    torch.save({"datamodule_hyper_parameters": dict(dm.hparams)}, tmp_path / "h.pt")
    loaded = torch.load(tmp_path / "h.pt", weights_only=True)
    assert loaded["datamodule_hyper_parameters"]["train_psnr_range"] == [20.0, 40.0]


def test_structure_fraction_sets_the_share_of_altered_structures() -> None:
    """0 = base structures, 0.5 = the default draw, 1 = every structure altered; a larger
    share alters a superset (the coin is the same draw); out-of-range values name the key."""
    from rpaf.data.synthetic import check_structure_fraction

    altered: dict[float, set[int]] = {}
    for frac in (0.0, 0.5, 0.75, 1.0):
        altered[frac] = set()
        for i in range(16):
            base_gt = make_pair(i, size=SIZE, split="train")[1]
            gt = make_pair_with_info(i, size=SIZE, split="train", structure_set="varied",
                                     structure_fraction=frac)[1]
            if not np.array_equal(gt, base_gt):
                altered[frac].add(i)
            if frac == 0.5:  # the default
                np.testing.assert_array_equal(
                    gt, make_pair(i, size=SIZE, split="train", structure_set="varied")[1])
    assert altered[0.0] == set()
    assert altered[1.0] == set(range(16))
    assert altered[0.5] < altered[0.75] < altered[1.0]
    assert check_structure_fraction(0.25) == 0.25
    for bad in (-0.1, 1.5, "half"):
        with pytest.raises(ValueError, match="structure_fraction"):
            make_pair(0, structure_set="photo", structure_fraction=bad)


def _assert_adds_training_family(texture_set: str, parent: str, family: str, n: int,
                                 share: tuple[float, float]) -> None:
    """``texture_set`` = ``parent`` + ``family`` in train/val only: the test rule and test pairs
    are those of ``base``, and ``family``'s share of the components of the first ``n`` training
    pairs lies inside ``share``."""
    rules = TEXTURE_SETS[texture_set]
    assert rules["test"] == TEXTURE_SETS["base"]["test"]
    assert family not in rules["test"].families
    assert set(rules["train"].families) - set(TEXTURE_SETS[parent]["train"].families) == {family}
    for i in range(3):
        np.testing.assert_array_equal(
            make_pair(i, size=32, split="test")[0],
            make_pair(i, size=32, split="test", texture_set=texture_set)[0])
    n_family = n_all = 0
    for i in range(n):
        info = make_pair_with_info(i, size=16, split="train", texture_set=texture_set)[2]
        assert info["texture_set"] == texture_set
        n_all += len(info["texture"])
        n_family += sum(c.family == family for c in info["texture"])
    assert share[0] < n_family / n_all < share[1]


def test_photo_texture_set_adds_texture_photographs_to_training_only() -> None:
    """`photo` texture set: crops of the bundled grey texture photographs in train/val (about a
    third of the components), never in the held-out test split."""
    from rpaf.data.textures import PHOTO_TEXTURES

    _assert_adds_training_family("photo", "base", "photo", 60, (0.15, 0.55))
    # One component: normalised, deterministic in its seed, and its spacing follows `period`.
    roughness = []
    for period in (4.0, 12.0, 40.0):
        fields = [render_component(TextureComponent("photo", period, 30.0, seed=s), 64)
                  for s in range(6)]
        for f in fields:
            assert f.shape == (64, 64)
            assert abs(float(f.mean())) < 1e-4
            assert abs(float(f.std()) - 1.0) < 1e-3
        np.testing.assert_array_equal(
            fields[0], render_component(TextureComponent("photo", period, 30.0, seed=0), 64))
        assert not np.array_equal(fields[0], fields[1])
        roughness.append(np.mean([np.abs(np.diff(f, axis=1)).mean() for f in fields]))
    assert roughness[0] > roughness[1] > roughness[2]  # larger period -> smoother field
    assert set(PHOTO_TEXTURES) == {"brick", "grass", "gravel"}


def test_small_details_are_small_deterministic_and_leave_the_rest_alone() -> None:
    from scipy import ndimage

    from rpaf.data.structures import add_small_details, make_structure

    base = make_structure(np.random.default_rng(5), 96)
    a = add_small_details(np.random.default_rng(9), base)
    np.testing.assert_array_equal(a, add_small_details(np.random.default_rng(9), base))
    assert a.shape == base.shape
    assert a.dtype == np.float32
    assert 0.0 <= a.min() <= a.max() <= 1.0
    assert not np.shares_memory(a, base)
    changed = np.abs(a - base).max(axis=2) > 1e-6
    assert 0 < changed.mean() < 0.2  # a few objects, most of the structure untouched
    labels, n = ndimage.label(changed)
    sizes = np.bincount(labels.ravel())[1:]
    assert n >= 3
    assert sizes.max() <= 2 * np.pi * 4.5**2  # nothing larger than a couple of 4-px discs
    # Faint ones too: some objects differ from what lies under them by much less than others.
    diffs = [np.abs(a - base)[labels == k].max() for k in range(1, n + 1)]
    assert min(diffs) < 0.5 * max(diffs)


def test_detail_structure_set_alters_about_half_of_the_training_structures() -> None:
    altered = 0
    for i in range(16):
        base_gt = make_pair(i, size=SIZE, split="train")[1]
        inp, gt, info = make_pair_with_info(i, size=SIZE, split="train", structure_set="detail")
        if not np.array_equal(gt, base_gt):
            altered += 1
            assert np.mean(np.abs(gt - base_gt).max(axis=2) > 1e-6) < 0.3
            assert abs(_psnr(inp, gt) - info["target_psnr"]) < 0.5
    assert 3 <= altered <= 13
    with pytest.raises(ValueError, match="train split only"):
        make_pair(0, split="test", structure_set="detail")


def test_by_structure_recipe_blends_photos_nks_and_procedural_structures_sps() -> None:
    """`by_structure`: each pair is exactly the sps pair (procedural structure) or the nks pair
    (photo structure) of the same index; both kinds occur; other structure sets are refused."""
    kinds = []
    for i in range(12):
        inp, gt, info = make_pair_with_info(i, size=SIZE, split="train", structure_set="photo",
                                            recipe="by_structure")
        photo = not np.array_equal(gt, make_pair(i, size=SIZE, split="train")[1])
        want = "nks" if photo else "sps"
        assert info["recipe"] == want
        ref_in, ref_gt = make_pair(i, size=SIZE, split="train", structure_set="photo",
                                   recipe=want)
        np.testing.assert_array_equal(inp, ref_in)
        np.testing.assert_array_equal(gt, ref_gt)
        kinds.append(want)
    assert set(kinds) == {"sps", "nks"}
    ds = SyntheticPairDataset(3, split="train", size=SIZE, recipe="by_structure",
                              structure_set="photo")
    np.testing.assert_array_equal(
        ds[2]["input"].permute(1, 2, 0).numpy(),
        make_pair(2, size=SIZE, split="train", structure_set="photo", recipe=kinds[2])[0])
    with pytest.raises(ValueError, match="recipe='by_structure'.*structure_set=photo"):
        make_pair(0, recipe="by_structure")
    with pytest.raises(ValueError, match="structure_set='varied'"):
        SyntheticPairDataset(2, split="train", size=SIZE, recipe="by_structure",
                             structure_set="varied")


def test_photos_choose_the_photographs_of_photo_structures() -> None:
    """`photos`: the default selection draws as before; `camera` gives grey structures, larger
    photos allow larger crops; bad selections are named."""
    from rpaf.data.structures import (
        PHOTO_NAMES,
        PHOTO_SOURCES,
        check_photos,
        make_photo_structure,
        photo_max_size,
    )

    assert set(PHOTO_NAMES) < set(PHOTO_SOURCES)
    for seed in range(3):
        np.testing.assert_array_equal(
            make_photo_structure(np.random.default_rng(seed), 40),
            make_photo_structure(np.random.default_rng(seed), 40, list(PHOTO_NAMES)))
    grey = make_photo_structure(np.random.default_rng(1), 64, ["camera"])
    assert np.array_equal(grey[..., 0], grey[..., 1])
    assert np.array_equal(grey[..., 1], grey[..., 2])
    assert len(np.unique(grey[..., 0])) >= 2
    colour = make_photo_structure(np.random.default_rng(1), 64, ["motorcycle"])
    assert not np.array_equal(colour[..., 0], colour[..., 1])
    assert photo_max_size(["motorcycle"]) == 499
    assert photo_max_size() == 299
    big = make_photo_structure(np.random.default_rng(0), 400, ["motorcycle"])
    assert big.shape == (400, 400, 3)
    with pytest.raises(ValueError, match="size <= 299"):
        make_photo_structure(np.random.default_rng(0), 400, ["motorcycle", "chelsea"])
    for bad, msg in ((["lena"], r"unknown photo\(s\) \['lena'\]"), ([], "empty"),
                     ("camera", r"give a list.*\[camera\]"), (["camera", "camera"], "twice")):
        with pytest.raises(ValueError, match=msg):
            check_photos(bad, key="data.photos")
    # through the pair generator and the dataset: every altered structure comes from `camera`
    for i in range(4):
        inp, gt, info = make_pair_with_info(i, size=SIZE, split="train", structure_set="photo",
                                            structure_fraction=1.0, photos=["camera"])
        assert info["photos"] == ("camera",)
        assert np.array_equal(gt[..., 0], gt[..., 2])
    ds = SyntheticPairDataset(2, split="train", size=SIZE, structure_set="photo",
                              structure_fraction=1.0, photos=["camera"])
    np.testing.assert_array_equal(ds[1]["target"].permute(1, 2, 0).numpy(),
                                  make_pair(1, size=SIZE, split="train", structure_set="photo",
                                            structure_fraction=1.0, photos=["camera"])[1])


def test_natural_texture_set_adds_pink_noise_to_training_only() -> None:
    """`natural` = `photo` + the broadband `pink` family (about a quarter of the training
    components); the held-out test split is unchanged."""
    _assert_adds_training_family("natural", "photo", "pink", 80, (0.1, 0.45))


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_pink_component_has_its_power_law_and_rolls_off_below_its_period(seed: int) -> None:
    """The radially averaged power spectrum of a `pink` field falls as f**(-2 beta) above the
    roll-off (beta as drawn from the component's seed), and is suppressed below 1/period."""
    from rpaf.data.textures import PINK_BETA

    size, period = 256, 32.0
    field = render_component(TextureComponent("pink", period, 30.0, seed=seed), size)
    assert field.shape == (size, size)
    assert abs(float(field.mean())) < 1e-4
    assert abs(float(field.std()) - 1.0) < 1e-3
    np.testing.assert_array_equal(
        field, render_component(TextureComponent("pink", period, 30.0, seed=seed), size))
    rng = np.random.default_rng(seed)  # the family's draws: anisotropy stretch, then beta
    rng.uniform(1.0, 1.5)
    beta = rng.uniform(*PINK_BETA)
    power = np.abs(np.fft.fft2(field)) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))
    edges = np.geomspace(0.1, 0.45, 9)
    centres = np.sqrt(edges[:-1] * edges[1:])
    bands = zip(edges[:-1], edges[1:], strict=True)
    means = [power[(f >= lo) & (f < hi)].mean() for lo, hi in bands]
    slope = np.polyfit(np.log(centres), np.log(means), 1)[0]
    assert abs(slope + 2 * beta) < 0.25, (slope, beta)
    low = power[(f > 0) & (f < 0.25 / period)].mean()
    at_roll_off = power[(f >= 1.5 / period) & (f < 2.5 / period)].mean()
    assert low < 0.2 * at_roll_off


def test_photo_segment_scale_coarsens_the_photo_structures() -> None:
    """`photo_segment_scale`: 1 keeps the default pairs bit for bit; larger values give fewer,
    larger segments from the same crop; bad values are named."""
    from rpaf.data.structures import check_segment_scale, make_photo_structure

    for i in range(3):
        a = make_pair_with_info(i, size=48, structure_set="photo", structure_fraction=1.0)
        b = make_pair_with_info(i, size=48, structure_set="photo", structure_fraction=1.0,
                                photo_segment_scale=1.0)
        np.testing.assert_array_equal(a[0], b[0])
        assert b[2]["photo_segment_scale"] == 1.0
    counts = {}
    for scale in (1.0, 4.0):
        counts[scale] = [
            len(np.unique(make_photo_structure(np.random.default_rng(s), 96,
                                               segment_scale=scale).reshape(-1, 3), axis=0))
            for s in range(6)]
    assert all(c4 < c1 for c1, c4 in zip(counts[1.0], counts[4.0], strict=True)), counts
    assert sum(counts[4.0]) < 0.6 * sum(counts[1.0]), counts
    structure = make_photo_structure(np.random.default_rng(0), 96, segment_scale=4.0)
    assert max(np.unique(structure.reshape(-1, 3), axis=0, return_counts=True)[1]) >= 32
    for bad in (0.1, 20, "coarse"):
        with pytest.raises(ValueError, match="photo_segment_scale"):
            check_segment_scale(bad)
    with pytest.raises(ValueError, match="photo_segment_scale=0.1"):
        make_pair(0, structure_set="photo", photo_segment_scale=0.1)


def test_paint_segments_match_a_per_segment_brute_force() -> None:
    """`mean` paints each segment's mean colour; `plane` its least-squares colour plane over
    the pixel coordinates (checked against numpy's lstsq per segment, ridge negligible on
    large segments), reproducing a linear ramp inside a segment exactly."""
    from rpaf.data.structures import PLANE_RIDGE, paint_segments

    rng = np.random.default_rng(0)
    h, w = 40, 56
    labels = np.zeros((h, w), np.int64)
    labels[:, 20:] = 1
    labels[25:, 30:] = 3  # label 2 unused
    image = rng.random((h, w, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    image[labels == 1] = (0.2 + 0.004 * xx + 0.003 * yy)[labels == 1][:, None]  # a ramp
    mean = paint_segments(image, labels, "mean")
    plane = paint_segments(image, labels, "plane")
    basis = np.stack([np.ones(h * w), (xx.ravel() - w / 2) / w, (yy.ravel() - h / 2) / w], 1)
    for k in (0, 1, 3):
        m = labels == k
        np.testing.assert_allclose(mean[m], np.broadcast_to(image[m].mean(0), image[m].shape),
                                   atol=1e-6)
        a = basis[m.ravel()]
        coef = np.linalg.lstsq(a, image[m].astype(np.float64), rcond=None)[0]
        # The ridge moves the fit by about PLANE_RIDGE / (pixels x slope variance) of it.
        np.testing.assert_allclose(plane[m], a @ coef, atol=50 * PLANE_RIDGE / m.sum())
    np.testing.assert_allclose(plane[labels == 1], image[labels == 1], atol=1e-4)
    assert plane.dtype == mean.dtype == np.float32
    assert not np.allclose(plane, mean)
    # A one-pixel-wide segment has no defined slope across it: the ridge keeps it finite.
    thin = np.zeros((8, 8), np.int64)
    thin[:, 3] = 1
    out = paint_segments(rng.random((8, 8, 3)), thin, "plane")
    assert np.isfinite(out).all()
    with pytest.raises(ValueError, match="photo_paint='smooth'"):
        paint_segments(image, labels, "smooth")


def test_photo_paint_plane_keeps_shading_in_photo_structures() -> None:
    """`photo_paint=plane`: same segments as `mean` (same draws), no longer flat inside them;
    `mean` keeps the default pairs bit for bit."""
    from rpaf.data.structures import make_photo_structure

    a = make_photo_structure(np.random.default_rng(2), 64)
    b = make_photo_structure(np.random.default_rng(2), 64, paint="plane")
    assert b.shape == a.shape
    assert b.dtype == np.float32
    assert 0.0 <= b.min() <= b.max() <= 1.0
    assert len(np.unique(b.reshape(-1, 3), axis=0)) > 2 * len(np.unique(a.reshape(-1, 3), axis=0))
    assert np.abs(b - a).mean() < 0.05  # the same segments, shaded
    info = make_pair_with_info(0, size=32, structure_set="photo", structure_fraction=1.0,
                               photo_paint="plane")[2]
    assert info["photo_paint"] == "plane"
    np.testing.assert_array_equal(
        make_pair(1, size=32, structure_set="photo", structure_fraction=1.0)[1],
        make_pair(1, size=32, structure_set="photo", structure_fraction=1.0,
                  photo_paint="mean")[1])
