"""Every experiment config composes and fast-dev-runs; trainer=ddp runs with 2 CPU processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from rpaf.config_dir import CONFIG_DIR
from rpaf.train import run_training

EXPERIMENTS = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


@pytest.fixture(scope="module")
def fake_sps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SPS-style tree: train/val/test folders of side-by-side [GT | input] PNGs."""
    from rpaf.data.imageio import write_image
    from rpaf.data.synthetic import make_pair

    root = tmp_path_factory.mktemp("sps")
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for i in range(n):
            g, x = make_pair(i, seed=1, size=32)
            write_image(root / split / f"{i}.png", np.concatenate([x, g], axis=1))
    return root


def _fresh_checkpoint(cfg, path: Path) -> Path:
    """A checkpoint holding a freshly built network of ``cfg.model`` (as init_weights reads it)."""
    import torch

    from rpaf.builders import build_net

    state = build_net(cfg).state_dict()
    torch.save({"state_dict": {f"net.{k}": v for k, v in state.items()}}, path)
    return path


def test_experiments_exist() -> None:
    assert {"paper", "cpu_mini", "cpu_mini_ft", "cpu_mini_natural", "cpu_mini_natural_ft",
            "quickstart", "smoke"} <= set(EXPERIMENTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_fast_dev_runs(name: str, compose, tmp_path: Path, fake_sps: Path) -> None:
    base = [f"experiment={name}", "++trainer.fast_dev_run=true", "logger=[]",
            "trainer.accelerator=cpu", "trainer.devices=1", "evaluate=false"]
    probe = compose("train", base, tmp_path)
    extra = ["data.size=32"]
    if OmegaConf.select(probe, "data.root") is not None:
        extra.append(f"data.root={fake_sps}")
    if OmegaConf.to_container(probe, resolve=False).get("init_weights") is not None:
        # A fine-tuning stage (cpu_mini_natural_ft) starts from a checkpoint of its network.
        extra.append(f"init_weights={_fresh_checkpoint(probe, tmp_path / 'init.ckpt')}")
    cfg = compose("train", base + extra, tmp_path)
    record = run_training(cfg)
    assert record["status"] == "ok"
    assert "train/loss" in record["metrics"]
    assert (tmp_path / "metrics.json").is_file()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ddp_two_cpu_processes(tmp_path: Path) -> None:
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "WANDB_MODE": "disabled"}
    res = subprocess.run(
        [sys.executable, "-m", "rpaf.train", "experiment=smoke", "trainer=ddp",
         "trainer.accelerator=cpu", "trainer.devices=2", "logger=[]", "evaluate=false",
         "callbacks.progress_bar=null", f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}"],
        capture_output=True, text=True, timeout=580, env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "ok"
    assert record["config"]["trainer"]["devices"] == 2
    from rpaf.checkpoints import load_checkpoint

    ckpt = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    state = ckpt["callbacks"]["GELRCallback"]
    visited = state["state"]["visited"] if "state" in state else state["visited"]
    assert bool(visited.all()), "after a DDP epoch every training sample's GELR state is set"
