"""Shared fixtures of the tools/ tests: import a script of tools/ as a module; a tiny checkpoint."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture
def load_tool() -> Callable[[str], ModuleType]:
    """``load_tool("per_family")`` imports tools/per_family.py (tools/ put on sys.path first,
    since the scripts import each other)."""
    def load(name: str) -> ModuleType:
        if str(TOOLS) not in sys.path:
            sys.path.insert(0, str(TOOLS))
        spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def scaling_ckpt() -> Callable[[Path, float], Path]:
    """``scaling_ckpt(path, s)`` saves a 1x1 convolution ``u = s * g`` as a checkpoint that
    :func:`rpaf.checkpoints.load_network` reads (a network with a known output)."""
    def save(path: Path, scale: float = 1.0) -> Path:
        weight = scale * torch.eye(3).reshape(3, 3, 1, 1)
        torch.save({"state_dict": {"net.weight": weight, "net.bias": torch.zeros(3)},
                    "hyper_parameters": {"config": {"model": {
                        "_target_": "torch.nn.Conv2d", "in_channels": 3, "out_channels": 3,
                        "kernel_size": 1}}}}, path)
        return path

    return save
