"""Full-reference metrics: PSNR and SSIM with an explicit, printable convention.

PSNR and SSIM are computed by :mod:`torchmetrics.functional` with an explicit data range,
per image (shape ``(B,)``), after the two BasicSR-style options:

* ``crop_border``: ``n`` pixels are removed from every side of both images first;
* ``color``: ``"rgb"`` compares all channels; ``"y"`` compares only the luma channel Y of
  YCbCr, ITU-R BT.601 "studio swing" as in BasicSR/MATLAB ``rgb2ycbcr``
  (``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` for ``R, G, B`` in [0, 1]).

The convention in force is a :class:`MetricConvention`; its :meth:`MetricConvention.describe`
string is meant to be printed with every result table so that numbers from different
papers/tools are never compared under different conventions by accident.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import Tensor
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

__all__ = ["MetricConvention", "psnr", "ssim", "rgb_to_y_bt601", "prepare_pair"]

ColorSpace = Literal["rgb", "y"]

# BT.601 studio-swing luma weights for inputs in [0, 255] (BasicSR `rgb2ycbcr(y_only=True)`,
# MATLAB `rgb2ycbcr`): Y = 16 + 65.481 R' + 128.553 G' + 24.966 B' with R', G', B' in [0, 1].
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0


def rgb_to_y_bt601(img: Tensor, data_range: float = 1.0) -> Tensor:
    """Luma Y of YCbCr (ITU-R BT.601, studio swing), the BasicSR ``test_y_channel`` convention.

    Args:
        img: RGB images ``(B, 3, H, W)`` with values in ``[0, data_range]``.
        data_range: Value range of ``img`` (1.0 for [0, 1] images, 255.0 for [0, 255]).

    Returns:
        ``(B, 1, H, W)`` luma in the same scale as the input: for ``data_range=1`` white maps
        to 235/255 and black to 16/255.

    Raises:
        ValueError: If ``img`` does not have 3 channels.
    """
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(
            f"color='y' needs RGB images of shape (B, 3, H, W); got {tuple(img.shape)}. "
            "Use color='rgb' for grey or multi-channel images."
        )
    w = torch.tensor(_Y_WEIGHTS, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    x = img / data_range  # to [0, 1]
    y = (x * w).sum(dim=1, keepdim=True) + _Y_OFFSET  # in [16, 235]
    return y / 255.0 * data_range


@dataclass(frozen=True)
class MetricConvention:
    """How PSNR/SSIM are computed; printed with every result table.

    Args:
        data_range: Value range of the images (``1.0`` for [0, 1] images). Passed to
            torchmetrics explicitly, never inferred from the data.
        crop_border: Pixels removed from each side of both images before measuring.
        color: ``"rgb"`` (all channels) or ``"y"`` (BT.601 luma, BasicSR style).
        ssim_sigma: Standard deviation of SSIM's Gaussian window; the window size follows
            torchmetrics' rule ``2 * int(3.5 * sigma + 0.5) + 1`` (11 for sigma 1.5, as in
            Wang et al. 2004).
    """

    data_range: float = 1.0
    crop_border: int = 0
    color: ColorSpace = "rgb"
    ssim_sigma: float = 1.5

    def __post_init__(self) -> None:
        if not self.data_range > 0:
            raise ValueError(f"MetricConvention.data_range must be > 0, got {self.data_range!r}")
        if int(self.crop_border) != self.crop_border or self.crop_border < 0:
            raise ValueError(
                f"MetricConvention.crop_border must be a non-negative integer, "
                f"got {self.crop_border!r}"
            )
        if self.color not in ("rgb", "y"):
            raise ValueError(f"MetricConvention.color must be 'rgb' or 'y', got {self.color!r}")
        if not self.ssim_sigma > 0:
            raise ValueError(f"MetricConvention.ssim_sigma must be > 0, got {self.ssim_sigma!r}")

    @property
    def ssim_window(self) -> int:
        """Side of SSIM's Gaussian window (torchmetrics' rule)."""
        return 2 * int(3.5 * self.ssim_sigma + 0.5) + 1

    def describe(self) -> str:
        """One-line description for table captions.

        Returns:
            E.g. ``"PSNR/SSIM on RGB, data range 1.0, no border crop, SSIM gaussian 11/1.5"``.
        """
        space = "RGB" if self.color == "rgb" else "Y (BT.601 YCbCr luma)"
        crop = "no border crop" if self.crop_border == 0 else f"border crop {self.crop_border} px"
        return (
            f"PSNR/SSIM on {space}, data range {float(self.data_range)}, {crop}, "
            f"SSIM gaussian {self.ssim_window}/{self.ssim_sigma}"
        )

    def to_dict(self) -> dict[str, object]:
        """Plain dict (for ``metrics.json``)."""
        return asdict(self)

    def psnr(self, pred: Tensor, target: Tensor) -> Tensor:
        """PSNR per image under this convention; see :func:`psnr`."""
        return psnr(
            pred,
            target,
            data_range=self.data_range,
            crop_border=self.crop_border,
            color=self.color,
        )

    def ssim(self, pred: Tensor, target: Tensor) -> Tensor:
        """SSIM per image under this convention; see :func:`ssim`."""
        return ssim(
            pred,
            target,
            data_range=self.data_range,
            crop_border=self.crop_border,
            color=self.color,
            sigma=self.ssim_sigma,
        )


def prepare_pair(
    pred: Tensor,
    target: Tensor,
    *,
    data_range: float = 1.0,
    crop_border: int = 0,
    color: ColorSpace = "rgb",
) -> tuple[Tensor, Tensor]:
    """Check shapes, crop the border and convert the colour space of an image pair.

    Args:
        pred: ``(B, C, H, W)`` (or ``(C, H, W)``) images in ``[0, data_range]``.
        target: Same shape as ``pred``.
        data_range: Value range of the images.
        crop_border: Pixels removed from every side.
        color: ``"rgb"`` or ``"y"``.

    Returns:
        ``(pred, target)`` as floating ``(B, C', H - 2 crop, W - 2 crop)`` tensors
        (``C' = 1`` for ``color="y"``), ``target`` moved to ``pred``'s device and dtype.

    Raises:
        ValueError: On mismatched shapes, a crop that leaves no pixels, or a bad ``color``.
    """
    if pred.ndim == 3:
        pred = pred.unsqueeze(0)
    if target.ndim == 3:
        target = target.unsqueeze(0)
    if pred.ndim != 4 or pred.shape != target.shape:
        raise ValueError(
            f"pred and target must both be (B, C, H, W) with equal shapes; got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if not pred.is_floating_point():
        pred = pred.float()
    target = target.to(device=pred.device, dtype=pred.dtype)
    if crop_border:
        h, w = pred.shape[-2:]
        if 2 * crop_border >= min(h, w):
            raise ValueError(f"crop_border={crop_border} leaves no pixels of a {h}x{w} image")
        sl = (..., slice(crop_border, -crop_border), slice(crop_border, -crop_border))
        pred, target = pred[sl], target[sl]
    if color == "y":
        pred, target = rgb_to_y_bt601(pred, data_range), rgb_to_y_bt601(target, data_range)
    elif color != "rgb":
        raise ValueError(f"color must be 'rgb' or 'y', got {color!r}")
    return pred, target


def psnr(
    pred: Tensor,
    target: Tensor,
    *,
    data_range: float = 1.0,
    crop_border: int = 0,
    color: ColorSpace = "rgb",
) -> Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range^2 / MSE)``.

    Args:
        pred: ``(B, C, H, W)`` images in ``[0, data_range]``.
        target: ``(B, C, H, W)`` reference images.
        data_range: Value range (explicit; 1.0 for [0, 1] images).
        crop_border: Pixels removed from each side first.
        color: ``"rgb"`` or ``"y"`` (BT.601 luma).

    Returns:
        ``(B,)`` PSNR in dB (``inf`` for identical images), on ``pred``'s device.
    """
    p, t = prepare_pair(pred, target, data_range=data_range, crop_border=crop_border, color=color)
    return peak_signal_noise_ratio(
        p, t, data_range=float(data_range), reduction="none", dim=(1, 2, 3)
    )


def ssim(
    pred: Tensor,
    target: Tensor,
    *,
    data_range: float = 1.0,
    crop_border: int = 0,
    color: ColorSpace = "rgb",
    sigma: float = 1.5,
) -> Tensor:
    """Structural similarity (Wang et al. 2004) per image, Gaussian window.

    The SSIM map is averaged over channels and pixels of each image (torchmetrics).

    Args:
        pred: ``(B, C, H, W)`` images in ``[0, data_range]``.
        target: ``(B, C, H, W)`` reference images.
        data_range: Value range (explicit; 1.0 for [0, 1] images).
        crop_border: Pixels removed from each side first.
        color: ``"rgb"`` or ``"y"`` (BT.601 luma).
        sigma: Gaussian window standard deviation (window 11x11 for 1.5).

    Returns:
        ``(B,)`` SSIM (1 for identical images), on ``pred``'s device.

    Raises:
        ValueError: If the (cropped) images are smaller than the SSIM window.
    """
    p, t = prepare_pair(pred, target, data_range=data_range, crop_border=crop_border, color=color)
    win = 2 * int(3.5 * sigma + 0.5) + 1
    if min(p.shape[-2:]) < win:
        raise ValueError(
            f"SSIM needs images of at least {win}x{win} pixels (Gaussian window, sigma={sigma}); "
            f"got {tuple(p.shape[-2:])} after crop_border={crop_border}"
        )
    out = structural_similarity_index_measure(
        p, t, gaussian_kernel=True, sigma=sigma, data_range=float(data_range), reduction="none"
    )
    return out.reshape(p.shape[0])
