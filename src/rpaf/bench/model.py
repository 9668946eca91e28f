"""``python -m rpaf.bench model``: RPAFNet cost, as in the paper's Table 10 (appendix C.8).

For each model config (``conf/model/<name>.yaml``) and image size it reports parameters,
FLOPs (``torch.utils.flop_counter``), inference latency (``torch.inference_mode``), peak
memory and the achieved FLOP/s as a fraction of the same machine's measured dense matmul
FLOP/s. Each (config, size) runs in a fresh process so that peak memory is not hidden by
pages kept from an earlier run; its first (cold) call is the memory measurement and is
reported apart from the timed calls.

Examples:
    python -m rpaf.bench model                                  # CPU: 512 and 2048, paper + lite
    python -m rpaf.bench model --configs rpafnet_lite --sizes 256 --iters 5
    python -m rpaf.bench model --device cuda --dtype bf16 --iters 20 5
    python -m rpaf.bench model --override attn_chunk=null       # compare a model variant
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rpaf.bench.common import (
    count_flops,
    env_info,
    live_tensor_peak,
    markdown_table,
    matmul_ceiling,
    peak_memory,
    resolve_device,
    run_isolated,
    time_fn,
    write_markdown,
)
from rpaf.utils.runinfo import atomic_write_json

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CONF = REPO_ROOT / "conf"
DTYPES = {"float32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Paper Table 10 (RTX 4090): latency (s) and GPU memory (MB) at 512^2 / 2048^2.
PAPER_ROW = "RPAFNet (paper, RTX 4090) | 16.07M | 0.15 s / 0.19 s | 859.7 MB / 3384.5 MB"


def build_model(config: str, overrides: Sequence[str] = (), conf_dir: str | Path | None = None):
    """Compose ``conf/model/<config>.yaml`` (with its defaults list) and build the RPAFNet.

    Args:
        config: Config name in the ``model`` group, e.g. ``rpafnet`` or ``rpafnet_lite``.
        overrides: ``key=value`` overrides of the model node (without the ``model.`` prefix).
        conf_dir: The Hydra config root (default: the repository's ``conf/``).

    Returns:
        The constructed :class:`rpaf.models.RPAFNet`.

    Raises:
        ValueError: If the config does not target ``rpaf.models.RPAFNet``.
    """
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from rpaf.models import RPAFNet

    conf_dir = Path(conf_dir or DEFAULT_CONF).resolve()
    ovr = [f"+model={config}"] + [f"model.{o}" for o in overrides]
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        cfg = compose(config_name=None, overrides=ovr)
    node = OmegaConf.to_container(cfg.model, resolve=True)
    assert isinstance(node, dict)
    target = node.pop("_target_", None)
    if target != "rpaf.models.RPAFNet":
        raise ValueError(
            f"{conf_dir}/model/{config}.yaml: _target_={target!r}; this benchmark needs "
            "rpaf.models.RPAFNet"
        )
    return RPAFNet(**node)


def _measure(
    config: str,
    overrides: tuple[str, ...],
    conf_dir: str,
    size: int,
    device_name: str,
    dtype_name: str,
    iters: int,
    warmup: int,
    threads: int | None,
    batch: int,
) -> dict[str, Any]:
    """One (config, size) measurement; runs in a fresh process via ``run_isolated``."""
    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(device_name)
    torch.manual_seed(0)
    model = build_model(config, overrides, conf_dir).to(device).eval()
    x = torch.rand(batch, 3, size, size, device=device)
    dtype = DTYPES[dtype_name]

    def call() -> torch.Tensor:
        with (
            torch.inference_mode(),
            torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
        ):
            return model(x)

    with peak_memory(device) as mem:
        t_cold = time_fn(call, iters=1, device=device)
    cpu0 = time.process_time()
    timing = time_fn(call, iters=iters, warmup=warmup, device=device)
    cpu_s = (time.process_time() - cpu0) / max(1, iters + warmup)
    return {
        "cpu_s": cpu_s,
        "cold_s": t_cold.best,
        "times": timing.seconds,
        "median_s": timing.median,
        "peak_mib": mem.peak_mib,
        "mem_method": mem.method,
        "threads": torch.get_num_threads(),
    }


def _shown(argv: Sequence[str] | None, note: str) -> str:
    """The command line for the report, with the (long) ``--note`` text elided."""
    return " ".join("'<see Note>'" if a == note and note else a for a in (argv or []))


def _fmt(value: float, spec: str, missing: str = "not run") -> str:
    return missing if math.isnan(value) else format(value, spec)


def _broadcast(values: Sequence[int], n: int, flag: str) -> list[int]:
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        raise SystemExit(f"{flag}: give one value or one per --sizes entry ({n}), got {values}")
    return list(values)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options (see ``python -m rpaf.bench model -h``)."""
    p = argparse.ArgumentParser(
        prog="python -m rpaf.bench model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--configs",
        nargs="+",
        default=["rpafnet", "rpafnet_lite"],
        help="model config names under conf/model (default: rpafnet rpafnet_lite)",
    )
    p.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=[512, 2048],
        help="square image sides (default: 512 2048)",
    )
    p.add_argument(
        "--iters",
        nargs="+",
        type=int,
        default=None,
        help="timed calls per size, one value or one per size (default: 3, or 1 above 1024 px)",
    )
    p.add_argument(
        "--warmup",
        nargs="+",
        type=int,
        default=[0],
        help="extra untimed calls after the cold call, per size (default: 0)",
    )
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1, as Table 10)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--dtype",
        choices=sorted(DTYPES),
        default="float32",
        help="float32, or autocast to bf16/fp16",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--override",
        nargs="*",
        default=[],
        help="model overrides key=value applied to every config",
    )
    p.add_argument("--conf-dir", default=str(DEFAULT_CONF), help="Hydra config root")
    p.add_argument("--ceiling-size", type=int, default=2048, help="matmul side for the ceiling")
    p.add_argument(
        "--out", default=None, help="Markdown output (default experiments/bench/model_<device>.md)"
    )
    p.add_argument("--note", default="", help="free text added to the result file")
    p.add_argument(
        "--skip-run",
        action="store_true",
        help="only parameters, FLOPs and live-tensor peak (no timed runs)",
    )
    p.add_argument(
        "--skip-run-for",
        nargs="*",
        default=[],
        metavar="CONFIG:SIZE",
        help="pairs to count but not run, e.g. rpafnet:2048 on a slow CPU",
    )
    p.add_argument(
        "--no-isolate",
        action="store_true",
        help="measure in this process (faster; CPU peak memory may read low)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write the Markdown result file."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.iters is None:
        iters = [3 if size <= 1024 else 1 for size in args.sizes]
    else:
        iters = _broadcast(args.iters, len(args.sizes), "--iters")
    warmup = _broadcast(args.warmup, len(args.sizes), "--warmup")
    dtype = DTYPES[args.dtype] or torch.float32

    ceiling = matmul_ceiling(device, n=args.ceiling_size, dtype=dtype)
    print(
        f"dense {args.ceiling_size}^2 matmul ({args.dtype}) on {device}: "
        f"{ceiling / 1e9:.1f} GFLOP/s",
        flush=True,
    )

    rows: list[list[object]] = []
    records: list[dict[str, Any]] = []
    mem_method = ""
    for config in args.configs:
        model = build_model(config, args.override, args.conf_dir)
        params = sum(p.numel() for p in model.parameters())
        for size, it, wu in zip(args.sizes, iters, warmup, strict=True):
            flops = count_flops(model, (args.batch, 3, size, size))
            live = live_tensor_peak(model, (args.batch, 3, size, size))
            job = (
                config,
                tuple(args.override),
                args.conf_dir,
                size,
                str(device),
                args.dtype,
                it,
                wu,
                args.threads,
                args.batch,
            )
            if args.skip_run or f"{config}:{size}" in args.skip_run_for:
                res = {
                    "cold_s": float("nan"),
                    "median_s": float("nan"),
                    "peak_mib": float("nan"),
                    "mem_method": "not run (--skip-run)",
                }
            else:
                res = _measure(*job) if args.no_isolate else run_isolated(_measure, *job)
            mem_method = res["mem_method"]
            med = res["median_s"] if it > 0 else res["cold_s"]
            cpu = res.get("cpu_s")
            achieved = flops / med if med and not math.isnan(med) else float("nan")
            row = [
                config,
                f"{params / 1e6:.2f}M",
                f"{size}x{size}",
                f"{flops / 1e9:.1f}",
                _fmt(res["cold_s"], ".3f"),
                f"{med:.3f} (n={it})" if it > 0 and not math.isnan(med) else "-",
                f"{cpu:.3f}" if cpu is not None and it > 0 else "-",
                _fmt(res["peak_mib"], ".0f"),
                f"{live / 2**20:.0f}",
                _fmt(achieved / 1e9, ".1f", "-"),
                _fmt(100 * achieved / ceiling, ".0f", "-") + ("" if math.isnan(achieved) else "%"),
            ]
            rows.append(row)
            records.append(
                {
                    "method": config,
                    "size": size,
                    "params_m": params / 1e6,
                    "gflops": flops / 1e9,
                    "latency_s": med,
                    "latency_calls": it,
                    "cold_s": res["cold_s"],
                    "peak_memory_mib": res["peak_mib"],
                    "live_tensor_peak_mib": live / 2**20,
                }
            )
            print(" | ".join(str(c) for c in row), flush=True)

    headers = [
        "config",
        "params",
        "size",
        "GFLOPs",
        "cold call (s)",
        "median (s)",
        "process CPU s/call",
        "peak RSS/alloc (MiB)",
        "live-tensor peak (MiB)",
        "achieved GFLOP/s",
        "of matmul ceiling",
    ]
    table = markdown_table(headers, rows)
    print(table)
    env = env_info(device)
    env["dtype"] = args.dtype + (" (autocast)" if args.dtype != "float32" else "")
    env["batch"] = str(args.batch)
    env[f"matmul ceiling ({args.ceiling_size}^2)"] = f"{ceiling / 1e9:.1f} GFLOP/s"
    if args.override:
        env["overrides"] = " ".join(args.override)
    notes = [
        "## Results",
        table,
        "## How these were measured",
        "\n".join(
            [
                f"- Command: `python -m rpaf.bench model {_shown(argv, args.note)}`".rstrip(),
                "- FLOPs: `torch.utils.flop_counter.FlopCounterMode` on the meta device (2 per "
                "multiply-add; element-wise ops, norms, softmax and interpolation not counted).",
                "- Latency: `torch.inference_mode()`, wall time per call (CUDA synchronised). "
                "'cold call' is the first call in a fresh process (includes allocator warm-up); "
                "'median' is over the timed calls after it. 'process CPU s/call' is "
                "`time.process_time` (all threads) per timed call: on a shared machine wall time "
                "includes waiting for a core, CPU time does not (but includes OpenMP spinning).",
                f"- Peak RSS/alloc: {mem_method}; each (config, size) in a fresh process"
                + (" (not isolated: --no-isolate)" if args.no_isolate else "")
                + ".",
                "- Live-tensor peak: activation high-water mark computed on the meta device "
                "(`rpaf.bench.common.live_tensor_peak`; parameters, input and allocator overhead "
                "excluded; device-independent, comparable to the paper's GPU memory minus the "
                "CUDA context).",
                "- 'of matmul ceiling' = achieved FLOP/s / measured dense matmul FLOP/s on the "
                "same device and dtype.",
                f"- Paper Table 10 for comparison: {PAPER_ROW}.",
            ]
        ),
    ]
    if args.note:
        notes += ["## Note", args.note]
    out = Path(args.out or REPO_ROOT / "experiments" / "bench" / f"model_{device.type}.md")
    write_markdown(out, "RPAFNet inference benchmark (paper Table 10)", env, notes)
    json_out = out.with_suffix(".json")
    write_records(json_out, records, env, device_type=device.type, dtype=args.dtype,
                  batch=args.batch, overrides=args.override)
    print(f"wrote {out} and {json_out}")
    return 0


def write_records(
    path: str | Path,
    records: Sequence[dict[str, Any]],
    env: dict[str, str],
    *,
    device_type: str,
    dtype: str,
    batch: int,
    overrides: Sequence[str] = (),
) -> Path:
    """Write the measurements as the JSON file Table 10 is built from (``rpaf.tables``).

    One entry per (config, size) under ``results``; the file-level keys (``device``,
    ``device_type``, ``dtype``, ``git_sha``...) are copied into every entry when tables are
    built, so a spec can select e.g. ``{device_type: cpu, dtype: float32}``. Written
    atomically by :func:`rpaf.utils.runinfo.atomic_write_json` (NaN, a measurement that was not
    run, becomes ``null``).
    """
    doc = {
        "source": "rpaf.bench model",
        "device": env["device"],
        "device_type": device_type,
        "dtype": dtype,
        "batch": batch,
        "threads": int(env["threads"]),
        "torch": env["torch"],
        "date": env["date (UTC)"],
        "git_sha": env["git SHA"],
        "overrides": " ".join(overrides),
        "results": list(records),
    }
    return atomic_write_json(path, doc)
