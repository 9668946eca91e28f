"""Image stylisation / abstraction (paper appendix C.2, Fig. 17).

The smoothed image ``u`` provides flat colour regions; its CIELAB lightness is quantised into
soft bands (the cartoon look of Winnemöller et al., "Real-time video abstraction", 2006), and
edges of ``u`` are drawn dark on top, from a thresholded difference of Gaussians (DoG) or from
Canny (both via kornia). A smoother that keeps high-contrast structure while flattening texture
gives clean, closed lines and flat bands; texture left in ``u`` turns into clutter.

Example::

    rpaf-app stylize photo.png -o out/stylize --method l0 --set edges=canny
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kornia
import torch
from torch import Tensor

from rpaf.apps.common import InputImage, log_to_wandb, save_figure, save_png, slug, smooth

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from rpaf.evaluation import Smoother

__all__ = ["dog_edges", "canny_edges", "quantize_lightness", "stylize", "run"]


def _odd_kernel(sigma: float) -> int:
    """Gaussian kernel side covering +-3 sigma (odd, at least 3)."""
    return max(3, 2 * int(3.0 * sigma + 0.5) + 1)


def dog_edges(
    u: Tensor, *, sigma: float = 1.0, k_sigma: float = 1.6, threshold: float = 0.01,
    phi: float = 200.0,
) -> Tensor:
    """Soft edge map from a thresholded difference of Gaussians of the grey image.

    ``D = G_sigma * Y - G_{k sigma} * Y``; pixels on the dark side of an edge have ``D < 0``.
    The edge strength is ``clip(tanh(phi (-D - threshold)), 0, 1)``.

    Args:
        u: Images (B, 3, H, W) in [0, 1].
        sigma: Inner Gaussian standard deviation in pixels.
        k_sigma: Ratio of the outer to the inner standard deviation (> 1).
        threshold: Minimum darkening (on the [0, 1] grey scale) that counts as an edge.
        phi: Steepness of the soft threshold.

    Returns:
        (B, 1, H, W) edge strength in [0, 1] (1: edge).
    """
    if sigma <= 0 or k_sigma <= 1:
        raise ValueError(f"need sigma > 0 and k_sigma > 1, got sigma={sigma}, k_sigma={k_sigma}")
    y = kornia.color.rgb_to_grayscale(u)
    s2 = sigma * k_sigma
    k1, k2 = _odd_kernel(sigma), _odd_kernel(s2)
    inner = kornia.filters.gaussian_blur2d(y, (k1, k1), (sigma, sigma), border_type="replicate")
    outer = kornia.filters.gaussian_blur2d(y, (k2, k2), (s2, s2), border_type="replicate")
    d = inner - outer
    return torch.tanh(phi * (-d - threshold)).clamp(0.0, 1.0)


def canny_edges(u: Tensor, *, low: float = 0.1, high: float = 0.2, sigma: float = 1.0) -> Tensor:
    """Binary Canny edges of ``u`` (kornia), (B, 3, H, W) -> (B, 1, H, W) in {0, 1}."""
    k = _odd_kernel(sigma)
    _, edges = kornia.filters.canny(
        u, low_threshold=low, high_threshold=high, kernel_size=(k, k), sigma=(sigma, sigma)
    )
    return edges.to(u.dtype)


def quantize_lightness(u: Tensor, levels: int, sharpness: float = 4.0) -> Tensor:
    """Soft-quantise the CIELAB lightness of ``u`` into ``levels`` bands, keeping a* and b*.

    ``L' = b + (w / 2) tanh(sharpness (L - b) / w)`` (Winnemöller et al. 2006) with band width
    ``w = 100 / levels`` and ``b`` the nearest inner band boundary (``w, 2w, ..., 100 - w``):
    away from the boundaries ``L'`` settles on the band centres ``b +- w / 2``, across them it
    changes smoothly.

    Args:
        u: Images (B, 3, H, W) in [0, 1].
        levels: Number of bands (>= 1); 0 returns ``u`` unchanged.
        sharpness: Hardness of the band transitions.

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    if levels == 0:
        return u
    if levels < 0:
        raise ValueError(f"levels must be >= 0, got {levels}")
    lab = kornia.color.rgb_to_lab(u.clamp(0, 1))
    lum = lab[:, :1]
    w = 100.0 / levels
    if levels == 1:
        lum_q = torch.full_like(lum, 50.0)
    else:
        b = (torch.round(lum / w).clamp(1, levels - 1)) * w
        lum_q = b + 0.5 * w * torch.tanh(sharpness * (lum - b) / w)
    return kornia.color.lab_to_rgb(torch.cat([lum_q, lab[:, 1:]], dim=1)).clamp(0, 1)


def stylize(
    u: Tensor,
    *,
    levels: int = 8,
    sharpness: float = 4.0,
    edges: str = "dog",
    sigma: float = 1.0,
    k_sigma: float = 1.6,
    threshold: float = 0.01,
    phi: float = 200.0,
    canny_low: float = 0.1,
    canny_high: float = 0.2,
    edge_strength: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Abstraction of a smoothed image: quantised colours darkened along edges.

    Args:
        u: Smoothed images (B, 3, H, W) in [0, 1].
        levels: Lightness bands (0: no quantisation), see :func:`quantize_lightness`.
        sharpness: Band transition hardness.
        edges: ``"dog"`` (:func:`dog_edges`), ``"canny"`` (:func:`canny_edges`) or ``"none"``.
        sigma, k_sigma, threshold, phi: DoG parameters.
        canny_low, canny_high: Canny hysteresis thresholds.
        edge_strength: 0 (no lines) .. 1 (black lines).

    Returns:
        ``(stylised (B, 3, H, W) in [0, 1], edge map (B, 1, H, W) in [0, 1])``.
    """
    if edges == "dog":
        e = dog_edges(u, sigma=sigma, k_sigma=k_sigma, threshold=threshold, phi=phi)
    elif edges == "canny":
        e = canny_edges(u, low=canny_low, high=canny_high, sigma=sigma)
    elif edges == "none":
        e = torch.zeros_like(u[:, :1])
    else:
        raise ValueError(f"edges={edges!r} is not valid: use dog, canny or none")
    if not 0.0 <= edge_strength <= 1.0:
        raise ValueError(f"edge_strength must lie in [0, 1], got {edge_strength}")
    base = quantize_lightness(u, int(levels), sharpness)
    return (base * (1.0 - edge_strength * e)).clamp(0, 1), e


def figure(g: Tensor, u: Tensor, styl: Tensor, *, title: str = "") -> Figure:
    """Input | smoothed | stylised, side by side (one image each, (1, 3, H, W))."""
    from matplotlib.figure import Figure

    h, w = g.shape[-2:]
    fig = Figure(figsize=(9.0, 3.2 * h / w + 0.5))
    axes = fig.subplots(1, 3)
    for ax, img, label in zip(axes, (g, u, styl), ("input", "smoothed", "stylised"), strict=True):
        ax.imshow(img[0].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


_STYLE_KEYS = ("levels", "sharpness", "edges", "sigma", "k_sigma", "threshold", "phi",
               "canny_low", "canny_high", "edge_strength")


def run(
    cfg: Mapping[str, Any],
    smoothers: Sequence[Smoother],
    images: Sequence[InputImage],
    out_dir: str | Path,
) -> dict[str, Any]:
    """Stylise every image with every smoother; files go to ``out_dir/<method>/``.

    Writes ``<image>_stylized.png`` and, as configured, ``<image>_edges.png`` and
    ``<image>_figure.png``.

    Args:
        cfg: ``conf/app/stylize.yaml`` keys.
        smoothers: Methods/networks to use.
        images: Inputs, (1, 3, H, W) each.
        out_dir: Output folder.

    Returns:
        ``{"outputs": {key: path}}``.
    """
    out_dir = Path(out_dir)
    opts = {k: cfg[k] for k in _STYLE_KEYS if k in cfg}
    written: dict[str, Path] = {}
    for s in smoothers:
        folder = out_dir / slug(s.name)
        for im in images:
            u = smooth(s, im.image)
            styl, e = stylize(u, **opts)
            key = f"{slug(s.name)}/{im.name}"
            written[f"{key}_stylized"] = save_png(folder / f"{im.name}_stylized.png", styl)
            if cfg.get("save_edges", True):
                written[f"{key}_edges"] = save_png(folder / f"{im.name}_edges.png", 1.0 - e)
            if cfg.get("figure", True):
                fig = figure(im.image, u, styl, title=f"{s.name}: {im.name}")
                written[f"{key}_figure"] = save_figure(
                    fig, folder / f"{im.name}_figure.png", dpi=int(cfg.get("dpi", 150))
                )
    log_to_wandb(written, prefix="stylize")
    return {"outputs": written}
