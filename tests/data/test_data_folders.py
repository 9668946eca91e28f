"""Folder layouts parsed from tiny fixture trees, and every bad-input case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rpaf.data import DatasetError, PairedFolderDataset, read_image, write_image
from rpaf.data.folders import natural_key, parse_layout


def _img(path: Path, h: int = 12, w: int = 10, value: float | None = None, seed: int = 0) -> Path:
    """Write a small RGB PNG (constant ``value`` or random)."""
    arr = (np.full((h, w, 3), value, np.float32) if value is not None
           else np.random.default_rng(seed).random((h, w, 3)).astype(np.float32))
    return write_image(path, arr)


def _paired(root: Path, names, inp="input", gt="gt", size=(12, 10)) -> Path:
    for k, n in enumerate(names):
        _img(root / inp / f"{n}.png", *size, seed=k)
        _img(root / gt / f"{n}.png", *size, value=k / 20)
    return root


def test_natural_order_and_index(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["img10", "img2", "img1"])
    ds = PairedFolderDataset(root, layout="paired")
    assert [ds[i]["name"] for i in range(3)] == ["img1", "img2", "img10"]
    assert [ds[i]["index"] for i in range(3)] == [0, 1, 2]
    assert natural_key("a2") < natural_key("a10")


def test_paired_layout_sample(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["a", "b"])
    ds = PairedFolderDataset(root)  # layout defaults to "paired"
    s = ds[1]
    assert set(s) == {"input", "target", "index", "name"}
    assert s["input"].shape == (3, 12, 10)
    assert s["input"].dtype == torch.float32
    np.testing.assert_allclose(s["target"].numpy(), 1 / 20, atol=0.5 / 255)
    np.testing.assert_allclose(s["input"].permute(1, 2, 0).numpy(),
                               read_image(root / "input" / "b.png"))


def test_paired_custom_dir_names(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["x"], inp="textured", gt="clean")
    ds = PairedFolderDataset(root, input_dir="textured", gt_dir="clean")
    assert len(ds) == 1
    assert "target" in ds[0]


def test_sps_concat_halves(tmp_path: Path) -> None:
    gt = np.full((6, 4, 3), 0.2, np.float32)
    inp = np.full((6, 4, 3), 0.8, np.float32)
    for n in ("0", "1", "10", "2"):
        write_image(tmp_path / "train" / f"{n}.png", np.concatenate([gt, inp], axis=1))
    ds = PairedFolderDataset(tmp_path / "train", layout="sps_concat")
    assert [ds[i]["name"] for i in range(4)] == ["0", "1", "2", "10"]
    s = ds[0]
    assert s["input"].shape == s["target"].shape == (3, 6, 4)
    np.testing.assert_allclose(s["target"].numpy(), 0.2, atol=0.5 / 255)  # left half = GT
    np.testing.assert_allclose(s["input"].numpy(), 0.8, atol=0.5 / 255)   # right half = input


def test_sps_concat_odd_width(tmp_path: Path) -> None:
    _img(tmp_path / "odd.png", 4, 7)
    ds = PairedFolderDataset(tmp_path, layout="sps_concat")
    with pytest.raises(DatasetError, match=r"odd\.png.*odd"):
        ds[0]


def test_sps_split_by_stem(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["car", "house"], inp="input", gt="gt")
    entries = parse_layout(root, "sps_split")
    assert [(e.name, e.target.name) for e in entries] == [("car", "car.png"),
                                                          ("house", "house.png")]


def test_sps_split_easy2hard_modulo(tmp_path: Path) -> None:
    for k in range(3):
        _img(tmp_path / "gt" / f"{k}.png", value=k / 10)
    for k in range(7):  # 7 textured = textures x 3 GTs (+1), numbered as blend&conc.py does
        _img(tmp_path / "input" / f"{k}.png", seed=k)
    ds = PairedFolderDataset(tmp_path, layout="sps_split")
    assert len(ds) == 7
    assert [e.target.stem for e in ds.entries] == ["0", "1", "2", "0", "1", "2", "0"]
    np.testing.assert_allclose(ds[5]["target"].numpy(), 0.2, atol=0.5 / 255)


def test_nks_per_structure_gt(tmp_path: Path) -> None:
    for i in (1, 2):
        _img(tmp_path / "gt" / f"S{i}.png", value=i / 10)
        for j in (1, 2, 10):
            _img(tmp_path / "input" / f"S{i}T{j}.png", seed=10 * i + j)
    ds = PairedFolderDataset(tmp_path, layout="nks")
    assert [e.name for e in ds.entries] == ["S1T1", "S1T2", "S1T10", "S2T1", "S2T2", "S2T10"]
    assert [e.target.stem for e in ds.entries] == ["S1"] * 3 + ["S2"] * 3
    np.testing.assert_allclose(ds[4]["target"].numpy(), 0.2, atol=0.5 / 255)


def test_nks_per_input_gt(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["S15T1", "S15T2"])
    ds = PairedFolderDataset(root, layout="nks")
    assert [e.target.stem for e in ds.entries] == ["S15T1", "S15T2"]


def test_nks_bad_names_listed(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["S1T1", "photo"])
    with pytest.raises(DatasetError, match=r"S\{i\}T\{j\}.*photo"):
        PairedFolderDataset(root, layout="nks")


def test_nks_missing_structure_gt(tmp_path: Path) -> None:
    _img(tmp_path / "gt" / "S1.png")
    _img(tmp_path / "gt" / "S9.png")
    _img(tmp_path / "input" / "S1T1.png")
    _img(tmp_path / "input" / "S2T1.png")
    with pytest.raises(DatasetError) as err:
        PairedFolderDataset(tmp_path, layout="nks")
    msg = str(err.value)
    assert "inputs without ground truth (1: S2T1)" in msg
    assert "ground truths without input (1: S9)" in msg


@pytest.mark.parametrize("sub", ["", "input"])
def test_inputs_only(tmp_path: Path, sub: str) -> None:
    (tmp_path / sub).mkdir(exist_ok=True)
    for n in ("b", "a"):
        Image.fromarray(np.full((9, 11, 3), 90, np.uint8)).save(tmp_path / sub / f"{n}.jpg")
    ds = PairedFolderDataset(tmp_path, layout="inputs_only")
    s = ds[0]
    assert s["name"] == "a"
    assert "target" not in s
    assert s["input"].shape == (3, 9, 11)
    assert not ds.has_target


def test_missing_root_and_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope.*does not exist"):
        PairedFolderDataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="layout"):
        PairedFolderDataset(tmp_path, layout="zip")
    _img(tmp_path / "input" / "a.png")
    with pytest.raises(DatasetError, match=r"ground-truth folder .*gt does not exist"):
        PairedFolderDataset(tmp_path)


def test_unmatched_files_listed_both_ways(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["a", "b"])
    _img(root / "input" / "only_in.png")
    _img(root / "gt" / "only_gt.png")
    with pytest.raises(DatasetError) as err:
        PairedFolderDataset(root)
    msg = str(err.value)
    assert "inputs without ground truth (1: only_in)" in msg
    assert "ground truths without input (1: only_gt)" in msg


def test_duplicate_stems(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["a"])
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "input" / "a.jpg")
    with pytest.raises(DatasetError, match=r"a\.jpg.*a\.png|a\.png.*a\.jpg"):
        PairedFolderDataset(root)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "gt").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        PairedFolderDataset(tmp_path)


def test_zero_byte_raises_at_start(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["a", "b"])
    (root / "gt" / "b.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"0-byte.*b\.png.*skip_bad_files"):
        PairedFolderDataset(root)


def test_truncated_raises_when_read(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["a", "b"], size=(64, 64))
    f = root / "input" / "b.png"
    f.write_bytes(f.read_bytes()[:200])
    ds = PairedFolderDataset(root)
    ds[0]
    with pytest.raises(DatasetError, match=r"input/b\.png"):
        ds[1]


def test_skip_bad_files_prints_and_reindexes(tmp_path: Path, capsys) -> None:
    root = _paired(tmp_path, ["a", "b", "c", "d"], size=(64, 64))
    f = root / "input" / "b.png"
    f.write_bytes(f.read_bytes()[:200])  # truncated
    (root / "gt" / "c.png").write_bytes(b"")  # zero bytes
    ds = PairedFolderDataset(root, skip_bad_files=True)
    out = capsys.readouterr().out
    assert "skipped 2 of 4 samples" in out
    assert "b.png" in out
    assert "c.png" in out
    assert [ds[i]["name"] for i in range(len(ds))] == ["a", "d"]
    assert [ds[i]["index"] for i in range(len(ds))] == [0, 1]


def test_size_mismatch_names_both_unless_resized(tmp_path: Path) -> None:
    _img(tmp_path / "input" / "a.png", 12, 10)
    _img(tmp_path / "gt" / "a.png", 24, 20)
    with pytest.raises(DatasetError) as err:
        PairedFolderDataset(tmp_path)[0]
    assert "input/a.png" in str(err.value)
    assert "gt/a.png" in str(err.value)
    s = PairedFolderDataset(tmp_path, size=16)[0]
    assert s["input"].shape == s["target"].shape == (3, 16, 16)
    s = PairedFolderDataset(tmp_path, size=[8, 6])[0]
    assert s["input"].shape == (3, 8, 6)


def test_resize_same_transform_and_range(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).random((20, 20, 3)).astype(np.float32)
    write_image(tmp_path / "input" / "a.png", arr)
    write_image(tmp_path / "gt" / "a.png", arr)
    s = PairedFolderDataset(tmp_path, size=13)[0]
    torch.testing.assert_close(s["input"], s["target"])
    assert s["input"].min() >= 0
    assert s["input"].max() <= 1


def test_subset_reindexes(tmp_path: Path) -> None:
    root = _paired(tmp_path, ["a", "b", "c"])
    sub = PairedFolderDataset(root).subset([2, 0])
    assert [(sub[i]["name"], sub[i]["index"]) for i in range(2)] == [("c", 0), ("a", 1)]


def test_real_sample_pair_psnr(real_samples_dir: Path) -> None:
    """Checked reference: the PNLS figure crops of S15T1 differ by 28.29 dB (MANIFEST.txt)."""
    pairs = real_samples_dir / "nks" / "pairs"
    inp, gt = read_image(pairs / "S15T1_input.png"), read_image(pairs / "S15T1_gt.png")
    psnr = -10 * np.log10(np.mean((inp.astype(np.float64) - gt) ** 2))
    assert psnr == pytest.approx(28.29, abs=0.05)
    ds = PairedFolderDataset(real_samples_dir / "rtv" / "inputs", layout="inputs_only", size=64)
    assert len(ds) == 6
    assert ds[0]["input"].shape == (3, 64, 64)
