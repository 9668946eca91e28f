"""The real sample pairs as a paired dataset (rpaf.data.real_pairs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpaf.data import PairedFolderDataset
from rpaf.data.errors import DatasetError
from rpaf.data.real_pairs import REAL_PAIRS, main, prepare_real_pairs


def _fake_samples(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for k, (inp, gt) in enumerate(REAL_PAIRS.values()):
        for rel in (inp, gt):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            arr = rng.integers(0, 256, (20 + k, 30, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / rel)
    return root


def test_prepare_writes_a_paired_layout(tmp_path: Path) -> None:
    samples = _fake_samples(tmp_path / "samples")
    names = prepare_real_pairs(samples, tmp_path / "out")
    assert names == ["S15T1", "chalk", "car"]
    ds = PairedFolderDataset(tmp_path / "out", layout="paired")
    assert len(ds) == 3
    for i in range(3):
        item = ds[i]
        assert item["input"].shape == item["target"].shape
    # The input of a pair is the file named as its input, not its ground truth.
    got = np.asarray(Image.open(tmp_path / "out" / "input" / "chalk.png"))
    want = np.asarray(Image.open(samples / REAL_PAIRS["chalk"][0]))
    np.testing.assert_array_equal(got, want)


def test_missing_files_are_listed(tmp_path: Path) -> None:
    samples = _fake_samples(tmp_path / "samples")
    (samples / REAL_PAIRS["car"][1]).unlink()
    with pytest.raises(DatasetError, match="car_gt.png"):
        prepare_real_pairs(samples, tmp_path / "out")
    with pytest.raises(DatasetError, match="does not exist"):
        prepare_real_pairs(tmp_path / "nowhere", tmp_path / "out")
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2


def test_real_sample_folder_pairs_align(real_samples_dir: Path, tmp_path: Path) -> None:
    prepare_real_pairs(real_samples_dir, tmp_path / "pairs")
    ds = PairedFolderDataset(tmp_path / "pairs", layout="paired")
    assert [ds[i]["input"].shape for i in range(3)] == [ds[i]["target"].shape for i in range(3)]
