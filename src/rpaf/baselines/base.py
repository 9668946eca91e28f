"""Common base for the classical smoothing baselines.

Every baseline is a plain callable object::

    method = rpaf.baselines.L0Smoothing(lam=0.02)
    out = method(img)  # img: (B, 3, H, W) float in [0, 1] -> (B, 3, H, W) float32 in [0, 1]

built from ``conf/method/<name>.yaml`` through Hydra's ``_target_`` (there is deliberately no
registry here). The base class validates the input, never modifies it (every numpy path works on
a private float64 copy, so a tensor that shares memory with a numpy array is safe), runs the
method per batch element, clips the result to [0, 1] and returns float32 on the input's device.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

__all__ = ["ClassicalSmoother", "check_image", "numpy_to_tensor", "tensor_to_numpy"]

#: Values this far outside [0, 1] are tolerated (and clipped); anything further is an error.
RANGE_TOLERANCE = 1e-3


def check_image(img: Any, who: str, min_size: int = 2) -> None:
    """Validate a batch of RGB images and raise a clear error if it is not one.

    Args:
        img: the candidate, expected to be a float tensor of shape (B, 3, H, W) in [0, 1].
        who: name of the calling method, used in the error messages.
        min_size: smallest allowed H and W.

    Raises:
        TypeError: ``img`` is not a floating-point ``torch.Tensor``.
        ValueError: wrong shape, too small, non-finite values, or values outside [0, 1].
    """
    if not isinstance(img, Tensor):
        raise TypeError(
            f"{who}: expected a torch.Tensor of shape (B, 3, H, W) in [0, 1], got "
            f"{type(img).__name__}; convert a HxWx3 numpy image with "
            "torch.from_numpy(a).permute(2, 0, 1)[None]"
        )
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(
            f"{who}: expected shape (B, 3, H, W), got {tuple(img.shape)}; add a batch axis with "
            "img[None] and expand grey images with img.expand(-1, 3, -1, -1)"
        )
    if not img.is_floating_point():
        raise TypeError(
            f"{who}: expected a floating-point tensor in [0, 1], got dtype {img.dtype}; "
            "use img.float() / 255 for 8-bit images"
        )
    h, w = img.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(f"{who}: image size {h}x{w} is below the minimum {min_size}x{min_size}")
    if img.numel() == 0:
        raise ValueError(f"{who}: empty batch of shape {tuple(img.shape)}")
    if not bool(torch.isfinite(img).all()):
        raise ValueError(f"{who}: input contains NaN or Inf values")
    lo, hi = float(img.min()), float(img.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        hint = " (it looks like 8-bit data: divide by 255)" if hi > 2 else ""
        raise ValueError(
            f"{who}: input values must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]{hint}"
        )


def tensor_to_numpy(img: Tensor) -> list[np.ndarray]:
    """Copy a (B, 3, H, W) tensor into a list of B float64 HxWx3 numpy arrays.

    The arrays never share memory with ``img`` (the "in-place trap": ``Tensor.numpy()`` on a CPU
    tensor is a view, and some filters write into their input).

    Args:
        img: tensor of shape (B, 3, H, W) on any device.

    Returns:
        B independent, C-contiguous float64 arrays of shape (H, W, 3).
    """
    arr = img.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()
    return [np.array(a, dtype=np.float64, copy=True, order="C") for a in arr]


def numpy_to_tensor(images: list[np.ndarray], like: Tensor) -> Tensor:
    """Stack HxWx3 arrays into a (B, 3, H, W) float32 tensor on ``like``'s device, in [0, 1].

    Args:
        images: B arrays of shape (H, W, 3).
        like: the input tensor whose device the result follows.

    Returns:
        Tensor of shape (B, 3, H, W), float32, values in [0, 1].
    """
    stacked = np.stack([np.asarray(a, dtype=np.float32) for a in images], axis=0)
    out = torch.from_numpy(np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)))
    return out.clamp_(0.0, 1.0).to(like.device)


class ClassicalSmoother:
    """Base class: validation, tensor <-> numpy conversion, device round trip, clipping.

    Subclasses implement either :meth:`smooth_numpy` (one float64 HxWx3 image at a time, run on the
    CPU) or override :meth:`_smooth` (whole float32 batch as a tensor on the input's device).

    Attributes:
        name: short method name used in result tables and file names.
        needs_target: True for methods that need the ground truth as a second argument
            (``method(img, target)``); the evaluation harness must check it.
        min_size: smallest image height/width the method accepts.
    """

    name: ClassVar[str] = "classical"
    needs_target: ClassVar[bool] = False
    min_size: ClassVar[int] = 2

    def __call__(self, img: Tensor) -> Tensor:
        """Smooth a batch of images.

        Args:
            img: (B, 3, H, W) float tensor in [0, 1] on any device. It is not modified.

        Returns:
            (B, 3, H, W) float32 tensor in [0, 1] on ``img``'s device.
        """
        check_image(img, self.name, self.min_size)
        with torch.no_grad():
            out = self._smooth(img.detach())
        return out.to(device=img.device, dtype=torch.float32).clamp_(0.0, 1.0)

    def _smooth(self, img: Tensor) -> Tensor:
        """Default batch path: copy every image to numpy and run :meth:`smooth_numpy` on it."""
        return numpy_to_tensor([self.smooth_numpy(a) for a in tensor_to_numpy(img)], like=img)

    def smooth_numpy(self, img: np.ndarray) -> np.ndarray:
        """Smooth one image.

        Args:
            img: float64 array of shape (H, W, 3) in [0, 1] (a private copy; may be overwritten).

        Returns:
            Array of shape (H, W, 3); clipping to [0, 1] happens in the caller.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement smooth_numpy or _smooth")

    def params(self) -> dict[str, Any]:
        """The constructor parameters of this instance (for logging and table captions)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
