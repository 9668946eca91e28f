"""`rpaf-make-data` and `python -m rpaf.data.stats`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rpaf.data import PairedFolderDataModule, make_pair, read_image
from rpaf.data.cli import main as make_data
from rpaf.data.stats import main as stats_main


def test_make_data_writes_readable_layout(tmp_path: Path, capsys) -> None:
    out = tmp_path / "syn"
    assert make_data([str(out / "test"), "--n", "3", "--size", "24", "--recipe", "nks",
                      "--seed", "2", "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert "PSNR" in printed
    assert "SSIM" in printed
    assert "wrote 3 pairs" in printed
    names = sorted(p.name for p in (out / "test" / "input").iterdir())
    assert names == ["test_00000.png", "test_00001.png", "test_00002.png"]
    assert sorted(p.name for p in (out / "test" / "gt").iterdir()) == names
    inp, gt = make_pair(1, seed=2, size=24, recipe="nks", split="test")
    np.testing.assert_allclose(read_image(out / "test" / "input" / names[1]), inp, atol=0.5 / 255)
    np.testing.assert_allclose(read_image(out / "test" / "gt" / names[1]), gt, atol=0.5 / 255)
    dm = PairedFolderDataModule(out, size=None, batch_size=3)
    dm.setup("test")  # no val/ or train/ needed for the test stage
    assert next(iter(dm.test_dataloader()))["input"].shape == (3, 3, 24, 24)


def test_make_data_rerun_and_foreign_files(tmp_path: Path, capsys) -> None:
    args = [str(tmp_path), "--n", "2", "--size", "16"]
    assert make_data(args) == 0
    assert make_data(args) == 0  # the same command again just replaces its own files
    assert make_data([str(tmp_path), "--n", "1", "--size", "16", "--split", "val"]) == 2
    assert "--overwrite" in capsys.readouterr().out
    assert make_data([*args, "--overwrite", "--bits", "16"]) == 0


def test_make_data_structure_set(tmp_path: Path, capsys) -> None:
    assert make_data([str(tmp_path / "tr"), "--n", "4", "--size", "24",
                      "--structure-set", "photo"]) == 0
    gt = make_pair(3, size=24, structure_set="photo")[1]
    np.testing.assert_allclose(read_image(tmp_path / "tr" / "gt" / "train_00003.png"), gt,
                               atol=0.5 / 255)
    assert make_data([str(tmp_path / "te"), "--n", "1", "--split", "test",
                      "--structure-set", "varied"]) == 2
    assert "train split only" in capsys.readouterr().out


def test_make_data_psnr_range(tmp_path: Path, capsys) -> None:
    """--psnr-range writes the pairs the datamodule's train_psnr_range would draw."""
    assert make_data([str(tmp_path / "f"), "--n", "3", "--size", "24",
                      "--psnr-range", "36", "40"]) == 0
    for i in range(3):
        inp, gt = make_pair(i, size=24, psnr_range=(36, 40))
        np.testing.assert_allclose(read_image(tmp_path / "f" / "input" / f"train_{i:05d}.png"),
                                   inp, atol=0.5 / 255)
        mse = float(np.mean((inp - gt) ** 2))
        assert 35.0 < 10 * np.log10(1 / mse) < 41.0  # faint textures, as asked
    capsys.readouterr()
    assert make_data([str(tmp_path / "g"), "--n", "1", "--psnr-range", "40", "20"]) == 2
    assert "--psnr-range=[40, 20]" in capsys.readouterr().out


def test_stats_writes_markdown(tmp_path: Path) -> None:
    md = tmp_path / "stats.md"
    assert stats_main(["--n", "3", "--size", "24", "--recipes", "sps", "--splits", "val",
                       "--out", str(md)]) == 0
    text = md.read_text()
    assert "python -m rpaf.data.stats --n 3" in text
    assert "Git SHA" in text
    row = next(line for line in text.splitlines() if line.startswith("| sps | val | 3 |"))
    psnr_min = float(row.split("|")[4])
    assert 19.9 < psnr_min < 40


def test_make_data_structure_fraction(tmp_path: Path, capsys) -> None:
    assert make_data([str(tmp_path / "all"), "--n", "2", "--size", "24",
                      "--structure-set", "varied", "--structure-fraction", "1"]) == 0
    for i in range(2):
        gt = make_pair(i, size=24, structure_set="varied", structure_fraction=1.0)[1]
        assert not np.array_equal(gt, make_pair(i, size=24)[1])
        np.testing.assert_allclose(read_image(tmp_path / "all" / "gt" / f"train_{i:05d}.png"),
                                   gt, atol=0.5 / 255)
    capsys.readouterr()
    assert make_data([str(tmp_path / "bad"), "--n", "1", "--structure-set", "photo",
                      "--structure-fraction", "1.5"]) == 2
    assert "--structure-fraction=1.5" in capsys.readouterr().out
    assert make_data([str(tmp_path / "bad2"), "--n", "1", "--recipe", "by_structure"]) == 2
    assert "--recipe='by_structure'" in capsys.readouterr().out


def test_make_data_photos(tmp_path: Path, capsys) -> None:
    """--photos writes the pairs data.photos would draw; it needs --structure-set photo."""
    args = ["--n", "2", "--size", "24", "--structure-set", "photo", "--structure-fraction", "1"]
    assert make_data([str(tmp_path / "cam"), *args, "--photos", "camera"]) == 0
    for i in range(2):
        gt = make_pair(i, size=24, structure_set="photo", structure_fraction=1.0,
                       photos=["camera"])[1]
        np.testing.assert_allclose(read_image(tmp_path / "cam" / "gt" / f"train_{i:05d}.png"),
                                   gt, atol=0.5 / 255)
        assert np.array_equal(gt[..., 0], gt[..., 1])
    capsys.readouterr()
    assert make_data([str(tmp_path / "bad"), "--n", "1", "--photos", "camera"]) == 2
    assert "--structure-set photo" in capsys.readouterr().out


def test_make_data_photo_segment_scale(tmp_path: Path, capsys) -> None:
    """--photo-segment-scale writes the pairs data.photo_segment_scale draws; it needs
    --structure-set photo and a value in range."""
    args = ["--n", "1", "--size", "32", "--structure-set", "photo", "--structure-fraction", "1"]
    assert make_data([str(tmp_path / "c"), *args, "--photo-segment-scale", "4"]) == 0
    gt = make_pair(0, size=32, structure_set="photo", structure_fraction=1.0,
                   photo_segment_scale=4.0)[1]
    np.testing.assert_allclose(read_image(tmp_path / "c" / "gt" / "train_00000.png"), gt,
                               atol=0.5 / 255)
    capsys.readouterr()
    assert make_data([str(tmp_path / "bad"), "--n", "1", "--photo-segment-scale", "4"]) == 2
    assert "--structure-set photo" in capsys.readouterr().out
    assert make_data([str(tmp_path / "bad"), *args, "--photo-segment-scale", "99"]) == 2
    assert "--photo-segment-scale=99" in capsys.readouterr().out


def test_make_data_photo_paint(tmp_path: Path, capsys) -> None:
    """--photo-paint plane writes the pairs data.photo_paint=plane draws; needs
    --structure-set photo."""
    args = ["--n", "1", "--size", "32", "--structure-set", "photo", "--structure-fraction", "1"]
    assert make_data([str(tmp_path / "p"), *args, "--photo-paint", "plane"]) == 0
    gt = make_pair(0, size=32, structure_set="photo", structure_fraction=1.0,
                   photo_paint="plane")[1]
    np.testing.assert_allclose(read_image(tmp_path / "p" / "gt" / "train_00000.png"), gt,
                               atol=0.5 / 255)
    capsys.readouterr()
    assert make_data([str(tmp_path / "bad"), "--n", "1", "--photo-paint", "plane"]) == 2
    assert "--photo-paint sets the segments of --structure-set photo" in capsys.readouterr().out
