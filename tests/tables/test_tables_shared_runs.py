"""Sweep points with the same resolved config train once (rpaf.shared_runs, rpaf.reproduce)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rpaf import reproduce as rp
from rpaf.shared_runs import config_fingerprint, resolved_train_config
from rpaf.tables import build_table, collect_runs, load_specs, render_markdown

REPO = Path(__file__).resolve().parents[2]
BASE = ["experiment=smoke", "hydra.mode=RUN", "seed=0"]


def test_fingerprint_ignores_run_names_and_resolves_sweep_helpers() -> None:
    """The alpha/beta sweep sets gelr.alpha/beta through its `ablation` helper node: its
    (0.4, 0.6) point is the LDSC sweep's default point, any other pair is not; the seed and
    a real config value count."""
    ldsc = config_fingerprint([*BASE, "sweep=ldsc", "model.ldsc=true"])
    ab = config_fingerprint([*BASE, "sweep=alpha_beta", "ablation.alpha_beta=[0.4,0.6]"])
    assert ldsc == ab
    assert ldsc != config_fingerprint([*BASE, "sweep=alpha_beta", "ablation.alpha_beta=[0.3,0.7]"])
    assert ldsc != config_fingerprint([*BASE, "sweep=ldsc", "model.ldsc=false"])
    assert ldsc != config_fingerprint(["experiment=smoke", "seed=1", "sweep=ldsc"])
    cfg = resolved_train_config([*BASE, "sweep=alpha_beta", "ablation.alpha_beta=[0.3,0.7]"])
    assert (cfg["gelr"]["alpha"], cfg["gelr"]["beta"]) == (0.3, 0.7)
    assert not {"task_name", "tags", "ablation", "paths", "hydra"} & set(cfg)


@pytest.fixture(scope="module")
def two_sweeps():
    """The smoke preset with the GELR-loss and dilation sweeps (one seed)."""
    specs = load_specs(REPO / "experiments")
    preset = rp.load_preset("smoke")
    preset.sweeps = {"gelr_loss": {}, "dilation": {}}
    return specs, preset


def _sweeps(jobs: list[rp.Job]) -> dict[str, rp.Job]:
    return {f"{j.task_name} {j.label}": j for j in jobs if j.task_name.startswith("sweep_")}


def test_the_default_point_of_two_sweeps_is_planned_once(two_sweeps) -> None:
    specs, preset = two_sweeps
    jobs = _sweeps(rp.plan_jobs(specs, preset)[0])
    shared = [j for j in jobs.values() if j.state == "shared"]
    assert [j.label for j in shared] == ["model.dilations=[1,2,4] seed=0"]
    assert shared[0].same_as is jobs["sweep_gelr_loss loss.lambda1=0.7 seed=0"]
    assert sum(j.state == "todo" for j in jobs.values()) == len(jobs) - 1
    preset_off = rp.load_preset("smoke", overrides=["share_runs=false"])  # --set share_runs=false
    preset_off.sweeps = preset.sweeps
    assert all(j.state == "todo" for j in _sweeps(rp.plan_jobs(specs, preset_off)[0]).values())


def _write(folder: Path, task: str, overrides: list[str], psnr: float, dilations: list[int],
           status: str = "ok") -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "task_name": task, "status": status, "seed": 0, "overrides": overrides,
        "config": {"model": {"dilations": dilations}, "loss": {"lambda1": 0.7}, "trainer": {},
                   "data": {"_target_": "rpaf.data.SyntheticDataModule"}},
        "metrics": {"eval/psnr": psnr}, "date": "2026-01-01T00:00:00+00:00"}))


def test_a_shared_point_reads_its_source_run_in_the_tables(two_sweeps, tmp_path: Path) -> None:
    """The dilation table's {1,2,4} row is the GELR-loss sweep's run, named as shared; a run of
    the shared job's own overrides (made before sharing) is left out, not averaged in."""
    specs, preset = two_sweeps
    jobs = rp.plan_jobs(specs, preset)[0]
    sw = _sweeps(jobs)
    source, alias = sw["sweep_gelr_loss loss.lambda1=0.7 seed=0"], sw[
        "sweep_dilation model.dilations=[1,2,4] seed=0"]
    runs_dir = tmp_path / "runs"
    _write(runs_dir / "sweep_gelr_loss" / "runs" / "a", "sweep_gelr_loss", source.overrides,
           30.0, [1, 2, 4])
    _write(runs_dir / "sweep_dilation" / "runs" / "own", "sweep_dilation", alias.overrides,
           10.0, [1, 2, 4])
    other = sw["sweep_dilation model.dilations=[1,3,5] seed=0"]
    _write(runs_dir / "sweep_dilation" / "runs" / "b", "sweep_dilation", other.overrides,
           29.0, [1, 3, 5])
    runs = rp.planned_runs(collect_runs(runs_dir), jobs, runs_dir)
    fig11 = next(s for s in specs if s.id == "fig11_dilation")
    table = build_table(fig11, runs, scale="test", git_sha="x", date="d", hardware="h",
                        data="synthetic")
    psnr = [row[0] for row in table.cells]
    assert (psnr[0].mean, psnr[0].n) == (30.0, 1)
    assert (psnr[1].mean, psnr[1].n) == (29.0, 1)
    md = render_markdown(table, base=runs_dir)
    assert "`sweep_gelr_loss/runs/a` (trained as `sweep_gelr_loss`, seed 0)" in md
    t3 = build_table(next(s for s in specs if s.id == "table3_gelr_loss"), runs, scale="test",
                     git_sha="x", date="d", hardware="h", data="synthetic")
    assert t3.shared == []  # the run's own table does not call it shared


@pytest.fixture
def calls(monkeypatch) -> list[list[str]]:
    """Job subprocesses are recorded and die at once (exit 1, no metrics.json)."""
    made: list[list[str]] = []
    real_run = subprocess.run

    def failing(cmd, **kwargs):
        if cmd[0] == "git":  # the SHA check of reused runs, not a job
            return real_run(cmd, **kwargs)
        made.append(cmd)
        return subprocess.CompletedProcess(cmd, 1)

    monkeypatch.setattr(rp.subprocess, "run", failing)
    return made


def test_run_plan_runs_a_shared_job_once_and_fails_it_with_its_source(
        two_sweeps, tmp_path: Path, calls) -> None:
    specs, preset = two_sweeps
    sw = _sweeps(rp.plan_jobs(specs, preset)[0])
    source, alias = sw["sweep_gelr_loss loss.lambda1=0.7 seed=0"], sw[
        "sweep_dilation model.dilations=[1,2,4] seed=0"]
    rp.run_plan([source, alias], None, tmp_path, n_jobs=1, timeout_s=5)
    assert len(calls) == 1
    assert "loss.lambda1=0.7" in calls[0]
    assert source.state == alias.state == "failed"
    assert "shares the failed run of train:sweep_gelr_loss" in alias.note
    # Finished source: the shared job takes its run folder and is not launched.
    calls.clear()
    sw = _sweeps(rp.plan_jobs(specs, preset)[0])
    source, alias = sw["sweep_gelr_loss loss.lambda1=0.7 seed=0"], sw[
        "sweep_dilation model.dilations=[1,2,4] seed=0"]
    _write(tmp_path / "sweep_gelr_loss" / "runs" / "done", "sweep_gelr_loss", source.overrides,
           30.0, [1, 2, 4])
    rp.run_plan([source, alias], None, tmp_path, n_jobs=1, timeout_s=5)
    assert calls == []
    assert (source.state, alias.state) == ("reused", "shared")
    assert alias.run_dir == source.run_dir == tmp_path / "sweep_gelr_loss" / "runs" / "done"


def test_fingerprinting_leaves_the_callers_hydra_state_as_it_was() -> None:
    """Inside a caller's own Hydra context (another config folder) the fingerprint composes
    rpaf's config, and the caller's context, config and HydraConfig are intact afterwards."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()  # whatever an earlier test left behind
    before = HydraConfig.instance().cfg
    with initialize_config_dir(config_dir=str(REPO / "conf" / "model"), version_base="1.3"):
        config_fingerprint([*BASE, "sweep=theta", "gelr.theta=0.2"])
        assert GlobalHydra.instance().is_initialized()
        assert compose("rpafnet_lite").widths  # still the caller's config folder
    assert HydraConfig.instance().cfg is before
    assert not GlobalHydra.instance().is_initialized()


def test_a_finished_twin_becomes_the_source(two_sweeps, tmp_path: Path, calls) -> None:
    """Only the dilation sweep's [1,2,4] point ran (say, a `rpaf-train -m sweep=dilation`
    multirun): the GELR-loss sweep's λ1 = 0.7 point shares it instead of training again, and
    its table row reads that run."""
    specs, preset = two_sweeps
    jobs = rp.plan_jobs(specs, preset)[0]
    sw = _sweeps(jobs)
    first, twin = sw["sweep_gelr_loss loss.lambda1=0.7 seed=0"], sw[
        "sweep_dilation model.dilations=[1,2,4] seed=0"]
    _write(tmp_path / "sweep_dilation" / "runs" / "mine", "sweep_dilation", twin.overrides,
           31.0, [1, 2, 4])
    assert rp.plan_states([first, twin], tmp_path) == ["shared", "reuse"]
    rp.run_plan([first, twin], None, tmp_path, n_jobs=1, timeout_s=5)
    assert calls == []
    assert (first.state, twin.state) == ("shared", "reused")
    assert first.same_as is twin
    assert first.run_dir == tmp_path / "sweep_dilation" / "runs" / "mine"
    runs = rp.planned_runs(collect_runs(tmp_path), jobs, tmp_path)
    t3 = build_table(next(s for s in specs if s.id == "table3_gelr_loss"), runs, scale="test",
                     git_sha="x", date="d", hardware="h", data="synthetic")
    full_row = next(i for i, r in enumerate(t3.spec.rows) if "0.7" in str(r.select))
    psnr_col = next(j for j, c in enumerate(t3.spec.columns) if c.metric == "psnr")
    assert (t3.cells[full_row][psnr_col].mean, t3.cells[full_row][psnr_col].n) == (31.0, 1)
    assert [r.raw["shared_from"] for r in t3.shared] == ["sweep_dilation"]
