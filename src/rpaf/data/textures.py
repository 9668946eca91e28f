"""Procedural multi-scale textures and the split rules that keep test textures unseen.

Every family renders a zero-mean, unit-variance (H, W) field from a :class:`TextureComponent`
(family, period in pixels, orientation in degrees). Periodic families: stripes, checks, bricks,
dots, weave. Irregular families: fractal (band-pass spectral noise), blobs (scattered soft
spots), cellular (Worley/Voronoi). A texture is one component or a mixture of two.

Training-only families, drawn when a split uses the ``rich`` texture set
(:data:`TEXTURE_SETS`): hatch (thin pen lines, one to three crossing sets), zigzag (chevron
stripes), marble (stripes whose phase is warped by smooth noise), grain (low-pass white noise,
optionally thresholded into speckle) and scales (overlapping arcs). They widen the training
distribution without touching the test split: none of them is a held-out family, and they use
the training orientations and period bins.

The ``photo`` texture set (:data:`TEXTURE_SETS`) adds one more training-only family, ``photo``:
crops of scikit-image's three bundled grey texture photographs (brick, grass, gravel), scaled so
that their dominant spacing matches the component's period and rotated to its orientation. It is
listed three times in that set's family tuple, so about a third of the training components are
photographed. The test split never draws it.

The ``natural`` texture set (:data:`TEXTURE_SETS`) keeps everything of ``photo`` and adds the
training-only family ``pink``: broadband noise whose Fourier amplitude falls as ``f**-beta``
(beta in [0.5, 1.5]) from the pixel scale down to the component's period, where it is rolled
off. Photographed textures (felt, carpet, grass) are broadband like this: fine grain carries a
slow mottling of its local mean, which a band-limited procedural family never shows. ``pink``
is listed three times, so about a quarter of the training components use it.

Splits (:data:`SPLIT_RULES`) are disjoint in texture parameters, not only in seeds:

* train/val: families stripes, checks, bricks, dots, fractal, blobs; orientations
  0, 30, ..., 150 deg (+-5); periods in the geometric bins [3, 4.5), [6.75, 10.1), [15.2, 22.8),
  [34.2, 51.3), [76.9, 115.3) px.
* test: every family including the held-out weave and cellular; orientations
  15, 45, ..., 165 deg (+-5); periods in the interleaved bins [4.5, 6.75), [10.1, 15.2),
  [22.8, 34.2), [51.3, 76.9), [115.3, 173) px.

So no test texture shares a family-orientation-scale combination with training, and a third of
test textures come from families never seen in training. The ``rich`` set adds the
training-only families above to train/val; the test rule is the same for both sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "PHOTO_TEXTURES",
    "PINK_BETA",
    "SPLIT_RULES",
    "TEXTURE_SETS",
    "TextureComponent",
    "TextureRule",
    "check_texture_set",
    "render_component",
    "render_texture",
    "sample_texture",
]

_EDGES = 3.0 * 1.5 ** np.arange(11)  # 3, 4.5, 6.75, ..., 173 px


@dataclass(frozen=True)
class TextureRule:
    """Which texture parameters a split may draw.

    Attributes:
        families: Texture family names.
        angles: Base orientations in degrees (a uniform +-``angle_jitter`` is added).
        period_bins: (low, high) period ranges in pixels; a bin is chosen uniformly, then a
            period log-uniformly inside it.
        angle_jitter: Half-width of the orientation jitter in degrees.
    """

    families: tuple[str, ...]
    angles: tuple[float, ...]
    period_bins: tuple[tuple[float, float], ...]
    angle_jitter: float = 5.0


_TRAIN_RULE = TextureRule(
    families=("stripes", "checks", "bricks", "dots", "fractal", "blobs"),
    angles=tuple(float(a) for a in range(0, 180, 30)),
    period_bins=tuple((float(_EDGES[i]), float(_EDGES[i + 1])) for i in range(0, 10, 2)),
)
_TEST_RULE = TextureRule(
    families=("stripes", "checks", "bricks", "dots", "fractal", "blobs", "weave", "cellular"),
    angles=tuple(float(a) for a in range(15, 180, 30)),
    period_bins=tuple((float(_EDGES[i]), float(_EDGES[i + 1])) for i in range(1, 11, 2)),
)
SPLIT_RULES: dict[str, TextureRule] = {"train": _TRAIN_RULE, "val": _TRAIN_RULE, "test": _TEST_RULE}
_RICH_TRAIN_RULE = TextureRule(
    families=(*_TRAIN_RULE.families, "hatch", "zigzag", "marble", "grain", "scales"),
    angles=_TRAIN_RULE.angles,
    period_bins=_TRAIN_RULE.period_bins,
)
# Listed three times: the family is drawn uniformly from the tuple, so about 1/3 of components.
_PHOTO_TRAIN_RULE = TextureRule(
    families=(*_TRAIN_RULE.families, "photo", "photo", "photo"),
    angles=_TRAIN_RULE.angles,
    period_bins=_TRAIN_RULE.period_bins,
)
_NATURAL_TRAIN_RULE = TextureRule(
    families=(*_PHOTO_TRAIN_RULE.families, "pink", "pink", "pink"),
    angles=_TRAIN_RULE.angles,
    period_bins=_TRAIN_RULE.period_bins,
)
TEXTURE_SETS: dict[str, dict[str, TextureRule]] = {
    "base": SPLIT_RULES,
    "rich": {"train": _RICH_TRAIN_RULE, "val": _RICH_TRAIN_RULE, "test": _TEST_RULE},
    "photo": {"train": _PHOTO_TRAIN_RULE, "val": _PHOTO_TRAIN_RULE, "test": _TEST_RULE},
    "natural": {"train": _NATURAL_TRAIN_RULE, "val": _NATURAL_TRAIN_RULE, "test": _TEST_RULE},
}


@dataclass(frozen=True)
class TextureComponent:
    """One procedural texture layer.

    Attributes:
        family: One of the family names in :data:`SPLIT_RULES`.
        period: Characteristic scale (period, cell or blob spacing) in pixels.
        angle: Orientation in degrees.
        weight: Mixing weight inside a mixture.
        seed: Seed for the family's own random details (phases, jitter, spots).
    """

    family: str
    period: float
    angle: float
    weight: float = 1.0
    seed: int = 0


def check_texture_set(name: str, key: str = "texture_set") -> None:
    """Raise a ``ValueError`` naming ``key`` unless ``name`` is in :data:`TEXTURE_SETS`."""
    if name not in TEXTURE_SETS:
        raise ValueError(f"{key}={name!r} is not one of {sorted(TEXTURE_SETS)}")


def sample_texture(
    rng: np.random.Generator, split: str, texture_set: str = "base"
) -> tuple[TextureComponent, ...]:
    """Draw the parameters of one texture (one component, or a mixture of two) for ``split``.

    Args:
        rng: Random source.
        split: ``"train"``, ``"val"`` or ``"test"``.
        texture_set: ``"base"``, ``"rich"``, ``"photo"`` or ``"natural"``
            (:data:`TEXTURE_SETS`; only train/val differ).
    """
    check_texture_set(texture_set)
    rule = TEXTURE_SETS[texture_set][split]
    n = 2 if rng.random() < 0.3 else 1
    comps = []
    for k in range(n):
        lo, hi = rule.period_bins[int(rng.integers(len(rule.period_bins)))]
        comps.append(
            TextureComponent(
                family=rule.families[int(rng.integers(len(rule.families)))],
                period=float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
                angle=float(rule.angles[int(rng.integers(len(rule.angles)))]
                            + rng.uniform(-rule.angle_jitter, rule.angle_jitter)),
                weight=1.0 if k == 0 else float(rng.uniform(0.3, 0.8)),
                seed=int(rng.integers(2**31)),
            )
        )
    return tuple(comps)


@lru_cache(maxsize=8)
def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


def _rotated(size: int, angle: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates rotated by ``angle`` degrees, with a random offset."""
    yy, xx = _coords(size)
    a = np.deg2rad(angle)
    ox, oy = rng.uniform(0, 1000, 2)
    u = (xx + ox) * np.cos(a) + (yy + oy) * np.sin(a)
    v = -(xx + ox) * np.sin(a) + (yy + oy) * np.cos(a)
    return u, v


def _soft_square(s: np.ndarray, k: float) -> np.ndarray:
    """Sine -> square wave as k grows (k ~ 1: sinusoid; k ~ 8: hard edges)."""
    return np.tanh(k * s) / np.tanh(k)


def _spectral(size: int, amp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Real field whose Fourier amplitude is ``amp`` (rfft2 layout) with random phases."""
    spec = amp * (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape))
    return np.fft.irfft2(spec, s=(size, size)).astype(np.float32)


def _freqs(size: int, angle: float, stretch: float) -> np.ndarray:
    """Radial frequency (cycles/px) of the rfft2 grid, stretched ``stretch``x across ``angle``."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    a = np.deg2rad(angle)
    fu = fx * np.cos(a) + fy * np.sin(a)
    fv = -fx * np.sin(a) + fy * np.cos(a)
    return np.hypot(fu, fv * stretch)


def _stripes(size, c, rng):
    u, _ = _rotated(size, c.angle, rng)
    return _soft_square(np.sin(2 * np.pi * u / c.period), rng.uniform(1, 8))


def _checks(size, c, rng):
    u, v = _rotated(size, c.angle, rng)
    k = rng.uniform(2, 8)
    aspect = rng.uniform(0.6, 1.0)
    s_u = np.sin(2 * np.pi * u / c.period)
    s_v = np.sin(2 * np.pi * v / (c.period * aspect))
    return _soft_square(s_u, k) * _soft_square(s_v, k)


def _bricks(size, c, rng):
    u, v = _rotated(size, c.angle, rng)
    h = c.period * rng.uniform(0.35, 0.6)
    row = np.floor(v / h)
    uu = u + (row % 2) * c.period / 2
    col = np.floor(uu / c.period)
    bed, joint = max(1.0, 0.12 * h), max(1.0, 0.06 * c.period)  # mortar widths
    mortar = ((v - row * h) < bed) | ((uu - col * c.period) < joint)
    shade = rng.uniform(0.4, 1.0, 64).astype(np.float32)[((row * 7 + col * 13) % 64).astype(int)]
    return np.where(mortar, -1.0, shade).astype(np.float32)


def _dots(size, c, rng):
    u, v = _rotated(size, c.angle, rng)
    p = c.period
    if rng.random() < 0.5:  # hexagonal lattice: offset every other row
        v = v * (2 / np.sqrt(3))
        u = u + (np.floor(v / p) % 2) * p / 2
    du = (u % p) - p / 2
    dv = (v % p) - p / 2
    r = p * rng.uniform(0.15, 0.35)
    return np.clip(r - np.hypot(du, dv) + 0.5, 0.0, 1.0)  # anti-aliased discs


def _weave(size, c, rng):
    u, v = _rotated(size, c.angle, rng)
    p = c.period
    n = int(rng.integers(2, 5))  # threads per cell
    parity = (np.floor(u / p) + np.floor(v / p)) % 2
    across = np.where(parity == 0, v, u)
    along = np.where(parity == 0, u, v)
    thread = np.sin(np.pi * n * across / p) ** 2
    return thread * (0.7 + 0.3 * np.cos(2 * np.pi * along / p))


def _fractal(size, c, rng):
    f = _freqs(size, c.angle, rng.uniform(1.0, 3.0))
    f0 = 1.0 / c.period
    sigma = rng.uniform(0.5, 1.0)  # octaves of bandwidth: broad band = fractal-like
    with np.errstate(divide="ignore"):
        amp = np.exp(-(np.log(f / f0) ** 2) / (2 * sigma**2))
    amp[0, 0] = 0.0
    return _spectral(size, amp, rng)


def _blobs(size, c, rng):
    n = max(1, int((size / c.period) ** 2 * rng.uniform(0.3, 1.0)))
    imp = np.zeros((size, size), np.float32)
    ys, xs = rng.integers(0, size, (2, n))
    np.add.at(imp, (ys, xs), rng.uniform(0.5, 1.0, n).astype(np.float32))
    sig = c.period * rng.uniform(0.15, 0.3)
    f = _freqs(size, c.angle, rng.uniform(1.0, 2.0))
    field = np.fft.irfft2(np.fft.rfft2(imp) * np.exp(-2 * (np.pi * sig * f) ** 2), s=(size, size))
    field = field / (field.max() + 1e-8)
    return np.tanh(6.0 * (field - 0.3)).astype(np.float32)  # soft-thresholded spots


def _cellular(size, c, rng):
    p = c.period
    u, v = _rotated(size, c.angle, rng)
    gu, gv = np.floor(u / p).astype(np.int64), np.floor(v / p).astype(np.int64)
    d1 = np.full(u.shape, np.inf, np.float32)
    d2 = np.full(u.shape, np.inf, np.float32)
    cell_id = np.zeros(u.shape, np.int64)
    salt = int(rng.integers(1, 2**20))
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            cu, cv = gu + di, gv + dj
            h = (cu * 73856093 ^ cv * 19349663 ^ salt) & 0xFFFF  # per-cell hash -> jitter
            ju, jv = (h % 251) / 251.0, ((h // 251) % 257) / 257.0
            d = np.hypot((cu + ju) * p - u, (cv + jv) * p - v).astype(np.float32)
            closer = d < d1
            d2 = np.where(closer, d1, np.minimum(d2, d))
            cell_id = np.where(closer, h, cell_id)
            d1 = np.where(closer, d, d1)
    variant = int(rng.integers(3))
    if variant == 0:  # cracks between cells
        return -np.clip((d2 - d1) / (0.15 * p), 0.0, 1.0)
    if variant == 1:  # distance-shaded cells
        return d1 / p
    return rng.uniform(0, 1, 0x10000).astype(np.float32)[cell_id]  # flat mosaic tiles


def _line_profile(u: np.ndarray, period: float, width: float) -> np.ndarray:
    """Anti-aliased lines of ``width`` px, one every ``period`` px along ``u``."""
    d = np.abs((u / period) % 1.0 - 0.5) * period  # distance (px) to the nearest line centre
    return np.clip(0.5 * width - d + 0.5, 0.0, 1.0)


def _hatch(size, c, rng):
    n_sets = int(rng.integers(1, 4))
    width = max(1.0, c.period * rng.uniform(0.1, 0.3))
    out = np.zeros((size, size), np.float32)
    for k in range(n_sets):  # extra sets at +60/+90/+120 deg keep training orientations
        offset = 0.0 if k == 0 else float(rng.choice([60.0, 90.0, 120.0]))
        u, _ = _rotated(size, c.angle + offset, rng)
        out = np.maximum(out, _line_profile(u, c.period, width))
    return out


def _zigzag(size, c, rng):
    u, v = _rotated(size, c.angle, rng)
    wavelength = c.period * rng.uniform(1.0, 3.0)
    tri = 2.0 * np.abs((v / wavelength) % 1.0 - 0.5)  # triangle wave in [0, 1]
    shift = c.period * rng.uniform(0.3, 1.0) * tri
    return _soft_square(np.sin(2 * np.pi * (u + shift) / c.period), rng.uniform(1, 8))


def _marble(size, c, rng):
    u, _ = _rotated(size, c.angle, rng)
    f = _freqs(size, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        amp = np.where(f > 0, f ** -2.0, 0.0) * (f < 2.0 / c.period)  # smooth warp field
    warp = _spectral(size, amp, rng)
    warp = warp / (float(warp.std()) + 1e-8)
    phase = u + c.period * rng.uniform(0.1, 0.3) * warp  # small warp: near-train orientations
    return _soft_square(np.sin(2 * np.pi * phase / c.period), rng.uniform(1, 4))


def _grain(size, c, rng):
    sig = c.period / 6.0
    f = _freqs(size, c.angle, rng.uniform(1.0, 2.0))
    field = _spectral(size, np.exp(-2 * (np.pi * sig * f) ** 2), rng)
    field = field / (float(field.std()) + 1e-8)
    if rng.random() < 0.5:  # speckle: sparse bright/dark specks
        thr = rng.uniform(0.8, 1.8)
        return (np.clip(field - thr, 0, None) - np.clip(-field - thr, 0, None)).astype(np.float32)
    return field


def _scales(size, c, rng):
    u, v = _rotated(size, c.angle, rng)
    p, h = c.period, c.period * rng.uniform(0.4, 0.6)
    row = np.floor(v / h)
    uu = u + (row % 2) * p / 2
    du = (uu % p) - p / 2
    dv = v - row * h  # 0..h below the row's top edge
    r = np.hypot(du, dv)
    rim = max(1.0, 0.12 * p)
    return np.clip(1.0 - np.abs(r - 0.5 * p) / rim, 0.0, 1.0) * (r < 0.5 * p + rim)


#: The bundled grey texture photographs of the ``photo`` family and their dominant spacing in
#: pixels at full size (measured by eye: brick courses, grass blades, gravel stones).
PHOTO_TEXTURES: dict[str, float] = {"brick": 24.0, "grass": 10.0, "gravel": 16.0}
#: Range of the photo family's resampling factor (output px per source px).
PHOTO_TEXTURE_SCALE = (0.35, 3.0)


@lru_cache(maxsize=len(PHOTO_TEXTURES))
def _photo_texture_source(name: str) -> np.ndarray:
    """One bundled grey texture photograph as (H, W) float32 in [0, 1]."""
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)(), np.float32) / 255.0
    img.flags.writeable = False
    return img


def _photo(size, c, rng):
    """A crop of a texture photograph, scaled so its spacing is ``c.period``, rotated by
    ``c.angle``; bilinear resampling with mirrored borders, low-passed first when shrinking."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    names = sorted(PHOTO_TEXTURES)
    name = names[int(rng.integers(len(names)))]
    src = _photo_texture_source(name)
    scale = float(np.clip(c.period / PHOTO_TEXTURES[name], *PHOTO_TEXTURE_SCALE))
    if scale < 1.0:  # anti-alias: the source is minified
        src = gaussian_filter(src, 0.5 * (1.0 / scale - 1.0) + 1e-6, mode="mirror")
    a = np.deg2rad(c.angle)
    yy, xx = _coords(size)
    dy, dx = (yy - size / 2) / scale, (xx - size / 2) / scale
    cy, cx = rng.uniform(0, src.shape[0]), rng.uniform(0, src.shape[1])
    sy = cy + dx * np.sin(a) + dy * np.cos(a)
    sx = cx + dx * np.cos(a) - dy * np.sin(a)
    return map_coordinates(src, [sy, sx], order=1, mode="mirror").astype(np.float32)


#: Range of the ``pink`` family's spectral exponent: amplitude ~ f**-beta (power f**-2beta).
PINK_BETA = (0.5, 1.5)


def _pink(size, c, rng):
    """Broadband noise, Fourier amplitude ``f**-beta`` above the roll-off frequency
    ``1 / c.period`` (Gaussian high-pass there), slightly anisotropic along ``c.angle``."""
    f = _freqs(size, c.angle, rng.uniform(1.0, 1.5))
    beta = rng.uniform(*PINK_BETA)
    f0 = 1.0 / c.period
    with np.errstate(divide="ignore"):
        amp = np.where(f > 0, f ** -beta, 0.0) * (1.0 - np.exp(-((f / f0) ** 2)))
    return _spectral(size, amp, rng)


_FAMILIES = {
    "stripes": _stripes, "checks": _checks, "bricks": _bricks, "dots": _dots,
    "weave": _weave, "fractal": _fractal, "blobs": _blobs, "cellular": _cellular,
    "hatch": _hatch, "zigzag": _zigzag, "marble": _marble, "grain": _grain, "scales": _scales,
    "photo": _photo, "pink": _pink,
}


def _normalise(t: np.ndarray) -> np.ndarray:
    """Zero mean, unit std; a (numerically) flat field becomes all zeros."""
    t = t.astype(np.float32)
    t -= t.mean()
    std = float(t.std())
    return t / std if std > 1e-4 else np.zeros_like(t)


def render_component(c: TextureComponent, size: int) -> np.ndarray:
    """Render one component as a zero-mean, unit-std (size, size) float32 field."""
    return _normalise(_FAMILIES[c.family](size, c, np.random.default_rng(c.seed)))


def render_texture(
    comps: tuple[TextureComponent, ...], size: int, *, colour: bool, rng: np.random.Generator
) -> np.ndarray:
    """Render a (mixture) texture.

    Args:
        comps: Components from :func:`sample_texture`.
        size: Side length in pixels.
        colour: False: a grey field (size, size); True: (size, size, 3), each component tinted
            by its own random colour direction.
        rng: Source of the tints.

    Returns:
        Zero-mean field with unit RMS over all its values, float32.
    """
    fields = [c.weight * render_component(c, size) for c in comps]
    if not colour:
        return _normalise(sum(fields))
    out = np.zeros((size, size, 3), np.float32)
    for f in fields:
        tint = np.full(3, 1.0) if rng.random() < 0.3 else rng.uniform(-1.0, 1.0, 3)
        tint = tint / max(float(np.abs(tint).max()), 1e-6)
        out += f[..., None] * tint.astype(np.float32)
    out -= out.mean(axis=(0, 1))
    rms = float(np.sqrt((out**2).mean()))
    return out / rms if rms > 1e-4 else np.zeros_like(out)
