"""No-reference IQA metrics (BRISQUE, NIQE, PIQE, ILNIQE) through pyiqa.

``pyiqa.create_metric`` normally downloads its parameter files on first use. For offline
machines (and CI) a *parameter directory* holding the published files can be given, either as
the ``param_dir`` argument or through the ``RPAF_IQA_DIR`` environment variable; the files are
then passed to pyiqa as ``pretrained_model_path``:

============  ==============================  =========================================
metric        file in ``param_dir``           notes
============  ==============================  =========================================
``brisque``   ``brisque_svm_weights.pth``     LIVE BRISQUE libsvm model, torch-saved
``niqe``      ``niqe_modelparameters.mat``    LIVE NIQE pristine model
``ilniqe``    ``ILNIQE_templateModel.mat``    official IL-NIQE template (slow: ~35 s/image
                                              on 2 CPU cores, pyiqa resizes to 524 px)
``piqe``      (none)                          needs no parameters
============  ==============================  =========================================

Without a parameter directory pyiqa's own download/cache (``$TORCH_HOME/hub/pyiqa``) is used.
On an offline machine without either, ``unavailable="skip"`` drops the metrics whose files
cannot be obtained (with a warning, and named in :meth:`NoReferenceMetrics.describe`, so every
results table says which metrics are missing and why) instead of failing the evaluation.
All four metrics are lower-is-better. Metrics are cached per device and created on the device
of the first image they see (or ``device`` when given); without a parameter directory, a metric
that needs a file is also created once on the CPU at construction, so that a missing download
shows up before any work is done.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor

__all__ = [
    "NR_METRICS",
    "NR_MIN_SIZE",
    "NR_PARAM_FILES",
    "IQA_DIR_ENV",
    "NoReferenceMetrics",
    "resolve_param_dir",
]

IQA_DIR_ENV = "RPAF_IQA_DIR"

log = logging.getLogger(__name__)

#: metric name -> lower is better (True for all supported metrics).
NR_METRICS: dict[str, bool] = {"brisque": True, "niqe": True, "piqe": True, "ilniqe": True}

#: metric name -> parameter file expected in the parameter directory (None: needs none).
NR_PARAM_FILES: dict[str, str | None] = {
    "brisque": "brisque_svm_weights.pth",
    "niqe": "niqe_modelparameters.mat",
    "ilniqe": "ILNIQE_templateModel.mat",
    "piqe": None,
}


#: metric name -> smallest image side it can score (NIQE works on 96x96 patches).
NR_MIN_SIZE: dict[str, int] = {"niqe": 96}


def resolve_param_dir(param_dir: str | os.PathLike[str] | None) -> Path | None:
    """The parameter directory in force: the argument, else ``$RPAF_IQA_DIR``, else None.

    Args:
        param_dir: Explicit directory, or None to consult the environment.

    Returns:
        The directory, or None for pyiqa's own download.

    Raises:
        FileNotFoundError: If a directory is named but does not exist.
    """
    source = "param_dir"
    if param_dir is None or str(param_dir) == "":
        env = os.environ.get(IQA_DIR_ENV, "")
        if not env:
            return None
        param_dir, source = env, f"${IQA_DIR_ENV}"
    path = Path(param_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"IQA parameter directory {str(path)!r} (from {source}) does not exist; point it at "
            "a folder holding brisque_svm_weights.pth, niqe_modelparameters.mat, "
            f"ILNIQE_templateModel.mat, or unset it (and {IQA_DIR_ENV}) to let pyiqa download "
            "its own files"
        )
    return path


class NoReferenceMetrics:
    """Lazily-created pyiqa no-reference metrics returning per-image scores.

    Args:
        names: Metric names, any of ``brisque``, ``niqe``, ``piqe``, ``ilniqe``.
        param_dir: Directory with the parameter files (see the module docstring); None uses
            ``$RPAF_IQA_DIR`` when set, else pyiqa's own download.
        device: Device to run on; None follows each input's device.
        small_images: What to do with images smaller than a metric supports (NIQE needs
            96x96): ``"error"`` raises a ValueError, ``"nan"`` returns NaN for that metric.
        unavailable: What to do with a metric whose parameter file can be neither found in
            ``param_dir`` nor obtained by pyiqa (offline, not cached): ``"error"`` raises at
            construction; ``"skip"`` drops it with a warning and records the reason in
            :attr:`unavailable` (shown by :meth:`describe`).

    Example:
        >>> nr = NoReferenceMetrics(("brisque", "piqe"))          # doctest: +SKIP
        >>> nr(torch.rand(2, 3, 64, 64))["brisque"].shape         # doctest: +SKIP
        torch.Size([2])
    """

    def __init__(
        self,
        names: Iterable[str] = ("brisque", "niqe", "piqe"),
        param_dir: str | os.PathLike[str] | None = None,
        device: str | torch.device | None = None,
        small_images: str = "error",
        unavailable: str = "error",
    ) -> None:
        if small_images not in ("error", "nan"):
            raise ValueError(f"small_images must be 'error' or 'nan', got {small_images!r}")
        if unavailable not in ("error", "skip"):
            raise ValueError(f"unavailable must be 'error' or 'skip', got {unavailable!r}")
        self.small_images = small_images
        self.names: tuple[str, ...] = tuple(str(n).lower() for n in names)
        unknown = [n for n in self.names if n not in NR_METRICS]
        if unknown:
            raise ValueError(
                f"unknown no-reference metric(s) {unknown}; choose from {sorted(NR_METRICS)}"
            )
        self.param_dir = resolve_param_dir(param_dir)
        self.device = torch.device(device) if device is not None else None
        self._metrics: dict[tuple[str, str], torch.nn.Module] = {}
        #: metric name -> why it was dropped (``unavailable="skip"`` only).
        self.unavailable: dict[str, str] = {}
        # Fail (or drop) at construction, not after an hour of evaluation, when a file is missing.
        self._paths: dict[str, Path | None] = {}
        for name in self.names:
            try:
                self._paths[name] = self._param_path(name)
                if self.param_dir is None and NR_PARAM_FILES[name]:
                    self.metric(name, torch.device("cpu"))  # pyiqa's cache or download
            except (FileNotFoundError, RuntimeError) as err:
                if unavailable == "error":
                    raise
                self.unavailable[name] = str(err)
                log.warning("no-reference metric %r skipped: %s", name, err)
        self.names = tuple(n for n in self.names if n not in self.unavailable)

    @property
    def higher_is_better(self) -> dict[str, bool]:
        """``{name: False}`` for every selected metric (all are lower-is-better)."""
        return {n: not NR_METRICS[n] for n in self.names}

    def _param_path(self, name: str) -> Path | None:
        fname = NR_PARAM_FILES[name]
        if self.param_dir is None or fname is None:
            return None
        path = self.param_dir / fname
        if not path.is_file():
            raise FileNotFoundError(
                f"no-reference metric {name!r} needs {fname!r} in the IQA parameter directory "
                f"{str(self.param_dir)!r}, but {str(path)!r} is missing. Copy the file there, "
                f"drop {name!r} from the metric list, or unset param_dir/${IQA_DIR_ENV} to use "
                "pyiqa's own download"
            )
        return path

    def describe(self) -> str:
        """Caption fragment naming the metrics and where their parameters come from."""
        text = ""
        if self.names:
            if not any(NR_PARAM_FILES[n] for n in self.names):
                src = "no parameter files needed"
            elif self.param_dir is not None:
                src = f"parameters from {self.param_dir}"
            else:
                src = "pyiqa's downloaded parameters"
            text = f"{', '.join(n.upper() for n in self.names)} (pyiqa, lower is better; {src})"
        if self.unavailable:
            missing = ", ".join(
                f"{n.upper()} ({NR_PARAM_FILES[n]})" for n in sorted(self.unavailable)
            )
            text += (
                f"{'; ' if text else ''}unavailable, not scored: {missing}: parameter file "
                f"neither in ${IQA_DIR_ENV} nor obtainable by pyiqa"
            )
        return text

    def metric(self, name: str, device: torch.device) -> torch.nn.Module:
        """The (cached) pyiqa metric ``name`` on ``device``, created on first use.

        Args:
            name: One of the selected metric names.
            device: Device to create it on.

        Returns:
            The pyiqa ``InferenceModel``.
        """
        key = (name, str(device))
        if key not in self._metrics:
            import pyiqa  # heavy import: only when a metric is really needed

            kwargs: dict[str, object] = {}
            path = self._paths[name] if name in self._paths else self._param_path(name)
            if path is not None:
                kwargs["pretrained_model_path"] = str(path)
            try:
                model = pyiqa.create_metric(name, device=device, **kwargs)
            except Exception as err:  # download failures surface as many exception types
                if path is not None or NR_PARAM_FILES[name] is None:
                    raise
                raise RuntimeError(
                    f"pyiqa could not create {name!r}: its parameter file "
                    f"{NR_PARAM_FILES[name]!r} is not in pyiqa's cache and downloading it "
                    f"failed ({type(err).__name__}: {err}). Offline, set param_dir (or "
                    f"${IQA_DIR_ENV}) to a folder holding {NR_PARAM_FILES[name]!r}, or report it "
                    "as unavailable with unavailable='skip' (Hydra: metrics.unavailable=skip)"
                ) from err
            model.eval()
            self._metrics[key] = model
        return self._metrics[key]

    @torch.no_grad()
    def metric_batch(self, name: str, img: Tensor) -> Tensor:
        """Score a batch with one metric.

        Args:
            name: Metric name (need not be among ``names``).
            img: ``(B, 3, H, W)`` RGB (or ``(B, 1, H, W)`` grey, repeated to RGB) in [0, 1].

        Returns:
            ``(B,)`` scores on ``img``'s device, float32 (float64 for float64 input).

        Raises:
            ValueError: On a wrongly shaped input or an unknown metric.
        """
        if name not in NR_METRICS:
            raise ValueError(
                f"unknown no-reference metric {name!r}; choose from {sorted(NR_METRICS)}"
            )
        if img.ndim == 3:
            img = img.unsqueeze(0)
        if img.ndim != 4 or img.shape[1] not in (1, 3):
            raise ValueError(
                f"no-reference metrics need (B, 3, H, W) RGB images in [0, 1]; "
                f"got {tuple(img.shape)}"
            )
        if img.shape[1] == 1:
            img = img.expand(-1, 3, -1, -1)
        out_dtype = torch.float64 if img.dtype == torch.float64 else torch.float32
        min_size = NR_MIN_SIZE.get(name, 0)
        if min(img.shape[-2:]) < min_size:
            if self.small_images == "nan":
                return torch.full((img.shape[0],), float("nan"), dtype=out_dtype, device=img.device)
            raise ValueError(
                f"{name.upper()} needs images of at least {min_size}x{min_size} pixels, got "
                f"{tuple(img.shape[-2:])}; drop {name!r} from the no-reference metrics or pass "
                "small_images='nan'"
            )
        device = self.device if self.device is not None else img.device
        x = img.to(device=device, dtype=torch.float32).clamp(0.0, 1.0)
        score = self.metric(name, device)(x)
        return score.detach().reshape(x.shape[0]).to(device=img.device, dtype=out_dtype)

    def __call__(self, img: Tensor) -> dict[str, Tensor]:
        """Score a batch with every selected metric.

        Args:
            img: ``(B, 3, H, W)`` RGB (or ``(B, 1, H, W)`` grey) in [0, 1].

        Returns:
            ``{name: (B,) tensor}`` on ``img``'s device, float32 (float64 for float64 input).
        """
        return {name: self.metric_batch(name, img) for name in self.names}
