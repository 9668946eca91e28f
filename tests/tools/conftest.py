"""Shared fixture of the tools/ tests: import a script of tools/ as a module."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

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
