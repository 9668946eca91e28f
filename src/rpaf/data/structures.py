"""Piecewise-constant "structure" images: the ground truths of the synthetic pairs.

A structure image is painted back to front: a flat (or smoothly graded) background, then random
polygons, ellipses, full-width bands, thin lines and a few smooth-gradient regions, all with
sharp edges. A quarter of the images are grey (R = G = B).

:func:`make_photo_structure` draws the other kind (``data.structure_set=photo``, training split
only): a random crop of one of scikit-image's bundled photographs (by default astronaut, cat,
coffee, rocket; ``data.photos`` adds the motorcycle scene or the cameraman, :data:`PHOTO_SOURCES`;
no download), downscaled by a random factor and cartoonised by a Felzenszwalb
segmentation with every segment painted its mean colour. Its region layout, sizes and
neighbouring colours are those of a natural scene, which the random shapes lack.

:func:`add_small_details` is the third kind (``data.structure_set=detail``, training split only):
many small discs, specks and short strokes (about 1.5-4 px radius) painted over a structure, from
faint to full contrast. Real images are full of such objects (the cones and lights of a street
scene), and a network trained only on large shapes takes them for texture.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from skimage.draw import polygon as draw_polygon

from rpaf.data.errors import check_number

__all__ = [
    "DETAIL_CONTRAST",
    "DETAIL_COUNT",
    "PHOTO_MAX_SIZE",
    "PHOTO_NAMES",
    "PHOTO_PAINTS",
    "PHOTO_SOURCES",
    "PLANE_RIDGE",
    "add_small_details",
    "check_paint",
    "check_photos",
    "check_segment_scale",
    "make_photo_structure",
    "make_structure",
    "paint_segments",
    "photo_max_size",
]

#: Every photograph a ``photo`` structure can come from: name -> scikit-image ``data`` loader
#: (all bundled with the package, no download). ``motorcycle`` is the left view of the stereo
#: pair (a cluttered garage scene); ``camera`` (the cameraman) is grey and used as R = G = B.
PHOTO_SOURCES: dict[str, str] = {"astronaut": "astronaut", "chelsea": "chelsea",
                                 "coffee": "coffee", "rocket": "rocket",
                                 "motorcycle": "stereo_motorcycle", "camera": "camera"}
#: The default photographs behind ``photo`` structures (``data.photos: null``).
PHOTO_NAMES: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket")
#: Largest ``photo`` structure side with the default photos: the short side of the smallest
#: (chelsea, 300) less one; :func:`photo_max_size` gives it for another selection.
PHOTO_MAX_SIZE = 299

#: Number of small objects per 96 x 96 pixels that ``detail`` structures get (scaled by area).
DETAIL_COUNT: tuple[int, int] = (6, 20)
#: Contrast of a small object: its colour is ``base + c * (colour - base)``, c in this range.
DETAIL_CONTRAST: tuple[float, float] = (0.2, 1.0)

_SHAPES = ("polygon", "ellipse", "band", "line", "gradient")
_SHAPE_P = (0.3, 0.25, 0.15, 0.15, 0.15)


def _colour(rng: np.random.Generator, grey: bool, avoid: np.ndarray | None = None) -> np.ndarray:
    """A random colour in [0.06, 0.94]^3 that differs from ``avoid`` by >= 0.15 somewhere."""
    for _ in range(8):
        c = np.full(3, rng.uniform(0.06, 0.94)) if grey else rng.uniform(0.06, 0.94, 3)
        if avoid is None or np.abs(c - avoid).max() >= 0.15:
            break
    return c.astype(np.float32)


def _window(
    cx: float, cy: float, r: float, size: int, width: int | None = None
) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """Bounding-box slices of a disc of radius r and the pixel-centre coordinates inside it.

    The image is ``size`` pixels high and ``width`` (default ``size``) wide.
    """
    width = size if width is None else width
    y0, y1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, size)
    x0, x1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, width)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    return slice(y0, y1), slice(x0, x1), yy, xx


def _paint(img: np.ndarray, ys: slice, xs: slice, mask: np.ndarray, fill: np.ndarray) -> None:
    """Paint ``fill`` ((3,) colour or (h, w, 3) field) into ``img[ys, xs]`` where ``mask``."""
    region = img[ys, xs]
    region[mask] = fill if fill.ndim == 1 else fill[mask]


def _gradient_fill(rng, grey, yy, xx, base) -> np.ndarray:
    """A linear colour ramp between two colours along a random direction over the window."""
    c1, c2 = _colour(rng, grey), _colour(rng, grey, base)
    a = rng.uniform(0, np.pi)
    t = np.cos(a) * xx + np.sin(a) * yy
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return (c1 + (c2 - c1) * t[..., None]).astype(np.float32)


def make_structure(rng: np.random.Generator, size: int) -> np.ndarray:
    """Draw one random piecewise-constant structure image.

    Args:
        rng: Source of randomness (the image is a deterministic function of its state).
        size: Side length in pixels.

    Returns:
        (size, size, 3) float32 array in [0.06, 0.94].
    """
    grey = rng.random() < 0.25
    img = np.empty((size, size, 3), np.float32)
    bg = _colour(rng, grey)
    if rng.random() < 0.3:  # smoothly graded background
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        img[:] = _gradient_fill(rng, grey, yy, xx, bg)
    else:
        img[:] = bg
    for _ in range(int(rng.integers(4, 11))):
        kind = _SHAPES[int(rng.choice(len(_SHAPES), p=_SHAPE_P))]
        cx, cy = rng.uniform(0, size, 2)
        base = img[min(int(cy), size - 1), min(int(cx), size - 1)]
        colour = _colour(rng, grey, base)
        as_polygon = kind == "polygon" or (kind == "gradient" and rng.random() < 0.5)
        if as_polygon:
            r = size * rng.uniform(0.06, 0.4)
            n = int(rng.integers(3, 9))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = r * rng.uniform(0.45, 1.0, n)  # star-shaped, so never self-intersecting
            rr, cc = draw_polygon(cy + rad * np.sin(ang), cx + rad * np.cos(ang), (size, size))
            if rr.size == 0:
                continue
            if kind == "gradient":
                fill = _gradient_fill(rng, grey, rr[:, None] + 0.5, cc[:, None] + 0.5, base)[:, 0]
                img[rr, cc] = fill
            else:
                img[rr, cc] = colour
        elif kind in ("ellipse", "gradient"):
            a, b = size * rng.uniform(0.04, 0.35, 2)
            phi = rng.uniform(0, np.pi)
            ys, xs, yy, xx = _window(cx, cy, max(a, b), size)
            u = (xx - cx) * np.cos(phi) + (yy - cy) * np.sin(phi)
            v = -(xx - cx) * np.sin(phi) + (yy - cy) * np.cos(phi)
            mask = (u / a) ** 2 + (v / b) ** 2 <= 1.0
            fill = _gradient_fill(rng, grey, yy, xx, base) if kind == "gradient" else colour
            _paint(img, ys, xs, mask, fill)
        elif kind == "band":
            phi = rng.uniform(0, np.pi)
            width = size * rng.uniform(0.04, 0.2)
            yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
            d = (xx - cx) * np.cos(phi) + (yy - cy) * np.sin(phi)
            img[np.abs(d) <= width / 2] = colour
        else:  # thin line segment, 1-3 px wide
            length = size * rng.uniform(0.2, 0.8)
            phi = rng.uniform(0, np.pi)
            half_w = rng.uniform(0.5, 1.6)
            dx, dy = np.cos(phi) * length / 2, np.sin(phi) * length / 2
            ys, xs, yy, xx = _window(cx, cy, length / 2 + 2, size)
            px, py = xx - (cx - dx), yy - (cy - dy)
            t = np.clip((px * 2 * dx + py * 2 * dy) / (length**2), 0.0, 1.0)
            dist = np.hypot(px - t * 2 * dx, py - t * 2 * dy)
            _paint(img, ys, xs, dist <= half_w, colour)
    return img


@lru_cache(maxsize=len(PHOTO_SOURCES))
def _photo(name: str) -> np.ndarray:
    """A bundled scikit-image photograph (:data:`PHOTO_SOURCES`): (H, W, 3) float32 in [0, 1]."""
    import skimage.data

    img = getattr(skimage.data, PHOTO_SOURCES[name])()
    if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
        img = img[0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.asarray(img[..., :3], np.float32) / 255.0


def check_photos(photos: Sequence[str] | None, key: str = "photos") -> tuple[str, ...]:
    """The photo selection as a tuple (``None``: :data:`PHOTO_NAMES`), else a ValueError naming
    ``key``: it must be a non-empty list of distinct names from :data:`PHOTO_SOURCES`."""
    if photos is None:
        return PHOTO_NAMES
    if isinstance(photos, str):
        raise ValueError(f"{key}={photos!r}: give a list of names, e.g. {key}=[{photos}]")
    names = tuple(photos)
    unknown = [n for n in names if n not in PHOTO_SOURCES]
    if not names or unknown:
        raise ValueError(f"{key}={list(names)!r}: "
                         + (f"unknown photo(s) {unknown}; " if unknown else "empty; ")
                         + f"choose from {sorted(PHOTO_SOURCES)} or null for the default "
                         f"{list(PHOTO_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{key}={list(names)!r} names a photo twice: list each once")
    return names


def photo_max_size(photos: Sequence[str] | None = None) -> int:
    """Largest ``photo`` structure side for a selection: its smallest short side less one."""
    return min(min(_photo(n).shape[:2]) for n in check_photos(photos)) - 1


def check_segment_scale(value: float, key: str = "photo_segment_scale") -> float:
    """``value`` as a float if it is a number in [0.25, 16], else a ValueError naming ``key``."""
    return check_number(value, key, 0.25, 16.0, "multiplies the photo structures' segment "
                        "sizes; 1 = default, 4 = fewer, larger segments")


#: How ``photo`` structures paint a segment: its mean colour, or the least-squares plane of its
#: colours over the pixel coordinates (keeps smooth shading inside a segment).
PHOTO_PAINTS = ("mean", "plane")
#: Ridge weight on the plane slopes (coordinates in image widths): thin or tiny segments, whose
#: slopes are ill-determined, fall back towards their mean colour.
PLANE_RIDGE = 1e-2


def check_paint(value: str, key: str = "photo_paint") -> str:
    """``value`` if it is one of :data:`PHOTO_PAINTS`, else a ValueError naming ``key``."""
    if value not in PHOTO_PAINTS:
        raise ValueError(f"{key}={value!r} is not one of {list(PHOTO_PAINTS)} (mean: flat "
                         "segments; plane: shading kept inside each segment)")
    return value


def paint_segments(image: np.ndarray, labels: np.ndarray, paint: str = "mean") -> np.ndarray:
    """Paint every segment of ``labels`` (H, W ints >= 0) from ``image`` (H, W, C).

    ``"mean"``: the segment's mean colour. ``"plane"``: per channel, the least-squares fit
    ``a + b x + c y`` over the segment's pixels (x, y in image widths about the centre), with
    :data:`PLANE_RIDGE` added to the slope terms of the normal equations.
    """
    check_paint(paint)
    flat = labels.ravel()
    n = int(flat.max()) + 1
    values = image.reshape(-1, image.shape[-1]).astype(np.float64)
    if paint == "mean":
        counts = np.bincount(flat, minlength=n)
        means = np.stack([np.bincount(flat, values[:, c], minlength=n)
                          for c in range(values.shape[1])], 1)
        means /= np.maximum(counts, 1)[:, None]
        return means[labels].astype(np.float32)
    h, w = labels.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    basis = np.stack([np.ones(h * w), (xx.ravel() - w / 2) / w, (yy.ravel() - h / 2) / w], 1)
    normal = np.empty((n, 3, 3))
    for i in range(3):
        for j in range(3):
            normal[:, i, j] = np.bincount(flat, basis[:, i] * basis[:, j], minlength=n)
    normal[:, 0, 0] += (normal[:, 0, 0] == 0)  # labels without pixels: keep them solvable
    normal[:, 1, 1] += PLANE_RIDGE
    normal[:, 2, 2] += PLANE_RIDGE
    rhs = np.stack([np.stack([np.bincount(flat, basis[:, i] * values[:, c], minlength=n)
                              for c in range(values.shape[1])], 1) for i in range(3)], 1)
    coef = np.linalg.solve(normal, rhs)  # (n, 3, C)
    painted = np.einsum("pi,pic->pc", basis, coef[flat])
    return painted.reshape(image.shape).astype(np.float32)


def make_photo_structure(rng: np.random.Generator, size: int,
                         photos: Sequence[str] | None = None,
                         segment_scale: float = 1.0, paint: str = "mean") -> np.ndarray:
    """A cartoonised crop of a bundled photograph: a natural piecewise-constant structure
    (piecewise-planar with ``paint="plane"``).

    The photo (one of ``photos``, default :data:`PHOTO_NAMES`) is downscaled by a random factor
    between the one that fits ``size`` into its short side and 0.6 (anti-aliased), cropped at a
    random place, flipped at random, segmented (Felzenszwalb, scale 30-300, minimum segment
    8-40 px, both times ``segment_scale``) and each segment painted with its mean colour
    (``paint="mean"``) or its least-squares colour plane (``"plane"``, :func:`paint_segments`).

    Args:
        rng: Source of randomness (the image is a deterministic function of its state).
        size: Side length in pixels (less than the selected photos' smallest short side:
            :func:`photo_max_size`; 299 for the default ones).
        photos: Names from :data:`PHOTO_SOURCES` drawn from with equal probability
            (``None``: :data:`PHOTO_NAMES`; the draws for that default are those of earlier
            releases, so their datasets are unchanged).
        segment_scale: Multiplies the Felzenszwalb scale and minimum segment size (> 1:
            fewer, larger segments; the random draws are the same for every value).
        paint: ``"mean"`` (flat segments) or ``"plane"`` (smooth shading kept inside them).

    Returns:
        (size, size, 3) float32 array in [0, 1].
    """
    from skimage.segmentation import felzenszwalb
    from skimage.transform import rescale

    names = check_photos(photos)
    limit = photo_max_size(names)
    if not 1 <= size <= limit:
        raise ValueError(f"photo structures need 1 <= size <= {limit} (the short side "
                         f"of the smallest photo, less one), got {size}: set data.size lower or "
                         "use data.structure_set=base")
    photo = _photo(names[int(rng.integers(len(names)))])
    lo = (size + 1) / min(photo.shape[:2])
    scaled = rescale(photo, rng.uniform(lo, max(lo, 0.6)), channel_axis=2, anti_aliasing=True)
    y = int(rng.integers(0, scaled.shape[0] - size + 1))
    x = int(rng.integers(0, scaled.shape[1] - size + 1))
    crop = np.ascontiguousarray(scaled[y:y + size, x:x + size], dtype=np.float32)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    segment_scale = check_segment_scale(segment_scale)
    labels = felzenszwalb(crop, scale=segment_scale * float(rng.uniform(30, 300)), sigma=0.5,
                          min_size=round(segment_scale * int(rng.integers(8, 41))))
    return np.clip(paint_segments(crop, labels, paint), 0.0, 1.0)


def add_small_details(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A copy of ``img`` with small, sharp objects painted over it (``structure_set=detail``).

    Draws ``DETAIL_COUNT`` objects per 96 x 96 pixels (scaled by the image area): discs of
    radius 1.5-4 px, specks of 1-2 px and short strokes 4-12 px long and 1-2 px wide, each
    with a colour between the colour under it and a random one (contrast factor in
    :data:`DETAIL_CONTRAST`, so some are faint).

    Args:
        rng: Source of randomness (the result is a deterministic function of its state).
        img: (H, W, 3) float32 structure in [0, 1].

    Returns:
        (H, W, 3) float32 array in [0, 1].
    """
    out = np.array(img, dtype=np.float32, copy=True)
    h, w = out.shape[:2]
    grey = bool(np.allclose(out[..., 0], out[..., 1]) and np.allclose(out[..., 1], out[..., 2]))
    lo, hi = DETAIL_COUNT
    scale = h * w / 96.0**2
    for _ in range(int(rng.integers(max(1, round(lo * scale)), max(2, round(hi * scale)) + 1))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        base = out[min(int(cy), h - 1), min(int(cx), w - 1)].copy()
        c = rng.uniform(*DETAIL_CONTRAST)
        colour = (base + c * (_colour(rng, grey, base) - base)).astype(np.float32)
        kind = rng.random()
        r = rng.uniform(1.5, 4.0) if kind < 0.5 else (
            rng.uniform(0.7, 1.2) if kind < 0.75 else rng.uniform(2.0, 6.0))
        ys, xs, yy, xx = _window(cx, cy, r, h, w)
        if kind < 0.75:  # disc or speck
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        else:  # short stroke of half-length r
            phi = rng.uniform(0, np.pi)
            along = (xx - cx) * np.cos(phi) + (yy - cy) * np.sin(phi)
            across = -(xx - cx) * np.sin(phi) + (yy - cy) * np.cos(phi)
            mask = (np.abs(along) <= r) & (np.abs(across) <= rng.uniform(0.5, 1.0))
        _paint(out, ys, xs, mask, colour)
    return np.clip(out, 0.0, 1.0)
