"""Shared benchmark helpers: environment info, timing, FLOPs, FLOP/s ceiling, peak memory.

Used by ``python -m rpaf.bench model`` and ``python -m rpaf.bench gelr``.

Peak memory:
    * CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` (bytes
      held by tensors; the CUDA context and allocator cache are not included).
    * CPU: PyTorch's CPU allocator is invisible to ``tracemalloc``, so the resident set is
      used: on Linux the high-water mark ``VmHWM`` is reset through
      ``/proc/self/clear_refs`` and read back from ``/proc/self/status``; elsewhere
      ``resource.getrusage().ru_maxrss`` (never reset, so only right in a fresh process).
      The figure is the peak RSS *above* the RSS at the start of the measured block. The
      C allocator may keep freed pages, which makes a repeated measurement in one process
      read low: use :func:`run_isolated` to measure in a fresh process.
    * ``tracemalloc`` peak is also reported (Python/NumPy allocations only).
"""

from __future__ import annotations

import datetime as _dt
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rpaf.utils.runinfo import git_sha

__all__ = [
    "MemoryReport",
    "Timing",
    "count_flops",
    "env_info",
    "git_sha",
    "live_tensor_peak",
    "markdown_table",
    "matmul_ceiling",
    "peak_memory",
    "resolve_device",
    "run_isolated",
    "synchronize",
    "time_fn",
    "write_markdown",
]

_MiB = 1024.0**2


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> ``cuda`` when available else ``cpu``; other names are passed through.

    Raises:
        ValueError: If CUDA is requested but unavailable.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available here; use --device cpu")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def env_info(device: torch.device) -> dict[str, str]:
    """Device name, torch version, threads, date (UTC), git SHA, Python and platform."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        extra = f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    else:
        name = _cpu_name()
        extra = f"{os.cpu_count()} logical CPUs visible"
    return {
        "device": f"{device.type}: {name}",
        "device details": extra,
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date (UTC)": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "git SHA": git_sha(),
    }


@dataclass
class Timing:
    """Wall-clock seconds of repeated calls."""

    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def best(self) -> float:
        return min(self.seconds) if self.seconds else float("nan")


def time_fn(
    fn: Callable[[], Any], *, iters: int, warmup: int = 0, device: torch.device | None = None
) -> Timing:
    """Time ``fn()`` ``iters`` times after ``warmup`` untimed calls, synchronising CUDA.

    CUDA times use ``time.perf_counter`` around a synchronised call (host-side wall time,
    i.e. what a user waits for, not kernel time only).
    """
    device = device or torch.device("cpu")
    for _ in range(warmup):
        fn()
    synchronize(device)
    out = Timing()
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        out.seconds.append(time.perf_counter() - t0)
    return out


def matmul_ceiling(
    device: torch.device,
    *,
    n: int = 2048,
    dtype: torch.dtype = torch.float32,
    iters: int = 5,
) -> float:
    """Measured dense ``n x n`` matmul throughput in FLOP/s (the practical ceiling).

    Best of ``iters`` timed calls after one warm-up, ``2 n^3`` FLOPs per call. TF32 follows
    the current ``torch.backends.cuda.matmul.allow_tf32`` setting.
    """
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t = time_fn(lambda: torch.matmul(a, b), iters=iters, warmup=1, device=device)
    return 2.0 * n**3 / t.best


def count_flops(model: torch.nn.Module, x_shape: Sequence[int]) -> int:
    """FLOPs of one ``model(x)`` call via ``torch.utils.flop_counter.FlopCounterMode``.

    Runs on the ``meta`` device (no compute, any size) with a deep copy of the model.
    FlopCounterMode counts matmul/convolution-like ops (2 FLOPs per multiply-add) and
    ignores element-wise ops, norms, softmax and interpolation.
    """
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(model).to("meta").eval()
    x = torch.empty(*x_shape, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(x)
    return int(counter.get_total_flops())


def live_tensor_peak(model: torch.nn.Module, x_shape: Sequence[int], *, grad: bool = False) -> int:
    """Peak bytes of live tensors created during one ``model(x)`` call, on the meta device.

    A ``TorchDispatchMode`` records every output storage and drops it once its weak
    reference expires, so the result is the activation high-water mark (what
    ``torch.cuda.max_memory_allocated`` would report above the parameters, without the
    allocator's rounding and cache), computed without any arithmetic at any size.
    Parameters and the input are excluded.

    Args:
        model: The model (deep-copied to ``meta``).
        x_shape: Input shape.
        grad: Run with autograd on (training-step forward memory) instead of inference.
    """
    import copy

    from torch.multiprocessing.reductions import StorageWeakRef
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class _Live(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.live: dict[int, tuple[StorageWeakRef, int]] = {}
            self.cur = 0
            self.peak = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    storage = t.untyped_storage()
                    ref = StorageWeakRef(storage)
                    if ref.cdata not in self.live:
                        self.live[ref.cdata] = (ref, storage.nbytes())
                        self.cur += storage.nbytes()
            self.peak = max(self.peak, self.cur)
            for key in [k for k, (r, _) in self.live.items() if r.expired()]:
                self.cur -= self.live.pop(key)[1]
            return out

    meta = copy.deepcopy(model).to("meta")
    if not grad:
        meta.eval()
    x = torch.empty(*x_shape, device="meta", requires_grad=False)
    ctx = torch.enable_grad() if grad else torch.inference_mode()
    with ctx, _Live() as tracker:
        y = meta(x)
        del y
    return tracker.peak


def _rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return _maxrss_bytes()


def _hwm_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _maxrss_bytes() -> int:
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ru if sys.platform == "darwin" else ru * 1024  # bytes on macOS, KiB on Linux


@dataclass
class MemoryReport:
    """Peak memory of a block, in MiB.

    Attributes:
        peak_mib: CUDA: peak allocated above the start; CPU: peak RSS above the start RSS.
        method: How ``peak_mib`` was measured.
        tracemalloc_mib: Peak of Python-tracked allocations (CPU only; excludes torch).
    """

    peak_mib: float = float("nan")
    method: str = ""
    tracemalloc_mib: float = float("nan")


@contextmanager
def peak_memory(device: torch.device, *, trace_python: bool = False) -> Iterator[MemoryReport]:
    """Measure the peak memory of the ``with`` block (see the module docstring).

    Example:
        >>> with peak_memory(torch.device("cpu")) as mem:
        ...     _ = torch.ones(1024, 1024)
        >>> mem.peak_mib >= 0
        True
    """
    report = MemoryReport()
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        try:
            yield report
        finally:
            synchronize(device)
            report.peak_mib = (torch.cuda.max_memory_allocated(device) - start) / _MiB
            report.method = "torch.cuda.max_memory_allocated"
        return
    start = _rss_bytes()
    reset = _reset_hwm()
    if trace_python:
        tracemalloc.start()
    try:
        yield report
    finally:
        if trace_python:
            report.tracemalloc_mib = tracemalloc.get_traced_memory()[1] / _MiB
            tracemalloc.stop()
        hwm = _hwm_bytes() if reset else None
        if hwm is not None:
            report.peak_mib = max(0, hwm - start) / _MiB
            report.method = "RSS high-water (VmHWM, reset) - start RSS"
        else:
            report.peak_mib = max(0, _maxrss_bytes() - start) / _MiB
            report.method = "ru_maxrss - start RSS (valid in a fresh process only)"


def run_isolated(fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
    """Run the module-level function ``fn(*args)`` in a fresh (spawned) process.

    Use it for memory measurements, so that pages kept by the allocator from earlier work do
    not hide a peak. ``fn``, its arguments and its result must be picklable.

    Raises:
        RuntimeError: If the child fails (its traceback text is included).
    """
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_call_capturing, (fn, args))
        ok, value = result.get(timeout)
    if not ok:
        raise RuntimeError(f"isolated benchmark run {fn.__name__}{args!r} failed:\n{value}")
    return value


def _call_capturing(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    import traceback

    try:
        return True, fn(*args)
    except Exception:  # reported to the parent with its traceback
        return False, traceback.format_exc()


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(
    path: str | Path, title: str, env: dict[str, str], sections: Sequence[str]
) -> Path:
    """Write a result file: a title, an environment table and the given Markdown sections."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    env_table = markdown_table(["key", "value"], [[k, v] for k, v in env.items()])
    text = "\n\n".join([f"# {title}", env_table, *sections]) + "\n"
    path.write_text(text)
    return path
