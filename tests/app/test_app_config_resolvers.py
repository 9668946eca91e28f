"""rpaf's resolvers: ``${rpaf.last_ckpt:TASK_DIR,SEED}`` (the checkpoint that chains a two-stage
experiment) and ``${rpaf.cwd:}`` (``paths.root_dir``, also where multiruns put their folders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

from rpaf.config_resolvers import last_checkpoint, register_resolvers
from rpaf.train import run_training


def _run(folder: Path, seed: int | None, status: str = "ok", ckpt: bool = True,
         mtime: float = 1e9) -> Path:
    """A fake run folder: metrics.json (status, seed) and optionally checkpoints/last.ckpt."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"status": status, "seed": seed}))
    os.utime(folder / "metrics.json", (mtime, mtime))
    if ckpt:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "last.ckpt").write_bytes(b"x")
    return folder / "checkpoints" / "last.ckpt"


def test_newest_finished_run_with_the_seed(tmp_path: Path) -> None:
    task = tmp_path / "stage1"
    _run(task / "runs" / "a", 0, mtime=1e9)
    newest0 = _run(task / "multiruns" / "m" / "0", 0, mtime=3e9)
    only1 = _run(task / "runs" / "b", 1, mtime=2e9)
    _run(task / "runs" / "c", 0, status="failed", mtime=5e9)  # newer, but it failed
    _run(task / "runs" / "d", 0, ckpt=False, mtime=6e9)  # newer, but no checkpoint
    _run(task / "runs" / "e", 0, status="running", mtime=7e9)  # still training
    (task / "runs" / "f").mkdir()  # no metrics.json at all
    (task / "runs" / "g").mkdir()
    (task / "runs" / "g" / "metrics.json").write_text("{truncated")
    assert last_checkpoint(task, 0) == str(newest0)
    assert last_checkpoint(task, "1") == str(only1)  # seeds arrive as strings from configs
    unseeded = _run(task / "runs" / "h", None)
    assert last_checkpoint(task, None) == str(unseeded)


def test_no_matching_run_names_folder_seed_and_fix(tmp_path: Path) -> None:
    task = tmp_path / "cpu_mini_natural"
    _run(task / "runs" / "a", 0)
    with pytest.raises(FileNotFoundError) as err:
        last_checkpoint(task, 2)
    msg = str(err.value)
    assert str(task) in msg
    assert "seed=2" in msg
    assert "rpaf-train experiment=cpu_mini_natural seed=2" in msg
    assert "init_weights=" in msg
    with pytest.raises(FileNotFoundError, match="0 run folders"):
        last_checkpoint(tmp_path / "absent", 0)


def test_resolver_in_a_config(tmp_path: Path) -> None:
    register_resolvers()
    register_resolvers()  # idempotent
    ckpt = _run(tmp_path / "s1" / "runs" / "a", 3)
    cfg = OmegaConf.create({"log": str(tmp_path), "seed": 3,
                            "init": "${rpaf.last_ckpt:${log}/s1,${seed}}"})
    assert cfg.init == str(ckpt)
    cfg.seed = 4
    with pytest.raises(InterpolationResolutionError, match="seed=4"):
        _ = cfg.init


@pytest.mark.slow
@pytest.mark.parametrize("stages", [("cpu_mini_natural", "cpu_mini_natural_ft"),
                                    ("cpu_mini", "cpu_mini_ft")])
def test_natural_stages_chain_through_the_log_folder(
        compose, tmp_path: Path, stages: tuple[str, str]) -> None:
    """Stage 2 (cpu_mini_natural_ft, cpu_mini_ft) starts from stage 1's last.ckpt without a
    path given."""
    from omegaconf import open_dict

    tiny = ["logger=[]", "callbacks.progress_bar=null", "callbacks.image_panels=null",
            "trainer.enable_model_summary=false", "data.n_train=4", "data.n_val=2",
            "data.size=32", "trainer.max_epochs=1", "test=false", "evaluate=false", "seed=5"]
    runs = []
    for exp in stages:
        cfg = compose("train", [f"experiment={exp}", *tiny], tmp_path / exp / "runs" / "r")
        with open_dict(cfg):
            cfg.paths.log_dir = str(tmp_path)
        runs.append(run_training(cfg))
    first, second = runs
    assert first["status"] == second["status"] == "ok"
    parent = tmp_path / stages[0] / "runs" / "r" / "checkpoints" / "last.ckpt"
    assert second["config"]["init_weights"] == str(parent)
    assert second["config"]["data"]["photo_paint"] == "plane"
    assert second["config"]["loss"]["flat_fine_weight"] == 6.0
    # Another seed has no stage-1 run to start from: refused at start-up, naming the seed.
    cfg = compose("train", [f"experiment={stages[1]}", *tiny, "seed=6"],
                  tmp_path / stages[1] / "runs" / "r6")
    with open_dict(cfg):
        cfg.paths.log_dir = str(tmp_path)
    with pytest.raises(InterpolationResolutionError, match="seed=6"):
        run_training(cfg)


def test_root_dir_is_the_working_directory(compose, tmp_path: Path) -> None:
    cfg = compose("train", ["experiment=smoke"], tmp_path)
    assert cfg.paths.root_dir == os.getcwd()
    assert cfg.paths.data_dir == os.path.join(os.getcwd(), "data")


@pytest.mark.slow
def test_multirun_without_a_log_dir_override(tmp_path: Path) -> None:
    """``rpaf-eval -m`` / ``rpaf-train -m`` with the default paths: the sweep folder is built
    before Hydra's config is set, where ``${hydra:runtime.cwd}`` stopped every multirun."""
    res = subprocess.run(
        [sys.executable, "-m", "rpaf.eval", "-m", "method=l0", "method.lam=0.01,0.02",
         "split=val", "data=synthetic", "data.n_val=2", "data.size=32",
         "metrics.no_reference=[]", "metrics.bliinds2=false", "metrics.structural=false",
         "logger=none", "save_images=0", "task_name=grid"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    jobs = sorted((tmp_path / "logs" / "grid" / "multiruns").glob("*/*/metrics.json"))
    assert [json.loads(p.read_text())["status"] for p in jobs] == ["ok", "ok"]
