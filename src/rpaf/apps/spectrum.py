"""Fourier log-magnitude spectra of smoothed images (paper Fig. 19).

Dilated convolutions can leave a periodic "gridding" pattern in the output; in the spectrum it
shows as isolated bright peaks at multiples of ``1 / dilation`` of the sampling frequency, away
from the centre. The spectrum is ``log(1 + |F|)`` of the grey (or one channel of the) image,
computed with :func:`torch.fft.fft2`, with the zero frequency shifted to the centre
(``(H // 2, W // 2)``).

Example::

    rpaf-app spectrum photo.png -o out/spectrum --ckpt last.ckpt
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kornia
import torch
from torch import Tensor

from rpaf.apps.common import AppError, InputImage, log_to_wandb, save_figure, save_png, slug, smooth

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from rpaf.evaluation import Smoother

__all__ = ["log_magnitude", "spectrum_image", "figure", "run"]


def _plane(img: Tensor, channel: str | int) -> Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) grey (BT.601, kornia) or one channel."""
    if channel == "luma":
        return kornia.color.rgb_to_grayscale(img)
    try:
        idx = int(channel)
    except (TypeError, ValueError):
        idx = -1
    if idx not in (0, 1, 2):
        raise AppError(f"channel={channel!r} is not valid: use luma, 0, 1 or 2")
    return img[:, idx : idx + 1]


def log_magnitude(
    img: Tensor,
    *,
    channel: str | int = "luma",
    remove_mean: bool = False,
    window: str | None = None,
) -> Tensor:
    """Centred log-magnitude spectrum ``log(1 + |fftshift(fft2(x))|)``.

    Args:
        img: (B, 3, H, W) images (any range; [0, 1] usually).
        channel: ``"luma"`` or a channel index 0, 1, 2.
        remove_mean: Subtract each image's mean first (removes the DC peak).
        window: ``None`` or ``"hann"`` (separable periodic Hann window against leakage from
            the image borders).

    Returns:
        (B, 1, H, W) float spectrum; the zero frequency is at ``(H // 2, W // 2)``.
    """
    x = _plane(img.float(), channel)
    if remove_mean:
        x = x - x.mean(dim=(-2, -1), keepdim=True)
    if window == "hann":
        h, w = x.shape[-2:]
        wy = torch.hann_window(h, periodic=True, device=x.device, dtype=x.dtype)
        wx = torch.hann_window(w, periodic=True, device=x.device, dtype=x.dtype)
        x = x * (wy[:, None] * wx[None, :])
    elif window is not None:
        raise AppError(f"window={window!r} is not valid: use null or hann")
    f = torch.fft.fftshift(torch.fft.fft2(x, norm="backward"), dim=(-2, -1))
    return torch.log1p(f.abs())


def spectrum_image(spec: Tensor) -> Tensor:
    """Scale each spectrum (B, 1, H, W) to [0, 1] by its maximum, for display/PNG."""
    peak = spec.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return spec / peak


def figure(
    panels: Mapping[str, Tensor], spectra: Mapping[str, Tensor], *, title: str = ""
) -> Figure:
    """Images on the first row, their spectra below (Fig. 19 layout).

    Args:
        panels: Label -> (1, 3, H, W) image.
        spectra: Label -> (1, 1, H, W) log-magnitude spectrum (same labels).
        title: Figure title.
    """
    from matplotlib.figure import Figure

    n = len(panels)
    fig = Figure(figsize=(3.0 * n, 6.2))
    axes = fig.subplots(2, n, squeeze=False)
    for j, (label, img) in enumerate(panels.items()):
        axes[0, j].imshow(img[0].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
        axes[0, j].set_title(label, fontsize=9)
        axes[1, j].imshow(spectra[label][0, 0].detach().cpu().numpy(), cmap="gray")
        axes[1, j].set_title("log(1 + |FFT|)", fontsize=8)
        for ax in axes[:, j]:
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
    """Spectra of every image's smoothed versions.

    Writes ``<method>/<image>_smooth.png``, ``<method>/<image>_spectrum.png`` (normalised
    log-magnitude), ``input/<image>_spectrum.png`` when ``include_input``, and
    ``<image>_figure.png`` (all methods side by side) when ``figure``.

    Args:
        cfg: ``conf/app/spectrum.yaml`` keys (``channel``, ``remove_mean``, ``window``,
            ``include_input``, ``figure``, ``dpi``).
        smoothers: Methods/networks to use.
        images: Inputs, (1, 3, H, W) each.
        out_dir: Output folder.

    Returns:
        ``{"outputs": {key: path}, "spectra": {"<method>/<image>": (1, 1, H, W) tensor}}``.
    """
    out_dir = Path(out_dir)
    opts = {
        "channel": cfg.get("channel", "luma"),
        "remove_mean": bool(cfg.get("remove_mean", False)),
        "window": cfg.get("window"),
    }
    written: dict[str, Path] = {}
    spectra: dict[str, Tensor] = {}
    for im in images:
        panels: dict[str, Tensor] = {}
        specs: dict[str, Tensor] = {}
        if cfg.get("include_input", True):
            panels["input"] = im.image
            specs["input"] = log_magnitude(im.image, **opts)
            spectra[f"input/{im.name}"] = specs["input"]
            written[f"input/{im.name}_spectrum"] = save_png(
                out_dir / "input" / f"{im.name}_spectrum.png", spectrum_image(specs["input"])
            )
        for s in smoothers:
            u = smooth(s, im.image)
            key = f"{slug(s.name)}/{im.name}"
            panels[s.name] = u
            specs[s.name] = spectra[key] = log_magnitude(u, **opts)
            written[f"{key}_smooth"] = save_png(out_dir / slug(s.name) / f"{im.name}_smooth.png", u)
            written[f"{key}_spectrum"] = save_png(
                out_dir / slug(s.name) / f"{im.name}_spectrum.png", spectrum_image(specs[s.name])
            )
        if cfg.get("figure", True):
            fig = figure(panels, specs, title=im.name)
            written[f"figure/{im.name}"] = save_figure(
                fig, out_dir / f"{im.name}_figure.png", dpi=int(cfg.get("dpi", 150))
            )
    log_to_wandb(written, prefix="spectrum")
    return {"outputs": written, "spectra": spectra}
