"""Evaluate a smoother (trained network or classical method) on a dataset.

Writes, into one output folder:
- ``per_image.csv``: one row per image, every metric;
- ``summary.json``: mean per metric, the metric convention, method, dataset, run metadata;
- ``results.md``: a small Markdown table of the means with the convention as caption; with
  ground truth it also gives ``input_psnr``/``input_ssim``, the unsmoothed input's scores;
- ``images/``: smoothed outputs (same names as the inputs) when ``save_images`` > 0.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor, nn

from rpaf.metrics.full_reference import MetricConvention
from rpaf.utils.runinfo import atomic_write_json, atomic_write_text, run_metadata


@dataclass
class Smoother:
    """Wrap a network or a classical method as ``(g, x | None) -> u``.

    Args:
        fn: A network (``nn.Module``) or a classical method (callable on (B, 3, H, W)).
        name: Shown in tables.
        tile: Tile size for tiled inference of networks on large images (``None``: whole image).
        overlap: Tile overlap in pixels.
        self_ensemble: Networks only: average over this many flips/transposes (1, 2, 4, 8;
            :func:`rpaf.models.self_ensemble`); 1 = plain inference.
    """

    fn: Callable[..., Tensor]
    name: str
    tile: int | None = None
    overlap: int = 64
    self_ensemble: int = 1
    needs_target: bool = field(init=False)

    def __post_init__(self) -> None:
        self.needs_target = bool(getattr(self.fn, "needs_target", False))

    @torch.inference_mode()
    def __call__(self, g: Tensor, x: Tensor | None = None) -> Tensor:
        """Smooth ``g`` (B, 3, H, W); methods that need the ground truth get ``x``."""
        if self.needs_target:
            if x is None:
                raise ValueError(
                    f"method {self.name!r} needs the ground truth (e.g. the standalone GELR "
                    f"solver, gelr-math section 4): evaluate it on a dataset with targets"
                )
            return self.fn(g, x).clamp(0, 1)
        if isinstance(self.fn, nn.Module) and (self.tile or self.self_ensemble > 1):
            from rpaf.models import self_ensemble, tiled_forward

            def forward(x: Tensor) -> Tensor:
                if self.tile:
                    return tiled_forward(self.fn, x, tile=self.tile, overlap=self.overlap)
                return self.fn(x)

            return self_ensemble(forward, g, self.self_ensemble).clamp(0, 1)
        return self.fn(g).clamp(0, 1)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    )


def evaluate(
    smoother: Smoother,
    batches: Iterable[dict[str, Any]],
    suite: Any,
    out_dir: str | Path,
    *,
    dataset_name: str,
    device: torch.device | str = "cpu",
    save_images: int = 0,
    total: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``smoother`` over ``batches`` and write per-image and summary results.

    Args:
        smoother: What to evaluate.
        batches: Collated sample dicts (``input``, optional ``target``, ``name``, ``index``).
        suite: A :class:`rpaf.metrics.suite.MetricSuite`; called as ``suite(pred, target)``.
        out_dir: Folder for ``per_image.csv``, ``summary.json``, ``results.md``, ``images/``.
        dataset_name: Shown in the table caption.
        device: Where to run.
        save_images: How many smoothed outputs to write (``-1``: all).
        total: Number of batches, for the progress bar.
        extra: Extra fields for ``summary.json``.

    Returns:
        The summary dict (also written to ``summary.json``).
    """
    from rpaf.data.imageio import write_image

    out_dir = Path(out_dir)
    img_dir = out_dir / "images"
    if isinstance(smoother.fn, nn.Module):
        smoother.fn.to(device).eval()
    rows: list[dict[str, Any]] = []
    saved = 0
    start = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(f"eval {smoother.name} on {dataset_name}", total=total)
        for batch in batches:
            g = batch["input"].to(device)
            x = batch["target"].to(device) if "target" in batch else None
            t0 = time.perf_counter()
            u = smoother(g, x)
            seconds = (time.perf_counter() - t0) / g.shape[0]
            scores = suite(u, x)
            if x is not None:
                # Reference point: the unsmoothed input under the same convention.
                conv = getattr(suite, "convention", None) or MetricConvention()
                scores["input_psnr"] = conv.psnr(g, x)
                scores["input_ssim"] = conv.ssim(g, x)
            names = list(batch.get("name", [str(int(i)) for i in batch["index"]]))
            for i, name in enumerate(names):
                row: dict[str, Any] = {"name": name, "seconds": seconds}
                row.update({k: float(v[i]) for k, v in scores.items()})
                rows.append(row)
                if save_images < 0 or saved < save_images:
                    write_image(img_dir / f"{Path(name).stem}.png", u[i].detach().cpu())
                    saved += 1
            progress.advance(task)
    if not rows:
        raise ValueError(f"dataset {dataset_name!r} gave no images to evaluate")
    metric_names = [k for k in rows[0] if k not in ("name",)]
    means = {k: _nanmean([r[k] for r in rows]) for k in metric_names}
    _write_csv(out_dir / "per_image.csv", rows)
    convention = getattr(suite, "describe", lambda: "")()
    summary = {
        "method": smoother.name,
        "dataset": dataset_name,
        "num_images": len(rows),
        "metrics": means,
        "higher_is_better": dict(getattr(suite, "higher_is_better", {})),
        "convention": convention,
        "wall_seconds": time.perf_counter() - start,
        **run_metadata(device),
        **(extra or {}),
    }
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "results.md", results_table([summary]))
    return summary


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def results_table(summaries: list[dict[str, Any]]) -> str:
    """A Markdown table of mean metrics, one row per summary, with the convention as caption."""
    keys: list[str] = []
    for s in summaries:
        keys += [k for k in s["metrics"] if k not in keys and k != "seconds"]
    hib = {k: v for s in summaries for k, v in s.get("higher_is_better", {}).items()}
    arrows = {k: (" ↑" if hib[k] else " ↓") if k in hib else "" for k in keys}
    lines = [
        "| method | dataset | n | " + " | ".join(f"{k}{arrows[k]}" for k in keys) + " | s/img |",
        "|---|---|---|" + "---|" * len(keys) + "---|",
    ]
    for s in summaries:
        vals = " | ".join(_fmt(s["metrics"].get(k)) for k in keys)
        lines.append(
            f"| {s['method']} | {s['dataset']} | {s['num_images']} | {vals} | "
            f"{_fmt(s['metrics'].get('seconds'))} |"
        )
    first = summaries[0]
    caption = (
        f"\n{first.get('convention', '')}. Git {first.get('git_sha', '?')}, "
        f"{first.get('date', '?')}, {first.get('device', '?')}.\n"
    )
    return "\n".join(lines) + "\n" + caption


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
