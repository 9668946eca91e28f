"""Interpolate the network weights of two rpaf checkpoints (weight-space ensembling).

``theta = (1 - alpha) * theta_A + alpha * theta_B`` for every floating-point tensor of the
network (``net.*``); integer buffers are taken from B. Meaningful when B was fine-tuned from A
(``rpaf-train init_weights=A ...``), so that both lie in one basin: interpolating then trades
what A was trained for against what the fine-tuning taught, often above the straight line
between the two (robust fine-tuning by weight interpolation, Wortsman et al., CVPR 2022). Not in
the paper; used by the quality probes of ``experiments/results/cpu_mini/README.md`` (section 13).

The output is a checkpoint that ``rpaf-eval``, ``rpaf-smooth`` and the tools load like any other
(weights and A's stored config; no optimiser or loop state, so it cannot be resumed)::

    python tools/interpolate_checkpoints.py A.ckpt B.ckpt --alpha 0.25 0.5 -o soups/
    rpaf-eval ckpt_path=soups/alpha_0.25.ckpt data=real_pairs data.root=data/real_pairs

A or B may also be a task's log folder (``logs/cpu_mini``) with ``--seed N``: the ``last.ckpt``
of its newest finished run with that seed is used (as ``init_weights`` of the two-stage
experiments finds it). ``rpaf-train init_weights=A init_weights_mix=ALPHA ...`` writes one such
mix at the end of the fine-tune itself (``checkpoints/mixed.ckpt``; ``experiment=cpu_mini_ft``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from rpaf.checkpoints import (
    CheckpointError,
    interpolate_states,
    load_checkpoint,
    model_config,
    net_state,
    weights_checkpoint,
)
from rpaf.config_resolvers import last_checkpoint
from rpaf.utils.runinfo import atomic_write


def interpolate(path_a: Path, path_b: Path, alpha: float) -> dict[str, Any]:
    """A checkpoint dict with the interpolated network weights and A's stored config."""
    ckpt_a, ckpt_b = load_checkpoint(path_a), load_checkpoint(path_b)
    if model_config(ckpt_a, path_a) != model_config(ckpt_b, path_b):
        raise CheckpointError(
            f"{path_a} and {path_b} were trained with different model configs; only networks "
            "of one architecture (ideally B fine-tuned from A) can be interpolated")
    mixed = interpolate_states(net_state(ckpt_a, path_a), net_state(ckpt_b, path_b), alpha)
    return weights_checkpoint(mixed, ckpt_a["hyper_parameters"],
                              interpolation={"a": str(path_a), "b": str(path_b), "alpha": alpha})


def main(argv: list[str] | None = None) -> int:
    """Write ``alpha_<a>.ckpt`` into ``-o`` for every ``--alpha``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="checkpoint A (alpha = 0)")
    ap.add_argument("b", type=Path, help="checkpoint B (alpha = 1), e.g. fine-tuned from A")
    ap.add_argument("--alpha", type=float, nargs="+", required=True,
                    help="weights of B in [0, 1] (values outside extrapolate: refused)")
    ap.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=None,
                    help="with a task log folder as A or B: the seed of the run to take")
    args = ap.parse_args(argv)
    for name in ("a", "b"):
        path = getattr(args, name)
        if path.is_dir():
            if args.seed is None:
                raise SystemExit(f"{path} is a folder: pass --seed N to take the last.ckpt of "
                                 "its newest finished run with that seed, or name a .ckpt file")
            try:
                setattr(args, name, Path(last_checkpoint(
                    path, args.seed, other="name a .ckpt file instead of the folder")))
            except FileNotFoundError as err:
                raise SystemExit(str(err)) from err
            print(f"{name.upper()}: {getattr(args, name)}")
    bad = [a for a in args.alpha if not 0.0 <= a <= 1.0]
    if bad:
        raise SystemExit(f"--alpha {bad}: each value must lie in [0, 1]")
    for alpha in args.alpha:
        path = args.out / f"alpha_{alpha:g}.ckpt"
        ckpt = interpolate(args.a, args.b, alpha)
        atomic_write(path, lambda fh, ckpt=ckpt: torch.save(ckpt, fh))
        print(f"alpha={alpha:g}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
