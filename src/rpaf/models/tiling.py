"""Tiled inference with seam-free blending for images too large for one forward pass."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["tile_starts", "tile_window", "tiled_forward"]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with >= ``overlap``.

    Tiles advance by ``tile - overlap``; the last one is aligned to the end (so it may
    overlap its neighbour by more than ``overlap``). One tile at 0 when ``length <= tile``.
    """
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def tile_window(
    size: int,
    overlap: int,
    *,
    ramp_start: bool,
    ramp_end: bool,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """1-D blending weights of one tile along one axis.

    On a ramped side the first ``m = overlap // 4`` pixels get weight 0 (they are the ones
    the tile's own zero padding corrupts most), the next ``L = overlap - 2m`` pixels a
    raised-cosine ramp ``0.5 - 0.5 cos(pi (j + 0.5) / L)`` and the rest weight 1. Because
    ``f(i) + f(overlap - 1 - i) = 1``, two tiles overlapping by exactly ``overlap`` form a
    partition of unity, and with a larger overlap (the last, end-aligned tile) every pixel
    still has a positive total weight. Sides on the image border are not ramped.

    Args:
        size: Tile length along the axis.
        overlap: Overlap in pixels (``2 * overlap <= size``).
        ramp_start: Ramp the low side (the tile has a neighbour there).
        ramp_end: Ramp the high side.
        dtype: Weight dtype.
        device: Weight device.

    Returns:
        Shape (size,).
    """
    w = torch.ones(size, dtype=dtype, device=device)
    if overlap > 0:
        margin = overlap // 4
        length = overlap - 2 * margin
        j = torch.arange(length, dtype=torch.float64)
        ramp = torch.zeros(overlap, dtype=torch.float64)
        ramp[margin : margin + length] = 0.5 - 0.5 * torch.cos(math.pi * (j + 0.5) / length)
        ramp[margin + length :] = 1.0
        ramp = ramp.to(dtype=dtype, device=w.device)
        if ramp_start:
            w[:overlap] = ramp
        if ramp_end:
            w[size - overlap :] = torch.minimum(w[size - overlap :], ramp.flip(0))
    return w


def tiled_forward(
    model: Callable[[Tensor], Tensor], x: Tensor, tile: int = 512, overlap: int = 64
) -> Tensor:
    """Run ``model`` on overlapping tiles of ``x`` and blend them without seams.

    Every tile is ``min(tile, H) x min(tile, W)`` pixels, so the model's activation memory is
    that of one tile whatever the image size; the only full-size buffers are the output and
    one (H, W) weight map, in float32. Outputs are blended with a separable raised-cosine
    window over the middle half of each overlap (see :func:`tile_window`) and normalised by
    the summed weights, so there is no seam: the weights vary smoothly and sum to one.

    Runs under ``torch.no_grad()`` (inference only). Put the model in ``eval()`` mode first:
    BatchNorm in training mode would use per-tile batch statistics.

    Exactness: for a model whose receptive-field radius is at most ``overlap // 4`` and which
    is translation-equivariant (pure convolutions), the result equals the full forward up to
    float round-off. RPAFNet is neither: its Efficient Attention pools keys over the whole
    (tile) image and its bilinear ``Interp`` grids depend on the tile origin, so the result
    differs slightly from the full forward (measured in ``tests/models/test_models_tiling.py``
    and reported in the README).

    Args:
        model: Callable mapping (B, C, h, w) -> (B, C', h, w) (same spatial size).
        x: Input, (B, C, H, W).
        tile: Tile side in pixels (>= 1).
        overlap: Overlap between neighbouring tiles in pixels, ``0 <= 2 * overlap <= tile``.

    Returns:
        (B, C', H, W) in the model's output dtype, on ``x``'s device.

    Raises:
        ValueError: For a non-4-D ``x`` or invalid ``tile``/``overlap``, or a model that
            changes the spatial size.
    """
    if x.ndim != 4:
        raise ValueError(f"tiled_forward: x must be (B, C, H, W), got shape {tuple(x.shape)}")
    if tile < 1 or overlap < 0 or 2 * overlap > tile:
        raise ValueError(
            f"tiled_forward: tile={tile}, overlap={overlap} are invalid; need tile >= 1 and "
            "0 <= 2 * overlap <= tile (e.g. tile=512, overlap=64)"
        )
    b, _, height, width = x.shape
    with torch.no_grad():
        if height <= tile and width <= tile:
            return model(x)
        th, tw = min(tile, height), min(tile, width)
        ys, xs = tile_starts(height, th, overlap), tile_starts(width, tw, overlap)
        out: Tensor | None = None
        weight = torch.zeros(height, width, dtype=torch.float32, device=x.device)
        out_dtype = x.dtype
        for y0 in ys:
            wy = tile_window(
                th, overlap, ramp_start=y0 > 0, ramp_end=y0 + th < height, device=x.device
            )
            for x0 in xs:
                wx = tile_window(
                    tw, overlap, ramp_start=x0 > 0, ramp_end=x0 + tw < width, device=x.device
                )
                y = model(x[:, :, y0 : y0 + th, x0 : x0 + tw])
                if y.shape[-2:] != (th, tw) or y.shape[0] != b:
                    raise ValueError(
                        f"tiled_forward: the model mapped a {th}x{tw} tile to shape "
                        f"{tuple(y.shape)}; it must keep the batch and spatial size"
                    )
                if out is None:
                    out = torch.zeros(
                        b, y.shape[1], height, width, dtype=torch.float32, device=x.device
                    )
                    out_dtype = y.dtype
                w2 = wy[:, None] * wx[None, :]
                out[:, :, y0 : y0 + th, x0 : x0 + tw].add_(y.float() * w2)
                weight[y0 : y0 + th, x0 : x0 + tw].add_(w2)
                del y
        assert out is not None  # at least one tile ran
        return out.div_(weight).to(out_dtype)
