"""JPEG artefact removal (paper appendix C.3, Table 7)."""

from __future__ import annotations

import json

import pytest
import torch
from kornia.filters import gaussian_blur2d

from rpaf.apps.common import AppError, InputImage
from rpaf.apps.jpeg import RESULTS_JSON, jpeg_compress, run
from rpaf.evaluation import Smoother
from rpaf.metrics.full_reference import psnr


def _clipart(size: int = 48) -> torch.Tensor:
    """Flat colour regions with sharp edges, like a clip-art image."""
    img = torch.zeros(1, 3, size, size)
    img[:, 0] = 0.9
    img[:, 1, : size // 2] = 0.7
    img[:, 2, :, size // 3 :] = 0.4
    img[:, :, size // 4 : size // 2, size // 4 : 3 * size // 4] = torch.tensor([0.1, 0.2, 0.8])[
        :, None, None
    ]
    return img


def test_compression_is_lossy_and_quality_ordered():
    x = _clipart()
    c10, c90 = jpeg_compress(x, 10), jpeg_compress(x, 90)
    assert c10.shape == x.shape
    assert c10.dtype == torch.float32
    p10, p90 = float(psnr(c10, x)[0]), float(psnr(c90, x)[0])
    assert p10 < 40.0  # really degraded
    assert p10 < p90


def test_quality_out_of_range_raises():
    with pytest.raises(ValueError, match="quality"):
        jpeg_compress(_clipart(), 0)


def test_run_writes_results_json_with_the_table7_fields(tmp_path):
    images = [InputImage("a", None, _clipart()), InputImage("b", None, _clipart().flip(-1))]
    smoothers = [Smoother(lambda x: x, name="identity"),
                 Smoother(lambda x: gaussian_blur2d(x, (5, 5), (1.0, 1.0)), name="blur")]
    result = run({"quality": 10, "dpi": 40}, smoothers, images, tmp_path)
    record = json.loads((tmp_path / RESULTS_JSON).read_text())
    assert record["quality"] == 10
    assert record["images"] == ["a", "b"]
    rows = {r["method"]: r for r in record["results"]}
    assert list(rows) == ["jpeg", "identity", "blur"]
    # The unsmoothed input row (Table 7 "JPEG input") scores the compressed image itself.
    assert rows["jpeg"]["smoothed"] is False
    assert rows["jpeg"]["psnr"] == rows["jpeg"]["psnr_compressed"] == record["compressed"]["psnr"]
    for r in rows.values():
        assert {"method", "psnr", "ssim", "psnr_compressed", "ssim_compressed", "quality",
                "images"} <= set(r)
        assert r["psnr_compressed"] < 40.0  # compression really lowered PSNR
        assert len(r["per_image"]) == 2
    # The identity smoother leaves the compressed image unchanged.
    assert rows["identity"]["psnr"] == pytest.approx(rows["identity"]["psnr_compressed"], abs=1e-4)
    assert (tmp_path / "jpeg_results.csv").read_text().count("\n") == 1 + 4
    assert "| blur |" in (tmp_path / "results.md").read_text()
    assert result["outputs"]["compressed/a"].is_file()


def test_methods_that_need_the_target_are_refused(tmp_path):
    def cheat(g, x):  # pragma: no cover - never called
        return x

    cheat.needs_target = True  # type: ignore[attr-defined]
    with pytest.raises(AppError, match="needs the clean image"):
        run({}, [Smoother(cheat, name="cheat")], [InputImage("a", None, _clipart())], tmp_path)


def test_the_table_builder_reads_the_results(tmp_path):
    """Contract with rpaf.tables (Table 7): one record per entry, checkpoints map to rpafnet."""
    tables = pytest.importorskip("rpaf.tables")
    images = [InputImage("a", None, _clipart())]
    smoothers = [Smoother(lambda x: x, name="RPAFNet (last)"), Smoother(lambda x: x, name="l0")]
    run({"figure": False, "save_images": False}, smoothers, images, tmp_path / "apps")
    records = tables.collect_runs(tmp_path).ok
    by_method = {r.method: r for r in records}
    assert set(by_method) == {"jpeg", "rpafnet", "l0"}
    assert by_method["rpafnet"].metrics["psnr"] == pytest.approx(
        by_method["jpeg"].metrics["psnr"], abs=1e-4
    )
