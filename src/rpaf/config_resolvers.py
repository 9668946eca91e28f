"""OmegaConf resolvers of rpaf's configs (registered on import of :mod:`rpaf.config_dir`).

``${rpaf.cwd:}`` is the working directory of the process (``paths.root_dir``). Hydra's own
``${hydra:runtime.cwd}`` cannot be used there: ``hydra.sweep.dir`` is built from ``paths.log_dir``
before any job starts, when Hydra's config is not yet set, so every ``-m`` run would stop with
"HydraConfig was not set". rpaf never changes the working directory (``hydra.job.chdir=false``),
so both give the same folder inside a job.

``${rpaf.last_ckpt:TASK_DIR,SEED}`` resolves to the ``last.ckpt`` of the newest *finished* run
(``metrics.json`` with ``status: ok``) of one task, e.g. ``${paths.log_dir}/cpu_mini_natural``,
whose seed is ``SEED``. Two-stage recipes use it to chain their stages: the fine-tuning stage
(``experiment=cpu_mini_natural_ft``) starts from the first stage's weights without a path to
copy, and ``seed=1`` in both stages pairs seed 1 with seed 1. Both single runs
(``TASK_DIR/runs/*``) and multirun jobs (``TASK_DIR/multiruns/*/*``) are searched.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from rpaf.tables import read_run

#: Name of the resolver (``${rpaf.last_ckpt:...}`` in a config).
LAST_CKPT = "rpaf.last_ckpt"
#: Name of the working-directory resolver (``${rpaf.cwd:}``).
CWD = "rpaf.cwd"


def _finished_seed(run: Path) -> object:
    """The seed of a finished run folder, or ``...`` when it is not a finished run."""
    try:
        record = read_run(run / "metrics.json")
    except (OSError, ValueError):  # absent, truncated or not a JSON object
        return ...
    return record.seed if record.status == "ok" else ...


def last_checkpoint(task_dir: str | Path, seed: int | None, *,
                    other: str = "pass init_weights=PATH/TO/last.ckpt") -> str:
    """``last.ckpt`` of the newest finished run of a task with this seed.

    Args:
        task_dir: The task's folder under the log folder (``${paths.log_dir}/<task_name>``).
        seed: The seed the run must have used (``None`` matches unseeded runs).
        other: The other way out, for the error message (the resolver's: ``init_weights``).

    Returns:
        The checkpoint's path, as a string (newest by its ``metrics.json`` modification time).

    Raises:
        FileNotFoundError: naming the folder, the seed and the fix, when no run qualifies.
    """
    task_dir = Path(task_dir)
    want = None if seed is None or str(seed).lower() in ("none", "null") else int(seed)
    runs = [*task_dir.glob("runs/*/"), *task_dir.glob("multiruns/*/*/")]
    found = []
    for run in runs:
        ckpt = run / "checkpoints" / "last.ckpt"
        if ckpt.is_file() and _finished_seed(run) == want:
            found.append(((run / "metrics.json").stat().st_mtime, str(ckpt)))
    if not found:
        raise FileNotFoundError(
            f"no finished run with seed={want} and a checkpoints/last.ckpt under {task_dir} "
            f"({len(runs)} run folders looked at): train that stage first (e.g. `rpaf-train "
            f"experiment={task_dir.name} seed={want}`, or `make train-natural`), or {other}"
        )
    return max(found)[1]


def register_resolvers() -> None:
    """Register rpaf's resolvers with OmegaConf (idempotent)."""
    if not OmegaConf.has_resolver(LAST_CKPT):
        OmegaConf.register_new_resolver(LAST_CKPT, last_checkpoint)
    if not OmegaConf.has_resolver(CWD):
        OmegaConf.register_new_resolver(CWD, os.getcwd)
