"""Robust image reading and writing: any common file -> RGB float32 in [0, 1].

Pillow decodes almost everything and reports truncated files; the two things it cannot do
(16-bit *colour* PNG, 16-bit TIFF) are routed to OpenCV and tifffile so precision is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from rpaf.data.errors import DatasetError

__all__ = ["IMAGE_EXTENSIONS", "is_image_file", "read_image", "to_tensor", "write_image"]

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif",
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has one of the image extensions in :data:`IMAGE_EXTENSIONS`."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _png_is_16bit_colour(path: Path) -> bool:
    """Read the PNG IHDR: bit depth 16 with colour type 2 (RGB) or 6 (RGBA)."""
    with open(path, "rb") as f:
        head = f.read(26)
    return head[:8] == _PNG_SIGNATURE and len(head) == 26 and head[24] == 16 and head[25] in (2, 6)


def _as_float_rgb(arr: np.ndarray, path: Path) -> np.ndarray:
    """Integer/float array (H, W[, C]) -> (H, W, 3) float32 in [0, 1]; drops alpha."""
    if np.issubdtype(arr.dtype, np.integer):
        scale = float(np.iinfo(arr.dtype).max)
        out = arr.astype(np.float32) / scale
    else:  # float TIFF/EXR-like data: assumed already in [0, 1]
        out = np.clip(arr.astype(np.float32), 0.0, 1.0)
    if out.ndim == 2:
        out = out[..., None]
    if out.ndim != 3 or out.shape[2] not in (1, 2, 3, 4):
        raise DatasetError(f"{path}: unsupported image array shape {arr.shape}; save it as RGB PNG")
    if out.shape[2] in (2, 4):  # grey+alpha / RGB+alpha: drop alpha (as cv2.imread does)
        out = out[..., :-1]
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out)


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """Decoded Pillow image -> numpy array keeping the bit depth of grey images."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im, dtype=np.uint16)
    if mode == "I":  # Pillow's 32-bit int container for 16-bit grey PNG/TIFF
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
    if mode == "F":
        return np.asarray(im, dtype=np.float32)
    if mode in ("L", "RGB"):
        return np.asarray(im)
    if mode in ("LA", "RGBA"):
        return np.asarray(im)[..., :-1]
    # palette (with or without transparency), 1-bit, CMYK, YCbCr, La, PA, ...
    return np.asarray(im.convert("RGBA"))[..., :3]


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB float32 in [0, 1].

    Grey images are replicated to three channels, alpha is dropped (as ``cv2.imread`` and the
    dataset authors' loaders do), palette images are expanded, and 16-bit files keep their
    precision (divided by 65535).

    Args:
        path: Image file (PNG, JPEG, BMP, TIFF, WebP, ...).

    Returns:
        Array of shape (H, W, 3), dtype float32, values in [0, 1].

    Raises:
        DatasetError: The file is missing, empty (zero bytes), truncated or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: file is empty (0 bytes); re-copy or delete it")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            return _as_float_rgb(tifffile.imread(path), path)
        if _png_is_16bit_colour(path):
            import cv2

            arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if arr is None:
                raise OSError("OpenCV could not decode the 16-bit PNG")
            arr = arr[..., [2, 1, 0, 3][: arr.shape[2]]]  # BGR(A) -> RGB(A)
            return _as_float_rgb(arr, path)
        with Image.open(path) as im:
            im.load()  # full decode: raises on truncated data
            arr = _pil_to_array(im)
    except DatasetError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise DatasetError(
            f"{path}: cannot read image ({type(err).__name__}: {err}); the file is truncated, "
            "corrupt or not an image. Replace it, or set skip_bad_files=true to skip it."
        ) from err
    return _as_float_rgb(arr, path)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float array -> contiguous (3, H, W) float32 tensor (values unchanged)."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()


def _to_hwc(image: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        t = image.detach().to("cpu", torch.float32)
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"write_image takes one image, got shape {tuple(t.shape)}")
            t = t[0]
        if t.ndim == 3:
            t = t.permute(1, 2, 0)
        arr = t.numpy()
    else:
        arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(
            f"write_image expects (H, W), (H, W, 3), (3, H, W) or (1, 3, H, W); got {arr.shape}"
        )
    return np.clip(arr, 0.0, 1.0)


def write_image(path: str | Path, image: np.ndarray | torch.Tensor, *, bits: int = 8) -> Path:
    """Write an image in [0, 1] to disk (format from the extension; parent folders created).

    Args:
        path: Output file (``.png`` for lossless; ``bits=16`` needs ``.png`` or ``.tif``).
        image: (H, W, 3) or (H, W) numpy array, or a (3, H, W) / (1, 3, H, W) tensor, in [0, 1]
            (values outside are clipped).
        bits: 8 or 16 bits per channel.

    Returns:
        The path written.
    """
    path = Path(path)
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    arr = _to_hwc(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    if bits == 8:
        Image.fromarray(np.round(arr * 255.0).astype(np.uint8)).save(path)
        return path
    arr16 = np.round(arr * 65535.0).astype(np.uint16)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, arr16)
    elif suffix == ".png":
        import cv2

        out = arr16 if arr16.ndim == 2 else arr16[..., ::-1]  # RGB -> BGR for OpenCV
        if not cv2.imwrite(str(path), np.ascontiguousarray(out)):
            raise OSError(f"OpenCV could not write {path}")
    else:
        raise ValueError(f"{path}: 16-bit output needs a .png or .tif extension")
    return path
