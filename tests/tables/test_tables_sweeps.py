"""Sweep configs (conf/sweep/*.yaml): each composes, expands to the intended jobs, and its first
job trains (fast_dev_run); the joblib multirun keeps going when one job fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from rpaf.reproduce import expand_sweep

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
SWEEPS = sorted(p.stem for p in (CONF / "sweep").glob("*.yaml"))
# Tiny, fast, no images: what a "first job fast-dev-runs" check needs.
TINY = ["experiment=smoke", "metrics.no_reference=[]", "save_images=0",
        "evaluate=false", "++trainer.fast_dev_run=true"]

# What the first job of each sweep must set (key -> value), checked on the composed config.
FIRST_JOB = {
    "alpha_beta": {"gelr.alpha": 0.1, "gelr.beta": 0.9},
    "lambda": {"loss.lambda1": 0.1, "loss.lambda2": 0.9},
    "dilation": {"model.dilations": [1, 2, 4]},
    "downsample_ratio": {"model.ratio": 0.4},
    "ldsc": {"model.ldsc": False},
    "drl": {"model.drl": False},
    "ctum": {"model.ctum": False},
    "gelr_loss": {"loss.lambda1": 0.0},
    "ssim_term": {"loss.use_ssim": False},
    "theta": {"gelr.theta": 0.0},
    "gelr_only": {"seed": 0},
}
N_JOBS = {"alpha_beta": 10, "lambda": 10, "dilation": 4, "downsample_ratio": 4, "ldsc": 2,
          "drl": 2, "ctum": 2, "gelr_loss": 2, "ssim_term": 2, "theta": 5, "gelr_only": 1}


def _compose(overrides: list[str], hydra_cfg: bool = False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=hydra_cfg)


def _jobs(name: str) -> list[list[str]]:
    params = OmegaConf.load(CONF / "sweep" / f"{name}.yaml").hydra.sweeper.params
    return expand_sweep(name, dict(params), [0])


def test_sweeps_cover_the_paper_ablations() -> None:
    assert set(SWEEPS) == set(FIRST_JOB)


@pytest.mark.parametrize("name", SWEEPS)
def test_sweeps_compose_and_expand(name: str) -> None:
    cfg = _compose([f"sweep={name}"], hydra_cfg=True)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.task_name == f"sweep_{name}"
    assert cfg.run_group == cfg.task_name
    assert name in cfg.tags
    jobs = _jobs(name)
    assert len(jobs) == N_JOBS[name]
    assert len({tuple(j) for j in jobs}) == len(jobs)
    first = _compose([f"sweep={name}", *jobs[0]])
    for key, value in FIRST_JOB[name].items():
        got = OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(first, key)}),
                                     resolve=True)["v"]
        assert got == value, f"{name}: {key}={got!r}, expected {value!r}"


def test_sweeps_pairs_are_paired_not_crossed() -> None:
    for name, keys in (("alpha_beta", ("gelr.alpha", "gelr.beta")),
                       ("lambda", ("loss.lambda1", "loss.lambda2"))):
        pairs = []
        jobs = _jobs(name)
        for job in (jobs[0], jobs[3], jobs[-1]):
            cfg = _compose([f"sweep={name}", *job])
            pairs.append(tuple(float(OmegaConf.select(cfg, k)) for k in keys))
        assert pairs == [(0.1, 0.9), (0.4, 0.6), (1.0, 0.0)]
        assert all(a + b == pytest.approx(1.0) for a, b in pairs)


def test_sweeps_slurm_launcher_is_optional() -> None:
    """The SLURM launcher config exists but is never selected by default."""
    assert (CONF / "hydra" / "launcher" / "slurm.yaml").is_file()
    for name in SWEEPS:
        text = (CONF / "sweep" / f"{name}.yaml").read_text()
        assert "slurm" not in text.split("hydra:")[0]


def _run_in_process(overrides: list[str], out: Path) -> dict:
    from rpaf.train import run_training

    cfg = _compose(overrides, hydra_cfg=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out)
        cfg.hydra.runtime.cwd = str(REPO)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return run_training(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEPS)
def test_sweeps_first_job_fast_dev_run(name: str, tmp_path: Path) -> None:
    job = _jobs(name)[0]
    record = _run_in_process([f"sweep={name}", "hydra.mode=RUN", *TINY, *job], tmp_path)
    assert record["status"] == "ok"
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["task_name"] == f"sweep_{name}"
    for override in job:
        assert override in saved["overrides"]


@pytest.mark.slow
def test_sweeps_multirun_one_failure_keeps_the_others(tmp_path: Path) -> None:
    """`rpaf-train -m sweep=ldsc` with the joblib launcher, one job made to fail."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    # Job 0 (ldsc=false) gets an impossible ratio through a per-job sweep of model.ratio:
    # the cartesian product with ldsc gives 4 jobs, the ratio=0 ones fail at construction.
    cmd = [sys.executable, "-m", "rpaf.train", "-m", "sweep=ldsc", *TINY,
           "model.ratio=0.0,0.8", f"paths.log_dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode != 0, "Hydra reports the failed jobs with a non-zero exit"
    records = [json.loads(p.read_text()) for p in sorted(tmp_path.rglob("metrics.json"))]
    assert len(records) == 4, proc.stderr[-2000:]
    by_ratio = {}
    for rec in records:
        by_ratio.setdefault(rec["config"]["model"]["ratio"], []).append(rec["status"])
    assert by_ratio[0.8] == ["ok", "ok"]
    assert by_ratio[0.0] == ["failed", "failed"]
    failed = [r for r in records if r["status"] == "failed"]
    assert all(r["error"] and r["traceback"] for r in failed)


NO_SUBMITIT = "hydra-submitit-launcher is not installed (pip install 'rpaf[slurm]')"


def test_sweeps_slurm_launcher_composes() -> None:
    """``hydra/launcher=slurm`` resolves to submitit's SLURM launcher with our resources."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason=NO_SUBMITIT)
    cfg = _compose(["sweep=ctum", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
                   hydra_cfg=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "gpu"
    assert launcher.gpus_per_node == 1
    assert launcher.comment == "rpaf sweep sweep_ctum"


@pytest.mark.slow
def test_sweeps_submitit_one_failure_keeps_the_others(tmp_path: Path) -> None:
    """The cluster path without a cluster: submitit's local executor (the same launcher plugin
    and job pickling as SLURM) runs a two-job sweep whose first job fails; both jobs record."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason=NO_SUBMITIT)
    env = {**os.environ, "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "-m", "rpaf.train", "-m", "sweep=ldsc", *TINY, "model.ldsc=true",
           "model.ratio=0.0,0.8", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
           f"paths.log_dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    assert proc.returncode != 0, "the failed job is reported"
    saved = [json.loads(p.read_text()) for p in tmp_path.rglob("metrics.json")]
    records = {rec["config"]["model"]["ratio"]: rec for rec in saved}
    assert sorted(records) == [0.0, 0.8], proc.stderr[-2000:]
    assert records[0.8]["status"] == "ok"
    assert records[0.0]["status"] == "failed"
    assert "model.ratio=0.0" in records[0.0]["error"]
    assert list(tmp_path.rglob(".submitit")), "submitit wrote its job logs"
