"""``make reproduce-tables SCALE=smoke|mini|paper``: run what the paper tables need, tabulate.

    python -m rpaf.reproduce --scale smoke              # < 5 min on 2 CPU cores (CI)
    python -m rpaf.reproduce --scale mini               # ~85 min on 2 CPU cores
    python -m rpaf.reproduce --scale mini --set seeds=[0]  # one seed everywhere, 60 min
    python -m rpaf.reproduce --scale paper              # the full protocol (GPU)
    python -m rpaf.reproduce --scale mini --dry-run     # list the jobs and what is reused
    python -m rpaf.reproduce --scale mini --tables-only # rebuild the tables from finished runs

What runs is the union of the experiment specs (``experiments/*.yaml``: their ``sweep`` and
``evals``) at the chosen scale's preset (``conf/reproduce/<scale>.yaml``: training overrides,
seeds, which sweep values, which datasets and methods). Every job is one
``python -m rpaf.train`` or ``python -m rpaf.eval`` subprocess in Hydra RUN mode (a sweep job
is ``sweep=<name> hydra.mode=RUN <its sweep values>``) writing into
``<runs-dir>/<task_name>/runs/<timestamp>`` (default ``logs/reproduce/<scale>``), so:

- **resume**: a job whose ``metrics.json`` already says ``ok`` for the same overrides
  (ignoring ``hydra.*``, ``paths.*`` and logger choices) is reused, not rerun; the same
  holds for jobs of ``rpaf-train -m sweep=<name>`` multiruns (e.g. on a SLURM cluster) found
  under the runs folder;
- **failure tolerance**: a failed job is recorded (its own ``metrics.json`` with status
  ``failed``, or a stand-in written here when the process died before writing one) and the
  others go on; its table cells read ``failed`` and it is retried on the next call;
- **unavailable data**: datasets whose root is missing are not evaluated; their cells read
  ``unavailable``;
- **fine-tuned reference** (preset ``reference_finetune``: training overrides): each reference
  network is fine-tuned from its ``last.ckpt`` (``init_weights``) once it exists; spec
  evaluations with ``reference: finetuned`` score that network (its ``checkpoints/mixed.ckpt``
  when the fine-tune mixes its weights with the start, else its ``last.ckpt``), the others the
  reference itself; without the preset key those evaluations are not planned;
- **shared runs**: sweep jobs whose resolved training config is the same (the paper's default
  point of each sweep) train once per seed; the other sweeps' tables read that run
  (:mod:`rpaf.shared_runs`; preset key ``share_runs: false`` trains each one).

The tables (Markdown + CSV + LaTeX) go to ``experiments/results/<scale>/`` (see
:mod:`rpaf.tables`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rpaf.shared_runs import prefer_finished_sources, share_identical_jobs
from rpaf.tables import (
    RunCollection,
    RunRecord,
    TableSpec,
    collect_runs,
    job_overrides,
    load_specs,
    write_tables,
)

#: The repository root (``conf/``, ``experiments/``); runs are launched from here.
REPO_ROOT = Path(__file__).resolve().parents[2]
SCALES = ("smoke", "mini", "paper")
#: Methods that need a ground truth (skipped on datasets without targets).
NEEDS_TARGET = frozenset({"gelr"})
#: Method id of the trained network in specs.
NETWORK = "rpafnet"
#: Placeholder for the checkpoint of a job's reference network (filled in when it exists).
REFERENCE_PLACEHOLDER = "<reference>"
#: Spec eval key ``reference``: which network the ``rpafnet`` rows score.
REFERENCE_STAGES = ("base", "finetuned")


class ReproduceError(ValueError):
    """A preset or spec asks for something impossible (message names the file and key)."""


@dataclass
class Job:
    """One subprocess: ``python -m rpaf.<entry> <overrides>``.

    Attributes:
        entry: ``train`` or ``eval``.
        task_name: Run family (folder under the runs dir).
        overrides: Hydra overrides (without ``paths.log_dir``, added at launch).
        tables: Spec ids this job feeds (for the plan display).
        label: Short description (the sweep values, or method and dataset).
        needs_reference: Needs a reference network's checkpoint (an evaluation of it, or the
            fine-tune that starts from it): waits for it.
        reference: The training job whose checkpoint it needs (one per reference seed, or the
            fine-tune of one); None: the ``reference`` given to :func:`run_plan`.
        state: ``todo``, ``reused``, ``ok``, ``failed``, ``skipped`` or ``shared`` (the job's
            resolved config equals ``same_as``'s: it is not run, its tables read that run).
        run_dir: The run folder once known.
        note: Why it was skipped / how it failed.
        same_as: The job whose run this one shares (:mod:`rpaf.shared_runs`), else None.
    """

    entry: str
    task_name: str
    overrides: list[str]
    tables: list[str] = field(default_factory=list)
    label: str = ""
    needs_reference: bool = False
    reference: Job | None = field(default=None, repr=False, compare=False)
    state: str = "todo"
    run_dir: Path | None = None
    note: str = ""
    seconds: float = 0.0
    same_as: Job | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, ...]:
        """Identity for resuming: normalised overrides, sorted (see :func:`job_key`)."""
        return job_key(self.overrides)

    def describe(self) -> str:
        """Short human description: entry, task and label."""
        return f"{self.entry}:{self.task_name} {self.label}".strip()


def job_key(overrides: Sequence[str], seed: int | None = None) -> tuple[str, ...]:
    """Normalised, order-free identity of a job (whitespace in values removed).

    The seed is compared as a value (``seed``, else a ``seed=`` override), so a multirun job
    launched without ``seed=0`` matches a planned job with ``seed=0`` when its run recorded 0.
    """
    kept = ["".join(o.split()) for o in job_overrides(overrides)]
    if seed is None:
        seed = next((int(o.split("=", 1)[1]) for o in kept if o.startswith("seed=")), None)
    kept = [o for o in kept if not o.startswith("seed=")]
    return (*sorted(kept), f"seed={seed}")


# --------------------------------------------------------------------------------------------
# Presets and plan
# --------------------------------------------------------------------------------------------


def load_preset(scale: str, conf_dir: Path | None = None,
                overrides: Sequence[str] = ()) -> DictConfig:
    """Load ``conf/reproduce/<scale>.yaml`` (OmegaConf; ``${oc.env:...}`` resolves).

    Args:
        scale: Preset name.
        conf_dir: Config folder (default the repository's ``conf``).
        overrides: ``KEY=VALUE`` dot-list changes of the preset (``--set``), e.g.
            ``seeds=[0]`` or ``sweeps.theta.seeds=[0]``; the first key
            of each must be one the preset has.

    Raises:
        ReproduceError: Unknown scale, missing file, or a malformed / unknown override.
    """
    path = (conf_dir or REPO_ROOT / "conf") / "reproduce" / f"{scale}.yaml"
    if not path.is_file():
        raise ReproduceError(
            f"no preset {path} for --scale {scale!r}: use one of {', '.join(SCALES)} "
            f"or add conf/reproduce/{scale}.yaml"
        )
    cfg = OmegaConf.load(path)
    assert isinstance(cfg, DictConfig)
    for item in overrides:
        key, eq, _ = str(item).partition("=")
        top = key.split(".", 1)[0]
        if not eq or not key:
            raise ReproduceError(f"--set {item!r}: expected KEY=VALUE, e.g. --set seeds=[0]")
        if top not in cfg:
            raise ReproduceError(f"--set {item!r}: {path} has no key {top!r} (keys: "
                                 f"{', '.join(map(str, cfg.keys()))})")
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([str(item)]))
        except Exception as err:  # omegaconf raises several error types for bad values
            raise ReproduceError(f"--set {item!r}: {err}") from err
    assert isinstance(cfg, DictConfig)
    return cfg


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or OmegaConf.is_list(value):
        return list(value)
    return [value]


def expand_sweep(name: str, params: dict[str, str], seeds: Sequence[int]) -> list[list[str]]:
    """Expand sweeper params (``key: "a,b,c"``) to the job override lists, like Hydra's sweeper.

    Args:
        name: Sweep name (for error messages).
        params: ``hydra.sweeper.params`` of the sweep, with the preset's replacements applied.
        seeds: Seeds; each job is repeated per seed (replaces a ``seed`` param).

    Returns:
        One list of ``key=value`` strings per job (cartesian product, keys in order).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    items = {k: str(v) for k, v in params.items() if k != "seed"}
    parser = OverridesParser.create()
    lists: list[list[str]] = []
    for key, value in items.items():
        text = f"{key}={' '.join(value.split())}"
        try:
            (override,) = parser.parse_overrides([text])
        except Exception as err:  # Hydra raises several parser error types
            raise ReproduceError(
                f"conf/sweep/{name}.yaml: cannot parse sweep param {text!r}: {err}"
            ) from err
        if override.is_sweep_override():
            lists.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        else:
            lists.append([f"{key}={override.get_value_element_as_str()}"])
    lists.append([f"seed={s}" for s in seeds])
    return [list(combo) for combo in itertools.product(*lists)]


@dataclass
class DataEntry:
    """A dataset of the preset: its eval overrides, whether it is present, has targets."""

    id: str
    overrides: list[str]
    available: bool
    targets: bool
    why: str = ""


def datasets_of(preset: DictConfig) -> dict[str, DataEntry]:
    """The preset's ``data`` map, each checked for presence (``root`` must exist when given)."""
    out: dict[str, DataEntry] = {}
    for ds_id, node in (preset.get("data") or {}).items():
        root = node.get("root")
        available, why = True, ""
        if root is not None:
            path = Path(str(root))
            path = path if path.is_absolute() else REPO_ROOT / path
            available = path.exists()
            why = "" if available else f"{path} not found"
        out[str(ds_id)] = DataEntry(
            id=str(ds_id),
            overrides=[str(o) for o in _as_list(node.get("overrides"))],
            available=available,
            targets=bool(node.get("targets", True)),
            why=why,
        )
    return out


def _wanted(specs: Sequence[TableSpec], preset: DictConfig) -> list[TableSpec]:
    tables = preset.get("tables", "all")
    if tables in (None, "all"):
        return list(specs)
    ids = {str(t) for t in _as_list(tables)}
    unknown = ids - {s.id for s in specs}
    if unknown:
        raise ReproduceError(f"preset tables: unknown spec ids {sorted(unknown)}")
    return [s for s in specs if s.id in ids]


def plan_jobs(
    specs: Sequence[TableSpec],
    preset: DictConfig,
    *,
    sweep_dir: Path | None = None,
) -> tuple[list[Job], Job | None, dict[str, DataEntry]]:
    """Every job the specs need at this preset (deduplicated), the reference job, the datasets.

    Returns:
        ``(jobs, reference, datasets)``; ``reference`` is the reference network of the first
        reference seed (preset ``reference_seeds``, default the first of ``seeds``). Every
        reference job leads ``jobs`` when some eval needs the network; each network
        evaluation names its own reference (:attr:`Job.reference`).
    """
    sweep_dir = sweep_dir or REPO_ROOT / "conf" / "sweep"
    seeds = [int(s) for s in _as_list(preset.get("seeds", [0]))]
    train_ov = [str(o) for o in _as_list(preset.get("train_overrides"))]
    # Sweep jobs only (after train_overrides, so they win): e.g. a shorter, smaller-crop
    # schedule than the reference network's.
    sweep_ov = [str(o) for o in _as_list(preset.get("sweep_overrides"))]
    eval_ov = [str(o) for o in _as_list(preset.get("eval_overrides"))]
    sweeps_cfg = preset.get("sweeps") or {}
    methods_allowed = preset.get("methods")
    allowed = None if methods_allowed in (None, "all") else {str(m) for m in methods_allowed}
    datasets = datasets_of(preset)
    jobs: dict[tuple[str, ...], Job] = {}

    def add(job: Job, table: str) -> None:
        existing = jobs.setdefault(job.key, job)
        if table not in existing.tables:
            existing.tables.append(table)

    # One reference network per reference seed (default: the first seed); the network rows of
    # the tables average over them.
    ref_seeds = [int(s) for s in _as_list(preset.get("reference_seeds", seeds[:1]))]
    if not ref_seeds:
        raise ReproduceError("preset reference_seeds is empty: give at least one seed")
    references = {
        seed: Job(
            entry="train",
            task_name="reference",
            overrides=["task_name=reference", *train_ov,
                       *[str(o) for o in _as_list(preset.get("reference_overrides"))],
                       f"seed={seed}"],
            label=f"reference network, seed={seed}",
        )
        for seed in ref_seeds
    }
    reference = references[ref_seeds[0]]
    ft_ov = [str(o) for o in _as_list(preset.get("reference_finetune"))]
    finetuned = {
        seed: Job(
            entry="train",
            task_name="reference_ft",
            overrides=["task_name=reference_ft", *ft_ov, f"seed={seed}",
                       f"init_weights={REFERENCE_PLACEHOLDER}"],
            label=f"fine-tuned reference network, seed={seed}",
            needs_reference=True, reference=ref,
        )
        for seed, ref in references.items()
    } if ft_ov else {}
    need_reference = need_finetuned = False
    for spec in _wanted(specs, preset):
        if spec.sweep:
            if spec.sweep not in sweeps_cfg:
                continue  # this scale does not run that sweep: the table shows "—"
            path = sweep_dir / f"{spec.sweep}.yaml"
            if not path.is_file():
                raise ReproduceError(f"{spec.path}: sweep {spec.sweep!r} has no {path}")
            sweep_yaml = OmegaConf.load(path)
            params = dict(OmegaConf.select(sweep_yaml, "hydra.sweeper.params", default={}) or {})
            extra = sweeps_cfg.get(spec.sweep) or {}
            params.update({str(k): str(v) for k, v in (extra.get("params") or {}).items()})
            sweep_seeds = [int(s) for s in _as_list(extra.get("seeds", seeds))]
            for values in expand_sweep(spec.sweep, params, sweep_seeds):
                add(Job("train", f"sweep_{spec.sweep}",
                        [f"sweep={spec.sweep}", "hydra.mode=RUN", *train_ov, *sweep_ov,
                         *[str(o) for o in _as_list(extra.get("overrides"))], *values],
                        label=" ".join(values)), spec.id)
        for ev in spec.evals:
            task = str(ev.get("task_name", "eval_methods"))
            for ds_id in _as_list(ev.get("data", ["synthetic"])):
                ds_id = str(ds_id)
                if ds_id not in datasets:
                    continue  # not part of this preset: cells read unavailable or —
                entry = datasets[ds_id]
                for method in _as_list(ev.get("methods", [])):
                    method = str(method)
                    if allowed is not None and method not in allowed:
                        continue
                    if method in NEEDS_TARGET and not entry.targets:
                        continue
                    common = [f"task_name={task}", *entry.overrides, *eval_ov,
                              *[str(o) for o in _as_list(ev.get("overrides"))]]
                    if method == NETWORK:
                        stage = str(ev.get("reference", "base"))
                        if stage not in REFERENCE_STAGES:
                            raise ReproduceError(
                                f"{spec.path}: evals reference={stage!r} is not one of "
                                f"{list(REFERENCE_STAGES)}")
                        if stage == "finetuned" and not finetuned:
                            continue  # no fine-tune at this preset: the rows read "—"
                        need_reference = True
                        need_finetuned |= stage == "finetuned"
                        targets = finetuned if stage == "finetuned" else references
                        for seed, ref in targets.items():
                            job = Job("eval", task, [*common, f"seed={seed}",
                                                     f"ckpt_path={REFERENCE_PLACEHOLDER}"],
                                      label=f"{method} on {ds_id}"
                                      + (f", seed={seed}" if len(references) > 1 else ""),
                                      needs_reference=True, reference=ref)
                            if not entry.available:
                                job.state, job.note = "skipped", f"dataset {ds_id} unavailable"
                            add(job, spec.id)
                        continue
                    job = Job("eval", task, [*common, f"seed={seeds[0]}", f"method={method}"],
                              label=f"{method} on {ds_id}")
                    if not entry.available:
                        job.state, job.note = "skipped", f"dataset {ds_id} unavailable"
                    add(job, spec.id)
    ordered = list(jobs.values())
    if preset.get("share_runs", True):
        # Sweep points with the paper's default config (one per sweep) train once per seed.
        share_identical_jobs([j for j in ordered if j.task_name.startswith("sweep_")])
    if need_reference:
        ordered[:0] = [*references.values(), *(finetuned.values() if need_finetuned else [])]
    return ordered, (reference if need_reference else None), datasets


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _finished(runs_dir: Path) -> dict[tuple[str, ...], Path]:
    return _finished_in(collect_runs(runs_dir).ok)


def _finished_in(records: Iterable[RunRecord]) -> dict[tuple[str, ...], Path]:
    """Finished train/eval runs by job key (:func:`job_key`)."""
    return {job_key(r.overrides, r.seed): r.path for r in records
            if r.source in ("train", "eval")}


def _with_reference(overrides: Sequence[str], ckpt: Path) -> list[str]:
    """``overrides`` with the ``KEY=<reference>`` placeholders (``ckpt_path``, ``init_weights``)
    replaced by ``KEY=ckpt``."""
    out = []
    for o in overrides:
        key, sep, value = o.partition("=")
        out.append(f"{key}={ckpt}" if sep and value == REFERENCE_PLACEHOLDER else o)
    return out


def _reference_ckpt(run_dir: Path) -> Path:
    """The network a reference run delivers: ``mixed.ckpt`` (``init_weights_mix``), else
    ``last.ckpt``, else its newest checkpoint."""
    ckpt_dir = run_dir / "checkpoints"
    for name in ("mixed.ckpt", "last.ckpt"):
        if (ckpt_dir / name).is_file():
            return ckpt_dir / name
    found = sorted(ckpt_dir.glob("*.ckpt"))
    if not found:
        raise ReproduceError(
            f"reference run {run_dir} wrote no checkpoint in {ckpt_dir}: the preset's "
            f"train_overrides must keep checkpointing (no trainer.fast_dev_run)"
        )
    return found[-1]


def _write_stand_in(runs_dir: Path, job: Job, error: str, log_path: Path) -> Path:
    """``metrics.json`` with status failed for a process that died before writing its own."""
    from rpaf.utils.runinfo import atomic_write_json

    digest = hashlib.sha1("\n".join(job.key).encode()).hexdigest()[:10]
    folder = runs_dir / "_failed" / job.task_name / digest
    atomic_write_json(folder / "metrics.json", {
        "task_name": job.task_name, "status": "failed", "seed": None,
        "overrides": job.overrides, "config": {"task_name": job.task_name},
        "metrics": {}, "error": error, "log": str(log_path),
    })
    return folder


def reused_from_other_commits(jobs: Sequence[Job], sha: str) -> list[tuple[Job, str]]:
    """Reused jobs whose run was made at another commit than ``sha`` (``-dirty`` ignored).

    Resuming matches jobs by their overrides only: a run made before a code or config change
    would be reused as if current. The caller warns about these.
    """
    def clean(value: str) -> str:
        return value.removesuffix("-dirty")

    out = []
    for job in jobs:
        if job.state != "reused" or job.run_dir is None:
            continue
        path = job.run_dir / "metrics.json"
        try:
            run_sha = str(json.loads(path.read_text(encoding="utf-8")).get("git_sha") or "")
        except (OSError, ValueError):
            continue
        if run_sha and clean(run_sha) != clean(sha):
            out.append((job, run_sha))
    return out


def run_job(job: Job, runs_dir: Path, logs_dir: Path, timeout_s: float) -> Job:
    """Run one job as a subprocess; its output goes to ``logs_dir``. Never raises for failures."""
    module = "rpaf.train" if job.entry == "train" else "rpaf.eval"
    cmd = [sys.executable, "-m", module, *job.overrides, f"paths.log_dir={runs_dir}"]
    digest = hashlib.sha1("\n".join(job.key).encode()).hexdigest()[:10]
    log_path = logs_dir / f"{job.task_name}-{digest}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HYDRA_FULL_ERROR": "1", "WANDB_MODE": os.environ.get("WANDB_MODE",
                                                                             "disabled")}
    start = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        try:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  env=env, timeout=timeout_s, check=False)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
    job.seconds = time.perf_counter() - start
    done = _finished(runs_dir).get(job.key)
    if done is not None:
        job.state, job.run_dir = "ok", done
        return job
    tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
    error = (f"timed out after {timeout_s:.0f} s" if code is None
             else f"exit code {code}: {tail[0] if tail else ''}")
    job.state, job.note = "failed", f"{error} (log: {log_path})"
    failed_dirs = [r.path for r in collect_runs(runs_dir).failed
                   if job_key(r.overrides, r.seed) == job.key]
    job.run_dir = failed_dirs[-1] if failed_dirs else _write_stand_in(runs_dir, job, error,
                                                                       log_path)
    return job


def _progress():  # noqa: ANN202 - rich types are optional at import time
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[current]}"))


def run_plan(jobs: list[Job], reference: Job | None, runs_dir: Path, *, n_jobs: int,
             timeout_s: float) -> list[Job]:
    """Run every ``todo`` job, reusing finished ones; show progress.

    The reference network trains first in line, beside the jobs that do not need it; the
    evaluations of the reference go to the front of the queue when it finishes (marked failed
    if it failed); a job starts when a worker is free, in queue order.
    """
    from rich.console import Console

    console = Console(stderr=True)
    logs_dir = runs_dir / "_reproduce_logs"
    finished = _finished(runs_dir)

    def ref_of(job: Job) -> Job | None:
        return job.reference if job.reference is not None else reference

    references: list[Job] = []  # distinct reference jobs, by identity
    for ref in [reference, *(ref_of(j) for j in jobs if j.needs_reference)]:
        if ref is not None and all(ref is not r for r in references):
            references.append(ref)

    training: list[Job] = []  # the references this call trains
    # Training jobs whose result the main thread has collected: a worker thread sets a job's
    # state and run folder while it ends, so only a collected job's may be read.
    collected: set[int] = set()

    def is_training(job: Job | None) -> bool:
        return any(job is r for r in training)

    def pending(job: Job) -> bool:
        return job.state == "todo" or (is_training(job) and id(job) not in collected)

    def resolve_reference() -> None:
        """Jobs whose reference has finished name its checkpoint; those of a failed one fail
        (:func:`settle` repeats this, so a fine-tune's failure reaches its evaluations)."""
        for job in jobs:
            own = ref_of(job)
            if not job.needs_reference or job.state != "todo" or own is None or pending(own):
                continue
            if own.state not in ("ok", "reused") or own.run_dir is None:
                job.state, job.note = "failed", "reference training failed"
                collected.add(id(job))  # decided here, never run
                continue
            job.overrides = _with_reference(job.overrides, _reference_ckpt(own.run_dir))

    def mark_reused() -> None:
        for job in jobs:
            if job.state == "todo" and job.key in finished:
                job.state, job.run_dir = "reused", finished[job.key]

    def settle() -> None:
        """Until nothing changes: jobs of finished references name their checkpoint, so those
        that ran already are reused, which settles the next link (a reused fine-tune's
        evaluations)."""
        while True:
            before = [(j.state, tuple(j.overrides)) for j in jobs]
            resolve_reference()
            mark_reused()
            if [(j.state, tuple(j.overrides)) for j in jobs] == before:
                return

    prefer_finished_sources(jobs, finished)  # share a finished run rather than train its twin
    mark_reused()
    settle()  # (and not counted below)
    todo_count = sum(j.state == "todo" for j in jobs)
    console.print(f"[bold]rpaf.reproduce[/]: {len(jobs)} jobs, "
                  f"{sum(j.state == 'reused' for j in jobs)} reused, "
                  f"{sum(j.state == 'skipped' for j in jobs)} skipped (data unavailable), "
                  f"{sum(j.state == 'shared' for j in jobs)} shared (same config as another), "
                  f"{todo_count} to run -> {runs_dir}")
    from rpaf.utils.runinfo import git_sha

    stale = reused_from_other_commits(jobs, git_sha())
    if stale:
        shas = sorted({s for _, s in stale})
        console.print(f"[yellow]warning[/]: {len(stale)} reused runs were made at other commits "
                      f"({', '.join(shas)}); if the code or configs changed since, move "
                      f"{runs_dir} aside to run them again")
    if todo_count == 0 and all(r.state != "todo" for r in references):
        return _settle_shared(jobs)
    with _progress() as progress:
        bar = progress.add_task("jobs", total=todo_count, current="")

        def report(job: Job) -> None:
            mark = "[green]ok[/]" if job.state == "ok" else "[red]FAILED[/]"
            progress.console.print(f"{mark} {job.describe()} ({job.seconds:.0f} s)"
                                   + (f"\n    {job.note}" if job.note else ""))
            progress.advance(bar)

        # Jobs go to the pool only when a worker is free, so the queue order is the start
        # order; a finished reference's evaluations (the end of the longest chain) jump it.
        training[:] = [r for r in references if r.state == "todo"]
        # A fine-tune waits for its own reference; it jumps the queue when that one ends.
        queue = deque(r for r in training if not (r.needs_reference and is_training(ref_of(r))))
        queue.extend(j for j in jobs if j.state == "todo" and not is_training(j)
                     and not (j.needs_reference and is_training(ref_of(j))))
        released: set[int] = set()  # training jobs whose waiting jobs were queued
        workers = max(1, n_jobs)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures: dict[Future[Job], Job] = {}

            def fill() -> None:
                while queue and len(futures) < workers:
                    nxt = queue.popleft()
                    futures[pool.submit(run_job, nxt, runs_dir, logs_dir, timeout_s)] = nxt

            fill()
            while futures:
                fut = next(as_completed(futures))
                job = futures.pop(fut)
                progress.update(bar, current=job.describe())
                report(fut.result())
                if is_training(job):
                    collected.add(id(job))
                    settle()
                # Each training job that is done (run, reused or failed) releases the jobs
                # waiting on it, at the front of the queue.
                for ref in training:
                    if not pending(ref) and id(ref) not in released:
                        released.add(id(ref))
                        queue.extendleft(reversed([j for j in jobs if j.needs_reference
                                                   and ref_of(j) is ref and j.state == "todo"]))
                fill()
    return _settle_shared(jobs)


def _settle_shared(jobs: list[Job]) -> list[Job]:
    """Shared jobs take their source's run folder; a failed source fails them too."""
    for job in jobs:
        src = job.same_as
        if job.state != "shared" or src is None:
            continue
        job.run_dir = src.run_dir
        if src.state == "failed":
            job.state, job.note = "failed", f"shares the failed run of {src.describe()}"
    return jobs


def _current_keys(jobs: Sequence[Job], finished: dict[tuple[str, ...], Path]
                  ) -> list[tuple[str, ...]]:
    """Each job's identity as a finished run records it.

    Network evaluations name the reference checkpoint only once it exists: when the reference
    run is already there, their key has the checkpoint path filled in.
    """
    refs = [j for j in jobs if j.entry == "train" and j.task_name == "reference"]
    ckpts: dict[int, Path] = {}

    def key_of(job: Job) -> tuple[str, ...] | None:
        """The job's key with its reference's checkpoint filled in; None: not known yet."""
        if not job.needs_reference:
            return job.key
        own = job.reference if job.reference is not None else (refs[0] if refs else None)
        if own is None or id(own) not in ckpts:
            return None
        return job_key(_with_reference(job.overrides, ckpts[id(own)]))

    # References first, then the fine-tunes of references (whose keys name those checkpoints).
    for ref in [*refs, *(j for j in jobs if j.entry == "train" and j.needs_reference)]:
        key = key_of(ref)
        if key is not None and key in finished:
            with contextlib.suppress(ReproduceError):  # no checkpoint: evaluations stay todo
                ckpts[id(ref)] = _reference_ckpt(finished[key])
    return [key_of(job) or job.key for job in jobs]


def plan_states(jobs: Sequence[Job], runs_dir: Path) -> list[str]:
    """What a run would do with each job: its state, or ``reuse`` for a finished one."""
    finished = _finished(runs_dir)
    prefer_finished_sources(jobs, finished)
    return ["reuse" if job.state == "todo" and key in finished else job.state
            for job, key in zip(jobs, _current_keys(jobs, finished), strict=True)]


def planned_runs(runs: RunCollection, jobs: Sequence[Job], runs_dir: Path) -> RunCollection:
    """``runs`` without the train/eval runs of ``runs_dir`` that no job of the plan asked for.

    A runs folder keeps the results of earlier presets (e.g. a sweep trained for fewer steps):
    their ``select`` would match the same table rows, so tables built from the whole folder
    would mix two protocols. Runs found elsewhere (``extra_runs``), benchmark and
    application result files are kept.
    """
    root = runs_dir.resolve()

    def local(rec: RunRecord) -> bool:
        return rec.source in ("train", "eval") and rec.path.resolve().is_relative_to(root)

    # The same finished-run map the resume logic reads, from the records already collected.
    finished = _finished_in(r for r in runs.ok if local(r))
    prefer_finished_sources(jobs, finished)  # as run_plan chose
    all_keys = _current_keys(jobs, finished)
    keys = {k for job, k in zip(jobs, all_keys, strict=True) if job.same_as is None}

    def wanted(rec: RunRecord) -> bool:
        return not local(rec) or job_key(rec.overrides, rec.seed) in keys

    ok = [r for r in runs.ok if wanted(r)]
    failed = [r for r in runs.failed if wanted(r)]
    # A shared job reads its source's run under its own task name (the tables select by it).
    shared = [j for j in jobs if j.same_as is not None]
    for recs in (ok, failed):
        recs += [_as_shared(r, job) for job in shared for r in list(recs)
                 if local(r) and job_key(r.overrides, r.seed) == job.same_as.key]
    return RunCollection(ok=ok, failed=failed)


def _as_shared(rec: RunRecord, job: Job) -> RunRecord:
    """``rec`` (the source job's run) as the run of the shared ``job``."""
    return replace(rec, task_name=job.task_name,
                   raw={**rec.raw, "shared_from": rec.task_name})


def print_plan(jobs: Sequence[Job], runs_dir: Path) -> None:
    """The plan as a rich table (state, entry, task, overrides, tables)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"rpaf.reproduce plan ({runs_dir})")
    for col in ("state", "job", "what", "tables"):
        table.add_column(col)
    for job, state in zip(jobs, plan_states(jobs, runs_dir), strict=True):
        note = job.note or (f"same config as {job.same_as.describe()}" if job.same_as else "")
        table.add_row(state, f"{job.entry}:{job.task_name}", job.label,
                      ", ".join(job.tables) + (f" ({note})" if note else ""))
    console = Console()
    console.print(table)
    if jobs:
        console.print("Overrides of the first job: " + " ".join(jobs[0].overrides))


def reproduce(
    scale: str,
    *,
    runs_dir: Path | None = None,
    out_dir: Path | None = None,
    spec_dir: Path | None = None,
    dry_run: bool = False,
    tables_only: bool = False,
    n_jobs: int | None = None,
    extra_runs: Sequence[Path] = (),
    preset_overrides: Sequence[str] = (),
) -> list[Job]:
    """Plan, run (or reuse) and tabulate one scale. See the module docstring.

    Args:
        scale: ``smoke``, ``mini`` or ``paper`` (``conf/reproduce/<scale>.yaml``).
        runs_dir: Where runs go / are reused from (default ``logs/reproduce/<scale>``).
        out_dir: Table folder (default ``experiments/results/<scale>``).
        spec_dir: Experiment specs (default ``experiments``).
        dry_run: Print the plan only.
        tables_only: Build the tables from finished runs without running anything.
        n_jobs: Parallel subprocesses (default: the preset's ``jobs``).
        extra_runs: More folders searched for finished results (e.g. ``jpeg_results.json``).
        preset_overrides: ``KEY=VALUE`` changes of the preset (see :func:`load_preset`).

    Returns:
        The jobs with their final states.
    """
    preset = load_preset(scale, overrides=preset_overrides)
    runs_dir = (runs_dir or REPO_ROOT / "logs" / "reproduce" / scale).resolve()
    out_dir = out_dir or REPO_ROOT / "experiments" / "results" / scale
    specs = load_specs(spec_dir or REPO_ROOT / "experiments")
    jobs, reference, datasets = plan_jobs(specs, preset)
    if dry_run:
        print_plan(jobs, runs_dir)
        return jobs
    if not tables_only:
        runs_dir.mkdir(parents=True, exist_ok=True)
        run_plan(jobs, reference, runs_dir, n_jobs=int(n_jobs or preset.get("jobs", 1)),
                 timeout_s=float(preset.get("timeout_s", 1800)))
    # Dataset ids the specs name but this machine/preset lacks: cells read "unavailable".
    unavailable = {d.id for d in datasets.values() if not d.available}
    unavailable |= {str(d) for d in _as_list(preset.get("unavailable"))}
    found = collect_runs([runs_dir, *extra_runs], bench_dirs=[REPO_ROOT / "experiments" / "bench"])
    runs = planned_runs(found, jobs, runs_dir)
    kept = {id(r) for r in [*runs.ok, *runs.failed]}
    left_out = sum(id(r) not in kept for r in [*found.ok, *found.failed])
    if left_out:
        print(f"tables: {left_out} run(s) under {runs_dir} are not jobs of this plan (other "
              f"overrides, e.g. an earlier preset, or a job now shared) and are left out")
    files = write_tables(_wanted(specs, preset), runs, out_dir, scale=scale,
                         unavailable=unavailable, base=runs_dir, index_specs=specs)
    failed = [j for j in jobs if j.state == "failed"]
    print(f"tables: {out_dir} ({len(files)} files); runs: {len(runs.ok)} ok, "
          f"{len(runs.failed)} failed under {runs_dir}; this call: {len(failed)} job(s) failed")
    return jobs


def main(argv: Sequence[str] | None = None) -> int:
    """CLI; exit status 1 when a job of this call failed (the tables are still written)."""
    parser = argparse.ArgumentParser(prog="python -m rpaf.reproduce",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="smoke", help="smoke | mini | paper")
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="runs folder (default logs/reproduce/<scale>)")
    parser.add_argument("--out", type=Path, default=None,
                        help="tables folder (default experiments/results/<scale>)")
    parser.add_argument("--specs", type=Path, default=None, help="specs folder (experiments)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel subprocesses")
    parser.add_argument("--extra-runs", type=Path, nargs="*", default=[],
                        help="more folders with finished results (e.g. jpeg_results.json)")
    parser.add_argument("--set", dest="preset_overrides", nargs="+", default=[],
                        metavar="KEY=VALUE",
                        help="change the preset, e.g. --set seeds=[0] reference_seeds=[0]")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    parser.add_argument("--tables-only", action="store_true",
                        help="build tables from finished runs, run nothing")
    args = parser.parse_args(argv)
    try:
        jobs = reproduce(args.scale, runs_dir=args.runs_dir, out_dir=args.out,
                         spec_dir=args.specs, dry_run=args.dry_run, tables_only=args.tables_only,
                         n_jobs=args.jobs, extra_runs=args.extra_runs,
                         preset_overrides=args.preset_overrides)
    except ReproduceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1 if any(j.state == "failed" for j in jobs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
