"""Shared pytest fixtures and settings for the rpaf test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One OpenMP thread per process: the tests run tiny tensors (where threads only add overhead) and
# several processes at once (DDP, joblib sweeps, subprocess CLIs); oversubscribed OpenMP spin-waits
# made steps up to 10x slower on a 2-core machine. Subprocesses inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder (paper data, IQA parameters); skip when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present: it exists only on the developers' and CI machines")
    return SHARED


@pytest.fixture(scope="session")
def iqa_dir(shared_dir: Path) -> Path:
    """Offline pyiqa parameter files (``../shared/iqa``); skip when absent."""
    path = shared_dir / "iqa"
    if not path.is_dir():
        pytest.skip(f"{path} not present: offline IQA parameter files are needed for this test")
    return path


@pytest.fixture(scope="session")
def real_samples_dir(shared_dir: Path) -> Path:
    """Real sample images (``../shared/data/real-samples``); skip when absent."""
    path = shared_dir / "data" / "real-samples"
    if not path.is_dir():
        pytest.skip(f"{path} not present: real sample images are only on the developers' machines")
    return path


@pytest.fixture(autouse=True)
def _reset_torch_state():
    """Undo global torch settings a test may change (deterministic mode, threads)."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    det = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(det)
    torch.set_num_threads(threads)


def compose_config(
    name: str, overrides: list[str], out_dir: Path
) -> "omegaconf.DictConfig":  # noqa: F821
    """Compose ``conf/<name>.yaml`` as the Hydra app would, with its run folder at ``out_dir``.

    ``HydraConfig`` is set, so ``${hydra:...}`` interpolations resolve as in a real run.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from rpaf.config_dir import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out_dir)
        cfg.hydra.runtime.cwd = str(REPO_ROOT)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out_dir)
        cfg.paths.log_dir = str(out_dir.parent)
        del cfg["hydra"]
    return cfg


@pytest.fixture
def compose():
    """``compose(name, overrides, out_dir)``: see :func:`compose_config`."""
    return compose_config


@pytest.fixture
def offline_pyiqa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh offline machine for pyiqa: empty cache, no ``$RPAF_IQA_DIR``, no network.

    Returns the (empty) pyiqa cache folder. Any attempt to resolve a host name or open a
    connection raises ``OSError``, as on a machine without internet.
    """
    import socket

    import pyiqa.utils.download_util as download_util

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled by the offline_pyiqa test fixture")

    cache = tmp_path / "pyiqa-cache"
    monkeypatch.delenv("RPAF_IQA_DIR", raising=False)
    monkeypatch.setattr(download_util, "DEFAULT_CACHE_DIR", str(cache))
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return cache
