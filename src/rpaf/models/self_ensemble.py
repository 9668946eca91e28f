"""Geometric self-ensemble at inference: average a network over the 8 flips/transposes.

Test-time augmentation in the BasicSR sense: ``u = mean_k T_k^{-1}(f(T_k(g)))`` over the
dihedral group of the square (identity, horizontal/vertical flips, transposes and their
compositions). It costs ``n`` forward passes and needs no training; it helps most where the
network is not equivariant to these transforms (texture orientations it saw less of). Not in the
paper: report it apart from plain inference.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

__all__ = ["SELF_ENSEMBLE_SIZES", "self_ensemble", "transformed_forward"]

#: Allowed ensemble sizes: 1 (plain), 2 (+ horizontal flip), 4 (flips), 8 (flips + transpose).
SELF_ENSEMBLE_SIZES: tuple[int, ...] = (1, 2, 4, 8)


def _apply(x: Tensor, transpose: bool, flip_h: bool, flip_w: bool) -> Tensor:
    if transpose:
        x = x.transpose(-1, -2)
    if flip_w:
        x = x.flip(-1)
    if flip_h:
        x = x.flip(-2)
    return x


def _invert(x: Tensor, transpose: bool, flip_h: bool, flip_w: bool) -> Tensor:
    if flip_h:
        x = x.flip(-2)
    if flip_w:
        x = x.flip(-1)
    if transpose:
        x = x.transpose(-1, -2)
    return x


#: The 8 transforms as (transpose, flip_h, flip_w): identity first, then flip_w (n=2), the
#: flips (n=4), the transposed ones (n=8).
_COMBOS: tuple[tuple[bool, bool, bool], ...] = tuple(
    (t, h, w) for t in (False, True) for h in (False, True) for w in (False, True)
)


def transformed_forward(fn: Callable[[Tensor], Tensor], g: Tensor, index: int) -> Tensor:
    """``T_k^{-1}(fn(T_k(g)))`` for the dihedral transform number ``index`` (0 = identity).

    Args:
        fn: Image-to-image map on (B, C, H, W) tensors.
        g: Input (B, C, H, W).
        index: Transform number in ``0 .. 7``: 0 identity, 1 horizontal flip, 2-3 with a
            vertical flip, 4-7 the same after a transpose.

    Returns:
        ``fn``'s output brought back to ``g``'s geometry (gradients flow through).

    Raises:
        ValueError: If ``index`` is outside ``0 .. 7``.
    """
    if not 0 <= index < len(_COMBOS):
        raise ValueError(f"transformed_forward: index={index} is not in 0..{len(_COMBOS) - 1}")
    transpose, flip_h, flip_w = _COMBOS[index]
    return _invert(fn(_apply(g, transpose, flip_h, flip_w)), transpose, flip_h, flip_w)


def self_ensemble(fn: Callable[[Tensor], Tensor], g: Tensor, n: int = 8) -> Tensor:
    """Average ``fn`` over ``n`` geometric transforms of ``g`` (each undone on the output).

    Args:
        fn: Image-to-image map on (B, C, H, W) tensors (a network, or a tiled forward of one).
        g: Input (B, C, H, W); non-square inputs are fine (transposed passes see W x H).
        n: 1, 2, 4 or 8 transforms (see :data:`SELF_ENSEMBLE_SIZES`).

    Returns:
        The mean output, same shape, dtype and device as ``fn(g)``.

    Raises:
        ValueError: If ``n`` is not one of the allowed sizes.
    """
    if n not in SELF_ENSEMBLE_SIZES:
        raise ValueError(f"self_ensemble: n={n} is not one of {SELF_ENSEMBLE_SIZES}")
    total: Tensor | None = None
    for index in range(n):
        out = transformed_forward(fn, g, index)
        total = out if total is None else total + out
    assert total is not None
    return total / n
