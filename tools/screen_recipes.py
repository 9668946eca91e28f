"""Screen training-recipe variants side by side: train each, evaluate on every check set, tabulate.

A developer tool for the quality check of ``experiment=cpu_mini`` (findings in
``experiments/results/cpu_mini/README.md``): each ``--variant NAME=OVERRIDES`` is a full
``rpaf-train experiment=cpu_mini OVERRIDES`` run (task ``screen_NAME``), launched ``--jobs`` at a
time with ``--threads`` OpenMP threads each, optionally stopped after ``--train-timeout`` seconds
(the last epoch's checkpoint is then scored, and the table says how many epochs it reached). Each
checkpoint is then evaluated with ``rpaf-eval`` on the held-out synthetic test split (32 × 96²),
the real figure pairs and the NKS-style composites (when their folders exist; ``make
reproduce-tables`` writes both from the developers' sample folder), and scored by
``tools/structure_kept.py`` on clean structure images; the Markdown table goes to stdout and to
``--out``.

Example (two probes on 2 CPU cores, then on a GPU machine)::

    OMP_NUM_THREADS=1 python tools/screen_recipes.py --jobs 2 --threads 1 \\
        --variant psn=loss.psnr_weight=0.005 --variant psn_s1="loss.psnr_weight=0.005 seed=1"
    python tools/screen_recipes.py --accelerator gpu --jobs 7 --threads 2 --train-timeout 360 ...

``--summary-only`` rebuilds the table from the run folders of an earlier screen.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from rpaf.checkpoints import load_network

sys.path.insert(0, str(Path(__file__).resolve().parent))
from structure_kept import kept_scores, load_images  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVAL_ARGS = ["metrics=fast", "metrics.no_reference=[]", "metrics.bliinds2=false", "logger=none",
             "save_images=0"]
#: (prefix of the evaluation task, its data overrides); ``{root}`` is filled per set.
EVAL_SETS = {"syn": ["data=synthetic", "data.n_test=32", "data.size=96"],
             "real": ["data=real_pairs", "data.root={root}"],
             "comp": ["data=nks_composites", "data.root={root}"]}


def parse_variant(spec: str) -> tuple[str, list[str]]:
    """Split ``NAME=OVERRIDES`` (overrides space-separated, shell-quoted) into name and list."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not name.replace("_", "").replace("-", "").isalnum():
        raise SystemExit(f"--variant {spec!r}: expected NAME=OVERRIDES with NAME made of letters, "
                         "digits, '_' and '-', e.g. --variant psn='loss.psnr_weight=0.005 seed=1'")
    return name, shlex.split(rest)


def latest_run(log_dir: Path, task: str) -> Path | None:
    """The newest run folder of ``task`` under ``log_dir`` (None when it never ran)."""
    runs = sorted((log_dir / task / "runs").glob("*/"))
    return runs[-1] if runs else None


def eval_scores(log_dir: Path, task: str) -> tuple[float, float] | None:
    """(PSNR, SSIM) from an evaluation run's metrics.json, None when absent or failed."""
    run = latest_run(log_dir, task)
    path = run / "metrics.json" if run else None
    if path is None or not path.is_file():
        return None
    data = json.loads(path.read_text())
    metrics = data.get("metrics") or {}
    if data.get("status") != "ok" or "psnr" not in metrics:
        return None
    return float(metrics["psnr"]), float(metrics["ssim"])


def validation_rows(run: Path) -> list[dict[str, str]] | None:
    """The rows with a ``val/psnr`` of a training run's csv log, or None without a log."""
    files = list(run.glob("csv/metrics.csv"))
    if not files:
        return None
    with files[0].open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r.get("val/psnr")]


def training_progress(log_dir: Path, task: str) -> tuple[int | None, float | None]:
    """(epochs completed, last validation PSNR) from a training run's csv log."""
    run = latest_run(log_dir, task)
    rows = validation_rows(run) if run else None
    if rows is None:
        return None, None
    if not rows:
        return 0, None
    return int(rows[-1]["epoch"]) + 1, float(rows[-1]["val/psnr"])


def kept_file(log_dir: Path, name: str) -> Path:
    """Where a variant's structure-kept score is stored (read back by ``--summary-only``)."""
    return log_dir / f"screen_{name}.kept.json"


def summary_table(log_dir: Path, names: list[str]) -> str:
    """Markdown table: epochs, val PSNR, synthetic / real / composites PSNR / SSIM, kept."""
    def cell(score: tuple[float, float] | None) -> str:
        return "—" if score is None else f"{score[0]:.2f} / {score[1]:.4f}"

    lines = ["| variant | epochs | val PSNR | synthetic PSNR / SSIM | real pairs PSNR / SSIM "
             "| composites PSNR / SSIM | kept (dB) |", "|---|---|---|---|---|---|---|"]
    for name in names:
        epochs, val = training_progress(log_dir, f"screen_{name}")
        kept_path = kept_file(log_dir, name)
        kept = json.loads(kept_path.read_text())["kept_db"] if kept_path.is_file() else None
        cells = ["—" if epochs is None else str(epochs), "—" if val is None else f"{val:.2f}",
                 *(cell(eval_scores(log_dir, f"{k}_screen_{name}")) for k in EVAL_SETS),
                 "—" if kept is None else f"{kept:.2f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _run(cmd: list[str], log: Path, env: dict[str, str], timeout: float | None = None) -> int:
    with log.open("w") as fh:
        try:
            return subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                  timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return 124


def screen_one(name: str, overrides: list[str], args: argparse.Namespace) -> None:
    """Train one variant, then evaluate its last checkpoint on every check set present."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONUNBUFFERED="1")
    task = f"screen_{name}"
    args.log_dir.mkdir(parents=True, exist_ok=True)
    train = [sys.executable, "-m", "rpaf.train", f"experiment={args.experiment}", *overrides,
             f"task_name={task}", "logger=csv", "callbacks.progress_bar=null", "save_images=0",
             "metrics.no_reference=[]", "metrics.bliinds2=false",
             f"trainer.accelerator={args.accelerator}", f"paths.log_dir={args.log_dir}"]
    if args.accelerator != "cpu":
        train.append("trainer.deterministic=false")  # some CUDA backward ops have no such kernel
    t0 = time.monotonic()
    rc = _run(train, args.log_dir / f"{task}.log", env, args.train_timeout)
    print(f"[{name}] training rc={rc} after {time.monotonic() - t0:.0f} s", flush=True)
    run = latest_run(args.log_dir, task)
    ckpt = run / "checkpoints" / "last.ckpt" if run else None
    if ckpt is None or not ckpt.is_file():
        print(f"[{name}] no checkpoint: see {args.log_dir / f'{task}.log'}", flush=True)
        return
    roots = {"real": args.real_root, "comp": args.composites_root}
    for key, data in EVAL_SETS.items():
        if key in roots and not roots[key].is_dir():
            continue
        data = [d.format(root=roots.get(key, "")) for d in data]
        _run([sys.executable, "-m", "rpaf.eval", *data, *EVAL_ARGS, f"task_name={key}_{task}",
              f"ckpt_path={ckpt}", f"paths.log_dir={args.log_dir}"],
             args.log_dir / f"{key}_{task}.log", env)
    if args.structures.is_dir():
        images = load_images(args.structures)
        kept = float(np.mean(kept_scores(load_network(ckpt).eval(), images)))
        kept_file(args.log_dir, name).write_text(json.dumps({"kept_db": kept,
                                                             "folder": str(args.structures)}))
    print(f"[{name}] evaluated after {time.monotonic() - t0:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run (or, with --summary-only, tabulate) a screen of recipe variants."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", default=[], required=True,
                    help="NAME=OVERRIDES, e.g. psn='loss.psnr_weight=0.005 seed=1' (repeatable)")
    ap.add_argument("--experiment", default="cpu_mini")
    ap.add_argument("--jobs", type=int, default=2, help="variants trained at the same time")
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads per job")
    ap.add_argument("--accelerator", default="cpu", help="trainer.accelerator (cpu | gpu)")
    ap.add_argument("--train-timeout", type=float, default=None,
                    help="stop each training after this many seconds and score its last epoch")
    ap.add_argument("--log-dir", type=Path, default=ROOT / "logs")
    ap.add_argument("--real-root", type=Path, default=ROOT / "data" / "real_pairs")
    ap.add_argument("--composites-root", type=Path, default=ROOT / "data" / "nks_composites")
    ap.add_argument("--structures", type=Path,
                    default=ROOT.parent / "shared" / "data" / "real-samples" / "nks" / "structures")
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = ap.parse_args(argv)
    if args.jobs < 1 or args.threads < 1:
        raise SystemExit(f"--jobs {args.jobs} / --threads {args.threads}: both must be >= 1")
    variants = dict(parse_variant(v) for v in args.variant)
    if not args.summary_only:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for future in [pool.submit(screen_one, n, o, args) for n, o in variants.items()]:
                future.result()
    table = summary_table(args.log_dir, list(variants))
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
