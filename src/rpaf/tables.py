"""Paper tables from local ``metrics.json`` files (never from the wandb API).

The builder reads every run folder under a root (``rpaf-train`` and ``rpaf-eval`` runs, single
or multirun), plus the benchmark (``experiments/bench/*.json``) and application
(``jpeg_results.json``) result files, and lays them out as the paper's tables, described by the
experiment specs ``experiments/<table_or_figure>.yaml``. Every table shows our numbers beside
the paper's own (transcribed in the spec) and is labelled with scale, data, hardware, date and
git SHA. Several seeds give ``mean ± std`` (sample std, ``n`` runs).

Cell states:
    - a number (``mean`` or ``mean ± std``): finished runs matched;
    - ``unavailable``: the cell needs a dataset that is not present locally (never invented);
    - ``failed``: only failed runs matched (listed under the table with their folders);
    - ``—``: nothing was run for the cell (e.g. a method of the paper we do not implement).

Spec format (YAML, one file per table/figure)::

    id: table4                          # output file stem
    title: "Table 4: ..."
    source: "Table 4 (section 4.3)"     # where the paper's numbers come from
    sweep: alpha_beta                   # optional: conf/sweep/<name>.yaml (rpaf.reproduce)
    evals: [{methods: [l0, rtv], data: [synthetic]}]  # optional eval jobs (rpaf.reproduce);
                                        # an entry may add `task_name` and `overrides`
    select: {task_name: sweep_alpha_beta}   # filter applied to every cell
    row_header: "(α, β)"
    columns:
      - {id: brisque, label: "BRISQUE ↓", metric: brisque, better: lower, digits: 3}
      - {id: nks_psnr, label: "PSNR", group: NKS, metric: psnr, select: {dataset: nks}}
    rows:
      - label: "(0.1, 0.9)"
        select: {config.ablation.alpha_beta: [0.1, 0.9]}   # null: paper-only row
        paper: {brisque: 49.761}
      - label: "Input"                  # metric_map: read another metric in this row
        select: {method: l0}
        metric_map: {psnr: input_psnr}
    notes: ["free text printed under the table"]

Selectors map a field to a value (or a list of accepted values with ``any_of``); fields are
the normalised run fields (``task_name``, ``kind``, ``method``, ``dataset``, ``seed``,
``status``, ``source``) or dotted paths into the record (``config.model.ratio``). A metric
name ``psnr`` is looked up as ``psnr``, then ``eval/psnr``, then ``test/psnr``.

Command line::

    python -m rpaf.tables --runs logs/reproduce/mini --scale mini --out experiments/results/mini
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

#: Rendered when a cell needs a dataset that is not present locally.
UNAVAILABLE = "unavailable"
#: Rendered when every matching run failed.
FAILED = "failed"
#: Rendered when nothing was run for a cell.
MISSING = "—"
#: Metric-name prefixes tried, in order, for a bare metric name.
METRIC_PREFIXES: tuple[str, ...] = ("", "eval/", "test/", "val/")
#: Relative tolerance for matching float config values in selectors.
_REL_TOL = 1e-9


class SpecError(ValueError):
    """An experiment spec is malformed (the message names the file and key)."""


# --------------------------------------------------------------------------------------------
# Run records
# --------------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """One finished (or failed) run, read from its ``metrics.json``.

    Attributes:
        path: Folder holding the ``metrics.json`` (or the result file for bench/apps records).
        source: ``train``, ``eval``, ``bench`` or ``apps``.
        task_name: The run's ``task_name`` (sweeps: ``sweep_<name>``).
        status: ``ok``, ``failed`` or ``running`` (a run killed before its ``finally``).
        seed: The seed, or ``None``.
        method: Normalised method id: ``rpafnet`` for the network, else the classical method
            name (``l0``, ``rtv``, ``gelr``...).
        dataset: Normalised dataset id (``synthetic``, ``nks``, ``sps``, ``ecs``, ``rtv``...).
        overrides: Hydra overrides of the run.
        metrics: Scalar metrics.
        raw: The whole ``metrics.json`` content (``config`` holds the resolved config).
    """

    path: Path
    source: str
    task_name: str
    status: str
    seed: int | None
    method: str
    dataset: str
    overrides: list[str]
    metrics: dict[str, float]
    raw: dict[str, Any] = field(repr=False)

    def get(self, dotted: str) -> Any:
        """A normalised field (``method``, ``dataset``...) or a dotted path into the record.

        Returns:
            The value, or ``None`` when the path does not exist.
        """
        if dotted in ("task_name", "status", "seed", "method", "dataset", "source"):
            return getattr(self, dotted)
        if dotted == "kind":
            return self.source
        node: Any = self.raw
        for part in dotted.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def metric(self, name: str) -> float | None:
        """The metric ``name``: ``psnr`` tries ``psnr``, ``eval/psnr``, ``test/psnr``, ``val/psnr``.

        ``mean(a,b,c)`` is the mean of metrics ``a``, ``b``, ``c`` (``None`` unless all exist),
        as in the paper's Table 1 "Mean" column.
        """
        if name.startswith("mean(") and name.endswith(")"):
            parts = [self.metric(p.strip()) for p in name[5:-1].split(",")]
            if not parts or any(p is None for p in parts):
                return None
            return statistics.fmean(p for p in parts if p is not None)
        if "/" in name:
            value = self.metrics.get(name)
            return None if value is None else float(value)
        for prefix in METRIC_PREFIXES:
            if prefix + name in self.metrics:
                return float(self.metrics[prefix + name])
        return None

    @property
    def date(self) -> str:
        """ISO date of the run (empty when unknown)."""
        return str(self.raw.get("date", ""))


def _dataset_id(config: Mapping[str, Any], overrides: Sequence[str] = ()) -> str:
    chosen = _override_value(overrides, "data")  # the Hydra choice, e.g. data=real_pairs
    if chosen and not chosen.startswith("["):
        return chosen.lower()
    data = config.get("data") or {}
    if not isinstance(data, Mapping):
        return "unknown"
    name = data.get("name")
    if name:
        return str(name).lower()
    target = str(data.get("_target_", "unknown")).rsplit(".", 1)[-1]
    for suffix in ("DataModule", "Dataset"):
        target = target.removesuffix(suffix)
    return target.lower() or "unknown"


def _override_value(overrides: Sequence[str], key: str) -> str | None:
    for item in overrides:
        k, sep, v = str(item).lstrip("+~").partition("=")
        if sep and k == key:
            return v
    return None


def _method_id(raw: Mapping[str, Any], config: Mapping[str, Any], overrides: Sequence[str]) -> str:
    method = _override_value(overrides, "method")
    if method:
        return method.lower()
    node = config.get("method")
    if isinstance(node, Mapping):
        if node.get("name"):
            return str(node["name"]).lower()
        return str(node.get("_target_", "unknown")).rsplit(".", 1)[-1].lower()
    if isinstance(node, str) and node:
        return node.lower()
    return "rpafnet"


def _scalar_metrics(metrics: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    if not isinstance(metrics, Mapping):
        return out
    for key, value in metrics.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[str(key)] = float(value)
    return out


def read_run(path: str | Path) -> RunRecord:
    """Read one ``metrics.json`` written by ``rpaf-train`` or ``rpaf-eval``.

    Args:
        path: The ``metrics.json`` file.

    Returns:
        The record (``source`` is ``eval`` for ``rpaf-eval`` runs, else ``train``).

    Raises:
        ValueError: The file is not a JSON object.
    """
    path = Path(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: metrics.json must hold a JSON object, got {type(raw).__name__}")
    config = raw.get("config") or {}
    overrides = [str(o) for o in raw.get("overrides") or []]
    is_eval = "summary" in raw or (bool(config) and "trainer" not in config)
    seed = raw.get("seed", config.get("seed"))
    return RunRecord(
        path=path.parent,
        source="eval" if is_eval else "train",
        task_name=str(raw.get("task_name", config.get("task_name", "unknown"))),
        status=str(raw.get("status", "unknown")),
        seed=None if seed is None else int(seed),
        method=_method_id(raw, config, overrides),
        dataset=_dataset_id(config, overrides),
        overrides=overrides,
        metrics=_scalar_metrics(raw.get("metrics")),
        raw=raw,
    )


def _flat_records(obj: Any) -> list[dict[str, Any]]:
    """Entries of a bench/apps result file: a list, ``{"results": [...]}`` or ``{name: {...}}``."""
    if isinstance(obj, list):
        return [dict(e) for e in obj if isinstance(e, Mapping)]
    if isinstance(obj, Mapping):
        for key in ("results", "rows", "records"):
            if isinstance(obj.get(key), list):
                meta = {
                    k: v for k, v in obj.items() if k != key and not isinstance(v, (list, dict))
                }
                return [{**meta, **dict(e)} for e in obj[key] if isinstance(e, Mapping)]
        if obj and all(isinstance(v, Mapping) for v in obj.values()):
            return [{"method": str(k), **dict(v)} for k, v in obj.items()]
        return [dict(obj)]
    return []


def _result_file_records(path: Path, source: str) -> list[RunRecord]:
    try:
        entries = _flat_records(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as err:
        log.warning("skipping unreadable %s result file %s: %s", source, path, err)
        return []
    records = []
    for entry in entries:
        method = str(entry.get("method", entry.get("name", entry.get("model", "rpafnet")))).lower()
        if (method.startswith("rpafnet") and not method.startswith("rpafnet_")) or method in (
            "ours", "network"
        ):
            method = "rpafnet"  # "RPAFNet (last.ckpt)" etc.; config names (rpafnet_lite) stay
        records.append(
            RunRecord(
                path=path,
                source=source,
                task_name=str(entry.get("task_name", source)),
                status=str(entry.get("status", "ok")),
                seed=entry.get("seed"),
                method=method,
                dataset=str(entry.get("dataset", "n/a")).lower(),
                overrides=[],
                metrics=_scalar_metrics(entry),
                raw=entry,
            )
        )
    return records


@dataclass
class RunCollection:
    """Every record found under the roots: ``ok`` ones feed tables, the others are listed."""

    ok: list[RunRecord]
    failed: list[RunRecord]

    def __len__(self) -> int:
        return len(self.ok) + len(self.failed)


def collect_runs(
    roots: str | Path | Iterable[str | Path],
    *,
    bench_dirs: Iterable[str | Path] = (),
) -> RunCollection:
    """Collect ``metrics.json`` runs (and bench/apps result files) under ``roots``.

    Runs with a status other than ``ok`` are not used in tables but kept in ``failed``.
    Repeated runs of the same job (same task, overrides and seed) keep the newest only.

    Args:
        roots: Folders searched recursively for ``metrics.json`` and ``jpeg_results.json``.
        bench_dirs: Folders whose ``*.json`` files are benchmark results (``rpaf.bench``).

    Returns:
        The collection, ``ok`` sorted by path.
    """
    if isinstance(roots, (str, Path)):
        roots = [roots]
    records: list[RunRecord] = []
    for root in map(Path, roots):
        if not root.exists():
            continue
        for path in sorted(root.rglob("metrics.json")):
            try:
                records.append(read_run(path))
            except (OSError, ValueError) as err:
                log.warning("skipping unreadable %s: %s", path, err)
        for path in sorted(root.rglob("jpeg_results.json")):
            records.extend(_result_file_records(path, "apps"))
    for bench in map(Path, bench_dirs):
        if bench.is_dir():
            for path in sorted(bench.glob("*.json")):
                records.extend(_result_file_records(path, "bench"))
    newest: dict[tuple[Any, ...], RunRecord] = {}
    failed: list[RunRecord] = []
    for rec in records:
        if rec.status != "ok":
            failed.append(rec)
            continue
        if rec.source in ("train", "eval"):
            key: tuple[Any, ...] = (
                rec.source, rec.task_name, rec.seed, tuple(sorted(job_overrides(rec.overrides)))
            )
        else:
            key = (rec.source, str(rec.path), id(rec))
        if key not in newest or rec.date >= newest[key].date:
            newest[key] = rec
    ok = sorted(newest.values(), key=lambda r: (str(r.path), r.method))
    return RunCollection(ok=ok, failed=sorted(failed, key=lambda r: str(r.path)))


#: Override keys that do not change what a job computes (where it writes, how it logs).
IGNORED_OVERRIDE_PREFIXES: tuple[str, ...] = ("hydra.", "hydra/", "paths.", "logger", "tags")


def job_overrides(overrides: Iterable[str]) -> list[str]:
    """Overrides that change what a job computes (drops hydra.*, paths.*, logger, tags)."""
    out = []
    for item in overrides:
        key = str(item).lstrip("+~").partition("=")[0]
        if not key.startswith(IGNORED_OVERRIDE_PREFIXES):
            out.append(str(item).lstrip("+"))
    return out


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


@dataclass
class Column:
    """One metric column (ours beside the paper's)."""

    id: str
    label: str
    metric: str | None
    better: str | None = None
    digits: int = 3
    group: str | None = None
    select: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    """One table row: a selector for our runs (``None``: paper-only) and the paper's values."""

    label: str
    select: dict[str, Any] | None
    paper: dict[str, float | None] = field(default_factory=dict)
    metric_map: dict[str, str] = field(default_factory=dict)


@dataclass
class TableSpec:
    """A paper table/figure spec (``experiments/<id>.yaml``); see the module docstring."""

    id: str
    title: str
    columns: list[Column]
    rows: list[Row]
    source: str = ""
    row_header: str = "Method"
    select: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sweep: str | None = None
    evals: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None


def load_spec(path: str | Path) -> TableSpec:
    """Load and check one experiment spec.

    Raises:
        SpecError: A required key is missing or malformed (message names the file and key).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a spec must be a YAML mapping with id, title, columns, rows")
    for key in ("id", "title", "columns", "rows"):
        if key not in data:
            raise SpecError(f"{path}: missing key {key!r} (see rpaf.tables for the format)")
    columns = []
    for i, col in enumerate(data["columns"]):
        if not isinstance(col, dict) or "id" not in col:
            raise SpecError(f"{path}: columns[{i}] needs at least an 'id'")
        better = col.get("better")
        if better not in (None, "lower", "higher"):
            raise SpecError(f"{path}: columns[{i}].better={better!r}: use lower, higher or null")
        columns.append(
            Column(
                id=str(col["id"]),
                label=str(col.get("label", col["id"])),
                metric=col.get("metric", col["id"]),
                better=better,
                digits=int(col.get("digits", 3)),
                group=col.get("group"),
                select=dict(col.get("select") or {}),
            )
        )
    ids = [c.id for c in columns]
    if len(set(ids)) != len(ids):
        raise SpecError(f"{path}: column ids must be unique, got {ids}")
    rows = []
    for i, row in enumerate(data["rows"]):
        if not isinstance(row, dict) or "label" not in row:
            raise SpecError(f"{path}: rows[{i}] needs a 'label'")
        paper = dict(row.get("paper") or {})
        unknown = set(paper) - set(ids)
        if unknown:
            raise SpecError(f"{path}: rows[{i}].paper has unknown column ids {sorted(unknown)}")
        metric_map = row.get("metric_map") or {}
        if not isinstance(metric_map, dict):
            raise SpecError(f"{path}: rows[{i}].metric_map must map metric -> metric")
        rows.append(Row(label=str(row["label"]), select=row.get("select"), paper=paper,
                        metric_map={str(k): str(v) for k, v in metric_map.items()}))
    return TableSpec(
        id=str(data["id"]),
        title=str(data["title"]),
        columns=columns,
        rows=rows,
        source=str(data.get("source", "")),
        row_header=str(data.get("row_header", "Method")),
        select=dict(data.get("select") or {}),
        notes=[str(n) for n in data.get("notes") or []],
        sweep=data.get("sweep"),
        evals=list(data.get("evals") or []),
        path=path,
    )


def _spec_order(path: Path) -> tuple[Any, ...]:
    """Tables first, then figures, then extras; numbers in natural order (table2 < table10)."""
    stem = path.stem
    kind = 0 if stem.startswith("table") else 1 if stem.startswith("fig") else 2
    parts = re.split(r"(\d+)", stem)
    return (kind, *[(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p])


def load_specs(spec_dir: str | Path) -> list[TableSpec]:
    """Every ``*.yaml`` spec directly in ``spec_dir``: tables, then figures, then extras."""
    return [load_spec(p) for p in sorted(Path(spec_dir).glob("*.yaml"), key=_spec_order)]


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------


def _values_match(actual: Any, expected: Any) -> bool:
    if isinstance(expected, Mapping) and "any_of" in expected:
        return any(_values_match(actual, e) for e in expected["any_of"])
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(expected)
            and all(_values_match(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected or (actual == expected and type(actual) is type(expected))
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(float(actual), float(expected), rel_tol=_REL_TOL, abs_tol=1e-12)
    if expected is None:
        return actual is None
    return str(actual).lower() == str(expected).lower()


def matches(record: RunRecord, select: Mapping[str, Any]) -> bool:
    """Whether ``record`` satisfies every ``field: value`` of ``select``."""
    return all(_values_match(record.get(k), v) for k, v in select.items())


@dataclass
class Cell:
    """Our value for one (row, column): mean/std over matched runs, or a state string."""

    mean: float | None = None
    std: float | None = None
    n: int = 0
    state: str = MISSING
    runs: list[Path] = field(default_factory=list)

    def text(self, digits: int) -> str:
        """Render as ``mean``, ``mean ± std`` or the state string."""
        if self.mean is None:
            return self.state
        if self.n > 1 and self.std is not None:
            return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"
        return f"{self.mean:.{digits}f}"


def _needed_datasets(select: Mapping[str, Any]) -> set[str]:
    value = select.get("dataset")
    if value is None:
        return set()
    if isinstance(value, Mapping) and "any_of" in value:
        return {str(v).lower() for v in value["any_of"]}
    return {str(value).lower()}


def compute_cell(
    runs: RunCollection,
    spec: TableSpec,
    row: Row,
    column: Column,
    unavailable: set[str],
) -> Cell:
    """Aggregate our value for one cell (see the module docstring for the states)."""
    if row.select is None or column.metric is None:
        return Cell(state=MISSING)
    select = {**spec.select, **column.select, **row.select}
    needed = _needed_datasets(select)
    if needed and needed <= unavailable:
        return Cell(state=UNAVAILABLE)
    matched = [r for r in runs.ok if matches(r, select)]
    values, paths = [], []
    for rec in matched:
        value = rec.metric(row.metric_map.get(column.metric, column.metric))
        if value is not None and math.isfinite(value):
            values.append(value)
            paths.append(rec.path)
    if values:
        std = statistics.stdev(values) if len(values) > 1 else None
        return Cell(mean=statistics.fmean(values), std=std, n=len(values), state="ok", runs=paths)
    if any(matches(r, select) for r in runs.failed):
        return Cell(state=FAILED)
    return Cell(state=MISSING)


def _fmt_paper(value: float | None, digits: int) -> str:
    if value is None:
        return MISSING
    return f"{float(value):.{digits}f}"


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


@dataclass
class TableLabel:
    """What every table is labelled with."""

    scale: str
    data: str
    hardware: str
    date: str
    git_sha: str

    def text(self) -> str:
        """One line: ``scale · data · hardware · date · git``."""
        return (
            f"Scale: {self.scale} · Data: {self.data} · Hardware: {self.hardware} · "
            f"Date: {self.date} · git: {self.git_sha}"
        )


@dataclass
class BuiltTable:
    """A table with its computed cells, ready to render."""

    spec: TableSpec
    cells: list[list[Cell]]
    label: TableLabel
    failed: list[RunRecord]
    #: Runs the cells read that were trained under another task (``raw["shared_from"]``:
    #: the same resolved config, trained once; see :mod:`rpaf.shared_runs`).
    shared: list[RunRecord] = field(default_factory=list)

    def best(self) -> dict[str, int | None]:
        """Index of the best row of ours per column (``better`` set, at least two values)."""
        best: dict[str, int | None] = {}
        for j, col in enumerate(self.spec.columns):
            values = [(c[j].mean, i) for i, c in enumerate(self.cells) if c[j].mean is not None]
            if col.better is None or len(values) < 2:
                best[col.id] = None
                continue
            pick = min(values) if col.better == "lower" else max(values)
            best[col.id] = pick[1]
        return best

    def paper_columns(self) -> set[str]:
        """Ids of the columns for which some row has a paper number."""
        return {col.id for col in self.spec.columns
                if any(row.paper.get(col.id) is not None for row in self.spec.rows)}

    def header(self) -> list[str]:
        """Column headers: row header, ``<label> (ours)`` / ``<label> (paper)`` pairs, ``n``.

        A column without any paper number has no ``(paper)`` twin and is headed ``<label>``.
        """
        with_paper = self.paper_columns()
        out = [self.spec.row_header]
        for col in self.spec.columns:
            name = f"{col.group} {col.label}" if col.group else col.label
            out += [f"{name} (ours)", f"{name} (paper)"] if col.id in with_paper else [name]
        return [*out, "n"]

    def body(self, bold: tuple[str, str] = ("**", "**")) -> list[list[str]]:
        """Rendered rows (best of ours per column wrapped in ``bold``)."""
        best = self.best()
        with_paper = self.paper_columns()
        out = []
        for i, (row, cells) in enumerate(zip(self.spec.rows, self.cells, strict=True)):
            line = [row.label]
            for col, cell in zip(self.spec.columns, cells, strict=True):
                text = cell.text(col.digits)
                if best[col.id] == i:
                    text = f"{bold[0]}{text}{bold[1]}"
                line.append(text)
                if col.id in with_paper:
                    line.append(_fmt_paper(row.paper.get(col.id), col.digits))
            n = max((c.n for c in cells), default=0)
            line.append(str(n) if n else MISSING)
            out.append(line)
        return out


def _describe_data(runs: Iterable[RunRecord]) -> str:
    names = sorted({r.dataset for r in runs if r.dataset not in ("", "n/a", "unknown")})
    return ", ".join(names) if names else "none"


def _describe_hardware(runs: Iterable[RunRecord]) -> str:
    devices = sorted({str(r.raw.get("device")) for r in runs if r.raw.get("device")})
    return "; ".join(devices) if devices else "unknown"


def build_table(
    spec: TableSpec,
    runs: RunCollection,
    *,
    scale: str,
    unavailable: Iterable[str] = (),
    date: str | None = None,
    git_sha: str | None = None,
    hardware: str | None = None,
    data: str | None = None,
) -> BuiltTable:
    """Compute every cell of ``spec`` from ``runs``.

    Args:
        spec: The table spec.
        runs: Collected runs.
        scale: ``smoke``, ``mini``, ``paper`` (or any label) printed with the table.
        unavailable: Dataset ids not present locally: their cells read ``unavailable``.
        date: Label date (default: today, UTC).
        git_sha: Label SHA (default: the repository's current SHA).
        hardware: Label hardware (default: the devices recorded by the runs used).
        data: Label data (default: the datasets of the runs used).

    Returns:
        The built table.
    """
    gone = {str(u).lower() for u in unavailable}
    cells = [
        [compute_cell(runs, spec, row, col, gone) for col in spec.columns] for row in spec.rows
    ]
    used = {p for row in cells for c in row for p in c.runs}
    used_runs = [r for r in runs.ok if r.path in used]
    if git_sha is None:
        from rpaf.utils.runinfo import git_sha as _sha

        git_sha = _sha()
    label = TableLabel(
        scale=scale,
        data=data if data is not None else _describe_data(used_runs),
        hardware=hardware if hardware is not None else _describe_hardware(used_runs),
        date=date or datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        git_sha=git_sha,
    )
    relevant = [r for r in runs.failed if _is_relevant(r, spec)]
    shared = [r for r in used_runs if r.raw.get("shared_from") and _is_relevant(r, spec)]
    return BuiltTable(spec=spec, cells=cells, label=label, failed=relevant, shared=shared)


def _is_relevant(record: RunRecord, spec: TableSpec) -> bool:
    """Whether ``record`` matches one cell's selection of ``spec``."""
    for row in spec.rows:
        if row.select is None:
            continue
        for col in spec.columns:
            if matches(record, {**spec.select, **col.select, **row.select}):
                return True
    return False


def _failure_text(rec: RunRecord) -> str:
    if rec.raw.get("error"):
        return (str(rec.raw["error"]).splitlines() or [""])[0][:200]
    if rec.status == "running":
        return "interrupted (status 'running': the process died before writing its result)"
    return f"status {rec.status!r}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _relative(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)


def render_markdown(table: BuiltTable, *, base: Path | None = None) -> str:
    """Markdown: title, label line, table (ours beside paper), notes, failed runs."""
    spec = table.spec
    lines = [f"## {spec.title}", "", f"*{table.label.text()}*", ""]
    if spec.source:
        lines += [f"Paper numbers: {spec.source}.", ""]
    header = table.header()
    lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in table.body():
        lines.append("| " + " | ".join(_md_escape(t) for t in row) + " |")
    lines.append("")
    legend = (
        f"Ours: mean ± sample std over n runs (seeds); bold: our best per column. "
        f"`{UNAVAILABLE}`: dataset not present locally; `{FAILED}`: every run failed; "
        f"`{MISSING}`: not run / not in the paper."
    )
    lines += [legend, ""]
    for note in spec.notes:
        lines += [f"- {note}"]
    if spec.notes:
        lines.append("")
    if table.shared:
        lines.append("Runs shared with another table (the same resolved training config, "
                     "trained once):")
        for rec in table.shared:
            lines.append(f"- `{_relative(rec.path, base)}` (trained as "
                         f"`{rec.raw['shared_from']}`, seed {rec.seed})")
        lines.append("")
    if table.failed:
        lines.append("Failed runs (see each folder's metrics.json `error`/`traceback`):")
        for rec in table.failed:
            lines.append(f"- `{_relative(rec.path, base)}`: {_failure_text(rec)}")
        lines.append("")
    return "\n".join(lines)


def render_csv(table: BuiltTable) -> str:
    """Long-format CSV: one line per (row, column) with ours, the paper's and the label."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["table", "row", "group", "column", "metric", "ours_mean", "ours_std", "n", "state",
         "paper", "scale", "data", "hardware", "date", "git_sha"]
    )
    lab = table.label
    for row, cells in zip(table.spec.rows, table.cells, strict=True):
        for col, cell in zip(table.spec.columns, cells, strict=True):
            paper = row.paper.get(col.id)
            writer.writerow(
                [table.spec.id, row.label, col.group or "", col.label, col.metric or "",
                 "" if cell.mean is None else repr(cell.mean),
                 "" if cell.std is None else repr(cell.std), cell.n, cell.state,
                 "" if paper is None else paper, lab.scale, lab.data, lab.hardware, lab.date,
                 lab.git_sha]
            )
    return buf.getvalue()


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}", "±": r"$\pm$", "↓": r"$\downarrow$",
                  "↑": r"$\uparrow$", "—": "--", "α": r"$\alpha$", "β": r"$\beta$",
                  "λ": r"$\lambda$", "θ": r"$\theta$", "·": r"$\cdot$", "×": r"$\times$"}


def _tex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def render_latex(table: BuiltTable) -> str:
    """A ``booktabs`` LaTeX table (``\\usepackage{booktabs}``), ours beside the paper's."""
    header = table.header()
    n_cols = len(header)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_tex(table.spec.title)}. {_tex(table.label.text())}}}",
        rf"\label{{tab:rpaf-{table.spec.id}}}",
        r"\begin{tabular}{l" + "r" * (n_cols - 1) + "}",
        r"\toprule",
        " & ".join(_tex(h) for h in header) + r" \\",
        r"\midrule",
    ]
    for row in table.body(bold=("\x00", "\x01")):
        cells = [_tex(t).replace("\x00", r"\textbf{").replace("\x01", "}") for t in row]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def write_tables(
    specs: Sequence[TableSpec],
    runs: RunCollection,
    out_dir: str | Path,
    *,
    scale: str,
    unavailable: Iterable[str] = (),
    date: str | None = None,
    git_sha: str | None = None,
    hardware: str | None = None,
    data: str | None = None,
    base: Path | None = None,
    index_specs: Sequence[TableSpec] | None = None,
) -> list[Path]:
    """Build every spec and write ``<id>.md``, ``<id>.csv``, ``<id>.tex`` and ``README.md``.

    Args:
        specs: Table specs.
        runs: Collected runs.
        out_dir: Output folder (``experiments/results/<scale>``).
        scale: Scale label.
        unavailable: Dataset ids not present locally.
        date: Label date (default: today, UTC).
        git_sha: Label SHA (default: current).
        hardware: Label hardware (default: from the runs).
        data: Label data (default: from the runs).
        base: Run folders are printed relative to it (default: absolute).
        index_specs: The tables ``README.md`` lists, in order (default: ``specs``); one not
            rebuilt here is copied from its ``<id>.md`` in ``out_dir`` when that exists, so
            rebuilding some tables keeps the others in the index.

    Returns:
        The written files.
    """
    from rpaf.utils.runinfo import atomic_write_text
    from rpaf.utils.runinfo import git_sha as _sha

    out = Path(out_dir)
    sha = git_sha if git_sha is not None else _sha()
    unavailable = sorted({str(u).lower() for u in unavailable})
    written: list[Path] = []
    index = [f"# Reproduced tables ({scale})", ""]
    rebuilt: dict[str, str] = {}
    for spec in specs:
        table = build_table(spec, runs, scale=scale, unavailable=unavailable, date=date,
                            git_sha=sha, hardware=hardware, data=data)
        md = rebuilt[spec.id] = render_markdown(table, base=base)
        written.append(atomic_write_text(out / f"{spec.id}.md", md))
        written.append(atomic_write_text(out / f"{spec.id}.csv", render_csv(table)))
        written.append(atomic_write_text(out / f"{spec.id}.tex", render_latex(table)))
    for spec in index_specs if index_specs is not None else specs:
        kept = out / f"{spec.id}.md"
        if spec.id in rebuilt:
            index += [rebuilt[spec.id], ""]
        elif kept.is_file():
            index += [kept.read_text(encoding="utf-8"), ""]
    if runs.failed:
        index += ["## Failed runs", ""]
        index += [f"- `{_relative(r.path, base)}` ({r.task_name}): {_failure_text(r)}"
                  for r in runs.failed]
        index.append("")
    if unavailable:
        index += [f"Datasets not present locally (rows marked `{UNAVAILABLE}`): "
                  f"{', '.join(unavailable)}.", ""]
    written.append(atomic_write_text(out / "README.md", "\n".join(index)))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rpaf.tables``: build the tables from existing runs (runs nothing)."""
    parser = argparse.ArgumentParser(prog="python -m rpaf.tables", description=main.__doc__)
    parser.add_argument("--runs", nargs="+", default=["logs"], help="folders with run folders")
    parser.add_argument("--specs", default="experiments", help="folder of experiment specs")
    parser.add_argument("--bench", nargs="*", default=["experiments/bench"])
    parser.add_argument("--scale", default="custom")
    parser.add_argument("--out", default=None, help="default: experiments/results/<scale>")
    parser.add_argument("--unavailable", nargs="*", default=[], help="dataset ids not present")
    parser.add_argument("--date", default=None)
    parser.add_argument("--git-sha", default=None)
    parser.add_argument("--hardware", default=None)
    args = parser.parse_args(argv)
    specs = load_specs(args.specs)
    runs = collect_runs(args.runs, bench_dirs=args.bench)
    out = Path(args.out or f"experiments/results/{args.scale}")
    files = write_tables(specs, runs, out, scale=args.scale, unavailable=args.unavailable,
                         date=args.date, git_sha=args.git_sha, hardware=args.hardware,
                         base=Path.cwd())
    print(f"{len(specs)} tables from {len(runs.ok)} runs ({len(runs.failed)} failed) -> {out}"
          f" ({len(files)} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
