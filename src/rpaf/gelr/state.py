"""Per-sample GELR variables for the network version of the optimiser (Algorithm 2).

Algorithm 2 keeps, for every training sample, the ADMM variables ``d, t, eta_d, eta_t`` (one
value per gradient entry, ``(C, 2, H, W)``) and ``T`` (one per pixel, ``(C, H, W)``) between two
visits of that sample. This module stores them, keyed by the dataset's stable ``index``.

Representations (gelr-math §7):

* ``full``: ``T, d, t, eta_d, eta_t`` as they are: ``9C`` planes per sample (27 MiB float32,
  13.5 MiB float16 for a 3 x 512^2 image). Reading is a copy.
* ``compact``: ``T, v_d = grad(u) + eta_d, w_t = grad(u) - grad(x) + eta_t``: ``5C`` planes
  (7.5 MiB float16 for 3 x 512^2). Exact, because the updates are functions of these:
  ``d = shrink(v_d, tau_d)``, ``eta_d = v_d - d`` (eq. 44, 48) and ``t = prox(w_t)``,
  ``eta_t = w_t - t`` (eq. 47-48, exact TNN prox). The price is one extra TNN prox per visit
  (when the variables are read back). Not available with the Hu-step t-update, whose ``t``
  depends on the previous ``t``. ``T`` is kept instead of the previous output ``u`` (same size;
  ``T = g - u``, eq. 49) so that an all-zero record is the paper's initialisation in both
  representations and reading needs no input image.

Both multipliers are bounded (``|eta_d| <= alpha/rho1``, ``||eta_t||_2 <= beta/rho2``) and the
other variables are differences of [0, 1] images, so float16 storage is safe. Arithmetic is
always done in float32 (or the dtype asked for), never in float16.

Backends:

* ``memory``: tensors on the training device (CUDA when training on a GPU).
* ``cpu``: tensors in host RAM (read/write copies to/from the training device per batch).
* ``disk``: one ``numpy.memmap`` per field in a working directory (datasets bigger than RAM).
  The working files are scratch space; the durable copy is a snapshot file written atomically
  (temporary file, ``fsync``, ``os.replace``, directory ``fsync``) whenever a checkpoint is
  saved, and the checkpoint stores its path.
* ``auto`` (:func:`choose_backend`): ``memory`` if the state fits a fraction of the free memory
  of the training device (and the optional budget), else ``cpu`` if it fits the free RAM
  (and the budget), else ``disk``; the choice and the reason are logged.

Saving/restoring is exact: ``state_dict()`` returns the stored bits (tensors for memory/cpu,
the snapshot path for disk; plain containers only, so checkpoints load with
``weights_only=True``) and ``load_state_dict()`` writes them back unchanged.

Distributed training (:meth:`GELRState.sync`): every rank holds a full replica. A rank
updates only the samples it saw and remembers their indices ("dirty"); ``sync()`` all-gathers
the dirty records and writes them into every replica, so after it all replicas are
identical. A sample updated on several ranks in the same period (the padding duplicates of
``DistributedSampler``) takes the value of the lowest rank. The callback syncs at the end of
every training epoch and before every checkpoint, so a checkpoint (written by rank 0) holds
the full state, and after a resume every rank loads that full state.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "BACKENDS",
    "DTYPES",
    "REPRESENTATIONS",
    "GELRState",
    "GELRVariables",
    "choose_backend",
    "decode",
    "encode",
    "field_shapes",
    "state_nbytes",
]

log = logging.getLogger(__name__)

REPRESENTATIONS: tuple[str, ...] = ("full", "compact")
BACKENDS: tuple[str, ...] = ("memory", "cpu", "disk")
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16}
_NP_DTYPES: dict[str, type] = {"float32": np.float32, "float16": np.float16}

#: Planes per image channel of each stored field (1: ``(C, H, W)``, 2: ``(C, 2, H, W)``).
_FIELDS: dict[str, dict[str, int]] = {
    "full": {"T": 1, "d": 2, "t": 2, "eta_d": 2, "eta_t": 2},
    "compact": {"T": 1, "v_d": 2, "w_t": 2},
}
_FORMAT_VERSION = 1
_SNAPSHOT_PREFIX = "gelr-state-"
_SNAPSHOT_SUFFIX = ".npys"
_GiB = 1024**3


# --------------------------------------------------------------------------------------------
# The variables of one batch
# --------------------------------------------------------------------------------------------


@dataclass
class GELRVariables:
    """ADMM variables of a batch (Algorithm 2; gelr-math §7).

    Attributes:
        d: Sparse-gradient split ``d ~ grad(u)``, ``(B, C, 2, H, W)``.
        t: Low-rank gradient-error split ``t ~ grad(u) - grad(x)``, ``(B, C, 2, H, W)``.
        eta_d: Scaled multiplier of ``grad(u) = d``, ``(B, C, 2, H, W)``.
        eta_t: Scaled multiplier of ``grad(u) - grad(x) = t``, ``(B, C, 2, H, W)``.
        T: Residual ``g - u`` of the previous visit (eq. 49), ``(B, C, H, W)``.
    """

    d: Tensor
    t: Tensor
    eta_d: Tensor
    eta_t: Tensor
    T: Tensor

    NAMES: ClassVar[tuple[str, ...]] = ("d", "t", "eta_d", "eta_t", "T")

    @classmethod
    def zeros(
        cls,
        batch: int,
        channels: int,
        height: int,
        width: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> GELRVariables:
        """The paper's initialisation (Algorithm 2: ``T, t, d, eta_t, eta_d = 0``)."""
        g = (batch, channels, 2, height, width)
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        return cls(
            d=torch.zeros(g, **kw),
            t=torch.zeros(g, **kw),
            eta_d=torch.zeros(g, **kw),
            eta_t=torch.zeros(g, **kw),
            T=torch.zeros((batch, channels, height, width), **kw),
        )

    @classmethod
    def zeros_like(cls, image: Tensor) -> GELRVariables:
        """Zero variables for an image batch ``(B, C, H, W)`` (its device and dtype)."""
        b, c, h, w = _image_shape(image, "GELRVariables.zeros_like")
        return cls.zeros(b, c, h, w, device=image.device, dtype=image.dtype)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> GELRVariables:
        """Move/cast every field (returns a new object; fields already there are not copied)."""
        return GELRVariables(
            **{n: getattr(self, n).to(device=device, dtype=dtype) for n in self.NAMES}
        )

    def detach(self) -> GELRVariables:
        """Detach every field from the autograd graph."""
        return GELRVariables(**{n: getattr(self, n).detach() for n in self.NAMES})

    @property
    def batch_size(self) -> int:
        """Number of samples ``B``."""
        return int(self.T.shape[0])

    def check(self, image: Tensor) -> None:
        """Raise if the field shapes do not match an image batch ``(B, C, H, W)``."""
        b, c, h, w = _image_shape(image, "GELRVariables.check")
        want = {n: (b, c, 2, h, w) for n in ("d", "t", "eta_d", "eta_t")}
        want["T"] = (b, c, h, w)
        for name, shape in want.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(
                    f"GELRVariables.{name} has shape {got}, expected {shape} for an image batch "
                    f"of shape {(b, c, h, w)}: the state does not belong to this batch"
                )


def _image_shape(image: Tensor, where: str) -> tuple[int, int, int, int]:
    if image.dim() != 4:
        raise ValueError(f"{where}: expected an image batch (B, C, H, W), got {tuple(image.shape)}")
    b, c, h, w = image.shape
    return int(b), int(c), int(h), int(w)


# --------------------------------------------------------------------------------------------
# Representations
# --------------------------------------------------------------------------------------------


def field_shapes(
    representation: str, sample_shape: Sequence[int]
) -> dict[str, tuple[int, ...]]:
    """Per-sample shape of every stored field.

    Args:
        representation: ``"full"`` or ``"compact"``.
        sample_shape: Image shape ``(C, H, W)``.

    Returns:
        Dict field name -> shape (``(C, H, W)`` or ``(C, 2, H, W)``).
    """
    _check_choice("representation", representation, REPRESENTATIONS)
    c, h, w = (int(s) for s in sample_shape)
    return {
        name: (c, h, w) if k == 1 else (c, 2, h, w)
        for name, k in _FIELDS[representation].items()
    }


def state_nbytes(
    num_samples: int, sample_shape: Sequence[int], representation: str, dtype: str
) -> int:
    """Bytes needed to store the state of ``num_samples`` images of shape ``(C, H, W)``."""
    _check_choice("dtype", dtype, tuple(DTYPES))
    per = sum(math.prod(s) for s in field_shapes(representation, sample_shape).values())
    return int(num_samples) * per * DTYPES[dtype].itemsize


def encode(variables: GELRVariables, representation: str) -> dict[str, Tensor]:
    """The stored fields of a batch of variables (gelr-math §7).

    Args:
        variables: Variables of a batch, fields ``(B, ...)``.
        representation: ``"full"`` (the fields themselves) or ``"compact"``
            (``T``, ``v_d = d + eta_d``, ``w_t = t + eta_t``).

    Returns:
        Dict field name -> tensor ``(B, ...)``, same device/dtype as the input.
    """
    _check_choice("representation", representation, REPRESENTATIONS)
    if representation == "full":
        return {n: getattr(variables, n) for n in _FIELDS["full"]}
    # d + eta_d = grad(u) + eta_d_old = v_d and t + eta_t = W (eq. 48), exactly up to rounding.
    return {
        "T": variables.T,
        "v_d": variables.d + variables.eta_d,
        "w_t": variables.t + variables.eta_t,
    }


def decode(
    stored: dict[str, Tensor],
    representation: str,
    *,
    tau_d: float | None = None,
    tau_t: float | None = None,
    rank: int | None = None,
    prox_method: str = "gram",
    live: Tensor | None = None,
) -> GELRVariables:
    """Rebuild the variables from the stored fields (inverse of :func:`encode`).

    Args:
        stored: Dict field name -> tensor ``(B, ...)`` (float32 or wider for compact).
        representation: ``"full"`` or ``"compact"``.
        tau_d: d-threshold ``alpha / rho1`` (compact only; gelr-math §1).
        tau_t: t-threshold ``beta / rho2`` (compact only).
        rank: Truncation rank ``r`` (compact only).
        prox_method: ``"gram"`` or ``"svd"`` (compact only).
        live: Optional bool ``(B,)``: rows that may be non-zero. The prox is skipped for the
            others (all-zero records decode to zeros, the paper's initialisation).

    Returns:
        The variables, on the device/dtype of ``stored``.
    """
    _check_choice("representation", representation, REPRESENTATIONS)
    if representation == "full":
        return GELRVariables(**{n: stored[n] for n in GELRVariables.NAMES})
    if tau_d is None or tau_t is None or rank is None:
        raise ValueError("decode(representation='compact') needs tau_d, tau_t and rank")
    from rpaf.gelr import ops

    v_d, w_t = stored["v_d"], stored["w_t"]
    d = ops.shrink(v_d, tau_d)  # eq. 44 with the corrected threshold (gelr-math §1)
    eta_d = v_d - d  # eq. 48
    if live is None or bool(live.all()):
        t = ops.tnn_prox(w_t, tau_t, rank, method=prox_method)  # eq. 47, exact prox (§2)
    else:
        t = torch.zeros_like(w_t)
        rows = torch.nonzero(live.to(w_t.device)).flatten()
        if rows.numel() > 0:
            t[rows] = ops.tnn_prox(w_t[rows], tau_t, rank, method=prox_method)
    eta_t = w_t - t  # eq. 48
    return GELRVariables(d=d, t=t, eta_d=eta_d, eta_t=eta_t, T=stored["T"])


# --------------------------------------------------------------------------------------------
# Backend choice
# --------------------------------------------------------------------------------------------


def _free_ram_bytes() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil is optional
        try:
            return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return 0


def choose_backend(
    nbytes: int,
    device: torch.device | str,
    *,
    memory_budget_gb: float | None = None,
    device_fraction: float = 0.5,
    ram_fraction: float = 0.5,
    free_device_bytes: int | None = None,
    free_ram_bytes: int | None = None,
) -> tuple[str, str]:
    """Pick a storage backend for a state of ``nbytes`` bytes.

    Rule: ``memory`` (the training device) if the state fits ``device_fraction`` of the
    device's free memory; else ``cpu`` if it fits ``ram_fraction`` of the available RAM; else
    ``disk``. ``memory_budget_gb`` (if set) caps both in-memory choices. When training on the
    CPU, ``memory`` and ``cpu`` are the same place and ``memory`` is returned.

    Args:
        nbytes: Size of the whole state (:func:`state_nbytes`).
        device: The training device.
        memory_budget_gb: Optional upper bound (GiB) for an in-memory state.
        device_fraction: Fraction of the free device memory the state may use.
        ram_fraction: Fraction of the available RAM the state may use.
        free_device_bytes: Override of the free device memory (tests); default: queried.
        free_ram_bytes: Override of the available RAM (tests); default: queried.

    Returns:
        ``(backend, reason)`` with backend in :data:`BACKENDS` and a human-readable reason.
    """
    device = torch.device(device)
    budget = None if memory_budget_gb is None else float(memory_budget_gb) * _GiB
    size = f"{nbytes / _GiB:.3f} GiB"
    within_budget = budget is None or nbytes <= budget
    budget_txt = "" if budget is None else f", budget {budget / _GiB:.3f} GiB"
    if device.type != "cpu":
        if free_device_bytes is None:
            try:
                free_device_bytes = int(torch.cuda.mem_get_info(device)[0])
            except Exception:  # noqa: BLE001 - non-CUDA accelerators
                free_device_bytes = 0
        limit = device_fraction * free_device_bytes
        if within_budget and nbytes <= limit:
            return "memory", (
                f"state {size} fits {device_fraction:.0%} of the free memory of {device} "
                f"({free_device_bytes / _GiB:.2f} GiB free{budget_txt})"
            )
    ram = _free_ram_bytes() if free_ram_bytes is None else int(free_ram_bytes)
    if within_budget and nbytes <= ram_fraction * ram:
        where = "memory" if device.type == "cpu" else "cpu"
        return where, (
            f"state {size} fits {ram_fraction:.0%} of the available RAM "
            f"({ram / _GiB:.2f} GiB available{budget_txt})"
            + ("" if where == "memory" else f"; too big for {device}")
        )
    return "disk", (
        f"state {size} does not fit in memory ({ram / _GiB:.2f} GiB RAM available, "
        f"fraction {ram_fraction:.0%}{budget_txt}); using memory-mapped files"
    )


# --------------------------------------------------------------------------------------------
# Storage backends
# --------------------------------------------------------------------------------------------


class _Storage(ABC):
    """``num_samples`` records of fixed-shape fields in one dtype."""

    name: str

    def __init__(self, num_samples: int, shapes: dict[str, tuple[int, ...]], dtype: str) -> None:
        self.num_samples = int(num_samples)
        self.shapes = dict(shapes)
        self.dtype = dtype

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Where :meth:`read` returns tensors."""

    @abstractmethod
    def read(self, field: str, index: Tensor) -> Tensor:
        """Records ``index`` (int64 ``(B,)``) of one field, ``(B, *shape)``, storage dtype."""

    @abstractmethod
    def write(self, field: str, index: Tensor, values: Tensor) -> None:
        """Overwrite records ``index`` (unique) with ``values`` (``(B, *shape)``)."""

    @abstractmethod
    def export(self, field: str) -> Tensor:
        """The whole field as a CPU tensor ``(N, *shape)`` (may share memory)."""

    @abstractmethod
    def load(self, field: str, data: Tensor) -> None:
        """Overwrite the whole field with ``data`` ``(N, *shape)`` (bit-exact)."""

    @abstractmethod
    def numpy_view(self, field: str) -> np.ndarray:
        """A host numpy array of the field (a view where possible) for streaming to files."""

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Push pending writes to durable storage (disk backend)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class _TensorStorage(_Storage):
    """``memory`` / ``cpu``: one tensor per field on a torch device."""

    def __init__(
        self,
        num_samples: int,
        shapes: dict[str, tuple[int, ...]],
        dtype: str,
        device: torch.device,
        name: str,
    ) -> None:
        super().__init__(num_samples, shapes, dtype)
        self.name = name
        self._device = torch.device(device)
        self.data = {
            f: torch.zeros((self.num_samples, *s), dtype=DTYPES[dtype], device=self._device)
            for f, s in shapes.items()
        }

    @property
    def device(self) -> torch.device:
        return self._device

    def read(self, field: str, index: Tensor) -> Tensor:
        return self.data[field].index_select(0, index.to(self._device))

    def write(self, field: str, index: Tensor, values: Tensor) -> None:
        self.data[field].index_copy_(
            0, index.to(self._device), values.to(self._device, DTYPES[self.dtype])
        )

    def export(self, field: str) -> Tensor:
        return self.data[field].detach().cpu()

    def load(self, field: str, data: Tensor) -> None:
        self.data[field].copy_(data.to(self._device))

    def numpy_view(self, field: str) -> np.ndarray:
        return self.data[field].detach().cpu().numpy()


class _DiskStorage(_Storage):
    """``disk``: one ``numpy.memmap`` per field in ``directory`` (scratch working files)."""

    name = "disk"

    def __init__(
        self,
        num_samples: int,
        shapes: dict[str, tuple[int, ...]],
        dtype: str,
        directory: Path,
    ) -> None:
        super().__init__(num_samples, shapes, dtype)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, np.memmap] = {}
        for f, s in shapes.items():
            path = self.directory / f"{f}.{dtype}.bin"
            # "w+" creates a fresh zero (sparse) file: the working files never carry state over
            # from a previous process; the durable copy is the snapshot (see GELRState).
            self.data[f] = np.memmap(
                path, dtype=_NP_DTYPES[dtype], mode="w+", shape=(self.num_samples, *s)
            )

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def read(self, field: str, index: Tensor) -> Tensor:
        idx = index.detach().cpu().numpy()
        return torch.from_numpy(np.ascontiguousarray(self.data[field][idx]))

    def write(self, field: str, index: Tensor, values: Tensor) -> None:
        idx = index.detach().cpu().numpy()
        self.data[field][idx] = values.detach().to("cpu", DTYPES[self.dtype]).numpy()

    def export(self, field: str) -> Tensor:
        return torch.from_numpy(np.array(self.data[field]))

    def load(self, field: str, data: Tensor) -> None:
        self.data[field][...] = data.detach().cpu().numpy()

    def numpy_view(self, field: str) -> np.ndarray:
        return self.data[field]

    def flush(self) -> None:
        for mm in self.data.values():
            mm.flush()

    def close(self) -> None:
        self.flush()
        self.data.clear()


# --------------------------------------------------------------------------------------------
# Snapshot files (durable, atomic)
# --------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_npy_stream(f: io.BufferedWriter, arr: np.ndarray, chunk_bytes: int) -> None:
    """Write one ``.npy`` record, streaming the data (memmaps are never loaded whole)."""
    arr = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
    header = {"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": False,
              "shape": arr.shape}
    np.lib.format.write_array_header_2_0(f, header)
    flat = arr.reshape(-1).view(np.uint8)
    for start in range(0, flat.size, chunk_bytes):
        f.write(memoryview(flat[start : start + chunk_bytes]))


def _read_npy_header(f: io.BufferedReader) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if fortran:
        raise ValueError("fortran-ordered arrays are not expected in a GELR snapshot")
    return tuple(shape), np.dtype(dtype)


def _read_npy_into(f: io.BufferedReader, out: np.ndarray, chunk_bytes: int, what: str) -> None:
    shape, dtype = _read_npy_header(f)
    if shape != tuple(out.shape) or dtype != out.dtype:
        raise ValueError(
            f"GELR snapshot field {what!r} has shape {shape} / {dtype}, expected "
            f"{tuple(out.shape)} / {out.dtype}"
        )
    flat = out.reshape(-1).view(np.uint8)
    for start in range(0, flat.size, chunk_bytes):
        view = memoryview(flat[start : start + chunk_bytes])
        n = f.readinto(view)
        if n != len(view):
            raise ValueError(f"GELR snapshot truncated while reading field {what!r}")


def _read_npy(f: io.BufferedReader) -> np.ndarray:
    shape, dtype = _read_npy_header(f)
    out = np.empty(shape, dtype=dtype)
    _read_npy_into_raw(f, out)
    return out


def _read_npy_into_raw(f: io.BufferedReader, out: np.ndarray) -> None:
    view = memoryview(out.reshape(-1).view(np.uint8))
    if view.nbytes and f.readinto(view) != view.nbytes:
        raise ValueError("GELR snapshot truncated")


# --------------------------------------------------------------------------------------------
# The state
# --------------------------------------------------------------------------------------------


class GELRState:
    """Per-sample GELR variables of a whole training set, keyed by the sample ``index``.

    Args:
        num_samples: Number of training samples ``N``; indices must lie in ``[0, N)``.
        sample_shape: Image shape ``(C, H, W)`` (the same for every sample).
        representation: ``"full"`` or ``"compact"`` (module docstring, gelr-math §7).
        dtype: Storage dtype, ``"float32"`` or ``"float16"``.
        backend: ``"memory"``, ``"cpu"`` or ``"disk"`` (use :func:`choose_backend` for auto).
        device: Device of the ``memory`` backend (the training device). Default: CPU.
        directory: Working directory of the ``disk`` backend (scratch memmaps).
        snapshot_dir: Where durable snapshot files go (default: ``directory``).
        keep_snapshots: Snapshots kept in ``snapshot_dir`` (older ones are deleted after a new
            one is written); ``None`` keeps all. A checkpoint whose snapshot was deleted
            cannot be resumed.
        inline: Put the data itself in :meth:`state_dict` (default: True except for ``disk``).
        tau_d: d-threshold used to decode the compact representation.
        tau_t: t-threshold used to decode the compact representation.
        rank: Truncation rank ``r`` used to decode the compact representation.
        prox_method: Prox method used to decode the compact representation.
        is_writer: Whether this process writes snapshot files (rank 0 in DDP).
    """

    def __init__(
        self,
        num_samples: int,
        sample_shape: Sequence[int],
        *,
        representation: str = "full",
        dtype: str = "float32",
        backend: str = "memory",
        device: torch.device | str | None = None,
        directory: str | os.PathLike[str] | None = None,
        snapshot_dir: str | os.PathLike[str] | None = None,
        keep_snapshots: int | None = 2,
        inline: bool | None = None,
        tau_d: float | None = None,
        tau_t: float | None = None,
        rank: int | None = None,
        prox_method: str = "gram",
        is_writer: bool = True,
    ) -> None:
        _check_choice("representation", representation, REPRESENTATIONS)
        _check_choice("dtype", dtype, tuple(DTYPES))
        _check_choice("backend", backend, BACKENDS)
        if int(num_samples) < 1:
            raise ValueError(f"GELRState: num_samples={num_samples} must be >= 1")
        if len(sample_shape) != 3:
            raise ValueError(f"GELRState: sample_shape={tuple(sample_shape)} must be (C, H, W)")
        if representation == "compact" and (tau_d is None or tau_t is None or rank is None):
            raise ValueError(
                "GELRState(representation='compact') needs tau_d, tau_t and rank to decode "
                "the stored fields"
            )
        self.num_samples = int(num_samples)
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.representation = representation
        self.dtype = dtype
        self.backend = backend
        self.tau_d, self.tau_t, self.rank = tau_d, tau_t, rank
        self.prox_method = prox_method
        self.is_writer = bool(is_writer)
        self.keep_snapshots = keep_snapshots
        self.inline = (backend != "disk") if inline is None else bool(inline)
        self.shapes = field_shapes(representation, self.sample_shape)
        if backend == "disk":
            if directory is None:
                raise ValueError("GELRState(backend='disk') needs `directory` (gelr.disk_dir)")
            self.directory: Path | None = Path(directory)
            self.storage: _Storage = _DiskStorage(self.num_samples, self.shapes, dtype,
                                                  self.directory)
        else:
            self.directory = None if directory is None else Path(directory)
            dev = torch.device("cpu") if backend == "cpu" or device is None else device
            self.storage = _TensorStorage(self.num_samples, self.shapes, dtype,
                                          torch.device(dev), backend)
        self.snapshot_dir = (
            Path(snapshot_dir) if snapshot_dir is not None else self.directory
        )
        #: Which samples were written at least once (host bool ``(N,)``).
        self.visited = torch.zeros(self.num_samples, dtype=torch.bool)
        self._dirty: set[int] = set()

    # ---------------------------------------------------------------- info
    @property
    def nbytes(self) -> int:
        """Bytes of the stored fields."""
        return state_nbytes(self.num_samples, self.sample_shape, self.representation, self.dtype)

    @property
    def num_visited(self) -> int:
        """Number of samples written at least once."""
        return int(self.visited.sum())

    def describe(self) -> str:
        """One line for the logs."""
        return (
            f"GELR state: {self.num_samples} samples x {self.sample_shape}, "
            f"{self.representation}/{self.dtype}, backend={self.backend} "
            f"({self.nbytes / _GiB:.3f} GiB)"
        )

    # ---------------------------------------------------------------- read / write
    def _index(self, index: Tensor | Sequence[int]) -> Tensor:
        idx = torch.as_tensor(index).detach().to("cpu", torch.int64).reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.num_samples):
            raise IndexError(
                f"GELRState: sample index out of range [0, {self.num_samples}): got "
                f"min {int(idx.min())}, max {int(idx.max())}. The dataset's `index` must be a "
                "stable id in [0, num_train_samples); set gelr.num_samples if it is larger."
            )
        return idx

    def read_raw(self, index: Tensor | Sequence[int]) -> dict[str, Tensor]:
        """Stored fields of samples ``index`` (storage dtype, storage device)."""
        idx = self._index(index)
        return {f: self.storage.read(f, idx) for f in self.shapes}

    def read(
        self,
        index: Tensor | Sequence[int],
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> GELRVariables:
        """Variables of samples ``index`` (zeros for never-written samples).

        Args:
            index: Sample indices ``(B,)``.
            device: Where the returned tensors live (default: the storage device).
            dtype: Returned dtype (compute dtype, float32 by default).

        Returns:
            :class:`GELRVariables` with fields ``(B, C, 2, H, W)`` / ``(B, C, H, W)``.
        """
        idx = self._index(index)
        raw = {f: self.storage.read(f, idx).to(device=device, dtype=dtype) for f in self.shapes}
        return decode(
            raw, self.representation, tau_d=self.tau_d, tau_t=self.tau_t, rank=self.rank,
            prox_method=self.prox_method, live=self.visited[idx],
        )

    def write_raw(self, index: Tensor | Sequence[int], stored: dict[str, Tensor]) -> None:
        """Overwrite the stored fields of samples ``index``.

        Duplicate indices keep the last occurrence. Marks the samples visited and dirty.
        """
        idx = self._index(index)
        if set(stored) != set(self.shapes):
            raise KeyError(f"GELRState.write_raw: expected fields {sorted(self.shapes)}, "
                           f"got {sorted(stored)}")
        for f, v in stored.items():
            want = (idx.numel(), *self.shapes[f])
            if tuple(v.shape) != want:
                raise ValueError(
                    f"GELRState: field {f!r} has shape {tuple(v.shape)}, expected {want}. All "
                    f"samples must have the image shape {self.sample_shape} (fixed geometry)."
                )
        keep = _last_occurrence(idx)
        if keep is not None:
            idx = idx[keep]
            stored = {f: v[keep.to(v.device)] for f, v in stored.items()}
        for f, v in stored.items():
            self.storage.write(f, idx, v)
        self.visited[idx] = True
        self._dirty.update(idx.tolist())

    def write(self, index: Tensor | Sequence[int], variables: GELRVariables) -> None:
        """Store the variables of samples ``index`` (cast to the storage dtype)."""
        self.write_raw(index, encode(variables, self.representation))

    # ---------------------------------------------------------------- distributed
    def sync(self, *, chunk_mb: float = 256.0) -> int:
        """Make all replicas identical after rank-local updates (no-op without DDP).

        Every rank sends the records it wrote since the last sync; every rank writes every
        received record. For an index written on several ranks the lowest rank wins. The
        transfer is bit-exact (records travel as bytes) and chunked to about ``chunk_mb`` MiB
        per rank. Must be called by all ranks together.

        Returns:
            Number of distinct records received from other ranks.
        """
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            self._dirty.clear()
            return 0
        world, me = dist.get_world_size(), dist.get_rank()
        comm = _comm_device()
        mine = torch.tensor(sorted(self._dirty), dtype=torch.int64)
        counts = [torch.zeros(1, dtype=torch.int64, device=comm) for _ in range(world)]
        dist.all_gather(counts, torch.tensor([mine.numel()], dtype=torch.int64, device=comm))
        counts_l = [int(c.item()) for c in counts]
        most = max(counts_l)
        if most == 0:
            return 0
        padded = torch.full((most,), -1, dtype=torch.int64)
        padded[: mine.numel()] = mine
        all_idx = [torch.empty(most, dtype=torch.int64, device=comm) for _ in range(world)]
        dist.all_gather(all_idx, padded.to(comm))
        idx_per_rank = [a[:n].cpu() for a, n in zip(all_idx, counts_l, strict=True)]
        # Winner of each index: the lowest rank that wrote it.
        owner: dict[int, int] = {}
        for r in range(world):
            for i in idx_per_rank[r].tolist():
                owner.setdefault(i, r)
        names = list(self.shapes)
        itemsize = DTYPES[self.dtype].itemsize
        rec_bytes = sum(math.prod(self.shapes[f]) for f in names) * itemsize
        chunk = max(1, int(chunk_mb * 2**20) // max(1, rec_bytes * world))
        received: set[int] = set()
        for start in range(0, most, chunk):
            n_mine = max(0, min(chunk, mine.numel() - start))
            send = torch.zeros((chunk, rec_bytes), dtype=torch.uint8)
            if n_mine:
                raw = self.read_raw(mine[start : start + n_mine])
                send[:n_mine] = torch.cat(
                    [raw[f].cpu().reshape(n_mine, -1).view(torch.uint8) for f in names], dim=1
                )
            bufs = [torch.empty((chunk, rec_bytes), dtype=torch.uint8, device=comm)
                    for _ in range(world)]
            dist.all_gather(bufs, send.to(comm))
            for r in range(world):
                if r == me:
                    continue
                ids = idx_per_rank[r][start : start + chunk]
                if ids.numel() == 0:
                    continue
                sel = torch.tensor([owner[i] == r for i in ids.tolist()], dtype=torch.bool)
                if not bool(sel.any()):
                    continue
                rows = bufs[r][: ids.numel()][sel.to(comm)].cpu()
                ids = ids[sel]
                offset = 0
                for f in names:
                    n = math.prod(self.shapes[f]) * itemsize
                    part = rows[:, offset : offset + n].contiguous().view(DTYPES[self.dtype])
                    self.storage.write(f, ids, part.reshape(ids.numel(), *self.shapes[f]))
                    offset += n
                self.visited[ids] = True
                received.update(ids.tolist())
        self._dirty.clear()
        return len(received)

    # ---------------------------------------------------------------- save / load
    def _meta(self) -> dict[str, Any]:
        return {
            "version": _FORMAT_VERSION,
            "num_samples": self.num_samples,
            "sample_shape": list(self.sample_shape),
            "representation": self.representation,
            "dtype": self.dtype,
            "fields": {f: list(s) for f, s in self.shapes.items()},
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore the state bit-exactly (plain containers and tensors).

        Inline (memory/cpu by default): the fields as CPU tensors. Otherwise (disk): a
        snapshot file is written atomically by the writer process and its path is returned.
        """
        out: dict[str, Any] = self._meta()
        out["visited"] = self.visited.clone()
        if self.inline:
            out["storage"] = "inline"
            out["data"] = {f: self.storage.export(f) for f in self.shapes}
        else:
            out["storage"] = "file"
            path = self._snapshot_path()
            if self.is_writer:
                self.write_snapshot(path)
            out["file"] = str(path)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (bit-exact).

        Raises:
            ValueError: If the saved state has another representation, dtype or geometry, or
                the snapshot file is missing/corrupt.
        """
        self._check_compatible(state, "checkpoint")
        if state.get("storage") == "inline":
            for f in self.shapes:
                data = state["data"][f]
                if tuple(data.shape) != (self.num_samples, *self.shapes[f]):
                    raise ValueError(f"GELR checkpoint field {f!r} has shape {tuple(data.shape)}")
                if data.dtype != DTYPES[self.dtype]:
                    raise ValueError(f"GELR checkpoint field {f!r} has dtype {data.dtype}")
                self.storage.load(f, data)
            self.visited.copy_(state["visited"].to(torch.bool).cpu())
        elif state.get("storage") == "file":
            self.read_snapshot(state["file"])
        else:
            raise ValueError(f"GELR checkpoint: unknown storage {state.get('storage')!r}")
        self._dirty.clear()

    def _check_compatible(self, meta: dict[str, Any], what: str) -> None:
        if int(meta.get("version", -1)) != _FORMAT_VERSION:
            raise ValueError(f"GELR {what}: format version {meta.get('version')} is not "
                             f"{_FORMAT_VERSION}")
        mine = self._meta()
        for key in ("num_samples", "sample_shape", "representation", "dtype"):
            if meta.get(key) != mine[key] and list(meta.get(key) or []) != mine[key]:
                raise ValueError(
                    f"GELR {what}: saved {key}={meta.get(key)!r} but this run has "
                    f"{key}={mine[key]!r}. Resume with the same gelr.representation/"
                    "gelr.dtype and the same training set (or start the state afresh)."
                )

    def _snapshot_path(self) -> Path:
        if self.snapshot_dir is None:
            raise ValueError("GELRState: a snapshot needs `snapshot_dir` (or `directory`)")
        return self.snapshot_dir / f"{_SNAPSHOT_PREFIX}{uuid.uuid4().hex}{_SNAPSHOT_SUFFIX}"

    def write_snapshot(self, path: str | os.PathLike[str], *, chunk_mb: float = 64.0) -> Path:
        """Write the whole state to ``path`` durably and atomically.

        The data go to ``path + '.tmp-<uuid>'``, which is flushed and ``fsync``-ed, then
        renamed over ``path`` with ``os.replace`` and the directory is ``fsync``-ed: after a
        crash ``path`` either holds the complete new snapshot or does not exist.
        Format: a sequence of ``.npy`` records (a JSON header, ``visited``, then each field).

        Returns:
            The final path.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.storage.flush()
        tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")
        chunk = max(1, int(chunk_mb * 2**20))
        try:
            with open(tmp, "wb") as f:
                header = json.dumps(self._meta()).encode()
                np.lib.format.write_array(f, np.frombuffer(header, dtype=np.uint8))
                np.lib.format.write_array(f, self.visited.numpy())
                for fld in self.shapes:
                    _write_npy_stream(f, self.storage.numpy_view(fld), chunk)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        log.info("GELR state snapshot written: %s (%.3f GiB)", path, self.nbytes / _GiB)
        self._prune_snapshots(path)
        return path

    def _prune_snapshots(self, newest: Path) -> None:
        if self.keep_snapshots is None:
            return
        snaps = sorted(
            (p for p in newest.parent.glob(f"{_SNAPSHOT_PREFIX}*{_SNAPSHOT_SUFFIX}")
             if p != newest),
            key=lambda p: p.stat().st_mtime_ns,
        )
        for old in snaps[: max(0, len(snaps) - (int(self.keep_snapshots) - 1))]:
            old.unlink(missing_ok=True)

    def read_snapshot(self, path: str | os.PathLike[str], *, chunk_mb: float = 64.0) -> None:
        """Load a snapshot written by :meth:`write_snapshot` (bit-exact)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(
                f"GELR state snapshot {path} (named in the checkpoint) does not exist: it was "
                "deleted (gelr.keep_snapshots) or the checkpoint was moved without it. Copy the "
                "snapshot next to its original path, or resume without the GELR state."
            )
        chunk = max(1, int(chunk_mb * 2**20))
        with open(path, "rb") as f:
            try:
                meta = json.loads(_read_npy(f).tobytes().decode())
            except Exception as err:  # noqa: BLE001
                raise ValueError(f"GELR state snapshot {path} is not a snapshot: {err}") from err
            self._check_compatible(meta, f"snapshot {path}")
            visited = _read_npy(f)
            if visited.shape != (self.num_samples,):
                raise ValueError(f"GELR state snapshot {path}: bad visited mask")
            for fld in self.shapes:
                if isinstance(self.storage, _DiskStorage):
                    _read_npy_into(f, self.storage.data[fld], chunk, fld)
                else:
                    buf = np.empty((self.num_samples, *self.shapes[fld]),
                                   dtype=_NP_DTYPES[self.dtype])
                    _read_npy_into(f, buf, chunk, fld)
                    self.storage.load(fld, torch.from_numpy(buf))
        self.visited.copy_(torch.from_numpy(visited.astype(bool)))
        self.storage.flush()
        self._dirty.clear()

    def close(self) -> None:
        """Flush and release the storage (the disk working files stay until removed)."""
        self.storage.close()

    def remove_working_files(self) -> None:
        """Delete the disk backend's scratch directory (never the snapshots)."""
        self.close()
        if (
            self.backend == "disk"
            and self.directory is not None
            and self.directory != self.snapshot_dir
        ):
            shutil.rmtree(self.directory, ignore_errors=True)


def _last_occurrence(idx: Tensor) -> Tensor | None:
    """Positions keeping the last occurrence of each index, or None if all are unique."""
    if idx.numel() == torch.unique(idx).numel():
        return None
    last: dict[int, int] = {}
    for pos, i in enumerate(idx.tolist()):
        last[i] = pos
    return torch.tensor(sorted(last.values()), dtype=torch.int64)


def _comm_device() -> torch.device:
    """Device for collectives: the current CUDA device for NCCL, else the CPU."""
    backend = torch.distributed.get_backend()
    if backend == "nccl" and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _check_choice(key: str, value: Any, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"gelr.{key}={value!r} is not valid: use one of {allowed}")

