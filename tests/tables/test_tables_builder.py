"""Table builder (rpaf.tables) on the committed fixture tree tests/fixtures/metrics.

The golden Markdown files under tests/fixtures/tables/golden were checked by hand against the
fixture values (e.g. Table 4 (0.4, 0.6): BRISQUE 28 and 32 -> 30.000 ± 2.828). Regenerate them
after an intended layout change with ``RPAF_UPDATE_GOLDEN=1 pytest tests/tables`` and review
the diff.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import pytest

from rpaf.tables import (
    FAILED,
    MISSING,
    UNAVAILABLE,
    RunCollection,
    SpecError,
    build_table,
    collect_runs,
    load_spec,
    load_specs,
    main,
    matches,
    read_run,
    render_csv,
    render_latex,
    render_markdown,
    write_tables,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "metrics"
GOLDEN = REPO / "tests" / "fixtures" / "tables" / "golden"
SPECS = REPO / "experiments"
LABEL = {"date": "2025-01-04", "git_sha": "abc1234", "hardware": "fixture-cpu"}
GONE = ["nks", "sps", "ecs"]


@pytest.fixture(scope="module")
def runs() -> RunCollection:
    return collect_runs(FIXTURES)


def _built(name: str, runs: RunCollection):
    return build_table(load_spec(SPECS / f"{name}.yaml"), runs, scale="fixture",
                       unavailable=GONE, **LABEL)


@pytest.mark.parametrize("name", ["table4_alpha_beta", "table8_datasets", "table11_structural"])
def test_tables_golden_markdown(runs: RunCollection, name: str) -> None:
    text = render_markdown(_built(name, runs), base=FIXTURES)
    golden = GOLDEN / f"{name}.md"
    if os.environ.get("RPAF_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_tables_collect_counts_failed_and_dedup(runs: RunCollection) -> None:
    # 9 files: 1 failed, 1 interrupted ("running"), 1 older duplicate of a job -> 6 used.
    assert len(runs.ok) == 6
    assert sorted(r.status for r in runs.failed) == ["failed", "running"]
    old = [r for r in runs.ok if r.get("config.gelr.alpha") == 0.1]
    assert len(old) == 1
    assert old[0].metric("brisque") == pytest.approx(41.5)


def test_tables_mean_std_over_seeds(runs: RunCollection) -> None:
    table = _built("table4_alpha_beta", runs)
    row = [r.label for r in table.spec.rows].index("(0.4, 0.6)")
    cell = table.cells[row][0]
    assert cell.n == 2
    assert cell.mean == pytest.approx(30.0)
    assert cell.std == pytest.approx(math.sqrt(8.0))  # sample std of (28, 32)
    failed_row = [r.label for r in table.spec.rows].index("(0.2, 0.8)")
    assert table.cells[failed_row][0].state == FAILED
    assert table.cells[failed_row + 1][0].state == MISSING


def test_tables_unavailable_datasets_render_unavailable(runs: RunCollection) -> None:
    table = _built("table8_datasets", runs)
    ours = [r.label for r in table.spec.rows].index("Ours (RPAFNet)")
    ids = [c.id for c in table.spec.columns]
    assert table.cells[ours][ids.index("nks_psnr")].state == UNAVAILABLE
    assert table.cells[ours][ids.index("syn_psnr")].mean == pytest.approx(27.875)
    md = render_markdown(table)
    assert UNAVAILABLE in md
    assert "34.98" in md
    # Without the unavailable list the same cells are "not run", never a number.
    plain = build_table(table.spec, runs, scale="fixture", **LABEL)
    assert plain.cells[ours][ids.index("nks_psnr")].state == MISSING


def test_tables_csv_and_latex(runs: RunCollection) -> None:
    table = _built("table4_alpha_beta", runs)
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    assert len(rows) == len(table.spec.rows) * len(table.spec.columns)
    first = next(r for r in rows if r["row"] == "(0.4, 0.6)" and r["metric"] == "brisque")
    assert float(first["ours_mean"]) == pytest.approx(30.0)
    assert first["paper"] == "27.448"
    assert first["scale"] == "fixture"
    assert first["git_sha"] == "abc1234"
    tex = render_latex(table)
    assert r"\begin{tabular}" in tex
    assert r"\textbf{30.000 $\pm$ 2.828}" in tex
    assert "(0.4, 0.6)" in tex
    assert r"$\alpha$" in tex


def test_tables_write_and_cli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = main(["--runs", str(FIXTURES), "--specs", str(SPECS), "--bench", str(tmp_path / "no"),
               "--scale", "fixture", "--out", str(out), "--unavailable", *GONE,
               "--date", LABEL["date"], "--git-sha", LABEL["git_sha"],
               "--hardware", LABEL["hardware"]])
    assert rc == 0
    specs = load_specs(SPECS)
    for spec in specs:
        for ext in ("md", "csv", "tex"):
            assert (out / f"{spec.id}.{ext}").is_file()
    index = (out / "README.md").read_text(encoding="utf-8")
    assert "## Failed runs" in index
    assert "fixture failure" in index
    files = write_tables(specs[:1], RunCollection([], []), tmp_path / "empty", scale="x",
                         git_sha="s", date="d", hardware="h")
    assert len(files) == 4


def test_tables_specs_transcribe_paper(runs: RunCollection) -> None:
    """Spot checks of the transcription against /work/shared/paper (Tables 1, 4, 5, 10, 11)."""
    specs = {s.id: s for s in load_specs(SPECS)}
    t1 = {r.label: r.paper for r in specs["table1_nr_methods"].rows}
    assert t1["Ours (RPAFNet)"] == {"brisque": 19.725, "niqe": 4.491, "piqe": 46.768,
                                    "ilniqe": 12.333, "mean": 20.829}
    # The paper's Table 1 Mean column is the mean of the four metrics (to rounding).
    for label, paper in t1.items():
        if paper:
            four = [paper[k] for k in ("brisque", "niqe", "piqe", "ilniqe")]
            assert sum(four) / 4 == pytest.approx(paper["mean"], abs=2e-3), label
    t4 = [r.paper["brisque"] for r in specs["table4_alpha_beta"].rows]
    assert min(t4) == 27.448
    assert t4.index(min(t4)) == 3
    t5 = [r.paper["niqe"] for r in specs["table5_lambda"].rows]
    assert t5.index(min(t5)) == 6  # (0.7, 0.3)
    t11 = {r.label: r.paper for r in specs["table11_structural"].rows}
    assert t11["Ours (RPAFNet)"] == {"rtv_psnr": 30.25, "rtv_ssim": 0.9172}
    every_sweep = {s.sweep for s in specs.values() if s.sweep}
    assert every_sweep == {p.stem for p in (REPO / "conf" / "sweep").glob("*.yaml")}


def test_tables_selectors_and_bad_specs(tmp_path: Path) -> None:
    rec = read_run(FIXTURES / "sweep_alpha_beta/multiruns/2025-01-02_00-00-00_000001/0"
                   / "metrics.json")
    assert rec.source == "train"
    assert rec.method == "rpafnet"
    assert rec.dataset == "synthetic"
    assert matches(rec, {"config.model.dilations": [1, 2, 4], "config.model.ldsc": True})
    assert not matches(rec, {"config.model.dilations": [1, 2]})
    assert not matches(rec, {"config.model.ldsc": 1})  # booleans never match numbers
    assert matches(rec, {"method": {"any_of": ["l0", "rpafnet"]}})
    assert rec.metric("psnr") == 30.0
    assert rec.metric("val/psnr") == 29.0
    assert rec.metric("mean(brisque,niqe)") == pytest.approx(16.5)
    assert rec.metric("mean(brisque,ilniqe)") is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: y\ncolumns: [{id: a}]\nrows: [{label: r, paper: {b: 1}}]\n")
    with pytest.raises(SpecError, match=r"bad.yaml.*unknown column ids \['b'\]"):
        load_spec(bad)
    bad.write_text("id: x\ntitle: y\n")
    with pytest.raises(SpecError, match="missing key 'columns'"):
        load_spec(bad)


def test_tables_bench_and_apps_files(tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "model_cuda.json").write_text(json.dumps({
        "device": "cuda: x", "device_type": "cuda", "dtype": "float32", "results": [
            {"method": "rpafnet", "size": 512, "params_m": 16.07, "latency_s": 0.5,
             "peak_memory_mib": 900.0},
            {"method": "rpafnet", "size": 2048, "params_m": 16.07, "latency_s": 4.0},
            {"method": "rpafnet_lite", "size": 512, "params_m": 1.8, "latency_s": 0.1},
        ]}))
    # Another device and dtype: must not be averaged into the GPU float32 rows.
    (bench / "model_cpu.json").write_text(json.dumps({
        "device": "cpu: y", "device_type": "cpu", "dtype": "float32", "results": [
            {"method": "rpafnet", "size": 2048, "params_m": 16.07, "latency_s": 90.0}]}))
    (bench / "model_cuda_bf16.json").write_text(json.dumps({
        "device": "cuda: x", "device_type": "cuda", "dtype": "bf16", "results": [
            {"method": "rpafnet", "size": 2048, "params_m": 16.07, "latency_s": 2.0}]}))
    apps = tmp_path / "runs" / "jpeg"
    apps.mkdir(parents=True)
    (apps / "jpeg_results.json").write_text(json.dumps(
        {"l0": {"psnr": 27.0, "ssim": 0.9}, "RPAFNet (last.ckpt)": {"psnr": 28.0, "ssim": 0.91}}))
    runs = collect_runs(tmp_path / "runs", bench_dirs=[bench])
    t10 = build_table(load_spec(SPECS / "table10_inference.yaml"), runs, scale="t", **LABEL)
    labels = [r.label for r in t10.spec.rows]
    ours = labels.index("Ours (RPAFNet, paper config), GPU")
    ids = [c.id for c in t10.spec.columns]
    assert t10.cells[ours][ids.index("latency_2k")].mean == pytest.approx(4.0)
    assert t10.cells[ours][ids.index("latency_2k")].n == 1
    assert t10.cells[ours][ids.index("memory_2k")].state == MISSING
    lite = t10.cells[labels.index("RPAFNet lite (rpaf), GPU")]
    assert lite[ids.index("latency_512")].mean == pytest.approx(0.1)  # not folded into rpafnet
    cpu = t10.cells[labels.index("RPAFNet paper config (rpaf), CPU")]
    assert cpu[ids.index("latency_2k")].mean == pytest.approx(90.0)
    t7 = build_table(load_spec(SPECS / "table7_jpeg.yaml"), runs, scale="t", **LABEL)
    by_label = {r.label: c for r, c in zip(t7.spec.rows, t7.cells, strict=True)}
    assert by_label["Ours (RPAFNet)"][0].mean == pytest.approx(28.0)
    assert by_label["L0 gradient min. (rpaf)"][1].mean == pytest.approx(0.9)


def test_tables_row_metric_map_and_data_choice(tmp_path: Path) -> None:
    """A row may read another metric (the input's own score); `data=<choice>` names the set."""
    run = tmp_path / "eval_methods" / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({
        "task_name": "eval_methods", "status": "ok", "seed": 0,
        "config": {"split": "test", "data": {"_target_": "rpaf.data.PairedFolderDataModule"}},
        "overrides": ["task_name=eval_methods", "data=real_pairs", "method=l0"],
        "metrics": {"psnr": 30.0, "input_psnr": 25.0}, "summary": {}}))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        "id: t\ntitle: T\nselect: {task_name: eval_methods}\n"
        "columns: [{id: p, metric: psnr, select: {dataset: real_pairs}}]\n"
        "rows:\n  - {label: Input, select: {method: l0}, metric_map: {psnr: input_psnr}}\n"
        "  - {label: L0, select: {method: l0}}\n")
    runs = collect_runs(tmp_path)
    assert runs.ok[0].dataset == "real_pairs"
    table = build_table(load_spec(spec_path), runs, scale="fixture", **LABEL)
    assert [row[0].mean for row in table.cells] == [25.0, 30.0]
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: t\ntitle: T\ncolumns: [{id: p, metric: psnr}]\n"
                   "rows: [{label: L, select: {method: l0}, metric_map: [psnr]}]\n")
    with pytest.raises(SpecError, match="metric_map"):
        load_spec(bad)


def test_rebuilding_some_tables_keeps_the_others_in_the_index(tmp_path: Path) -> None:
    """``index_specs``: README.md lists every table in order; those not rebuilt are copied from
    their own files (``--set tables=[one]`` must not drop the rest from the index)."""
    specs = load_specs(SPECS)
    assert len(specs) >= 3
    out = tmp_path / "out"
    label = {"git_sha": "s", "hardware": "h"}
    write_tables(specs, RunCollection([], []), out, scale="x", date="first", **label)
    write_tables(specs[1:2], RunCollection([], []), out, scale="x", date="second",
                 index_specs=specs, **label)
    index = (out / "README.md").read_text(encoding="utf-8")
    for spec in specs:
        assert (out / f"{spec.id}.md").read_text(encoding="utf-8") in index
    assert index.count("Date: second") == 1
    assert index.count("Date: first") == len(specs) - 1
    starts = [index.index((out / f"{s.id}.md").read_text(encoding="utf-8")) for s in specs]
    assert starts == sorted(starts)
    # Without index_specs the index holds just the tables built (the previous behaviour).
    write_tables(specs[1:2], RunCollection([], []), out, scale="x", date="third", **label)
    assert (out / "README.md").read_text(encoding="utf-8").count("Date: ") == 1
