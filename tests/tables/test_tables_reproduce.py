"""rpaf.reproduce: planning from specs + presets, resuming finished jobs, failure records, and
(slow) the whole smoke scale end to end."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rpaf import reproduce as rp
from rpaf.tables import collect_runs, load_specs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_plan():
    specs = load_specs(REPO / "experiments")
    return rp.plan_jobs(specs, rp.load_preset("smoke"))


def test_reproduce_presets_load_and_plan() -> None:
    specs = load_specs(REPO / "experiments")
    for scale in rp.SCALES:
        jobs, reference, datasets = rp.plan_jobs(specs, rp.load_preset(scale))
        assert jobs, scale
        assert len({j.key for j in jobs}) == len(jobs), f"{scale}: duplicate jobs"
        assert "synthetic" in datasets
        assert reference is not None
        assert jobs[0] is reference
    with pytest.raises(rp.ReproduceError, match="no preset"):
        rp.load_preset("huge")


def test_reproduce_smoke_plan_is_small(smoke_plan) -> None:
    jobs, reference, datasets = smoke_plan
    todo = [j for j in jobs if j.state == "todo"]
    assert len(todo) <= 6  # keeps `smoke` under 5 minutes on 2 cores
    assert {j.task_name for j in todo} == {"reference", "sweep_gelr_loss", "eval_methods",
                                           "eval_self_ensemble"}
    skipped = [j for j in jobs if j.state == "skipped"]
    assert all("unavailable" in j.note for j in skipped)
    if not (REPO / "data" / "NKS").exists():
        assert not datasets["nks"].available
        assert any("nks" in j.label for j in skipped)
    sweep_jobs = [j for j in todo if j.task_name == "sweep_gelr_loss"]
    assert sorted(o for j in sweep_jobs for o in j.overrides if o.startswith("loss.")) == [
        "loss.lambda1=0.0", "loss.lambda1=0.7"]
    assert all("hydra.mode=RUN" in j.overrides for j in sweep_jobs)


def test_reproduce_job_key_ignores_paths_and_order() -> None:
    a = rp.job_key(["b=1", "a=[1, 2]", "hydra.mode=RUN", "paths.log_dir=/x", "logger=none"])
    b = rp.job_key(["a=[1,2]", "b=1", "hydra.mode=MULTIRUN", "paths.log_dir=/y"])
    assert a == b
    assert rp.job_key(["a=1"]) != rp.job_key(["a=2"])
    # A multirun job without `seed=` that ran with seed 0 is the planned `seed=0` job.
    assert rp.job_key(["a=1"], seed=0) == rp.job_key(["seed=0", "a=1"])
    assert rp.job_key(["a=1"], seed=1) != rp.job_key(["seed=0", "a=1"])


def _write_run(folder: Path, overrides: list[str], status: str = "ok") -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "task_name": "sweep_gelr_loss", "status": status, "seed": 0, "overrides": overrides,
        "config": {"trainer": {}, "data": {"_target_": "rpaf.data.SyntheticDataModule"}},
        "metrics": {"eval/psnr": 20.0}, "date": "2025-01-01T00:00:00+00:00"}))


def test_reproduce_reuses_finished_and_records_failures(smoke_plan, tmp_path, monkeypatch):
    jobs, _, _ = smoke_plan
    sweep_jobs = [j for j in jobs if j.task_name == "sweep_gelr_loss"]
    done, broken = (rp.Job(j.entry, j.task_name, list(j.overrides), label=j.label)
                    for j in sweep_jobs)
    # `done` finished earlier (as a multirun job: other hydra/paths overrides, other order).
    _write_run(tmp_path / "sweep_gelr_loss" / "multiruns" / "t" / "0",
               [*reversed(done.overrides), "hydra.mode=MULTIRUN", "paths.log_dir=/elsewhere"])
    calls = []
    real_run = subprocess.run

    def fake_run(cmd, **kwargs):
        if cmd[0] == "git":  # the SHA check of reused runs, not a job
            return real_run(cmd, **kwargs)
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1)  # dies before writing metrics.json

    monkeypatch.setattr(rp.subprocess, "run", fake_run)
    result = rp.run_plan([done, broken], None, tmp_path, n_jobs=1, timeout_s=5)
    assert [j.state for j in result] == ["reused", "failed"]
    assert len(calls) == 1
    assert f"paths.log_dir={tmp_path}" in calls[0]
    assert "exit code 1" in broken.note
    runs = collect_runs(tmp_path)
    assert len(runs.ok) == 1
    assert len(runs.failed) == 1
    assert runs.failed[0].path.is_relative_to(tmp_path / "_failed")
    # A second call retries the failed job only.
    calls.clear()
    again = [rp.Job(j.entry, j.task_name, list(j.overrides)) for j in (done, broken)]
    rp.run_plan(again, None, tmp_path, n_jobs=1, timeout_s=5)
    assert len(calls) == 1


def test_tables_use_only_the_runs_of_the_plan(smoke_plan, tmp_path: Path) -> None:
    """A runs folder holding an earlier preset's run of the same sweep value (same table row)
    feeds the tables with the planned run only; runs outside the folder are kept."""
    jobs, _, _ = smoke_plan
    sweep = next(j for j in jobs if j.task_name == "sweep_gelr_loss")
    runs_dir, extra = tmp_path / "runs", tmp_path / "mine"
    _write_run(runs_dir / "sweep_gelr_loss" / "runs" / "new", list(sweep.overrides))
    _write_run(runs_dir / "sweep_gelr_loss" / "runs" / "old",
               [*sweep.overrides, "trainer.max_epochs=99"])
    _write_run(runs_dir / "sweep_gelr_loss" / "runs" / "old_failed",
               [*sweep.overrides, "trainer.max_epochs=98"], status="failed")
    _write_run(extra / "x", ["trainer.max_epochs=7"])
    found = collect_runs([runs_dir, extra])
    assert (len(found.ok), len(found.failed)) == (3, 1)
    kept = rp.planned_runs(found, jobs, runs_dir)
    assert sorted(r.path.name for r in kept.ok) == ["new", "x"]
    assert kept.failed == []


@pytest.mark.slow
def test_reproduce_smoke_end_to_end(tmp_path: Path) -> None:
    """`make reproduce-tables SCALE=smoke` in a temporary folder; reruns reuse everything."""
    runs_dir, out = tmp_path / "runs", tmp_path / "tables"
    jobs = rp.reproduce("smoke", runs_dir=runs_dir, out_dir=out)
    failed = [f"{j.describe()}: {j.note}" for j in jobs if j.state == "failed"]
    assert not failed, failed
    for spec in load_specs(REPO / "experiments"):
        assert (out / f"{spec.id}.md").is_file()
    t3 = (out / "table3_gelr_loss.csv").read_text()
    assert "psnr" in t3
    table8 = (out / "table8_datasets.md").read_text()
    assert "Scale: smoke" in table8
    if not (REPO / "data" / "NKS").exists():
        assert "unavailable" in table8
    again = rp.reproduce("smoke", runs_dir=runs_dir, out_dir=out)
    assert all(j.state in ("reused", "skipped") for j in again)


def test_reused_runs_from_other_commits_are_reported(tmp_path: Path) -> None:
    def job(name: str, sha: str | None, state: str = "reused") -> rp.Job:
        run = tmp_path / name
        run.mkdir()
        (run / "metrics.json").write_text(json.dumps({"status": "ok", "git_sha": sha}))
        j = rp.Job("eval", "eval_methods", [f"method={name}"], label=name)
        j.state, j.run_dir = state, run
        return j

    jobs = [job("same", "abc1234-dirty"), job("other", "def5678"), job("unknown", None),
            job("fresh", "def5678", state="ok")]
    stale = rp.reused_from_other_commits(jobs, "abc1234")
    assert [(j.label, sha) for j, sha in stale] == [("other", "def5678")]


def test_dry_run_shows_network_evaluations_of_a_finished_reference_as_reused(
        smoke_plan, tmp_path) -> None:
    jobs, reference, _ = smoke_plan
    ref_dir = tmp_path / "reference" / "runs" / "r"
    _write_run(ref_dir, list(reference.overrides))
    (ref_dir / "checkpoints").mkdir()
    ckpt = ref_dir / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(b"")
    net_eval = next(j for j in jobs if j.needs_reference and j.task_name == "eval_methods"
                    and j.state == "todo")
    before = rp.plan_states(jobs, tmp_path)
    assert before[jobs.index(reference)] == "reuse"
    assert before[jobs.index(net_eval)] == "todo"
    _write_run(tmp_path / "eval_methods" / "runs" / "e",
               [f"ckpt_path={ckpt}" if o == "ckpt_path=<reference>" else o
                for o in net_eval.overrides])
    after = rp.plan_states(jobs, tmp_path)
    assert after[jobs.index(net_eval)] == "reuse"
    assert net_eval.state == "todo"  # planning display only: the job itself is untouched


def test_reference_trains_beside_independent_jobs_and_gates_its_evaluations(
        smoke_plan, tmp_path, monkeypatch) -> None:
    import threading

    jobs, reference, _ = smoke_plan
    ref = rp.Job(reference.entry, reference.task_name, list(reference.overrides))
    sweep = next(rp.Job(j.entry, j.task_name, list(j.overrides)) for j in jobs
                 if j.task_name == "sweep_gelr_loss")
    net_eval = next(rp.Job(j.entry, j.task_name, list(j.overrides), needs_reference=True)
                    for j in jobs if j.needs_reference)
    sweep_started, events = threading.Event(), []

    def fake_run_job(job, runs_dir, logs_dir, timeout_s):
        events.append(("start", job.task_name, list(job.overrides)))
        if job is ref:
            # The sweep job must start while the reference is still training.
            assert sweep_started.wait(10), "independent job waited for the reference"
            run = tmp_path / "reference" / "runs" / "r"
            (run / "checkpoints").mkdir(parents=True)
            (run / "checkpoints" / "last.ckpt").write_bytes(b"")
            job.run_dir = run
        if job is sweep:
            sweep_started.set()
        job.state = "ok"
        events.append(("end", job.task_name, []))
        return job

    monkeypatch.setattr(rp, "run_job", fake_run_job)
    rp.run_plan([ref, sweep, net_eval], ref, tmp_path, n_jobs=2, timeout_s=5)
    assert [j.state for j in (ref, sweep, net_eval)] == ["ok", "ok", "ok"]
    order = [(kind, name) for kind, name, _ in events]
    assert order.index(("start", "sweep_gelr_loss")) < order.index(("end", "reference"))
    assert order.index(("end", "reference")) < order.index(("start", net_eval.task_name))
    launched = next(ov for kind, name, ov in events
                    if kind == "start" and name == net_eval.task_name)
    ckpt = tmp_path / "reference" / "runs" / "r" / "checkpoints" / "last.ckpt"
    assert f"ckpt_path={ckpt}" in launched


def test_reference_evaluations_start_before_queued_independent_jobs(smoke_plan, tmp_path,
                                                                    monkeypatch) -> None:
    # One worker: the reference, then its evaluations (the end of the longest chain), then the
    # independent jobs (sweeps, filters) queued before it finished, in plan order.
    jobs, reference, _ = smoke_plan
    ref = rp.Job(reference.entry, reference.task_name, list(reference.overrides))
    independent = [rp.Job(j.entry, j.task_name, list(j.overrides)) for j in jobs
                   if j is not reference and not j.needs_reference][:3]
    evals = [rp.Job(j.entry, j.task_name, list(j.overrides), needs_reference=True)
             for j in jobs if j.needs_reference][:2]
    assert len(independent) == 3
    assert len(evals) == 2
    started = []

    def fake_run_job(job, runs_dir, logs_dir, timeout_s):
        started.append(job)
        if job is ref:
            run = tmp_path / "reference" / "runs" / "r"
            (run / "checkpoints").mkdir(parents=True)
            (run / "checkpoints" / "last.ckpt").write_bytes(b"")
            job.run_dir = run
        job.state = "ok"
        return job

    monkeypatch.setattr(rp, "run_job", fake_run_job)
    rp.run_plan([*independent, ref, *evals], ref, tmp_path, n_jobs=1, timeout_s=5)
    assert [id(j) for j in started] == [id(j) for j in (ref, *evals, *independent)]
    assert all(j.state == "ok" for j in (ref, *independent, *evals))


def test_evaluations_of_a_failed_reference_are_failed_not_run(smoke_plan, tmp_path,
                                                              monkeypatch) -> None:
    jobs, reference, _ = smoke_plan
    ref = rp.Job(reference.entry, reference.task_name, list(reference.overrides))
    net_eval = next(rp.Job(j.entry, j.task_name, list(j.overrides), needs_reference=True)
                    for j in jobs if j.needs_reference)
    ran = []

    def fake_run_job(job, runs_dir, logs_dir, timeout_s):
        ran.append(job.task_name)
        job.state, job.note = "failed", "exit code 1"
        return job

    monkeypatch.setattr(rp, "run_job", fake_run_job)
    rp.run_plan([ref, net_eval], ref, tmp_path, n_jobs=2, timeout_s=5)
    assert ran == ["reference"]
    assert net_eval.state == "failed"
    assert "reference training failed" in net_eval.note


def test_reference_seeds_plan_one_reference_and_network_evaluations_per_seed() -> None:
    specs = load_specs(REPO / "experiments")
    preset = rp.load_preset("smoke")
    one, ref_one, _ = rp.plan_jobs(specs, preset)
    preset.reference_seeds = [0, 3]
    jobs, reference, _ = rp.plan_jobs(specs, preset)
    refs = [j for j in jobs if j.entry == "train" and j.task_name == "reference"]
    assert [j.label for j in refs] == ["reference network, seed=0", "reference network, seed=3"]
    assert jobs[:2] == refs
    assert reference is refs[0]
    assert reference.key == ref_one.key  # the default (first seed) plan is unchanged
    net = [j for j in jobs if j.needs_reference]
    assert len(net) == 2 * sum(j.needs_reference for j in one)
    for job in net:
        seed = next(o for o in job.overrides if o.startswith("seed="))
        assert seed in job.reference.overrides
    filters = [j for j in jobs if j.entry == "eval" and not j.needs_reference]
    assert len(filters) == sum(j.entry == "eval" and not j.needs_reference for j in one)
    preset.reference_seeds = []
    with pytest.raises(rp.ReproduceError, match="reference_seeds"):
        rp.plan_jobs(specs, preset)


def test_preset_set_overrides_change_the_plan_and_name_bad_keys() -> None:
    """``--set KEY=VALUE`` edits the preset before planning (fewer seeds: fewer jobs); an
    unknown first key or a missing ``=`` is refused with the key and the preset file named."""
    specs = load_specs(REPO / "experiments")
    full = rp.plan_jobs(specs, rp.load_preset("mini"))[0]
    one = rp.plan_jobs(specs, rp.load_preset("mini", overrides=["seeds=[0]",
                                                                "reference_seeds=[0]"]))[0]
    assert 0 < len(one) < len(full)
    assert not any("seed=1" in j.overrides for j in one)
    assert list(rp.load_preset("mini", overrides=["sweeps.theta.seeds=[0]"]).sweeps.theta.seeds
                ) == [0]
    with pytest.raises(rp.ReproduceError, match="mini.yaml has no key 'seed'"):
        rp.load_preset("mini", overrides=["seed=[0]"])
    with pytest.raises(rp.ReproduceError, match="expected KEY=VALUE"):
        rp.load_preset("mini", overrides=["seeds"])


def test_sweep_overrides_reach_sweep_jobs_only() -> None:
    """Preset ``sweep_overrides`` follow ``train_overrides`` in every sweep job (so they win)
    and leave the reference networks and evaluations as they were (so those stay reusable)."""
    specs = load_specs(REPO / "experiments")
    preset = rp.load_preset("smoke")
    before, ref_before, _ = rp.plan_jobs(specs, preset)
    preset.sweep_overrides = ["data.size=24", "trainer.max_epochs=2"]
    jobs, reference, _ = rp.plan_jobs(specs, preset)
    assert reference.key == ref_before.key
    sweeps = [j for j in jobs if j.task_name.startswith("sweep_")]
    assert sweeps
    train_ov = [str(o) for o in preset.train_overrides]
    for job in sweeps:
        ov = job.overrides
        assert ov.index("data.size=24") > max(ov.index(o) for o in train_ov)
        assert ov.index("trainer.max_epochs=2") == ov.index("data.size=24") + 1
    others = {j.key for j in jobs if not j.task_name.startswith("sweep_")}
    assert others == {j.key for j in before if not j.task_name.startswith("sweep_")}
    mini = rp.load_preset("mini")
    mini_sweeps = [j for j in rp.plan_jobs(specs, mini)[0] if j.task_name.startswith("sweep_")]
    assert all("data.test_size=96" in j.overrides for j in mini_sweeps)


def test_each_network_evaluation_waits_for_its_own_reference(smoke_plan, tmp_path,
                                                             monkeypatch) -> None:
    specs = load_specs(REPO / "experiments")
    preset = rp.load_preset("smoke")
    preset.reference_seeds = [0, 1]
    jobs, reference, _ = rp.plan_jobs(specs, preset)
    jobs = [j for j in jobs if j.entry == "train" and j.task_name == "reference"
            or (j.needs_reference and j.state == "todo")]
    ended: list[str] = []

    def fake_run_job(job, runs_dir, logs_dir, timeout_s):
        if job.task_name == "reference":
            seed = job.label.rsplit("=", 1)[1]
            if seed == "1":  # the second reference fails: only its evaluations fail
                job.state, job.note = "failed", "exit code 1"
                ended.append(job.label)
                return job
            run = tmp_path / f"ref{seed}"
            (run / "checkpoints").mkdir(parents=True)
            (run / "checkpoints" / "last.ckpt").write_bytes(b"")
            job.run_dir = run
        else:
            own = job.reference.label
            assert own in ended, f"{job.label} started before {own}"
            assert f"ckpt_path={job.reference.run_dir / 'checkpoints' / 'last.ckpt'}" \
                in job.overrides
        job.state = "ok"
        ended.append(job.label)
        return job

    monkeypatch.setattr(rp, "run_job", fake_run_job)
    rp.run_plan(jobs, reference, tmp_path, n_jobs=2, timeout_s=5)
    evals = [j for j in jobs if j.needs_reference]
    assert {j.state for j in evals if "seed=0" in j.overrides} == {"ok"}
    failed = [j for j in evals if "seed=1" in j.overrides]
    assert failed
    assert {j.state for j in failed} == {"failed"}
    assert all("reference training failed" in j.note for j in failed)
