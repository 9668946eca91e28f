"""Labelled comparison grids (paper Figs. 4, 20).

One row per input image and one column per method (the input first, then the ground truth when
given), every panel with a zoomed inset of the same region, outlined in the panel. With ground
truth, each label also shows PSNR / SSIM of that output against it.

Example::

    rpaf-app compare a.png b.png -o out/cmp --method l0 --method rtv --ckpt last.ckpt
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor

from rpaf.apps.common import (
    AppError,
    InputImage,
    log_to_wandb,
    read_inputs,
    save_figure,
    save_png,
    slug,
    smooth,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from rpaf.evaluation import Smoother

__all__ = ["inset_box", "comparison_grid", "run"]


def inset_box(size: tuple[int, int], frac: Sequence[float]) -> tuple[int, int, int, int]:
    """Pixel box (top, left, height, width) from fractions [top, left, height, width].

    Raises:
        AppError: When the box is empty or leaves the image.
    """
    if len(frac) != 4:
        raise AppError(f"inset must be [top, left, height, width] fractions, got {list(frac)}")
    t, left, fh, fw = (float(v) for v in frac)
    if not (0 <= t < 1 and 0 <= left < 1 and 0 < fh <= 1 - t and 0 < fw <= 1 - left):
        raise AppError(f"inset {list(frac)} is not inside the image (fractions in [0, 1])")
    h, w = size
    top, lft = int(round(t * h)), int(round(left * w))
    bh, bw = max(1, int(round(fh * h))), max(1, int(round(fw * w)))
    return top, lft, min(bh, h - top), min(bw, w - lft)


def _to_hwc(img: Tensor) -> np.ndarray:
    return img[0].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()


def _draw(ax: Axes, img: np.ndarray, box: tuple[int, int, int, int] | None, zoom: float) -> None:
    """Draw ``img`` with the inset box outlined and its magnified crop in the opposite corner."""
    from matplotlib.patches import Rectangle

    ax.imshow(img, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if box is None:
        return
    top, left, bh, bw = box
    h, w = img.shape[:2]
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), bw, bh, fill=False, edgecolor="red",
                           linewidth=1.2))
    iw, ih = min(1.0, zoom * bw / w), min(1.0, zoom * bh / h)
    # Put the magnified crop in the corner opposite the box (axes y runs upwards).
    x0 = 1.0 - iw if left + bw / 2 <= w / 2 else 0.0
    y0 = 0.0 if top + bh / 2 <= h / 2 else 1.0 - ih
    inset = ax.inset_axes((x0, y0, iw, ih))
    inset.imshow(img[top : top + bh, left : left + bw], interpolation="nearest")
    inset.set_xticks([])
    inset.set_yticks([])
    for spine in inset.spines.values():
        spine.set_edgecolor("red")
        spine.set_linewidth(1.2)


def comparison_grid(
    rows: Sequence[Mapping[str, Tensor]],
    *,
    row_labels: Sequence[str] | None = None,
    captions: Sequence[Mapping[str, str]] | None = None,
    inset: Sequence[float] | None = (0.15, 0.15, 0.25, 0.25),
    inset_zoom: float = 2.0,
    panel_size: float = 3.0,
) -> Figure:
    """A labelled grid: ``rows[i][label]`` is the (1, 3, H, W) image at row i, column ``label``.

    Args:
        rows: One mapping per row, all with the same labels in the same order.
        row_labels: Text at the left of each row (e.g. the image names).
        captions: Per row, extra text under a column label (e.g. PSNR/SSIM).
        inset: Inset box as fractions [top, left, height, width]; ``None``: no insets.
        inset_zoom: Magnification of the inset.
        panel_size: Panel width in inches.

    Returns:
        The figure (columns titled by the labels).
    """
    from matplotlib.figure import Figure

    if not rows:
        raise AppError("comparison_grid needs at least one row")
    labels = list(rows[0])
    n_rows, n_cols = len(rows), len(labels)
    h, w = next(iter(rows[0].values())).shape[-2:]
    fig = Figure(figsize=(panel_size * n_cols, panel_size * n_rows * h / w + 0.6))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i, row in enumerate(rows):
        if list(row) != labels:
            raise AppError(f"row {i} has columns {list(row)}, expected {labels}")
        size = tuple(next(iter(row.values())).shape[-2:])
        box = inset_box(size, inset) if inset is not None else None  # type: ignore[arg-type]
        for j, label in enumerate(labels):
            ax = axes[i, j]
            _draw(ax, _to_hwc(row[label]), box, inset_zoom)
            extra = captions[i].get(label, "") if captions else ""
            ax.set_title(f"{label}\n{extra}" if extra else label, fontsize=9)
            if j == 0 and row_labels:
                ax.set_ylabel(row_labels[i], fontsize=9)
    fig.tight_layout()
    return fig


def run(
    cfg: Mapping[str, Any],
    smoothers: Sequence[Smoother],
    images: Sequence[InputImage],
    out_dir: str | Path,
) -> dict[str, Any]:
    """Write ``compare.png`` (the grid) and, when ``save_outputs``, ``<method>/<image>.png``.

    Args:
        cfg: ``conf/app/compare.yaml`` keys (``targets``, ``inset``, ``inset_zoom``,
            ``panel_size``, ``save_outputs``, ``dpi``).
        smoothers: Methods/networks to compare.
        images: Inputs, (1, 3, H, W) each; all the same size for one grid.
        out_dir: Output folder.

    Returns:
        ``{"outputs": {key: path}, "scores": {image: {method: {"psnr", "ssim"}}}}`` (scores only
        with targets).
    """
    out_dir = Path(out_dir)
    targets: list[InputImage] = []
    target_paths = list(cfg.get("targets") or [])
    if target_paths:
        if len(target_paths) != len(images):
            raise AppError(
                f"compare: {len(target_paths)} target(s) for {len(images)} input(s): give one "
                f"ground-truth image per input, in the same order (or targets=[])"
            )
        targets = read_inputs(target_paths)
        for im, gt in zip(images, targets, strict=True):
            if gt.size != im.size:
                raise AppError(f"compare: target {gt.path} is {gt.size}, input {im.path} {im.size}")
    sizes = {im.size for im in images}
    if len(sizes) > 1:
        raise AppError(
            f"compare: inputs have different sizes {sorted(sizes)}; one grid needs equal sizes "
            f"(run once per size, or crop the images first)"
        )
    from rpaf.metrics.full_reference import psnr, ssim

    written: dict[str, Path] = {}
    rows: list[dict[str, Tensor]] = []
    captions: list[dict[str, str]] = []
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for i, im in enumerate(images):
        row: dict[str, Tensor] = {"input": im.image}
        cap: dict[str, str] = {}
        gt = targets[i].image if targets else None
        if gt is not None:
            row["ground truth"] = gt
        for s in smoothers:
            u = smooth(s, im.image)
            row[s.name] = u
            if cfg.get("save_outputs", True):
                written[f"{slug(s.name)}/{im.name}"] = save_png(
                    out_dir / slug(s.name) / f"{im.name}.png", u
                )
            if gt is not None:
                p, q = float(psnr(u, gt)[0]), float(ssim(u, gt)[0])
                scores.setdefault(im.name, {})[s.name] = {"psnr": p, "ssim": q}
                cap[s.name] = f"{p:.2f} dB / {q:.3f}"
        rows.append(row)
        captions.append(cap)
    fig = comparison_grid(
        rows,
        row_labels=[im.name for im in images],
        captions=captions,
        inset=cfg.get("inset"),
        inset_zoom=float(cfg.get("inset_zoom", 2.0)),
        panel_size=float(cfg.get("panel_size", 3.0)),
    )
    written["grid"] = save_figure(fig, out_dir / "compare.png", dpi=int(cfg.get("dpi", 150)))
    log_to_wandb(written, prefix="compare")
    return {"outputs": written, "scores": scores}
