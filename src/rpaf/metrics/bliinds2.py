"""BLIINDS-II no-reference image quality (Saad, Bovik & Charrier, IEEE TIP 21(8), 2012).

A vectorised numpy port of the published algorithm ("Blind image quality assessment: a natural
scene statistics approach in the DCT domain"), following the LIVE release's conventions so
that it reproduces the release's features and score (checked against
``../shared/iqa/bliinds2/reference.json``: 24 features to < 1e-5 relative, score 23.5 for
scikit-image's astronaut).

Algorithm (per image)
---------------------
1. Grey level in [0, 255]: MATLAB ``rgb2gray`` of the uint8 image (BT.601 weights
   0.298936/0.587043/0.114021, rounded to uint8), as the release is run on RGB files.
2. Three scales: ``I1 = I``; ``I_{k+1} = (G * I_k)[1::2, 1::2]`` with ``G`` the 3x3 Gaussian
   (sigma 0.5, MATLAB ``fspecial('gaussian', 3)``), zero padding (``imfilter`` default).
3. At each scale, 5x5 blocks with a 1-pixel overlap ring: the image is zero-padded to a
   multiple of 3 (bottom/right) plus a 1-pixel zero border and cut into 3x3 cores each read
   with its 1-pixel surround (MATLAB ``blkproc(I, [3 3], [1 1], fun)``); orthonormal 2-D DCT
   (``dct2``) of every block.
4. Per block, from the 24 AC coefficients (paper Sec. III):
   * ``gamma``: generalised-Gaussian shape parameter by moment matching (paper eq. 2-3):
     ``rho = var(x) / (mean|x - mean x| ^ 2 + 1e-7)`` is matched to
     ``r(g) = Gamma(1/g) Gamma(3/g) / Gamma(2/g)^2`` on the grid ``g = 0.03:0.001:10``
     (``g_j`` with ``r(g_{j+1}) < rho <= r(g_j)``; 11 when outside the table);
   * ``zeta`` (coefficient of frequency variation, eq. 4): ``std|x| / (mean|x| + 1e-7)``;
   * ``R`` (energy subband ratio, eq. 5-6): with ``v1, v2, v3`` the sample variances of the
     low (5 coeffs), mid (13) and high (6) frequency bands,
     ``R = (|v3 - (v1+v2)/2| / (v3 + (v1+v2)/2 + 1e-8) + |v2 - v1| / (v3 + v1 + 1e-8)) / 2``;
   * orientation (eq. 7): ``zeta`` of each of three oriented 8-coefficient regions (upper
     right, diagonal, lower left of the 5x5 block), then their sample variance.
   Variances and standard deviations are unbiased (``ddof=1``) as in MATLAB.
5. Pooling per scale: mean over all blocks ("100th percentile") and mean of the
   ``ceil(n/10)`` most extreme blocks ("10th percentile": largest values for ``zeta``,
   ``R`` and orientation, smallest for ``gamma``). Feature order per scale:
   ``[zeta_100, zeta_10, gamma_100, gamma_10, R_100, R_10, ori_100, ori_10]``, scales
   1, 2, 3 concatenated (24 features).
6. Prediction (paper eq. 8, the "probabilistic model"): with ``v = [features, s]``,
   ``p(s | features) ~ exp(-(b (v - mu) Sigma^-1 (v - mu)^T) ^ gama)``, maximised over
   ``s in 1:0.5:100``. The LIVE release then reports ``s - 1`` (it indexes the grid
   ``0:0.5:100`` with the arg-max position of the grid ``1:0.5:100``); this port reproduces
   that, so scores lie in ``[0, 99]`` in steps of 0.5. We take the arg-min of the quadratic
   form, which equals the arg-max of ``p`` except where MATLAB's ``p`` underflows to 0 for
   every ``s`` (then MATLAB returns 0).

Direction
---------
The score is on the LIVE DMOS scale: **lower is better** (the reference gives 7.5 for a clean
crop and 38.0 for the same crop with Gaussian noise). The RPAF paper's Table 3 marks
"BLIINDS2 up-arrow"; we keep the original's meaning and flag ``higher_is_better = False``.

Model
-----
The LIVE-trained parameters (``b, gama, mu (25), sigma_inv (25x25)``) are *not* shipped with
this package (LIVE licence). They are read from a JSON file with keys ``live_b``,
``live_gama``, ``live_mu``, ``live_sigma_inv``: the ``model_path`` argument, else
``$RPAF_BLIINDS2_MODEL``, else ``<param_dir>/bliinds2/live_model.json`` with ``param_dir``
the argument or ``$RPAF_IQA_DIR``.

Speed: about 0.3 s per 512x512 image on one CPU core (numpy, float64).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy.fft import dct
from scipy.ndimage import correlate1d
from scipy.special import gammaln
from torch import Tensor

from rpaf.metrics.no_reference import IQA_DIR_ENV

__all__ = [
    "BLIINDS2",
    "BLIINDS2Model",
    "BLIINDS2_MODEL_ENV",
    "FEATURE_NAMES",
    "bliinds2_features",
    "bliinds2_score",
    "block_dct",
    "block_features",
    "matlab_rgb2gray",
    "resolve_model_path",
]

BLIINDS2_MODEL_ENV = "RPAF_BLIINDS2_MODEL"
_MODEL_REL_PATH = Path("bliinds2") / "live_model.json"

#: Names of the 24 features in order.
FEATURE_NAMES: tuple[str, ...] = tuple(
    f"L{s}_{f}"
    for s in (1, 2, 3)
    for f in ("zeta_100", "zeta_10", "gamma_100", "gamma_10", "R_100", "R_10", "ori_100", "ori_10")
)

# MATLAB rgb2gray weights (inverse of the NTSC YIQ transform, as MATLAB computes them).
_GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def _mask(entries: list[tuple[int, int]]) -> np.ndarray:
    m = np.zeros((5, 5), dtype=bool)
    for i, j in entries:
        m[i, j] = True
    return m


# Oriented regions of the 5x5 DCT block (row = vertical frequency, col = horizontal), eq. 7.
_ORI1 = _mask([(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4), (2, 4)])
_ORI2 = _mask([(1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (3, 4), (4, 3), (4, 4)])
_ORI3 = _ORI1.T
# Frequency bands for the energy subband ratio, eq. 5-6 (low / mid / high).
_BAND1 = _mask([(0, 1), (1, 0), (0, 2), (2, 0), (1, 1)])
_BAND2 = _mask([(3, 0), (4, 0), (2, 1), (3, 1), (4, 1), (1, 2), (2, 2), (3, 2),
                (0, 3), (1, 3), (2, 3), (0, 4), (1, 4)])  # fmt: skip
_BAND3 = _mask([(2, 4), (3, 3), (4, 2), (3, 4), (4, 3), (4, 4)])
# Orthonormal DCT-II matrix: D @ x == dct(x, norm="ortho"); dct2(B) == D @ B @ D.T.
_DCT5 = dct(np.eye(5), norm="ortho", axis=0)
_DCT5_KRON = np.kron(_DCT5, _DCT5)
# fspecial('gaussian', 3) (sigma 0.5) is separable: outer product of this normalised 1-D kernel.
_GAUSS3 = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * 0.5**2))
_GAUSS3 /= _GAUSS3.sum()
_EPS_RHO = 1e-7
_EPS_BAND = 1e-8
_GAMMA_OUTSIDE = 11.0


@lru_cache(maxsize=1)
def _gamma_table() -> tuple[np.ndarray, np.ndarray]:
    """Grid ``g = 0.03:0.001:10`` and the ascending reversed ratio table ``r(g)[::-1]``."""
    g = 0.03 + 0.001 * np.arange(9971)
    r = np.exp(gammaln(1.0 / g) + gammaln(3.0 / g) - 2.0 * gammaln(2.0 / g))  # eq. 3
    return g, r[::-1].copy()


def _gamma_from_ratio(rho: np.ndarray) -> np.ndarray:
    """GGD shape by table look-up: ``g_j`` with ``r_{j+1} < rho <= r_j``, else 11."""
    g, r_asc = _gamma_table()
    n = g.size
    i = np.searchsorted(r_asc, rho, side="left")  # r_asc[i-1] < rho <= r_asc[i]
    inside = (i >= 1) & (i <= n - 1)
    j = np.clip(n - 1 - i, 0, n - 1)  # index into the descending table
    return np.where(inside, g[j], _GAMMA_OUTSIDE)


def _cv_abs(x: np.ndarray) -> np.ndarray:
    """Coefficient of variation of ``|x|`` along the last axis, eq. 4."""
    a = np.abs(x)
    return a.std(axis=-1, ddof=1) / (a.mean(axis=-1) + _EPS_RHO)


def matlab_rgb2gray(img: np.ndarray | Tensor, *, quantize: bool = True) -> np.ndarray:
    """Grey level in [0, 255] as the LIVE release sees an RGB file.

    Args:
        img: ``(H, W, 3)`` or ``(H, W)`` numpy uint8 in [0, 255] or float in [0, 1]; or a
            tensor ``(3, H, W)``, ``(1, H, W)``, ``(1, 3, H, W)`` in [0, 1].
        quantize: Round float input to uint8 first and round the grey level (MATLAB's
            uint8 ``rgb2gray``), which is what the reference values were computed from.

    Returns:
        ``(H, W)`` float64 array in [0, 255].

    Raises:
        ValueError: On an unsupported shape.
    """
    if isinstance(img, Tensor):
        t = img.detach()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"one image expected, got a batch of shape {tuple(t.shape)}")
            t = t[0]
        if t.ndim == 3:
            t = t.permute(1, 2, 0)
        arr = t.to("cpu", torch.float64).numpy() * 255.0
    else:
        arr = np.asarray(img)
        arr = arr.astype(np.float64) if arr.dtype == np.uint8 else arr.astype(np.float64) * 255.0
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        if quantize:
            arr = np.floor(np.clip(arr[..., :3], 0.0, 255.0) + 0.5)
        arr = arr[..., :3] @ _GRAY_WEIGHTS
    elif arr.ndim != 2:
        raise ValueError(f"expected a grey or RGB image, got array shape {arr.shape}")
    arr = np.clip(arr, 0.0, 255.0)
    return np.floor(arr + 0.5) if quantize else arr


def block_dct(x: np.ndarray) -> np.ndarray:
    """DCTs of the overlapping 5x5 blocks (``blkproc(x, [3 3], [1 1], @dct2)``).

    Args:
        x: ``(H, W)`` float image.

    Returns:
        ``(ceil(H/3), ceil(W/3), 5, 5)`` orthonormal DCT-II coefficients; block ``(i, j)``
        covers rows ``3i-1 .. 3i+3`` and columns ``3j-1 .. 3j+3`` (zeros outside the image).
    """
    h, w = x.shape
    nh, nw = -(-h // 3), -(-w // 3)
    padded = np.zeros((3 * nh + 2, 3 * nw + 2), dtype=np.float64)
    padded[1 : h + 1, 1 : w + 1] = x
    blocks = np.lib.stride_tricks.sliding_window_view(padded, (5, 5))[::3, ::3]
    # dct2(B) = D B D^T; row-major vec(D B D^T) = (D kron D) vec(B): one matrix product.
    coeffs = blocks.reshape(nh * nw, 25) @ _DCT5_KRON.T
    return coeffs.reshape(nh, nw, 5, 5)


def block_features(coeffs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-block BLIINDS-II statistics of DCT blocks.

    Args:
        coeffs: ``(..., 5, 5)`` DCT blocks.

    Returns:
        Dict of arrays of shape ``coeffs.shape[:-2]``: ``zeta`` (eq. 4), ``gamma``
        (eq. 2-3), ``R`` (eq. 5-6) and ``ori`` (eq. 7).
    """
    flat = coeffs.reshape(*coeffs.shape[:-2], 25)
    ac = flat[..., 1:]  # drop DC; order irrelevant for the statistics below
    zeta = _cv_abs(ac)  # eq. 4
    dev = np.abs(ac - ac.mean(axis=-1, keepdims=True))
    rho = ac.var(axis=-1, ddof=1) / (dev.mean(axis=-1) ** 2 + _EPS_RHO)  # eq. 3 moment ratio
    gamma = _gamma_from_ratio(rho)
    v1, v2, v3 = (coeffs[..., m].var(axis=-1, ddof=1) for m in (_BAND1, _BAND2, _BAND3))
    mean12 = (v1 + v2) / 2.0
    r1 = np.abs(v3 - mean12) / (v3 + mean12 + _EPS_BAND)  # eq. 5-6
    r2 = np.abs(v2 - v1) / (v3 + v1 + _EPS_BAND)
    ori = np.stack([_cv_abs(coeffs[..., m]) for m in (_ORI1, _ORI2, _ORI3)], axis=-1)
    return {"zeta": zeta, "gamma": gamma, "R": (r1 + r2) / 2.0, "ori": ori.var(axis=-1, ddof=1)}


def _pool(values: np.ndarray, *, largest: bool) -> tuple[float, float]:
    """(mean of all, mean of the ceil(n/10) largest or smallest) values."""
    v = np.sort(values.ravel())
    k = int(np.ceil(v.size / 10))
    tail = v[-k:] if largest else v[:k]
    return float(v.mean()), float(tail.mean())


def _scale_features(x: np.ndarray) -> list[float]:
    stats = block_features(block_dct(x))
    out: list[float] = []
    for key, largest in (("zeta", True), ("gamma", False), ("R", True), ("ori", True)):
        out.extend(_pool(stats[key], largest=largest))
    return out


def bliinds2_features(gray: np.ndarray) -> np.ndarray:
    """The 24 BLIINDS-II features of a grey image.

    Args:
        gray: ``(H, W)`` grey levels in [0, 255] (see :func:`matlab_rgb2gray`), H, W >= 8.

    Returns:
        ``(24,)`` float64, ordered as :data:`FEATURE_NAMES`.

    Raises:
        ValueError: On a non-2-D or too small image.
    """
    x = np.asarray(gray, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 8:
        raise ValueError(f"BLIINDS-II needs a 2-D grey image of at least 8x8, got {x.shape}")
    feats: list[float] = []
    for scale in range(3):
        if scale:
            x = correlate1d(x, _GAUSS3, axis=0, mode="constant", cval=0.0)
            x = correlate1d(x, _GAUSS3, axis=1, mode="constant", cval=0.0)[1::2, 1::2]
        feats.extend(_scale_features(x))
    return np.asarray(feats)


def resolve_model_path(
    model_path: str | os.PathLike[str] | None = None,
    param_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Locate the LIVE model JSON.

    Order: ``model_path``; ``$RPAF_BLIINDS2_MODEL``; ``<param_dir>/bliinds2/live_model.json``
    with ``param_dir`` the argument or ``$RPAF_IQA_DIR``.

    Args:
        model_path: Explicit path to the JSON file.
        param_dir: IQA parameter directory.

    Returns:
        Path of an existing file.

    Raises:
        FileNotFoundError: When no candidate exists, naming what was tried and the fix.
    """
    tried: list[str] = []
    candidates: list[tuple[str, str | os.PathLike[str]]] = []
    if model_path:
        candidates.append(("model_path", model_path))
    elif os.environ.get(BLIINDS2_MODEL_ENV):
        candidates.append((f"${BLIINDS2_MODEL_ENV}", os.environ[BLIINDS2_MODEL_ENV]))
    else:
        if param_dir:
            candidates.append(("param_dir", Path(param_dir) / _MODEL_REL_PATH))
        elif os.environ.get(IQA_DIR_ENV):
            candidates.append((f"${IQA_DIR_ENV}", Path(os.environ[IQA_DIR_ENV]) / _MODEL_REL_PATH))
    for source, cand in candidates:
        path = Path(cand).expanduser()
        if path.is_file():
            return path
        tried.append(f"{path} (from {source})")
    where = "; tried " + ", ".join(tried) if tried else ""
    raise FileNotFoundError(
        "BLIINDS-II needs the LIVE-trained model JSON (keys live_b, live_gama, live_mu, "
        f"live_sigma_inv), which rpaf does not ship{where}. Pass model_path=..., set "
        f"${BLIINDS2_MODEL_ENV}, or set ${IQA_DIR_ENV}/param_dir to a folder containing "
        f"{_MODEL_REL_PATH}; or switch BLIINDS-II off (metrics.bliinds2=false / metrics=fast)."
    )


@dataclass(frozen=True)
class BLIINDS2Model:
    """The probabilistic model of paper eq. 8.

    Attributes:
        b: Scale ``b``.
        gama: Exponent ``gama``.
        mu: ``(25,)`` mean of ``[features, score]``.
        sigma_inv: ``(25, 25)`` inverse covariance.
    """

    b: float
    gama: float
    mu: np.ndarray
    sigma_inv: np.ndarray

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BLIINDS2Model:
        """Read the JSON model file.

        Args:
            path: JSON with keys ``live_b``, ``live_gama``, ``live_mu``, ``live_sigma_inv``.

        Returns:
            The model.

        Raises:
            ValueError: On missing keys or wrong shapes (naming the file and key).
        """
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        missing = [k for k in ("live_b", "live_gama", "live_mu", "live_sigma_inv") if k not in raw]
        if missing:
            raise ValueError(f"BLIINDS-II model file {str(path)!r} lacks key(s) {missing}")
        mu = np.asarray(raw["live_mu"], dtype=np.float64).reshape(-1)
        sig = np.asarray(raw["live_sigma_inv"], dtype=np.float64)
        if mu.shape != (25,) or sig.shape != (25, 25):
            raise ValueError(
                f"BLIINDS-II model file {str(path)!r}: live_mu must have 25 values and "
                f"live_sigma_inv be 25x25, got {mu.shape} and {sig.shape}"
            )
        return cls(float(raw["live_b"]), float(raw["live_gama"]), mu, sig)

    def predict(self, features: np.ndarray) -> float:
        """Score of one feature vector (eq. 8, the release's 0.5-step grid and offset).

        Args:
            features: ``(24,)`` features.

        Returns:
            Predicted DMOS-like score in [0, 99] (lower is better).
        """
        f = np.asarray(features, dtype=np.float64).reshape(24)
        grid = np.arange(1.0, 100.0 + 1e-9, 0.5)  # s in 1:0.5:100
        v = np.concatenate([np.broadcast_to(f, (grid.size, 24)), grid[:, None]], axis=1)
        d = v - self.mu
        q = np.einsum("ni,ij,nj->n", d, self.sigma_inv, d)
        # eq. 8: p = exp(-(b q)^gama) is decreasing in q, so argmax p == argmin q.
        best = int(np.argmin(q))
        return float(grid[best] - 1.0)  # release reports iVect(argmax) with iVect = 0:0.5:100


class BLIINDS2:
    """BLIINDS-II scorer for batches of images (lower is better).

    Args:
        model_path: LIVE model JSON; see :func:`resolve_model_path` for the defaults.
        param_dir: IQA parameter directory (``<param_dir>/bliinds2/live_model.json``).
        quantize: Score images as 8-bit files (MATLAB pipeline); see :func:`matlab_rgb2gray`.

    Raises:
        FileNotFoundError: When the model cannot be found (at construction).
    """

    higher_is_better: bool = False

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        param_dir: str | os.PathLike[str] | None = None,
        quantize: bool = True,
    ) -> None:
        self.model_path = resolve_model_path(model_path, param_dir)
        self.model = BLIINDS2Model.load(self.model_path)
        self.quantize = quantize

    def features(self, img: np.ndarray | Tensor) -> np.ndarray:
        """24 features of one image (see :func:`matlab_rgb2gray` for accepted inputs)."""
        return bliinds2_features(matlab_rgb2gray(img, quantize=self.quantize))

    def score(self, img: np.ndarray | Tensor) -> float:
        """Score of one image."""
        return self.model.predict(self.features(img))

    def __call__(self, img: Tensor) -> Tensor:
        """Score a batch.

        Args:
            img: ``(B, 3, H, W)`` RGB (or ``(B, 1, H, W)`` grey) in [0, 1].

        Returns:
            ``(B,)`` float32 scores on ``img``'s device.
        """
        if img.ndim == 3:
            img = img.unsqueeze(0)
        if img.ndim != 4 or img.shape[1] not in (1, 3):
            raise ValueError(f"BLIINDS-II needs (B, 3, H, W) images, got {tuple(img.shape)}")
        scores = [self.score(img[i]) for i in range(img.shape[0])]
        return torch.tensor(scores, dtype=torch.float32, device=img.device)


def bliinds2_score(
    img: np.ndarray | Tensor,
    *,
    model_path: str | os.PathLike[str] | None = None,
    param_dir: str | os.PathLike[str] | None = None,
) -> float:
    """BLIINDS-II score of one image (lower is better).

    Args:
        img: One image: tensor ``(3, H, W)``/``(1, 3, H, W)`` in [0, 1] or numpy
            ``(H, W, 3)`` uint8 / float in [0, 1].
        model_path: LIVE model JSON (default: see :func:`resolve_model_path`).
        param_dir: IQA parameter directory.

    Returns:
        Score in [0, 99], 0.5 steps.
    """
    return _cached_scorer(str(resolve_model_path(model_path, param_dir))).score(img)


@lru_cache(maxsize=4)
def _cached_scorer(model_path: str) -> BLIINDS2:
    return BLIINDS2(model_path=model_path)
