"""Fixed-wall-clock recipe probe: how far does a training recipe get in N minutes?

A diagnostic, not a training entry point (use ``rpaf-train`` for that): a bare loop without
GELR, checkpoints or logging, so that several recipes can be compared quickly side by side on a
CPU at equal wall time. It was used to find the ``experiment=cpu_mini`` recipe; its numbers are
in ``experiments/results/cpu_mini/README.md``. Data: ``--ntrain`` synthetic training pairs
(cached), scored on the first 32 pairs of the validation split (96², training textures).

Example (one core per probe, two probes at a time on a 2-core machine)::

    OMP_NUM_THREADS=1 python tools/recipe_probe.py --minutes 4 --lr 3e-3 --sched onecycle \\
        --widths 16,16,24,32,32,48,64,96 --loss l1_ssim --tag wideL1
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio as psnr
from torchmetrics.functional.image import structural_similarity_index_measure as ssim

from rpaf.data.synthetic import make_pair
from rpaf.gelr.loss import GELRLoss
from rpaf.models import RPAFNet


def _pairs(split: str, n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g, x = zip(*[make_pair(i, seed=0, size=size, split=split) for i in range(n)], strict=True)
    def stack(a: tuple[np.ndarray, ...]) -> torch.Tensor:
        return torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()
    return stack(g), stack(x)


def _lr(base: float, sched: str, frac: float) -> float:
    """Learning rate at fraction ``frac`` of the wall-clock budget."""
    if sched == "cos":
        return base * 0.5 * (1 + math.cos(math.pi * frac))
    if sched == "onecycle":  # linear warm-up over 10 %, then cosine to 0
        warm = min(1.0, frac / 0.1)
        return base * warm * 0.5 * (1 + math.cos(math.pi * max(0.0, (frac - 0.1) / 0.9)))
    return base


def main() -> None:
    """Parse the recipe, train for ``--minutes``, print validation PSNR/SSIM every 200 steps."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sched", choices=["const", "cos", "onecycle"], default="const")
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--bs", type=int, default=4)
    ap.add_argument("--ntrain", type=int, default=384)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--widths", default="8,12,16,24,32,48,64,160", help="rpafnet_lite's")
    ap.add_argument("--fusion", choices=["enhance", "replace"], default="enhance")
    ap.add_argument("--nores", action="store_true", help="predict u, not g + f(g)")
    ap.add_argument("--loss", choices=["mse_ssim", "l1_ssim", "l1", "mse"], default="mse_ssim",
                    help="mse_ssim = MSE + (1 - SSIM) (eq. 14); l1_ssim = MAE + 0.2 * eq. 14")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = torch.device(args.device)
    g_all, x_all = (t.to(dev) for t in _pairs("train", args.ntrain, args.size))
    g_val, x_val = (t.to(dev) for t in _pairs("val", 32, args.size))
    net = RPAFNet(widths=[int(w) for w in args.widths.split(",")], residual=not args.nores,
                  drl_fusion=args.fusion).to(dev)
    print(args.tag, "params (M)", sum(p.numel() for p in net.parameters()) / 1e6)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    eq14 = GELRLoss(lambda1=0.0, lambda2=1.0)

    def score() -> tuple[float, float]:
        net.eval()
        with torch.no_grad():
            u = torch.cat([net(g_val[i:i + 8]) for i in range(0, 32, 8)]).clamp(0, 1)
        net.train()
        p = float(np.mean([psnr(u[i:i + 1], x_val[i:i + 1], data_range=1.0).item()
                           for i in range(32)]))
        return p, float(ssim(u, x_val, data_range=1.0))

    rng = np.random.default_rng(0)
    budget, start, step = args.minutes * 60, time.time(), 0
    while (elapsed := time.time() - start) < budget:
        for group in opt.param_groups:
            group["lr"] = _lr(args.lr, args.sched, elapsed / budget)
        idx = torch.as_tensor(rng.integers(0, args.ntrain, args.bs), device=dev)
        g, x = g_all[idx], x_all[idx]
        u = net(g)
        if args.loss == "l1":
            loss = (u - x).abs().mean()
        elif args.loss == "mse":
            loss = (u - x).pow(2).mean()
        elif args.loss == "l1_ssim":
            loss = (u - x).abs().mean() + 0.2 * eq14(u, g, x, None)["l2"]
        else:
            loss = eq14(u, g, x, None)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            print(args.tag, step, round(time.time() - start), score(), flush=True)
    print("FINAL", args.tag, "steps", step, "val (psnr, ssim)", score(), flush=True)


if __name__ == "__main__":
    main()
