"""Detail enhancement (paper appendix C.1, Figs. 15-16).

The smoother splits the input ``g`` into a base layer ``u`` and a detail (texture) layer
``g - u``; boosting the detail layer gives ``g + k (g - u)``. Smoothers that blur edges give
halos around them, ones that shift gradients give gradient reversals (Fig. 16): this
application makes those visible.

Example::

    rpaf-app detail photo.png -o out/detail --method rtv --set k=3
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from rpaf.apps.common import InputImage, log_to_wandb, save_figure, save_png, slug, smooth

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from rpaf.evaluation import Smoother

__all__ = ["detail_layer", "enhance", "figure", "run"]


def detail_layer(g: Tensor, u: Tensor) -> Tensor:
    """The detail/texture layer ``g - u`` (paper eq. 1: ``g = u + T``), (B, 3, H, W), signed."""
    if g.shape != u.shape:
        raise ValueError(f"input {tuple(g.shape)} and smoothed {tuple(u.shape)} shapes differ")
    return g - u


def enhance(g: Tensor, u: Tensor, k: float, *, clip: bool = True) -> Tensor:
    """Detail enhancement ``g + k (g - u)``.

    Args:
        g: Input images (B, 3, H, W) in [0, 1].
        u: Smoothed images, same shape.
        k: Detail gain; 0 returns ``g`` exactly, negative values smooth partially
            (``k = -1`` gives ``u``).
        clip: Clip the result to [0, 1].

    Returns:
        (B, 3, H, W) enhanced images.
    """
    out = g + k * detail_layer(g, u)
    return out.clamp(0.0, 1.0) if clip else out


def figure(g: Tensor, u: Tensor, enhanced: Tensor, *, title: str = "", k: float = 0.0) -> Figure:
    """Input | smoothed | enhanced, side by side (one image: (1, 3, H, W) each)."""
    from matplotlib.figure import Figure

    h, w = g.shape[-2:]
    fig = Figure(figsize=(9.0, 3.2 * h / w + 0.5))
    axes = fig.subplots(1, 3)
    for ax, img, label in zip(
        axes, (g, u, enhanced), ("input g", "smoothed u", f"g + {k:g} (g - u)"), strict=True
    ):
        ax.imshow(img[0].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def run(
    cfg: Mapping[str, Any],
    smoothers: Sequence[Smoother],
    images: Sequence[InputImage],
    out_dir: str | Path,
) -> dict[str, Any]:
    """Enhance every image with every smoother; files go to ``out_dir/<method>/``.

    Writes ``<image>_detail.png`` (the enhanced image) and, as configured, ``<image>_smooth.png``,
    ``<image>_layer.png`` (``0.5 + g - u``) and ``<image>_figure.png``.

    Args:
        cfg: ``conf/app/detail.yaml`` keys (``k``, ``save_smoothed``, ``save_detail_layer``,
            ``figure``, ``dpi``).
        smoothers: Methods/networks to use.
        images: Inputs, (1, 3, H, W) each.
        out_dir: Output folder.

    Returns:
        ``{"outputs": {key: path}}``.
    """
    out_dir = Path(out_dir)
    k = float(cfg.get("k", 3.0))
    written: dict[str, Path] = {}
    for s in smoothers:
        folder = out_dir / slug(s.name)
        for im in images:
            g = im.image
            u = smooth(s, g)
            e = enhance(g, u, k)
            key = f"{slug(s.name)}/{im.name}"
            written[f"{key}_detail"] = save_png(folder / f"{im.name}_detail.png", e)
            if cfg.get("save_smoothed", True):
                written[f"{key}_smooth"] = save_png(folder / f"{im.name}_smooth.png", u)
            if cfg.get("save_detail_layer", True):
                layer = (0.5 + detail_layer(g, u)).clamp(0, 1)
                written[f"{key}_layer"] = save_png(folder / f"{im.name}_layer.png", layer)
            if cfg.get("figure", True):
                fig = figure(g, u, e, title=f"{s.name}: {im.name}", k=k)
                written[f"{key}_figure"] = save_figure(
                    fig, folder / f"{im.name}_figure.png", dpi=int(cfg.get("dpi", 150))
                )
    log_to_wandb(written, prefix="detail")
    return {"outputs": written}

