"""``rpaf-app``: smoothing applications of the paper's appendix C as one command.

Usage::

    rpaf-app NAME IMAGE [IMAGE ...] -o OUTDIR (--method NAME | --ckpt PATH)... [options]
             [--set KEY=VALUE ...]

``NAME`` is one of ``detail``, ``stylize``, ``jpeg``, ``profile``, ``spectrum``, ``compare``.
``--method`` (a ``conf/method/<name>.yaml`` name or a YAML file with a ``_target_``) and
``--ckpt`` (a checkpoint written by ``rpaf-train``) may be repeated; every smoother given is run.
Defaults come from ``conf/app/<NAME>.yaml``; the options below and ``--set KEY=VALUE`` (Hydra
override syntax, e.g. ``--set k=5 dpi=200``) change them.

Examples::

    rpaf-app detail photo.png -o out/detail --method rtv --k 3
    rpaf-app jpeg clipart.png -o out/jpeg --ckpt last.ckpt --method l0 --method rtv
    rpaf-app profile photo.png -o out/profile --ckpt last.ckpt --row 120
    rpaf-app compare a.png b.png -o out/cmp --method l0 --ckpt last.ckpt --targets a_gt.png b_gt.png

Exit status: 0 on success, 2 for a bad command line, config, input image or checkpoint.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rpaf.apps.common import APP_NAMES, AppError

_HELP = {
    "detail": "detail enhancement g + k (g - u) (Figs. 15-16)",
    "stylize": "stylisation: quantised smoothed colours + dark edges (Fig. 17)",
    "jpeg": "JPEG q=10 artefact removal with PSNR/SSIM vs the clean image (Fig. 18, Table 7)",
    "profile": "1-D input/smoothed intensity profile along a line (Fig. 5)",
    "spectrum": "FFT log-magnitude spectra of the outputs (Fig. 19)",
    "compare": "labelled comparison grid with zoomed insets (Figs. 4, 20)",
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE", help="input image files")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--method", action="append", default=[], metavar="NAME",
                   help="classical method: conf/method/NAME.yaml or a YAML file (repeatable)")
    p.add_argument("--ckpt", action="append", default=[], metavar="PATH",
                   help="checkpoint written by rpaf-train (repeatable)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--tile", type=int, default=None, help="tiled network inference tile size")
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[],
                   metavar="KEY=VALUE", help="override any key of conf/app/NAME.yaml")


def build_parser() -> argparse.ArgumentParser:
    """The ``rpaf-app`` argument parser (one sub-command per application)."""
    parser = argparse.ArgumentParser(
        prog="rpaf-app",
        description="Smoothing applications (paper appendix C): " + ", ".join(APP_NAMES),
        epilog="Defaults: conf/app/NAME.yaml. Run `rpaf-app NAME -h` for an app's options.",
    )
    sub = parser.add_subparsers(dest="app", required=True, metavar="NAME")
    p = {name: sub.add_parser(name, help=_HELP[name], description=_HELP[name])
         for name in APP_NAMES}
    for sp in p.values():
        _common(sp)
    p["detail"].add_argument("--k", type=float, help="detail gain k (0: input unchanged)")
    p["stylize"].add_argument("--levels", type=int, help="lightness bands (0: none)")
    p["stylize"].add_argument("--edges", choices=["dog", "canny", "none"], help="edge detector")
    p["jpeg"].add_argument("--quality", type=int, help="JPEG quality 1..95 (paper: 10)")
    p["profile"].add_argument("--row", type=int, help="image row to plot")
    p["profile"].add_argument("--col", type=int, help="image column to plot")
    p["profile"].add_argument("--segment", type=float, nargs=4, metavar=("R0", "C0", "R1", "C1"),
                              help="segment end points (row, col) in pixels")
    for name in ("profile", "spectrum"):
        p[name].add_argument("--channel", help="luma (default), 0, 1 or 2")
    p["spectrum"].add_argument("--window", choices=["hann"], help="apodisation window")
    p["compare"].add_argument("--targets", nargs="+", metavar="GT",
                              help="ground-truth images, one per input, same order")
    p["compare"].add_argument("--inset", type=float, nargs=4, metavar=("TOP", "LEFT", "H", "W"),
                              help="inset box as fractions of the image")
    return parser


#: argparse destination -> config key, for the app-specific flags.
_FLAG_KEYS = ("k", "levels", "edges", "quality", "row", "col", "segment", "channel", "window",
              "targets", "inset", "device", "tile")


def config_from_args(args: argparse.Namespace) -> Any:
    """Compose ``conf/app/<app>.yaml`` with ``--set`` overrides, then apply the flags."""
    from omegaconf import OmegaConf

    from rpaf.apps.common import load_app_config

    cfg = load_app_config(args.app, args.overrides)
    for key in _FLAG_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            if key == "channel" and value != "luma":
                value = int(value) if value.isdigit() else value
            OmegaConf.update(cfg, key, value, merge=False)
    cfg.methods = list(cfg.methods) + list(args.method)
    cfg.ckpts = list(cfg.ckpts) + list(args.ckpt)
    return cfg


def run_app(name: str, cfg: Any, image_paths: Sequence[str | Path], out_dir: str | Path) -> dict:
    """Run one application from a composed config (also usable from Python).

    Args:
        name: One of :data:`rpaf.apps.common.APP_NAMES`.
        cfg: Its config (``conf/app/<name>.yaml`` keys, with ``methods`` / ``ckpts``).
        image_paths: Input image files.
        out_dir: Output folder.

    Returns:
        What the application's ``run`` returns (``"outputs"``: written files, plus results).
    """
    from rpaf.apps.common import load_smoothers, read_inputs

    if name not in APP_NAMES:
        raise AppError(f"unknown application {name!r}: choose one of {', '.join(APP_NAMES)}")
    images = read_inputs(image_paths)
    smoothers = load_smoothers(cfg.get("methods") or [], cfg.get("ckpts") or [],
                               device=cfg.get("device", "auto"), tile=cfg.get("tile"),
                               overlap=int(cfg.get("overlap", 64)))
    module = importlib.import_module(f"rpaf.apps.{name}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return module.run(cfg, smoothers, images, out)


def _start_wandb(name: str, cfg: Any) -> bool:
    """Start a wandb run when ``wandb.project`` is set and none is active; True if started."""
    wb = cfg.get("wandb") or {}
    if not wb.get("project"):
        return False
    import wandb
    from omegaconf import OmegaConf

    if wandb.run is not None:
        return False
    wandb.init(project=wb["project"], entity=wb.get("entity"), mode=wb.get("mode"),
               job_type=f"app-{name}", config=OmegaConf.to_container(cfg, resolve=True))
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``rpaf-app``; returns the exit status (0 ok, 2 error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as stop:  # argparse: --help (0) or a usage error (2)
        return int(stop.code or 0)
    from rich.console import Console

    from rpaf.checkpoints import CheckpointError
    from rpaf.data.errors import DatasetError

    console = Console(stderr=True, soft_wrap=True)
    started = False
    try:
        cfg = config_from_args(args)
        started = _start_wandb(args.app, cfg)
        result = run_app(args.app, cfg, args.images, args.out)
    except (AppError, CheckpointError, DatasetError) as err:
        console.print(f"[red]rpaf-app {args.app}: {err}[/red]", highlight=False)
        return 2
    except ValueError as err:  # invalid option values (e.g. an image too small for SSIM)
        console.print(f"[red]rpaf-app {args.app}: {type(err).__name__}: {err}[/red]",
                      highlight=False)
        return 2
    finally:
        if started:
            import wandb

            wandb.finish()
    outputs = result.get("outputs", {})
    if args.app == "jpeg":
        from rpaf.apps.jpeg import results_markdown

        console.print(results_markdown(result), highlight=False)
    console.print(f"rpaf-app {args.app}: wrote {len(outputs)} file(s) to {args.out}",
                  highlight=False)
    return 0


def cli() -> None:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
