"""rpaf.reproduce with a fine-tuned reference (preset ``reference_finetune``): planning, the
chain reference -> fine-tune -> its evaluations, failures passed down it, resume display."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rpaf import reproduce as rp
from rpaf.tables import load_specs

REPO = Path(__file__).resolve().parents[2]
FT = ["experiment=cpu_mini_ft", "logger=csv"]


def _plan(seeds: list[int] | None = None, finetune: list[str] | None = None):
    preset = rp.load_preset("smoke")
    if seeds is not None:
        preset.reference_seeds = seeds
    if finetune is not None:
        preset.reference_finetune = finetune
    return rp.plan_jobs(load_specs(REPO / "experiments"), preset)


def _ft_evals(jobs: list[rp.Job]) -> list[rp.Job]:
    return [j for j in jobs if j.entry == "eval" and j.task_name.startswith("eval_finetuned")]


def test_without_the_preset_key_no_fine_tune_is_planned() -> None:
    jobs, _, _ = _plan()
    assert not [j for j in jobs if j.task_name == "reference_ft"]
    assert not _ft_evals(jobs)


def test_fine_tune_per_reference_seed_starts_from_that_reference() -> None:
    jobs, reference, _ = _plan(seeds=[0, 2], finetune=FT)
    refs = [j for j in jobs if j.task_name == "reference"]
    fts = [j for j in jobs if j.task_name == "reference_ft"]
    assert jobs[:4] == [*refs, *fts]
    assert reference is refs[0]
    for ref, ft in zip(refs, fts, strict=True):
        assert ft.entry == "train"
        assert ft.needs_reference
        assert ft.reference is ref
        assert f"init_weights={rp.REFERENCE_PLACEHOLDER}" in ft.overrides
        seed = next(o for o in ref.overrides if o.startswith("seed="))
        assert seed in ft.overrides
        assert ft.overrides[1:3] == FT  # the preset's overrides, not the reference's
    ft_evals = _ft_evals(jobs)
    assert ft_evals  # synthetic x (plain, x8) x 2 seeds at smoke
    assert len(ft_evals) == 4
    assert all(j.reference in fts for j in ft_evals)
    assert all("model_overrides.refine_kernel=11" in j.overrides for j in ft_evals)
    # The other network evaluations still score the references themselves.
    base = [j for j in jobs if j.needs_reference and j.entry == "eval" and j not in ft_evals]
    assert base
    assert all(j.reference in refs for j in base)


def test_unknown_reference_stage_names_the_spec(tmp_path: Path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(
        "id: t\ntitle: t\nevals:\n  - {task_name: e, reference: best, methods: [rpafnet]}\n"
        "columns:\n  - {id: p, label: PSNR, metric: psnr}\nrows:\n  - {label: x, select: {}}\n")
    preset = rp.load_preset("smoke")
    preset.reference_finetune = FT
    with pytest.raises(rp.ReproduceError, match=r"t\.yaml: evals reference='best'"):
        rp.plan_jobs(load_specs(tmp_path), preset)


def _chain(jobs: list[rp.Job]) -> tuple[rp.Job, rp.Job, list[rp.Job], list[rp.Job]]:
    """Fresh copies of the reference, its fine-tune, its evaluations and the fine-tune's."""
    ref0 = next(j for j in jobs if j.task_name == "reference")
    ft0 = next(j for j in jobs if j.task_name == "reference_ft")
    ref = rp.Job(ref0.entry, ref0.task_name, list(ref0.overrides), label=ref0.label)
    ft = rp.Job(ft0.entry, ft0.task_name, list(ft0.overrides), label=ft0.label,
                needs_reference=True, reference=ref)
    base = [rp.Job(j.entry, j.task_name, list(j.overrides), label=j.label,
                   needs_reference=True, reference=ref)
            for j in jobs if j.needs_reference and j.entry == "eval" and j.reference is ref0]
    tuned = [rp.Job(j.entry, j.task_name, list(j.overrides), label=j.label,
                    needs_reference=True, reference=ft)
             for j in jobs if j.needs_reference and j.entry == "eval" and j.reference is ft0]
    return ref, ft, base, tuned


def _finish(job: rp.Job, folder: Path, *names: str) -> None:
    (folder / "checkpoints").mkdir(parents=True)
    for name in names:
        (folder / "checkpoints" / name).write_bytes(b"")
    job.run_dir = folder


def test_chain_runs_in_order_with_each_checkpoint_filled_in(tmp_path: Path,
                                                            monkeypatch) -> None:
    jobs, _, _ = _plan(finetune=FT)
    ref, ft, base, tuned = _chain(jobs)
    assert base
    assert tuned
    started: list[tuple[rp.Job, list[str]]] = []

    def fake_run_job(job, runs_dir, logs_dir, timeout_s):
        started.append((job, list(job.overrides)))
        if job is ref:
            _finish(job, tmp_path / "ref", "last.ckpt", "epoch_000.ckpt")
        elif job is ft:
            _finish(job, tmp_path / "ft", "last.ckpt", "mixed.ckpt")
        job.state = "ok"
        return job

    monkeypatch.setattr(rp, "run_job", fake_run_job)
    # Two workers: the fine-tune must still wait for its reference.
    rp.run_plan([ref, ft, *base, *tuned], ref, tmp_path, n_jobs=2, timeout_s=5)
    assert all(j.state == "ok" for j in (ref, ft, *base, *tuned))
    order = [j for j, _ in started]
    assert order[0] is ref
    assert order.index(ft) < min(order.index(j) for j in tuned)
    launched = dict((id(j), ov) for j, ov in started)
    assert f"init_weights={tmp_path / 'ref' / 'checkpoints' / 'last.ckpt'}" in launched[id(ft)]
    for job in tuned:  # the fine-tune's delivered network: its mixed weights
        assert f"ckpt_path={tmp_path / 'ft' / 'checkpoints' / 'mixed.ckpt'}" in launched[id(job)]
    for job in base:
        assert f"ckpt_path={tmp_path / 'ref' / 'checkpoints' / 'last.ckpt'}" in launched[id(job)]


def test_failed_reference_fails_its_fine_tune_and_that_ones_evaluations(tmp_path: Path,
                                                                       monkeypatch) -> None:
    jobs, _, _ = _plan(finetune=FT)
    ref, ft, base, tuned = _chain(jobs)
    ran: list[str] = []

    def fake_run_job(job, runs_dir, logs_dir, timeout_s):
        ran.append(job.task_name)
        job.state, job.note = "failed", "exit code 1"
        return job

    monkeypatch.setattr(rp, "run_job", fake_run_job)
    rp.run_plan([ref, ft, *base, *tuned], ref, tmp_path, n_jobs=2, timeout_s=5)
    assert ran == ["reference"]
    for job in (ft, *base, *tuned):
        assert job.state == "failed", job.describe()
        assert "reference training failed" in job.note


def _write_run(folder: Path, task: str, overrides: list[str]) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "task_name": task, "status": "ok", "seed": 0, "overrides": overrides,
        "config": {"trainer": {}}, "metrics": {"eval/psnr": 20.0},
        "date": "2025-01-01T00:00:00+00:00"}))


def test_dry_run_sees_a_finished_fine_tune_and_its_evaluations(tmp_path: Path) -> None:
    jobs, _, _ = _plan(finetune=FT)
    ref = next(j for j in jobs if j.task_name == "reference")
    ft = next(j for j in jobs if j.task_name == "reference_ft")
    tuned = _ft_evals(jobs)[0]
    assert rp.plan_states(jobs, tmp_path)[jobs.index(ft)] == "todo"
    ref_dir = tmp_path / "reference" / "runs" / "r"
    _write_run(ref_dir, "reference", list(ref.overrides))
    _finish(rp.Job("train", "x", []), ref_dir, "last.ckpt")
    states = rp.plan_states(jobs, tmp_path)
    assert (states[jobs.index(ref)], states[jobs.index(ft)]) == ("reuse", "todo")
    ft_dir = tmp_path / "reference_ft" / "runs" / "f"
    _write_run(ft_dir, "reference_ft",
               rp._with_reference(ft.overrides, ref_dir / "checkpoints" / "last.ckpt"))
    _finish(rp.Job("train", "x", []), ft_dir, "last.ckpt", "mixed.ckpt")
    assert rp.plan_states(jobs, tmp_path)[jobs.index(ft)] == "reuse"
    assert rp.plan_states(jobs, tmp_path)[jobs.index(tuned)] == "todo"
    _write_run(tmp_path / tuned.task_name / "runs" / "e", tuned.task_name,
               rp._with_reference(tuned.overrides, ft_dir / "checkpoints" / "mixed.ckpt"))
    assert rp.plan_states(jobs, tmp_path)[jobs.index(tuned)] == "reuse"
    assert ft.state == tuned.state == "todo"  # planning display only


@pytest.mark.slow
def test_fine_tune_chain_end_to_end_at_smoke_scale(tmp_path: Path) -> None:
    """Real subprocesses: reference -> fine-tune mixing its weights -> evaluations of the mixed
    network with the spec's filter; the quality table's mixed row is filled; a rerun reuses all."""
    from rpaf.tables import collect_runs, write_tables

    preset = rp.load_preset("smoke")
    preset.tables = ["quality_cpu_mini"]
    preset.methods = ["rpafnet"]
    preset.reference_finetune = ["experiment=smoke", "data.n_train=4", "data.n_val=2",
                                 "data.n_test=2", "metrics.no_reference=[]", "save_images=0",
                                 "init_weights_mix=0.5"]
    specs = load_specs(REPO / "experiments")
    runs_dir = tmp_path / "runs"
    jobs, reference, _ = rp.plan_jobs(specs, preset)
    rp.run_plan(jobs, reference, runs_dir, n_jobs=1, timeout_s=300)
    failed = [f"{j.describe()}: {j.note}" for j in jobs if j.state == "failed"]
    assert not failed, failed
    ft = next(j for j in jobs if j.task_name == "reference_ft")
    assert f"init_weights={reference.run_dir / 'checkpoints' / 'last.ckpt'}" in ft.overrides
    mixed = ft.run_dir / "checkpoints" / "mixed.ckpt"
    assert mixed.is_file()
    tuned = _ft_evals(jobs)
    assert len(tuned) == 2  # synthetic: filter, filter + x8
    for job in tuned:
        assert job.state == "ok"
        assert f"ckpt_path={mixed}" in job.overrides
        record = json.loads((job.run_dir / "metrics.json").read_text())
        assert record["config"]["model_overrides"]["refine_kernel"] == 11
    runs = rp.planned_runs(collect_runs(runs_dir), jobs, runs_dir)
    quality = [s for s in specs if s.id == "quality_cpu_mini"]
    write_tables(quality, runs, tmp_path / "tables", scale="smoke", base=runs_dir)
    rows = {line.split("|")[1].strip(): line
            for line in (tmp_path / "tables" / "quality_cpu_mini.md").read_text().splitlines()
            if line.startswith("| RPAFNet")}
    mixed_row = rows["RPAFNet, cpu_mini + cpu_mini_ft mixed 0.75, output filter"]
    assert mixed_row.split("|")[2].strip() not in ("—", "failed", "unavailable")
    again, ref_again, _ = rp.plan_jobs(specs, preset)
    rp.run_plan(again, ref_again, runs_dir, n_jobs=1, timeout_s=300)
    assert all(j.state in ("reused", "skipped") for j in again), \
        [(j.describe(), j.state) for j in again]
