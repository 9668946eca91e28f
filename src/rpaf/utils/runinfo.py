"""Run metadata (git SHA, device, versions) and atomic writes for result files."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import torch


def git_sha(cwd: str | Path | None = None) -> str:
    """Return the current git commit SHA (with ``-dirty`` when the tree has changes).

    Args:
        cwd: Folder inside the repository; defaults to this package's folder.

    Returns:
        The SHA, or ``"unknown"`` when git or the repository is unavailable.
    """
    where = str(cwd or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


#: Versions recorded with every run beside torch and lightning (numerics can move with them).
RECORDED_PACKAGES: tuple[str, ...] = ("kornia", "torchmetrics", "numpy", "hydra-core", "omegaconf")


def cpu_capability() -> str:
    """The SIMD level torch's CPU kernels run at (``"AVX2"``, ``"AVX512"``, ...).

    Float results, and so whole training runs, differ between levels: a run repeats bit for bit
    only at the same level (set it with the ``ATEN_CPU_CAPABILITY`` environment variable, e.g.
    ``avx2`` on an AVX-512 machine). ``"unknown"`` where torch cannot tell.
    """
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # pragma: no cover - very old torch builds
        return "unknown"


def device_description(device: torch.device | str | None = None) -> str:
    """Describe the compute device in words (GPU name, or CPU model, kernel level and threads)."""
    dev = torch.device(device) if device is not None else None
    if (dev is None or dev.type == "cuda") and torch.cuda.is_available():
        index = dev.index if dev is not None and dev.index is not None else 0
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    cpu = platform.processor() or platform.machine()
    return (f"cpu {cpu} {cpu_capability()} "
            f"({os.cpu_count()} cores, torch threads {torch.get_num_threads()})")


def package_versions(names: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (``"not installed"`` for a missing one)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_metadata(
    device: torch.device | str | None = None, sha: str | None = None
) -> dict[str, Any]:
    """Everything a result needs to be traceable: SHA, date, versions, device, host.

    Args:
        device: The compute device (described in words).
        sha: The git SHA read when the run *started* (the code it loaded); ``None`` reads it
            now. Long runs should pass the start value: the checkout may move meanwhile.
    """
    import lightning

    return {
        "git_sha": sha if sha is not None else git_sha(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "packages": package_versions(),
        "device": device_description(device),
        "cpu_capability": cpu_capability(),
        "host": platform.node(),
    }


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, rename it to ``path``.

    A reader never sees a half-written file, even if the process is killed mid-write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def json_safe(obj: Any) -> Any:
    """Make ``obj`` strict JSON: NaN becomes ``null``, +-inf become ``"inf"``/``"-inf"``."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented strict JSON (see :func:`json_safe`), atomically."""
    text = json.dumps(json_safe(obj), indent=2, sort_keys=False, default=str, allow_nan=False)
    return atomic_write_text(path, text + "\n")
