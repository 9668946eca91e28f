"""Run metadata (rpaf.utils.runinfo): what every metrics.json records to make a run traceable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest
import torch

from rpaf.utils import runinfo


def test_run_metadata_records_kernel_level_and_package_versions() -> None:
    meta = runinfo.run_metadata("cpu", sha="a" * 40)
    cap = torch.backends.cpu.get_cpu_capability()
    assert meta["cpu_capability"] == cap
    assert f" {cap} (" in meta["device"]
    assert meta["device"].startswith("cpu ")
    assert set(meta["packages"]) == set(runinfo.RECORDED_PACKAGES)
    assert meta["packages"]["kornia"] == version("kornia")
    assert meta["packages"]["numpy"] == version("numpy")
    json.dumps(meta)  # stored in metrics.json as is


def test_missing_package_is_named_not_installed() -> None:
    got = runinfo.package_versions(("kornia", "rpaf-no-such-package"))
    assert got == {"kornia": version("kornia"), "rpaf-no-such-package": "not installed"}


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
                    reason="needs an x86-64 CPU with AVX2 (the level is forced down to it)")
def test_cpu_capability_follows_aten_cpu_capability() -> None:
    """The level that decides bit-exact reruns is the one torch runs at, not the CPU's best."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2")
    out = subprocess.run(
        [sys.executable, "-c",
         "from rpaf.utils.runinfo import cpu_capability, device_description; "
         "print(cpu_capability()); print(device_description('cpu'))"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout.splitlines()
    assert out[0] == "AVX2"
    assert " AVX2 (" in out[1]
