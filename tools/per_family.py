"""Where does a network lose to a classical filter? PSNR per synthetic pair and texture family.

A diagnostic for the quality check of ``experiment=cpu_mini`` (findings in
``experiments/results/cpu_mini/README.md``, section 5): smooths the first ``--n`` pairs of a
synthetic split with a checkpoint and with a classical method (a ``conf/method`` config), prints
the per-pair PSNR of the input, the network and the method with the pair's texture components,
then the mean PSNR difference (network - method) per texture family (a pair with two components
counts for both), and how well each keeps structure: the mean PSNR of the network and of the
method applied to the texture-free ground truth itself (an ideal smoother returns it unchanged;
a low score means blurred edges, halos or flattened shading).

Example::

    python tools/per_family.py logs/cpu_mini/runs/<run>/checkpoints/last.ckpt \\
        --method fgs_tuned --split test --n 32 --size 96
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio as psnr

from rpaf.checkpoints import load_network
from rpaf.data.synthetic import SPLITS, make_pair_with_info

CONF = Path(__file__).resolve().parents[1] / "conf"


def load_method(name: str):
    """Compose ``conf/method/<name>.yaml`` with Hydra and build it (as ``rpaf-eval method=``)."""
    from hydra import compose, initialize_config_dir

    from rpaf.builders import build_method

    if not (CONF / "method" / f"{name}.yaml").is_file():
        choices = sorted(p.stem for p in (CONF / "method").glob("*.yaml"))
        raise SystemExit(f"--method {name!r}: no conf/method/{name}.yaml; choose one of {choices}")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=None, overrides=[f"+method={name}"])
    return build_method(cfg.method)


def main(argv: list[str] | None = None) -> int:
    """Print per-pair and per-family PSNR of a checkpoint against a classical method."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt", type=Path, help="checkpoint written by rpaf-train")
    ap.add_argument("--method", default="fgs_tuned", help="conf/method config (default fgs_tuned)")
    ap.add_argument("--split", choices=SPLITS, default="test")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--recipe", default="sps")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    net = load_network(args.ckpt).eval()
    method = load_method(args.method)
    diffs: dict[str, list[float]] = defaultdict(list)
    scores, kept = [], []
    for i in range(args.n):
        g, x, info = make_pair_with_info(i, seed=args.seed, size=args.size, recipe=args.recipe,
                                         split=args.split)
        gt, xt = (torch.from_numpy(a).permute(2, 0, 1)[None] for a in (g, x))
        with torch.inference_mode():
            u = net(gt).clamp(0, 1)
            m = method(gt).clamp(0, 1)
            kept.append([float(psnr(f(xt).clamp(0, 1), xt, data_range=1.0)) for f in (net, method)])
        row = [float(psnr(o, xt, data_range=1.0)) for o in (gt, u, m)]
        scores.append(row)
        tex = " + ".join(f"{c.family}@{c.period:.0f}px/{c.angle:.0f}deg" for c in info["texture"])
        print(f"{i:3d} {tex:44s} input {row[0]:6.2f}  net {row[1]:6.2f}  "
              f"{args.method} {row[2]:6.2f}  diff {row[1] - row[2]:+6.2f}")
        for c in info["texture"]:
            diffs[c.family].append(row[1] - row[2])
    mean = np.mean(scores, axis=0)
    print(f"\nmean PSNR: input {mean[0]:.2f}  net {mean[1]:.2f}  {args.method} {mean[2]:.2f}")
    print(f"\nnet - {args.method} per family (pairs):")
    for fam, d in sorted(diffs.items(), key=lambda kv: np.mean(kv[1])):
        print(f"  {fam:10s} {np.mean(d):+6.2f} dB  ({len(d)})")
    keep = np.mean(kept, axis=0)
    print(f"\nstructure kept (applied to the ground truth itself): net {keep[0]:.2f} dB  "
          f"{args.method} {keep[1]:.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
