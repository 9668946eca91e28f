"""One object computing every evaluation metric of a batch: :class:`MetricSuite`.

The evaluator loops over a dataloader (with its own progress bar) and calls the suite once per
batch; every metric returns one value per image, so per-image CSV rows and dataset means come
from the same numbers. Heavy parts (pyiqa, the BLIINDS-II model) are checked at construction
(missing files fail at start) and created lazily.

Timing of each metric family on this machine: ``python -m rpaf.metrics.suite --bench``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from rpaf.metrics.bliinds2 import BLIINDS2
from rpaf.metrics.full_reference import MetricConvention
from rpaf.metrics.no_reference import NoReferenceMetrics
from rpaf.metrics.structural import CannySettings, edge_psnr_ssim

__all__ = ["MetricSuite", "main"]


def _coerce_convention(value: MetricConvention | Mapping[str, Any] | None) -> MetricConvention:
    if value is None:
        return MetricConvention()
    if isinstance(value, MetricConvention):
        return value
    return MetricConvention(**{str(k): v for k, v in dict(value).items() if k != "_target_"})


class MetricSuite:
    """Full-reference, no-reference, BLIINDS-II and structural metrics of a batch.

    Args:
        full_reference: PSNR and SSIM (keys ``psnr``, ``ssim``) when a target is given.
        no_reference: pyiqa metrics among ``brisque``, ``niqe``, ``piqe``, ``ilniqe``
            (ILNIQE costs ~35 s per image on 2 CPU cores).
        bliinds2: BLIINDS-II (key ``bliinds2``, lower is better); needs the LIVE model file.
        structural: Canny-edge PSNR/SSIM of paper Table 11 (keys ``edge_psnr``,
            ``edge_ssim``) when a target is given.
        convention: PSNR/SSIM convention (data range, border crop, colour space); a
            :class:`MetricConvention` or a mapping of its fields.
        param_dir: IQA parameter directory (pyiqa files and ``bliinds2/live_model.json``);
            None uses ``$RPAF_IQA_DIR`` or, for pyiqa, its own download.
        bliinds2_model: Explicit path of the BLIINDS-II model JSON (else
            ``$RPAF_BLIINDS2_MODEL`` or ``<param_dir>/bliinds2/live_model.json``).
        canny: Canny settings for the structural evaluation (:class:`CannySettings` or a
            mapping of its fields).
        device: Device for the pyiqa metrics; None follows the input.
        small_images: ``"error"`` or ``"nan"`` for images smaller than a no-reference
            metric supports (NIQE: 96x96).
        unavailable: ``"error"`` (fail at construction) or ``"skip"`` (drop with a warning,
            named in :meth:`describe`) for a no-reference metric whose parameter file can be
            neither found nor downloaded.

    Raises:
        ValueError: On an unknown no-reference metric or bad convention values.
        FileNotFoundError: When a needed parameter file is missing (at construction).
    """

    def __init__(
        self,
        full_reference: bool = True,
        no_reference: Iterable[str] | None = ("brisque", "niqe", "piqe"),
        bliinds2: bool = False,
        structural: bool = False,
        convention: MetricConvention | Mapping[str, Any] | None = None,
        param_dir: str | os.PathLike[str] | None = None,
        bliinds2_model: str | os.PathLike[str] | None = None,
        canny: CannySettings | Mapping[str, Any] | None = None,
        device: str | torch.device | None = None,
        small_images: str = "error",
        unavailable: str = "error",
    ) -> None:
        self.full_reference = bool(full_reference)
        self.structural = bool(structural)
        self.convention = _coerce_convention(convention)
        self.canny = CannySettings.coerce(canny)
        names = tuple(str(n) for n in (no_reference or ()))
        self.no_reference = NoReferenceMetrics(
            names,
            param_dir=param_dir,
            device=device,
            small_images=small_images,
            unavailable=unavailable,
        )
        self.bliinds2: BLIINDS2 | None = (
            BLIINDS2(model_path=bliinds2_model, param_dir=param_dir) if bliinds2 else None
        )
        self.timings: dict[str, float] = {}
        self.images_seen = 0

    # ------------------------------------------------------------------ description
    def keys(self, with_target: bool = True) -> list[str]:
        """Result keys produced for a batch (with or without a target), in order."""
        out: list[str] = []
        if with_target and self.full_reference:
            out += ["psnr", "ssim"]
        if with_target and self.structural:
            out += ["edge_psnr", "edge_ssim"]
        out += list(self.no_reference.names)
        if self.bliinds2 is not None:
            out.append("bliinds2")
        return out

    @property
    def higher_is_better(self) -> dict[str, bool]:
        """``{key: True if higher is better}`` for every key this suite can produce."""
        flags = {k: True for k in ("psnr", "ssim", "edge_psnr", "edge_ssim")}
        flags.update(self.no_reference.higher_is_better)
        flags["bliinds2"] = False  # LIVE DMOS scale (see rpaf.metrics.bliinds2)
        return {k: flags[k] for k in self.keys(with_target=True)}

    def describe(self) -> str:
        """Multi-line caption to print with every result table."""
        lines = []
        if self.full_reference:
            lines.append(self.convention.describe())
        if self.structural:
            lines.append(f"Structural (Table 11): edge PSNR/SSIM of {self.canny.describe()}")
        if self.no_reference.names or self.no_reference.unavailable:
            lines.append(self.no_reference.describe())
        if self.bliinds2 is not None:
            lines.append(
                f"BLIINDS-II (rpaf numpy port, LIVE model {self.bliinds2.model_path}; "
                "lower is better, 0.5 steps)"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Settings for ``metrics.json``."""
        return {
            "keys": self.keys(),
            "higher_is_better": self.higher_is_better,
            "convention": self.convention.to_dict(),
            "convention_text": self.convention.describe(),
            "canny": self.canny.to_dict() if self.structural else None,
            "no_reference": list(self.no_reference.names),
            "no_reference_unavailable": dict(self.no_reference.unavailable),
            "iqa_param_dir": (
                str(self.no_reference.param_dir) if self.no_reference.param_dir else None
            ),
            "bliinds2_model": str(self.bliinds2.model_path) if self.bliinds2 else None,
        }

    # ------------------------------------------------------------------ computing
    def _timed(self, key: str, t0: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - t0

    def reset_timings(self) -> None:
        """Zero the accumulated per-metric seconds and the image count."""
        self.timings.clear()
        self.images_seen = 0

    def seconds_per_image(self) -> dict[str, float]:
        """Mean wall seconds per image of each metric family since the last reset."""
        n = max(self.images_seen, 1)
        return {k: v / n for k, v in self.timings.items()}

    @torch.no_grad()
    def __call__(self, pred: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        """All enabled metrics of a batch.

        Args:
            pred: ``(B, 3, H, W)`` images in ``[0, convention.data_range]``.
            target: ``(B, 3, H, W)`` ground truth, or None (no full-reference keys).

        Returns:
            ``{key: (B,) tensor}`` on ``pred``'s device, keys as :meth:`keys`.
        """
        if pred.ndim == 3:
            pred = pred.unsqueeze(0)
        if target is not None and target.ndim == 3:
            target = target.unsqueeze(0)
        if pred.ndim != 4:
            raise ValueError(f"MetricSuite needs (B, C, H, W) images, got {tuple(pred.shape)}")
        out: dict[str, Tensor] = {}
        if target is not None and self.full_reference:
            t0 = time.perf_counter()
            out["psnr"] = self.convention.psnr(pred, target)
            out["ssim"] = self.convention.ssim(pred, target)
            self._timed("psnr_ssim", t0)
        if target is not None and self.structural:
            t0 = time.perf_counter()
            out.update(edge_psnr_ssim(pred, target, canny=self.canny, convention=self.convention))
            self._timed("structural", t0)
        unit = pred / float(self.convention.data_range)  # NR metrics expect [0, 1]
        for name in self.no_reference.names:
            t0 = time.perf_counter()
            out[name] = self.no_reference.metric_batch(name, unit)
            self._timed(name, t0)
        if self.bliinds2 is not None:
            t0 = time.perf_counter()
            out["bliinds2"] = self.bliinds2(unit)
            self._timed("bliinds2", t0)
        self.images_seen += pred.shape[0]
        return out


# ---------------------------------------------------------------------- benchmark CLI
def _bench(size: int, repeats: int, metrics: Sequence[str], param_dir: str | None) -> None:
    import numpy as np
    import skimage.data
    from skimage.transform import resize

    img = resize(skimage.data.astronaut(), (size, size), anti_aliasing=True)
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
    y = (x + 0.03 * torch.randn_like(x)).clamp(0, 1)
    print(
        f"seconds per {size}x{size} image, torch threads {torch.get_num_threads()}, "
        f"best of {repeats} (first call excluded: lazy creation)"
    )
    for name in metrics:
        nr = [name] if name in ("brisque", "niqe", "piqe", "ilniqe") else []
        suite = MetricSuite(
            full_reference=name == "psnr_ssim",
            no_reference=nr,
            bliinds2=name == "bliinds2",
            structural=name == "structural",
            param_dir=param_dir,
        )
        suite(y, x)  # warm-up / lazy creation
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            suite(y, x)
            best = min(best, time.perf_counter() - t0)
        print(f"  {name:<11s} {best:8.3f} s")


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m rpaf.metrics.suite --bench``: time each metric on this machine.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).
    """
    p = argparse.ArgumentParser(prog="python -m rpaf.metrics.suite", description=main.__doc__)
    p.add_argument("--bench", action="store_true", help="time each metric (default action)")
    p.add_argument("--size", type=int, default=512, help="square image side (default 512)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--param-dir", default=None, help="IQA parameter directory")
    p.add_argument(
        "--metrics",
        nargs="+",
        default=["psnr_ssim", "structural", "brisque", "niqe", "piqe", "bliinds2"],
        help="families to time (add ilniqe: ~35 s per image)",
    )
    a = p.parse_args(argv)
    _bench(a.size, a.repeats, a.metrics, a.param_dir)


if __name__ == "__main__":
    main()
