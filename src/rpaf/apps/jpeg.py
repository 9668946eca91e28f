"""Clip-art JPEG artefact removal (paper appendix C.3, Fig. 18, Table 7).

Each clean image ``x`` is JPEG-compressed in memory with Pillow at quality 10 (the paper's
"10% compression rate"), giving ``c``; every smoother turns ``c`` into ``u``. PSNR and SSIM
against ``x`` are reported for ``c`` (``psnr_compressed``) and for ``u`` (``psnr``): a good
smoother removes the blocking and ringing while keeping the clip-art's sharp edges.

Output files (in ``OUTDIR``):

* ``jpeg_results.json``: read by the Table 7 builder. Keys: ``task``, ``quality``,
  ``subsampling``, ``encoder``, ``images`` (names), ``convention`` (caption text),
  ``convention_params``, ``compressed`` (mean ``psnr``/``ssim`` of the JPEG input) and
  ``results``: one entry per method with ``method``, ``psnr``, ``ssim``, ``psnr_compressed``,
  ``ssim_compressed``, ``quality``, ``images``, ``seconds`` (means over the images),
  ``smoothed`` and ``per_image`` (the same per image); the first entry, ``method: "jpeg"``
  with ``smoothed: false``, is the compressed input itself (Table 7's "JPEG input" row);
  checkpoints are named ``RPAFNet (<file stem>)``; plus run metadata (git SHA, date, device);
* ``jpeg_results.csv``: one row per (method, image);
* ``results.md``: a Markdown table in the layout of Table 7 with the convention as caption;
* ``compressed/<image>.png``, ``<method>/<image>.png`` and ``<image>_figure.png``.

Example::

    rpaf-app jpeg clipart.png -o out/jpeg --ckpt last.ckpt --method l0 --method rtv
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import PIL
import torch
from PIL import Image
from torch import Tensor

from rpaf.apps.common import (
    AppError,
    InputImage,
    log_to_wandb,
    save_figure,
    save_png,
    slug,
    smooth,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from rpaf.evaluation import Smoother

__all__ = ["INPUT_METHOD", "RESULTS_JSON", "jpeg_compress", "results_markdown", "run"]

#: File name of the machine-readable results (the Table 7 builder reads it).
RESULTS_JSON = "jpeg_results.json"
#: ``method`` of the results entry for the compressed, unsmoothed input.
INPUT_METHOD = "jpeg"


def jpeg_compress(img: Tensor, quality: int = 10, subsampling: int = 2) -> Tensor:
    """JPEG round trip in memory with Pillow (8-bit RGB, baseline, no optimisation).

    Args:
        img: (B, 3, H, W) in [0, 1] on any device.
        quality: JPEG quality, 1..95 (Pillow's scale; 10 in the paper).
        subsampling: Chroma subsampling: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0.

    Returns:
        The decoded images, (B, 3, H, W) float32 in [0, 1], on ``img``'s device.
    """
    if not 1 <= int(quality) <= 95:
        raise ValueError(f"JPEG quality must be in 1..95 (Pillow), got {quality}")
    if subsampling not in (0, 1, 2):
        raise ValueError(
            f"subsampling must be 0 (4:4:4), 1 (4:2:2) or 2 (4:2:0), got {subsampling}"
        )
    arr = img.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    out = []
    for a in arr.permute(0, 2, 3, 1).numpy():
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(a)).save(
            buf, format="JPEG", quality=int(quality), subsampling=int(subsampling)
        )
        buf.seek(0)
        with Image.open(buf) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
    t = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()
    return t.to(img.device)


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def results_markdown(record: Mapping[str, Any]) -> str:
    """A Markdown table (layout of Table 7) from the ``jpeg_results.json`` content."""
    lines = ["| method | PSNR (dB) ↑ | SSIM ↑ |", "|---|---|---|"]
    for r in record["results"]:
        label = r["method"]
        if label == INPUT_METHOD and not r.get("smoothed", True):
            label = f"JPEG q={record['quality']} input (not smoothed)"
        lines.append(f"| {label} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    caption = (
        f"\nJPEG artefact removal on {len(record['images'])} image(s) "
        f"({', '.join(record['images'])}), Pillow quality {record['quality']}, "
        f"subsampling {record['subsampling']}. {record['convention']}. "
        f"Git {record.get('git_sha', '?')}, {record.get('date', '?')}, "
        f"{record.get('device', '?')}.\n"
    )
    return "\n".join(lines) + "\n" + caption


def figure(
    clean: Tensor, compressed: Tensor, outputs: Mapping[str, Tensor], scores: Mapping[str, str]
) -> Figure:
    """Clean | compressed | one panel per method, for one image ((1, 3, H, W) each)."""
    from matplotlib.figure import Figure

    panels = {"clean": clean, "compressed": compressed, **outputs}
    n = len(panels)
    cols = min(n, 5)
    rows = math.ceil(n / cols)
    h, w = clean.shape[-2:]
    fig = Figure(figsize=(2.6 * cols, 2.6 * rows * h / w + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, (label, img) in zip(axes, panels.items(), strict=False):
        ax.imshow(img[0].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title(f"{label}\n{scores.get(label, '')}".strip(), fontsize=8)
    fig.tight_layout()
    return fig


def run(
    cfg: Mapping[str, Any],
    smoothers: Sequence[Smoother],
    images: Sequence[InputImage],
    out_dir: str | Path,
) -> dict[str, Any]:
    """Compress, smooth and score every clean image with every smoother.

    Args:
        cfg: ``conf/app/jpeg.yaml`` keys (``quality``, ``subsampling``, ``color``,
            ``crop_border``, ``save_images``, ``figure``, ``dpi``).
        smoothers: Methods/networks to compare (methods needing ground truth are refused).
        images: Clean inputs, (1, 3, H, W) each (at least 11x11 for SSIM).
        out_dir: Output folder.

    Returns:
        The ``jpeg_results.json`` content plus ``"outputs"``: {key: path} of written files.
    """
    from rpaf.metrics.full_reference import MetricConvention
    from rpaf.utils.runinfo import atomic_write_json, atomic_write_text, run_metadata

    out_dir = Path(out_dir)
    quality = int(cfg.get("quality", 10))
    subsampling = int(cfg.get("subsampling", 2))
    try:
        conv = MetricConvention(crop_border=int(cfg.get("crop_border", 0)),
                                color=str(cfg.get("color", "rgb")))  # type: ignore[arg-type]
    except ValueError as err:
        raise AppError(f"conf/app/jpeg.yaml: {err}") from err
    for s in smoothers:
        if s.needs_target:
            raise AppError(
                f"method {s.name!r} needs the clean image as ground truth (needs_target=True); "
                f"it would see the answer, so it cannot take part in the JPEG comparison"
            )
    written: dict[str, Path] = {}
    compressed: dict[str, Tensor] = {}
    comp_scores: dict[str, tuple[float, float]] = {}
    for im in images:
        c = jpeg_compress(im.image, quality, subsampling)
        compressed[im.name] = c
        comp_scores[im.name] = (float(conv.psnr(c, im.image)[0]), float(conv.ssim(c, im.image)[0]))
        if cfg.get("save_images", True):
            path = out_dir / "compressed" / f"{im.name}.png"
            written[f"compressed/{im.name}"] = save_png(path, c)
    results: list[dict[str, Any]] = []
    csv_rows: list[dict[str, Any]] = []
    outputs: dict[str, dict[str, Tensor]] = {im.name: {} for im in images}
    for s in smoothers:
        per_image = []
        for im in images:
            t0 = time.perf_counter()
            u = smooth(s, compressed[im.name])
            seconds = time.perf_counter() - t0
            outputs[im.name][s.name] = u
            row = {
                "name": im.name,
                "psnr": float(conv.psnr(u, im.image)[0]),
                "ssim": float(conv.ssim(u, im.image)[0]),
                "psnr_compressed": comp_scores[im.name][0],
                "ssim_compressed": comp_scores[im.name][1],
                "seconds": seconds,
            }
            per_image.append(row)
            csv_rows.append({"method": s.name, "image": im.name, "quality": quality,
                             **{k: v for k, v in row.items() if k != "name"}})
            if cfg.get("save_images", True):
                key = f"{slug(s.name)}/{im.name}"
                written[key] = save_png(out_dir / slug(s.name) / f"{im.name}.png", u)
        results.append({
            "method": s.name,
            **{k: _mean([r[k] for r in per_image])
               for k in ("psnr", "ssim", "psnr_compressed", "ssim_compressed")},
            "quality": quality,
            "images": [im.name for im in images],
            "seconds": _mean([r["seconds"] for r in per_image]),
            "per_image": per_image,
        })
    # The unsmoothed JPEG input as its own row (method "jpeg": Table 7's "JPEG input" row).
    comp_rows = [{"name": n, "psnr": v[0], "ssim": v[1], "psnr_compressed": v[0],
                  "ssim_compressed": v[1], "seconds": 0.0} for n, v in comp_scores.items()]
    results.insert(0, {
        "method": INPUT_METHOD,
        **{k: _mean([r[k] for r in comp_rows])
           for k in ("psnr", "ssim", "psnr_compressed", "ssim_compressed")},
        "quality": quality,
        "images": [im.name for im in images],
        "seconds": 0.0,
        "smoothed": False,
        "per_image": comp_rows,
    })
    for r in results[1:]:
        r["smoothed"] = True
    record: dict[str, Any] = {
        "task": "jpeg_artifacts",
        "quality": quality,
        "subsampling": subsampling,
        "encoder": f"Pillow {PIL.__version__}",
        "images": [im.name for im in images],
        "inputs": [str(im.path) if im.path else None for im in images],
        "convention": conv.describe(),
        "convention_params": conv.to_dict(),
        "compressed": {
            "psnr": _mean([v[0] for v in comp_scores.values()]),
            "ssim": _mean([v[1] for v in comp_scores.values()]),
        },
        "results": results,
        **run_metadata(images[0].image.device if images else "cpu"),
    }
    atomic_write_json(out_dir / RESULTS_JSON, record)
    atomic_write_text(out_dir / "results.md", results_markdown(record))
    buf = io.StringIO()
    if csv_rows:
        writer = csv.DictWriter(buf, fieldnames=list(csv_rows[0]))
        writer.writeheader()
        writer.writerows(csv_rows)
    atomic_write_text(out_dir / "jpeg_results.csv", buf.getvalue())
    if cfg.get("figure", True):
        for im in images:
            scores = {"compressed": "{:.2f} dB / {:.3f}".format(*comp_scores[im.name])}
            for r in results:
                p = next(x for x in r["per_image"] if x["name"] == im.name)
                scores[r["method"]] = f"{p['psnr']:.2f} dB / {p['ssim']:.3f}"
            fig = figure(im.image, compressed[im.name], outputs[im.name], scores)
            written[f"figure/{im.name}"] = save_figure(
                fig, out_dir / f"{im.name}_figure.png", dpi=int(cfg.get("dpi", 150))
            )
    log_to_wandb(written, prefix="jpeg")
    _log_table(results)
    return {**record, "outputs": written}


def _log_table(results: Sequence[Mapping[str, Any]]) -> None:
    """Log the mean scores as a wandb Table when a run is active."""
    from rpaf.apps.common import wandb_active

    if not results or not wandb_active():
        return
    import wandb

    cols = ["method", "psnr", "ssim", "psnr_compressed", "ssim_compressed", "quality"]
    wandb.log({"jpeg/results": wandb.Table(columns=cols,
                                           data=[[r[c] for c in cols] for r in results])})
