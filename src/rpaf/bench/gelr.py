"""``python -m rpaf.bench gelr``: cost of the GELR update against a training step.

Measures, on one device:

1. the GELR callback's work per training step (read the batch's variables for the loss, run
   Algorithm 2 steps 3-6, write them back) for several state layouts, split into read /
   update / prox;
2. the network's training step (forward + MSE + backward + Adam step) for the model configs
   ``conf/model/<name>.yaml`` (paper: ``rpafnet``; CPU-sized: ``rpafnet_lite``);
3. the throughput of the truncated-nuclear-norm prox (matrices/s), Gram-eigh vs SVD
   (``rpaf.bench.prox`` when present, else measured here).

Goal (issue 4): the GELR update costs at most 10 % of a training step. The report goes to
``experiments/bench/gelr_<device>.md`` with the device, torch version, threads, date and git SHA.

Example::

    python -m rpaf.bench gelr                      # paper setting: 512^2, batch 4
    python -m rpaf.bench gelr --net-batch 1        # slow CPU: time the network at batch 1 and
                                                   # scale it to --batch (marked in the table)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from rpaf.bench.common import env_info, markdown_table, resolve_device, time_fn, write_markdown

__all__ = ["main", "time_gelr_step", "time_network_step", "time_prox"]

REPO = Path(__file__).resolve().parents[3]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batch(b: int, size: int, device: torch.device, seed: int = 0) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, size, size, generator=gen)
    g = (x + 0.1 * torch.randn(b, 3, size, size, generator=gen)).clamp(0, 1)
    return {"input": g.to(device), "target": x.to(device), "index": torch.arange(b),
            "name": [str(i) for i in range(b)]}


def time_gelr_step(
    *,
    size: int,
    batch: int,
    device: torch.device,
    representation: str = "full",
    dtype: str = "float32",
    backend: str = "memory",
    prox_method: str = "gram",
    theta: float | None = None,
    reps: int = 3,
    warmup: int = 1,
) -> dict[str, float]:
    """Median seconds of the callback's per-step work for one state layout.

    Returns:
        Dict with ``read``, ``update`` (step + write), ``prox`` (the t-prox alone) and ``total``
        (read + update) in seconds.
    """
    from rpaf.callbacks.gelr import GELRCallback
    from rpaf.gelr import ops

    kw: dict[str, Any] = {} if theta is None else {"theta": theta}
    cb = GELRCallback(backend=backend, representation=representation, dtype=dtype,
                      prox_method=prox_method, num_samples=batch, energy_every_n_steps=0,
                      disk_dir=str(REPO / "logs" / "bench_gelr_state"), **kw)
    cb._device = device
    b = _batch(batch, size, device)
    u = (0.5 * b["input"] + 0.5 * b["target"]).contiguous()
    # first visit (all samples become "visited", so the compact read does its prox)
    cb.update(b, u)
    read_t, upd_t = [], []
    for _ in range(warmup + reps):
        _sync(device)
        t0 = time.perf_counter()
        cb.variables(b)
        _sync(device)
        t1 = time.perf_counter()
        cb.update(b, u)
        _sync(device)
        t2 = time.perf_counter()
        read_t.append(t1 - t0)
        upd_t.append(t2 - t1)
    read_t, upd_t = read_t[warmup:], upd_t[warmup:]
    r = ops.truncation_rank(size, size, cb.theta)
    w = torch.randn(batch, 3, 2, size, size, device=device) * 0.05
    prox = time_fn(lambda: ops.tnn_prox(w, cb.tau_t, r, method=prox_method), iters=reps,
                   device=device).seconds
    if cb.state is not None:
        cb.state.remove_working_files()
    med = statistics.median
    return {"read": med(read_t), "update": med(upd_t), "prox": med(prox),
            "total": med([a + c for a, c in zip(read_t, upd_t, strict=True)])}


def _build_model(name: str) -> torch.nn.Module:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    conf = REPO / "conf"
    if not (conf / "model" / f"{name}.yaml").is_file():
        raise FileNotFoundError(f"rpaf.bench.gelr: no model config {conf}/model/{name}.yaml")
    with initialize_config_dir(config_dir=str(conf / "model"), version_base="1.3"):
        cfg = compose(config_name=name)
    return instantiate(cfg)


def time_network_step(
    name: str, *, size: int, batch: int, device: torch.device, reps: int = 1, warmup: int = 0
) -> dict[str, float]:
    """Median seconds of forward + MSE + backward + Adam step of ``conf/model/<name>.yaml``."""
    model = _build_model(name).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    b = _batch(batch, size, device, seed=1)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        u = model(b["input"])
        loss = torch.nn.functional.mse_loss(u, b["target"])
        loss.backward()
        opt.step()

    times = time_fn(step, iters=reps, warmup=warmup, device=device).seconds
    params = sum(p.numel() for p in model.parameters())
    return {"step": statistics.median(times), "params": float(params)}


def time_prox(
    *, size: int, n: int, device: torch.device, reps: int = 2
) -> dict[str, float]:
    """Matrices per second of the exact truncated prox (Gram-eigh and SVD)."""
    from rpaf.gelr import ops

    w = torch.randn(n, size, size, device=device) * 0.05
    r = ops.truncation_rank(size, size, ops.DEFAULT_THETA)
    out = {}
    for method in ("gram", "svd"):
        t = time_fn(lambda m=method: ops.tnn_prox(w, 0.6, r, method=m), iters=reps, warmup=1,
                    device=device)
        out[method] = n / t.median
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m rpaf.bench gelr",
        description="GELR update cost vs the network's training step, and prox throughput.",
    )
    p.add_argument("--size", type=int, default=512, help="image side (paper: 512)")
    p.add_argument("--batch", type=int, default=4, help="batch size (paper: 4)")
    p.add_argument("--net-batch", type=int, default=None,
                   help="batch for timing the network (default --batch); the time is scaled "
                        "linearly to --batch and marked as such")
    p.add_argument("--models", default="rpafnet,rpafnet_lite",
                   help="comma-separated conf/model names ('' skips the network)")
    p.add_argument("--states", default="full:float32,compact:float16",
                   help="comma-separated representation:dtype layouts to time")
    p.add_argument("--prox-method", default="gram", choices=("gram", "svd"))
    p.add_argument("--prox-sizes", default="256,512", help="'' skips the prox throughput")
    p.add_argument("--device", default="auto", help="cpu | cuda | auto")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--reps", type=int, default=3, help="repetitions of the GELR timing")
    p.add_argument("--net-reps", type=int, default=None, help="default: 1 on CPU, 5 on GPU")
    p.add_argument("--out", default=None,
                   help="markdown report (default experiments/bench/gelr_<cpu|cuda>.md)")
    p.add_argument("--note", default="", help="free text added to the report (e.g. load)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the markdown report. Returns the exit status."""
    argv = list(argv or [])
    a = _parse(argv)
    device = resolve_device(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    on_gpu = device.type == "cuda"
    net_reps = a.net_reps or (5 if on_gpu else 1)
    net_warmup = 2 if on_gpu else 0
    net_batch = a.net_batch or a.batch
    t_start = time.perf_counter()

    gelr: dict[str, dict[str, float]] = {}
    for spec in filter(None, a.states.split(",")):
        rep, dt = spec.split(":")
        res = time_gelr_step(size=a.size, batch=a.batch, device=device, representation=rep,
                             dtype=dt, prox_method=a.prox_method, reps=a.reps)
        gelr[spec] = res
        print(f"gelr {spec}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in res.items()),
              flush=True)

    nets: dict[str, dict[str, float]] = {}
    for name in filter(None, a.models.split(",")):
        try:
            res = time_network_step(name, size=a.size, batch=net_batch, device=device,
                                    reps=net_reps, warmup=net_warmup)
        except (FileNotFoundError, ImportError) as err:
            print(f"network {name}: skipped ({err})")
            continue
        res["step_at_batch"] = res["step"] * a.batch / net_batch
        nets[name] = res
        print(f"network {name}: {res['step']:.2f} s at batch {net_batch} "
              f"-> {res['step_at_batch']:.2f} s at batch {a.batch}", flush=True)

    prox: dict[int, dict[str, float]] = {}
    n_mat = a.batch * 3 * 2
    for s in (int(x) for x in filter(None, a.prox_sizes.split(","))):
        prox[s] = time_prox(size=s, n=n_mat, device=device)
        print(f"prox {s}^2 x {n_mat}: gram {prox[s]['gram']:.1f}/s, "
              f"svd {prox[s]['svd']:.1f}/s", flush=True)

    env = env_info(device)
    if hasattr(os, "getloadavg"):
        env["load average (end)"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    env["command"] = f"`python -m rpaf.bench gelr {' '.join(argv)}`".replace(" `", "`")
    env["benchmark wall time"] = f"{time.perf_counter() - t_start:.0f} s"
    if a.note:
        env["note"] = a.note
    sections = [
        f"## GELR callback per training step ({a.size}^2, batch {a.batch}, "
        f"prox {a.prox_method}, median of {a.reps})\n\n"
        "read = variables for the loss (compact: includes one prox); update = Algorithm 2 "
        "steps 3-6 + write-back; the t-prox is timed alone on the same batch.\n\n"
        + markdown_table(
            ["state", "read (ms)", "update (ms)", "of which t-prox (ms)", "total (ms)"],
            [[spec, f"{r['read'] * 1e3:.0f}", f"{r['update'] * 1e3:.0f}",
              f"{r['prox'] * 1e3:.0f}", f"{r['total'] * 1e3:.0f}"] for spec, r in gelr.items()],
        )
    ]
    if nets:
        scaled = net_batch != a.batch
        sections.append(
            f"## Network training step ({a.size}^2, forward + MSE + backward + Adam)\n\n"
            f"Timed at batch {net_batch} (median of {net_reps})"
            + (f", scaled linearly to batch {a.batch}" if scaled else "")
            + ". Ratio = GELR total / network step.\n\n"
            + markdown_table(
                ["model", "params", f"step at batch {a.batch} (s)",
                 *[f"GELR {s} / step" for s in gelr]],
                [[name, f"{r['params'] / 1e6:.2f} M", f"{r['step_at_batch']:.2f}",
                  *[f"{100 * g['total'] / r['step_at_batch']:.1f} %" for g in gelr.values()]]
                 for name, r in nets.items()],
            )
        )
    if prox:
        sections.append(
            f"## Truncated-nuclear-norm prox throughput ({n_mat} float32 matrices per call)\n\n"
            + markdown_table(
                ["size", "gram (matrices/s)", "svd (matrices/s)", "gram speed-up"],
                [[f"{s}^2", f"{r['gram']:.1f}", f"{r['svd']:.1f}",
                  f"{r['gram'] / r['svd']:.2f}x"] for s, r in prox.items()],
            )
        )
    out = Path(a.out) if a.out else REPO / "experiments" / "bench" / f"gelr_{device.type}.md"
    path = write_markdown(out, f"GELR update cost ({device.type})", env, sections)
    print(path.read_text())
    print(f"written: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
