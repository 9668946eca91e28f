"""Time the classical baselines: ``python -m rpaf.baselines.bench [--sizes 256 512]``.

Each method is built from ``conf/method/<name>.yaml`` (published defaults) and run on one
synthetic RGB image per size (``rpaf.data.synthetic.make_pair``, or uniform noise when the data
package is unavailable); the median of ``--repeats`` runs after one warm-up is reported in seconds
per image, with the device and torch thread count.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

DEFAULT_METHODS = ("l0", "wls", "fgs", "rgf", "btf", "tv", "rtv")


def _image(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        from rpaf.data.synthetic import make_pair

        inp, tgt = make_pair(0, size=size, split="test")
        to = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
        return to(inp).to(device), to(tgt).to(device)
    except ImportError:
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(1, 3, size, size, generator=gen)
        return x.to(device), x.to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_method(
    name: str, sizes: list[int], conf_dir: Path, device: torch.device, repeats: int
) -> dict[int, float]:
    """Median seconds per image of ``conf/method/<name>.yaml`` for every size."""
    from rpaf.builders import build_method

    method = build_method(OmegaConf.load(conf_dir / "method" / f"{name}.yaml"))
    out: dict[int, float] = {}
    for size in sizes:
        img, target = _image(size, device)
        args = (img, target) if getattr(method, "needs_target", False) else (img,)
        method(*args)  # warm-up
        runs = []
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            method(*args)
            _sync(device)
            runs.append(time.perf_counter() - start)
        out[size] = statistics.median(runs)
    return out


def main(argv: list[str] | None = None) -> dict[str, dict[int, float]]:
    """Command-line entry point; returns ``{method: {size: seconds}}``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--conf-dir", type=Path, default=Path("conf"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=None, help="optional JSON file for results")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results: dict[str, dict[int, float]] = {}
    header = "method  " + "  ".join(f"{s}px (s)".rjust(10) for s in args.sizes)
    print(f"# device={device} torch_threads={torch.get_num_threads()} {platform.processor()}")
    print(header)
    for name in args.methods:
        results[name] = time_method(name, args.sizes, args.conf_dir, device, args.repeats)
        row = "  ".join(f"{results[name][s]:10.3f}" for s in args.sizes)
        print(f"{name:6s}  {row}", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "seconds_per_image": results,
        }
        args.out.write_text(json.dumps(payload, indent=2))
    return results


if __name__ == "__main__":
    main()
