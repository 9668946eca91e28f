"""1-D intensity profiles (paper Fig. 5).

The input (blue) and smoothed (red) intensities along one line of the image, plotted beside the
image with the line drawn in yellow. A good texture filter turns the oscillating input signal
into flat steps whose jumps stay sharp and in place; blurred steps, overshoots (halos) and
staircases are visible at a glance.

Example::

    rpaf-app profile photo.png -o out/profile --method rtv --set row=120
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kornia
import numpy as np
from torch import Tensor

from rpaf.apps.common import AppError, InputImage, log_to_wandb, save_figure, slug, smooth

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from rpaf.evaluation import Smoother

__all__ = ["Line", "intensity", "line_profile", "make_line", "figure", "run"]


@dataclass(frozen=True)
class Line:
    """A line through an image, in pixel coordinates.

    Attributes:
        kind: ``"row"``, ``"col"`` or ``"segment"``.
        start: (row, column) of the first sample.
        end: (row, column) of the last sample.
    """

    kind: str
    start: tuple[float, float]
    end: tuple[float, float]

    def describe(self) -> str:
        """E.g. ``"row 12"``, ``"col 3"`` or ``"segment (0, 0) -> (10, 20)"``."""
        if self.kind == "row":
            return f"row {int(self.start[0])}"
        if self.kind == "col":
            return f"col {int(self.start[1])}"
        return f"segment {tuple(self.start)} -> {tuple(self.end)}"


def make_line(
    size: tuple[int, int],
    *,
    row: int | None = None,
    col: int | None = None,
    segment: Sequence[float] | None = None,
) -> Line:
    """Build and check a :class:`Line` for an image of ``size`` = (H, W).

    At most one of ``row``, ``col``, ``segment`` may be given; none gives the middle row.
    Negative ``row``/``col`` count from the end, as in Python indexing.

    Raises:
        AppError: Several given, or the line leaves the image.
    """
    h, w = size
    given = [n for n, v in (("row", row), ("col", col), ("segment", segment)) if v is not None]
    if len(given) > 1:
        raise AppError(f"profile: set only one of row / col / segment, got {', '.join(given)}")
    if segment is not None:
        if len(segment) != 4:
            raise AppError(f"profile: segment must be [r0, c0, r1, c1], got {list(segment)}")
        r0, c0, r1, c1 = (float(v) for v in segment)
        for r, c in ((r0, c0), (r1, c1)):
            if not (0 <= r <= h - 1 and 0 <= c <= w - 1):
                raise AppError(
                    f"profile: segment end point ({r:g}, {c:g}) lies outside the {h}x{w} image"
                )
        if (r0, c0) == (r1, c1):
            raise AppError("profile: segment end points coincide")
        return Line("segment", (r0, c0), (r1, c1))
    if col is not None:
        if not -w <= col < w:
            raise AppError(f"profile: col={col} outside the image width {w}")
        c = col % w
        return Line("col", (0, c), (h - 1, c))
    r = h // 2 if row is None else row
    if not -h <= r < h:
        raise AppError(f"profile: row={r} outside the image height {h}")
    r %= h
    return Line("row", (r, 0), (r, w - 1))


def intensity(img: Tensor, channel: str | int = "luma") -> np.ndarray:
    """One image's intensity plane as float64 (H, W).

    Args:
        img: (1, 3, H, W) or (3, H, W) in [0, 1].
        channel: ``"luma"`` (ITU-R BT.601 grey, ``kornia.color.rgb_to_grayscale``) or 0, 1, 2.
    """
    t = img if img.ndim == 4 else img[None]
    if channel == "luma":
        plane = kornia.color.rgb_to_grayscale(t.float())[0, 0]
    else:
        try:
            idx = int(channel)
        except (TypeError, ValueError):
            idx = -1
        if idx not in (0, 1, 2):
            raise AppError(f"channel={channel!r} is not valid: use luma, 0, 1 or 2")
        plane = t[0, idx]
    return plane.detach().cpu().double().numpy()


def line_profile(
    img: Tensor, line: Line, channel: str | int = "luma"
) -> tuple[np.ndarray, np.ndarray]:
    """Sample the intensity of ``img`` along ``line``.

    Rows and columns are read exactly (no interpolation); segments are sampled with linear
    interpolation by ``skimage.measure.profile_line`` (one sample per pixel of length, both end
    points included).

    Args:
        img: (1, 3, H, W) or (3, H, W) in [0, 1].
        line: From :func:`make_line`.
        channel: See :func:`intensity`.

    Returns:
        ``(positions, values)``: distance in pixels from the start, and the intensities.
    """
    plane = intensity(img, channel)
    if line.kind == "row":
        values = plane[int(line.start[0]), :].copy()
    elif line.kind == "col":
        values = plane[:, int(line.start[1])].copy()
    else:
        from skimage.measure import profile_line

        values = profile_line(plane, line.start, line.end, linewidth=1, order=1, mode="reflect")
    length = float(np.hypot(line.end[0] - line.start[0], line.end[1] - line.start[1]))
    return np.linspace(0.0, length, len(values)), values


def figure(
    g: Tensor, u: Tensor, line: Line, *, channel: str | int = "luma", title: str = ""
) -> Figure:
    """Fig. 5 panel: the smoothed image with the line drawn | input (blue) and smoothed (red).

    Args:
        g: Input, (1, 3, H, W).
        u: Smoothed, same shape.
        line: The sampled line.
        channel: See :func:`intensity`.
        title: Figure title.
    """
    from matplotlib.figure import Figure

    pos, vin = line_profile(g, line, channel)
    _, vout = line_profile(u, line, channel)
    h, w = g.shape[-2:]
    fig = Figure(figsize=(10.0, max(3.0, 4.2 * h / w)))
    ax_img, ax_in, ax_out = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.6]})
    for ax, img, label in ((ax_img, g, "input"), (ax_in, u, "smoothed")):
        ax.imshow(img[0].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
        (r0, c0), (r1, c1) = line.start, line.end
        ax.plot([c0, c1], [r0, r1], color="yellow", linewidth=1.5)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    ax_out.plot(pos, vin, color="tab:blue", linewidth=1.0, label="input")
    ax_out.plot(pos, vout, color="tab:red", linewidth=1.5, label="smoothed")
    ax_out.set_xlabel(f"position along {line.describe()} (px)")
    ax_out.set_ylabel("intensity" if channel == "luma" else f"channel {channel}")
    ax_out.set_ylim(-0.02, 1.02)
    ax_out.legend(loc="best", fontsize=8)
    ax_out.grid(alpha=0.3)
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
    """Plot the profile of every image for every smoother into ``out_dir/<method>/``.

    Writes ``<image>_profile.png`` and, when ``save_csv``, ``<image>_profile.csv`` with columns
    ``position, input, smoothed``.

    Args:
        cfg: ``conf/app/profile.yaml`` keys (``row``, ``col``, ``segment``, ``channel``,
            ``save_csv``, ``dpi``).
        smoothers: Methods/networks to use.
        images: Inputs, (1, 3, H, W) each.
        out_dir: Output folder.

    Returns:
        ``{"outputs": {key: path}, "profiles": {key: {"position", "input", "smoothed", "line"}}}``.
    """
    from rpaf.utils.runinfo import atomic_write_text

    out_dir = Path(out_dir)
    channel = cfg.get("channel", "luma")
    segment = cfg.get("segment")
    written: dict[str, Path] = {}
    profiles: dict[str, dict[str, Any]] = {}
    for s in smoothers:
        folder = out_dir / slug(s.name)
        for im in images:
            line = make_line(im.size, row=cfg.get("row"), col=cfg.get("col"),
                             segment=list(segment) if segment is not None else None)
            u = smooth(s, im.image)
            pos, vin = line_profile(im.image, line, channel)
            _, vout = line_profile(u, line, channel)
            key = f"{slug(s.name)}/{im.name}"
            profiles[key] = {"position": pos, "input": vin, "smoothed": vout, "line": line}
            fig = figure(im.image, u, line, channel=channel, title=f"{s.name}: {im.name}")
            written[f"{key}_profile"] = save_figure(
                fig, folder / f"{im.name}_profile.png", dpi=int(cfg.get("dpi", 150))
            )
            if cfg.get("save_csv", True):
                buf = io.StringIO()
                writer = csv.writer(buf)
                writer.writerow(["position", "input", "smoothed"])
                writer.writerows(zip(pos.tolist(), vin.tolist(), vout.tolist(), strict=True))
                atomic_write_text(folder / f"{im.name}_profile.csv", buf.getvalue())
    log_to_wandb(written, prefix="profile")
    return {"outputs": written, "profiles": profiles}
