"""DataModules: batch shapes and keys, stable indices, stage folders, configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rpaf.data import (
    DatasetError,
    ECSDataModule,
    NKSDataModule,
    PairedFolderDataModule,
    RTVDataModule,
    SPSDataModule,
    SyntheticDataModule,
    write_image,
)

CONF_DATA = Path(__file__).resolve().parents[2] / "conf" / "data"


def _write_pairs(root: Path, names, h: int = 10, w: int = 12) -> Path:
    for k, n in enumerate(names):
        rng = np.random.default_rng(k)
        write_image(root / "input" / f"{n}.png", rng.random((h, w, 3)))
        write_image(root / "gt" / f"{n}.png", np.full((h, w, 3), k / 40))
    return root


def test_synthetic_batches_and_flags() -> None:
    dm = SyntheticDataModule(n_train=6, n_val=3, n_test=2, size=32, batch_size=4)
    assert dm.geometry_is_fixed
    assert dm.batch_size == 4
    dm.setup("fit")
    assert dm.num_train_samples == 6
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"input", "target", "index", "name"}
    assert batch["input"].shape == batch["target"].shape == (4, 3, 32, 32)
    assert batch["input"].dtype == torch.float32
    assert batch["index"].dtype == torch.int64
    val = [b for b in dm.val_dataloader()]
    assert torch.cat([b["index"] for b in val]).tolist() == [0, 1, 2]  # in order
    dm.setup("test")
    assert [b["name"] for b in dm.predict_dataloader()][0] == ["test_00000", "test_00001"]


def test_synthetic_index_stable_across_epochs_and_workers() -> None:
    dm = SyntheticDataModule(n_train=5, n_val=1, n_test=1, size=16, batch_size=2)
    dm.setup("fit")

    def by_index(loader) -> dict[int, torch.Tensor]:
        out = {}
        for b in loader:
            for i, x in zip(b["index"].tolist(), b["input"], strict=True):
                out[i] = x
        return out

    torch.manual_seed(0)
    e1 = by_index(dm.train_dataloader())
    torch.manual_seed(1)
    e2 = by_index(dm.train_dataloader())
    assert sorted(e1) == sorted(e2) == list(range(5))
    for i in e1:
        torch.testing.assert_close(e1[i], e2[i])  # same index -> same sample, any order


def test_synthetic_augment_unfixes_geometry() -> None:
    dm = SyntheticDataModule(n_train=2, n_val=1, n_test=1, size=16, augment=True)
    assert dm.geometry_is_fixed is False


def test_paired_folder_split_dirs(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "train", ["a", "b", "c"])
    _write_pairs(tmp_path / "val", ["v"])
    _write_pairs(tmp_path / "test", ["t1", "t2"])
    dm = PairedFolderDataModule(tmp_path, size=8, batch_size=2)
    dm.setup("fit")
    assert dm.num_train_samples == 3
    assert len(dm.val_set) == 1
    b = next(iter(dm.val_dataloader()))
    assert b["input"].shape == (1, 3, 8, 8)
    assert b["name"] == ["v"]
    dm.setup("test")
    assert [n for b in dm.test_dataloader() for n in b["name"]] == ["t1", "t2"]


def test_paired_folder_single_set_and_holdout(tmp_path: Path) -> None:
    _write_pairs(tmp_path, [f"p{i}" for i in range(10)])
    dm = PairedFolderDataModule(tmp_path, size=None, batch_size=4)
    dm.setup("fit")
    assert dm.num_train_samples == 10
    assert len(dm.val_set) == 10
    dm = PairedFolderDataModule(tmp_path, size=None, val_fraction=0.2, split_seed=3)
    dm.setup("fit")
    train_names = [dm.train_set[i]["name"] for i in range(len(dm.train_set))]
    val_names = [dm.val_set[i]["name"] for i in range(len(dm.val_set))]
    assert dm.num_train_samples == 8
    assert len(val_names) == 2
    assert not set(train_names) & set(val_names)
    assert [dm.train_set[i]["index"] for i in range(8)] == list(range(8))  # dense re-index


def test_missing_val_falls_back_to_test(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "train", ["a"])
    _write_pairs(tmp_path / "test", ["t"])
    dm = PairedFolderDataModule(tmp_path, size=None)
    dm.setup("validate")
    assert dm.val_set.entries[0].name == "t"


def test_missing_root_explains_layout_and_source(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        SPSDataModule(tmp_path / "SPS").setup("fit")
    msg = str(err.value)
    assert str(tmp_path / "SPS") in msg
    assert "[GT | input]" in msg
    assert "YidFeng/Easy2Hard" in msg
    with pytest.raises(DatasetError, match="zal0302/PNLS"):
        NKSDataModule(tmp_path / "NKS").setup("test")
    with pytest.raises(DatasetError, match="Qi et al. 2024"):
        ECSDataModule(tmp_path / "ECS").setup("test")
    with pytest.raises(DatasetError, match="Xu et al. 2012"):
        RTVDataModule(tmp_path / "RTV").setup("test")


def test_sps_concat_datamodule(tmp_path: Path) -> None:
    pair = np.concatenate([np.full((8, 8, 3), 0.25), np.full((8, 8, 3), 0.75)], axis=1)
    for split, n in (("train", 5), ("val", 2)):
        for k in range(n):
            write_image(tmp_path / split / f"{k}.png", pair)
    dm = SPSDataModule(tmp_path, size=None, batch_size=4)
    dm.setup("fit")
    assert dm.num_train_samples == 5
    b = next(iter(dm.val_dataloader()))
    assert b["input"].shape == (2, 3, 8, 8)
    assert torch.allclose(b["target"], torch.tensor(0.25), atol=1 / 255)
    dm.setup("test")  # no test/: the val folder
    assert len(dm.test_set) == 2


def test_nks_eval_only(tmp_path: Path) -> None:
    for i in (1, 2):
        write_image(tmp_path / "gt" / f"S{i}.png", np.full((6, 6, 3), i / 4))
        for j in (1, 2):
            write_image(tmp_path / "input" / f"S{i}T{j}.png", np.full((6, 6, 3), 0.5))
    dm = NKSDataModule(tmp_path, size=None)
    dm.setup("test")
    b = next(iter(dm.test_dataloader()))
    assert b["name"] == ["S1T1", "S1T2", "S2T1", "S2T2"]
    assert b["index"].tolist() == [0, 1, 2, 3]
    with pytest.raises(DatasetError, match="evaluation set.*allow_fit"):
        dm.setup("fit")
    dm = NKSDataModule(tmp_path, size=None, allow_fit=True)
    dm.setup("fit")
    assert dm.num_train_samples == 4


def test_rtv_native_size_batches(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", np.zeros((6, 8, 3)))
    write_image(tmp_path / "b.png", np.zeros((7, 5, 3)))
    dm = RTVDataModule(tmp_path, size=None, batch_size=2)
    dm.setup("test")
    with pytest.raises(DatasetError, match="different sizes.*batch_size=1"):
        next(iter(dm.test_dataloader()))
    dm = RTVDataModule(tmp_path, size=16, batch_size=2)
    dm.setup("predict")
    b = next(iter(dm.predict_dataloader()))
    assert b["input"].shape == (2, 3, 16, 16)
    assert "target" not in b


def test_folder_augment_flag(tmp_path: Path) -> None:
    _write_pairs(tmp_path, ["a", "b"])
    dm = PairedFolderDataModule(tmp_path, size=None, augment=True)
    assert dm.geometry_is_fixed is False
    dm.setup("fit")
    assert dm.train_set.augment
    assert not dm.val_set.augment


def test_skip_bad_files_through_datamodule(tmp_path: Path, capsys) -> None:
    _write_pairs(tmp_path, ["a", "b", "c"])
    (tmp_path / "input" / "b.png").write_bytes(b"")
    dm = PairedFolderDataModule(tmp_path, size=None, skip_bad_files=True)
    dm.setup("fit")
    assert dm.num_train_samples == 2
    assert "skipped 1 of 3" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["synthetic", "sps", "nks", "ecs", "rtv", "paired_folder"])
def test_configs_instantiate(name: str, tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=str(CONF_DATA), version_base="1.3"):
        cfg = compose(config_name=name, overrides=[f"+paths.data_dir={tmp_path}"])
    assert cfg.get("batch_size") == 4
    if name != "synthetic":
        assert "root" in cfg
        assert cfg.root.startswith(str(tmp_path))
        assert cfg.size == 512
    node = OmegaConf.to_container(cfg, resolve=True)
    node.pop("paths")
    if name != "synthetic":
        node["size"] = 8
    dm = instantiate(node)
    assert type(dm).__name__ == node["_target_"].rsplit(".", 1)[1]
    assert dm.geometry_is_fixed


def test_fit_without_train_folder(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "test", ["t"])
    dm = PairedFolderDataModule(tmp_path, size=None)
    dm.setup("test")
    with pytest.raises(DatasetError, match=r"no train/ folder for the train stage"):
        dm.setup("fit")


def test_public_names_resolve() -> None:
    import rpaf.data

    for name in rpaf.data.__all__:
        assert getattr(rpaf.data, name) is not None
    assert issubclass(rpaf.data.DatasetError, ValueError)


def test_synthetic_train_recipe_and_texture_set() -> None:
    """train_recipe changes only the training split; bad values name the config key."""
    from rpaf.data import SyntheticDataModule

    dm = SyntheticDataModule(n_train=2, n_val=2, n_test=2, size=32, train_recipe="mix",
                             texture_set="rich")
    dm.setup("fit")
    dm.setup("test")
    assert (dm.train_set.recipe, dm.val_set.recipe, dm.test_set.recipe) == ("mix", "sps", "sps")
    assert dm.train_set.texture_set == dm.val_set.texture_set == "rich"
    plain = SyntheticDataModule(n_train=2, n_val=2, n_test=2, size=32)
    plain.setup("test")
    torch.testing.assert_close(dm.test_set[1]["input"], plain.test_set[1]["input"])
    with pytest.raises(ValueError, match="data.train_recipe='both'"):
        SyntheticDataModule(train_recipe="both")
    with pytest.raises(ValueError, match="data.recipe='mix'.*train_recipe=mix"):
        SyntheticDataModule(recipe="mix")
    with pytest.raises(ValueError, match="data.texture_set='x'"):
        SyntheticDataModule(texture_set="x")
    with pytest.raises(ValueError,
                       match="data.train_recipe='by_structure'.*data.structure_set=photo"):
        SyntheticDataModule(train_recipe="by_structure")
    paired = SyntheticDataModule(n_train=2, n_val=2, n_test=2, size=32,
                                 train_recipe="by_structure", structure_set="photo")
    paired.setup("fit")
    assert (paired.train_set.recipe, paired.val_set.recipe) == ("by_structure", "sps")


def test_synthetic_photos_from_hydra_reach_the_training_split(tmp_path: Path) -> None:
    """data.photos (a Hydra list) is saved as a plain list, reaches the training split only,
    and is refused without data.structure_set=photo."""
    from rpaf.builders import build_datamodule

    cfg = OmegaConf.create({"data": {"_target_": "rpaf.data.SyntheticDataModule", "n_train": 2,
                                     "n_val": 1, "n_test": 1, "size": 24,
                                     "structure_set": "photo", "structure_fraction": 1.0,
                                     "photos": ["camera"]}})
    dm = build_datamodule(cfg)
    assert type(dm.hparams["photos"]) is list
    torch.save({"h": dict(dm.hparams)}, tmp_path / "h.pt")
    assert torch.load(tmp_path / "h.pt", weights_only=True)["h"]["photos"] == ["camera"]
    dm.setup("fit")
    gt = dm.train_set[1]["target"]
    torch.testing.assert_close(gt[0], gt[2])  # every training structure is the grey cameraman
    assert dm.train_set.photos == ("camera",)
    assert dm.val_set.structure_set == "base"
    with pytest.raises(ValueError, match=r"data.photos=\['camera'\].*data.structure_set='base'"):
        SyntheticDataModule(photos=["camera"])
    with pytest.raises(ValueError, match=r"data.photos=\['cat'\]: unknown"):
        SyntheticDataModule(structure_set="photo", photos=["cat"])


def test_paired_folder_list_size_from_hydra_saves_as_a_plain_list(tmp_path: Path) -> None:
    """A ListConfig in the saved hyperparameters would break weights_only checkpoint loading."""
    from rpaf.builders import build_datamodule

    cfg = OmegaConf.create({"data": {"_target_": "rpaf.data.PairedFolderDataModule",
                                     "root": str(tmp_path), "size": [32, 48]}})
    dm = build_datamodule(cfg)
    assert type(dm.hparams["size"]) is list
    torch.save({"h": dict(dm.hparams)}, tmp_path / "h.pt")
    assert torch.load(tmp_path / "h.pt", weights_only=True)["h"]["size"] == [32, 48]


def test_synthetic_test_size_changes_the_test_split_only() -> None:
    """data.test_size: train/val at `size`, test at `test_size`, the same pairs as a module of
    that size (so a small-crop run is scored on the standard test split); bad values named."""
    dm = SyntheticDataModule(n_train=2, n_val=2, n_test=2, size=24, test_size=40)
    dm.setup("fit")
    dm.setup("test")
    assert dm.train_set[0]["input"].shape[-1] == dm.val_set[0]["input"].shape[-1] == 24
    assert dm.test_set[0]["input"].shape[-2:] == (40, 40)
    same = SyntheticDataModule(n_train=2, n_val=2, n_test=2, size=40)
    same.setup("test")
    for key in ("input", "target"):
        torch.testing.assert_close(dm.test_set[1][key], same.test_set[1][key])
    default = SyntheticDataModule(n_train=2, n_val=2, n_test=2, size=24)
    default.setup("test")
    assert default.test_set[0]["input"].shape[-1] == 24
    for bad in (0, -8, 2.5, True, "96"):
        with pytest.raises(ValueError, match="data.test_size="):
            SyntheticDataModule(size=24, test_size=bad)


def test_synthetic_photo_segment_scale_reaches_the_training_split() -> None:
    """data.photo_segment_scale coarsens the training photo structures only, and is refused
    (naming the key and the fix) without data.structure_set=photo or out of range."""
    dm = SyntheticDataModule(n_train=2, n_val=1, n_test=1, size=24, structure_set="photo",
                             structure_fraction=1.0, photo_segment_scale=4.0)
    dm.setup("fit")
    assert dm.train_set.photo_segment_scale == 4.0
    from rpaf.data.synthetic import make_pair

    ref = make_pair(1, size=24, structure_set="photo", structure_fraction=1.0,
                    photo_segment_scale=4.0)[1]
    torch.testing.assert_close(dm.train_set[1]["target"], torch.from_numpy(ref).permute(2, 0, 1))
    assert dm.val_set.photo_segment_scale == 4.0
    assert dm.val_set.structure_set == "base"
    with pytest.raises(ValueError, match=r"data.photo_segment_scale=4 .*data.structure_set=photo"):
        SyntheticDataModule(photo_segment_scale=4.0)
    with pytest.raises(ValueError, match=r"data.photo_segment_scale=50"):
        SyntheticDataModule(structure_set="photo", photo_segment_scale=50)


def test_synthetic_photo_paint_reaches_the_training_split() -> None:
    """data.photo_paint=plane reaches the training photo structures; refused, naming the key
    and the fix, without data.structure_set=photo or with an unknown value."""
    from rpaf.data.synthetic import make_pair

    dm = SyntheticDataModule(n_train=2, n_val=1, n_test=1, size=24, structure_set="photo",
                             structure_fraction=1.0, photo_paint="plane")
    dm.setup("fit")
    ref = make_pair(0, size=24, structure_set="photo", structure_fraction=1.0,
                    photo_paint="plane")[1]
    torch.testing.assert_close(dm.train_set[0]["target"], torch.from_numpy(ref).permute(2, 0, 1))
    with pytest.raises(ValueError, match=r"data.photo_paint='plane' .*data.structure_set=photo"):
        SyntheticDataModule(photo_paint="plane")
    with pytest.raises(ValueError, match=r"data.photo_paint='flat'"):
        SyntheticDataModule(structure_set="photo", photo_paint="flat")
