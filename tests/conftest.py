"""Shared pytest fixtures and settings for the rpaf test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder (paper data, IQA parameters); skip when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present: these files exist only on the developers' and CI machines")
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

    det = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(det)
    torch.set_num_threads(threads)
