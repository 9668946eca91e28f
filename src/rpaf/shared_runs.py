"""Which training jobs of a plan are the same run: one trains, the others share its result.

Several ablation sweeps contain the paper's default configuration as one of their points
(``model.ldsc=true`` in the LDSC sweep, dilations ``[1,2,4]`` in the dilation sweep, λ1 = 0.7
in the GELR-loss sweep...). With deterministic training these jobs would produce the same
numbers, each after a full training run. :func:`share_identical_jobs` composes each job's
config the way ``rpaf-train`` would, drops the keys that name a run without changing what it
computes (:data:`IDENTITY_KEYS`), and lets every job whose remaining, resolved config equals
an earlier job's reuse that job's run (:attr:`rpaf.reproduce.Job.same_as`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Container, Sequence
from typing import Any, Protocol

#: Top-level config keys that identify or label a run but do not change what it computes:
#: its name and grouping (``task_name``, ``run_group``, ``tags``, the ``logger`` that reports
#: them), where it writes (``paths``, ``hydra``), and ``ablation``, the sweep files' helper
#: node whose values the real keys interpolate (e.g. ``gelr.alpha: ${ablation.alpha_beta[0]}``;
#: after resolution those keys carry the values, so the helper itself is redundant).
IDENTITY_KEYS = ("task_name", "run_group", "tags", "logger", "paths", "hydra", "ablation")


class _Shareable(Protocol):
    entry: str
    overrides: list[str]
    same_as: Any
    state: str

    @property
    def key(self) -> tuple[str, ...]: ...


def resolved_train_config(overrides: Sequence[str], config_dir: str | None = None
                          ) -> dict[str, Any]:
    """The resolved config of ``rpaf-train OVERRIDES``, without :data:`IDENTITY_KEYS`.

    ``hydra.*`` overrides (e.g. ``hydra.mode=RUN``) are left out; interpolations into the
    Hydra runtime (the output folder) resolve to a fixed placeholder, so they compare equal.

    Raises:
        Hydra's errors when the overrides do not compose (a job that would fail anyway).
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.initialize import get_gh_backup, restore_gh_from_backup
    from omegaconf import OmegaConf, open_dict

    from rpaf.config_dir import CONFIG_DIR

    ov = [o for o in overrides if not o.lstrip("+~").startswith("hydra.")]
    hydra_config = HydraConfig.instance()
    previous, gh_backup = hydra_config.cfg, get_gh_backup()
    try:
        GlobalHydra.instance().clear()  # a caller's own Hydra context is restored below
        with initialize_config_dir(config_dir=config_dir or CONFIG_DIR, version_base="1.3"):
            cfg = compose("train", overrides=ov, return_hydra_config=True)
            with open_dict(cfg):
                cfg.hydra.job.num = 0
                cfg.hydra.runtime.output_dir = "<run dir>"
            hydra_config.set_config(cfg)  # for the ${hydra:...} interpolations
            data = OmegaConf.to_container(cfg, resolve=True)
    finally:  # leave the process's Hydra state as it was
        hydra_config.cfg = previous
        restore_gh_from_backup(gh_backup)
    assert isinstance(data, dict)
    return {k: v for k, v in data.items() if k not in IDENTITY_KEYS}


def config_fingerprint(overrides: Sequence[str], config_dir: str | None = None) -> str:
    """A short hash of :func:`resolved_train_config` (equal configs, equal fingerprints)."""
    return _fingerprint(tuple(overrides), config_dir)


@functools.lru_cache(maxsize=4096)
def _fingerprint(overrides: tuple[str, ...], config_dir: str | None) -> str:
    text = json.dumps(resolved_train_config(overrides, config_dir), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def share_identical_jobs(jobs: Sequence[_Shareable], config_dir: str | None = None) -> int:
    """Point every training job whose config equals an earlier one's at that job.

    Sets ``job.same_as`` (the first job with the same fingerprint) and ``job.state =
    "shared"`` on the later ones; other jobs are left alone. A job whose overrides do not
    compose is not shared: it runs and reports its own error.

    Returns:
        The number of jobs that now share another job's run.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    first: dict[str, _Shareable] = {}
    shared = 0
    for job in jobs:
        if job.entry != "train" or job.state != "todo":
            continue
        try:
            key = config_fingerprint(job.overrides, config_dir)
        except (HydraException, OmegaConfBaseException):  # the job reports it when it runs
            continue
        if key in first:
            job.same_as, job.state = first[key], "shared"
            shared += 1
        else:
            first[key] = job
    return shared


def prefer_finished_sources(jobs: Sequence[_Shareable], finished: Container[tuple[str, ...]]
                            ) -> int:
    """Let a group of identical jobs share a run that already exists.

    :func:`share_identical_jobs` makes the first job of each group its source. When that one
    has not run but another member has (e.g. a ``rpaf-train -m sweep=dilation`` multirun found
    in the runs folder), the finished member becomes the source instead, so nothing is trained
    twice. Idempotent: calling it again with the same ``finished`` keys changes nothing.

    Args:
        jobs: The plan's jobs (sources and the jobs sharing them).
        finished: Keys (``job.key``) of the finished runs.

    Returns:
        The number of groups whose source changed.
    """
    groups: dict[int, list[_Shareable]] = {}
    for job in jobs:
        if job.same_as is not None:
            groups.setdefault(id(job.same_as), [job.same_as]).append(job)
    changed = 0
    for members in groups.values():
        source = members[0]
        if source.key in finished:
            continue
        pick = next((m for m in members[1:] if m.key in finished), None)
        if pick is None:
            continue
        for member in members:
            member.same_as, member.state = (None, "todo") if member is pick else (pick, "shared")
        changed += 1
    return changed
