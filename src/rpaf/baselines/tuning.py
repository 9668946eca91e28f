"""Pick the best setting of a baseline tuning grid from its runs' ``metrics.json`` files.

A grid is a Hydra multirun of ``rpaf-eval`` on the validation split
(``rpaf-eval -m +method_grid=l0 data=synthetic ...``, see ``conf/method_grid/``). This module
reads every job's ``metrics.json`` under a folder, ranks the settings by one metric and writes
a Markdown table, so that the chosen setting (``conf/method/<name>_tuned.yaml``) can be
traced back to the numbers that chose it:

    python -m rpaf.baselines.tuning logs/grid_l0/multiruns/<time> --metric psnr
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Override prefixes whose keys are the grid's parameters.
SWEPT_PREFIXES: tuple[str, ...] = ("method.", "model_overrides.")

__all__ = ["SWEPT_PREFIXES", "GridResult", "load_grid", "main", "rank", "to_markdown"]


@dataclass(frozen=True)
class GridResult:
    """One grid job.

    Attributes:
        path: Its ``metrics.json``.
        params: The swept ``method.*`` (a classical method's) or ``model_overrides.*`` (a
            network's inference-only keys) overrides, prefix removed -> value string.
        status: ``ok`` or ``failed``.
        metrics: Its metric means (empty when failed).
        split: The evaluated split.
        prefixes: Each parameter's override prefix (``method.`` or ``model_overrides.``), so
            the chosen setting can be printed as the overrides that reproduce it.
    """

    path: Path
    params: dict[str, str]
    status: str
    metrics: dict[str, float]
    split: str
    prefixes: dict[str, str] = field(default_factory=dict)

    def as_overrides(self) -> str:
        """The grid point as command-line overrides, e.g. ``model_overrides.refine_kernel=11``."""
        return " ".join(f"{self.prefixes.get(k, 'method.')}{k}={v}" for k, v in self.params.items())


def load_grid(root: str | Path) -> list[GridResult]:
    """Read every run below ``root`` (a grid's multirun folder) with ``rpaf.tables.collect_runs``.

    Raises:
        FileNotFoundError: If ``root`` holds no ``metrics.json``.
    """
    from rpaf.tables import collect_runs

    runs = collect_runs(Path(root))
    results = []
    for rec in sorted([*runs.ok, *runs.failed], key=lambda r: str(r.path)):
        params, prefixes = {}, {}
        for item in rec.overrides:
            key, _, value = item.partition("=")
            for prefix in SWEPT_PREFIXES:
                if key.startswith(prefix):
                    params[key[len(prefix):]] = value
                    prefixes[key[len(prefix):]] = prefix
        split = str((rec.raw.get("config") or {}).get("split", "test"))
        results.append(GridResult(rec.path / "metrics.json", params, rec.status,
                                  dict(rec.metrics), split, prefixes))
    if not results:
        raise FileNotFoundError(
            f"no metrics.json below {root}: pass the multirun folder of an "
            "`rpaf-eval -m +method_grid=<name>` run"
        )
    return results


def rank(results: Sequence[GridResult], metric: str = "psnr",
         higher_is_better: bool = True) -> list[GridResult]:
    """Successful jobs with a finite ``metric``, best first (failed jobs are left out)."""
    ok = [r for r in results if r.status == "ok" and math.isfinite(r.metrics.get(metric, math.nan))]
    return sorted(ok, key=lambda r: r.metrics[metric], reverse=higher_is_better)


def to_markdown(results: Sequence[GridResult], metric: str = "psnr",
                higher_is_better: bool = True, extra: Sequence[str] = ("ssim",)) -> str:
    """A ranked Markdown table of the grid (failed jobs listed at the end)."""
    ranked = rank(results, metric, higher_is_better)
    keys = sorted({k for r in results for k in r.params})
    cols = [metric, *[m for m in extra if m != metric]]
    lines = ["| rank | " + " | ".join(keys + cols) + " |",
             "|---" * (1 + len(keys) + len(cols)) + "|"]
    for i, r in enumerate(ranked, 1):
        vals = [f"{r.metrics.get(c, math.nan):.4f}" for c in cols]
        lines.append(f"| {i} | " + " | ".join([r.params.get(k, "") for k in keys] + vals) + " |")
    for r in results:
        if r not in ranked:
            lines.append("| failed | " + " | ".join([r.params.get(k, "") for k in keys]
                                                    + [r.status] * len(cols)) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: print (and optionally write) the ranked grid; exit 1 if no job succeeded."""
    ap = argparse.ArgumentParser(prog="python -m rpaf.baselines.tuning", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="multirun folder of one tuning grid")
    ap.add_argument("--metric", default="psnr", help="metric to rank by (default psnr)")
    ap.add_argument("--lower-is-better", action="store_true")
    ap.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = ap.parse_args(argv)
    results = load_grid(args.root)
    splits = sorted({r.split for r in results})
    table = to_markdown(results, args.metric, not args.lower_is_better)
    header = (f"Grid {args.root} ({len(results)} jobs, split {'/'.join(splits)}), "
              f"by {args.metric}:\n\n")
    print(header + table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(header + table)
    best = rank(results, args.metric, not args.lower_is_better)
    if not best:
        print("no job of this grid succeeded")
        return 1
    print("best: " + best[0].as_overrides())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
