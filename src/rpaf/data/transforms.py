"""Transforms applied identically to an input and its target, and a collate with clear errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from rpaf.data.errors import DatasetError

__all__ = ["collate", "parse_size", "random_flip", "resize"]


def parse_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """``512`` -> (512, 512); ``[h, w]`` -> (h, w); ``None`` -> None (keep native size)."""
    if size is None:
        return None
    hw = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"size must be an int, [height, width] or null; got {size!r}")
    return hw  # type: ignore[return-value]


def resize(img: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Resize a (3, H, W) image to ``size`` (bicubic, antialiased when shrinking, clamped).

    A no-op when ``size`` is None or already the image's size.
    """
    if size is None or tuple(img.shape[-2:]) == tuple(size):
        return img
    out = F.interpolate(img[None], size=size, mode="bicubic", align_corners=False, antialias=True)
    return out[0].clamp_(0.0, 1.0)


def random_flip(*imgs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Flip all (C, H, W) images together: horizontally and/or vertically with p = 0.5 each."""
    h, v = torch.rand(2).lt(0.5).tolist()
    dims = [d for d, on in ((-1, h), (-2, v)) if on]
    return tuple(im.flip(dims) if dims else im for im in imgs)


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """``default_collate`` that explains mixed image sizes instead of a bare stack error."""
    sizes = {tuple(s["input"].shape) for s in batch}
    if len(sizes) > 1:
        names = ", ".join(f"{s['name']} {tuple(s['input'].shape[-2:])}" for s in batch)
        raise DatasetError(
            f"cannot batch images of different sizes ({names}); set the data `size` to resize "
            "them, or use batch_size=1 to evaluate at native size"
        )
    return default_collate(batch)
