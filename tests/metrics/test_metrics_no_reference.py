"""pyiqa no-reference metrics: parameter directory handling and the shared sanity values."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rpaf.metrics import NoReferenceMetrics
from rpaf.metrics.no_reference import IQA_DIR_ENV, resolve_param_dir

# ../shared/iqa/README.md: skimage astronaut 512x512, pyiqa 0.1.16 (lower is better).
SANITY = {
    "clean": {"brisque": 2.88, "niqe": 3.06, "piqe": 33.76, "ilniqe": 18.58},
    "noise": {"brisque": 50.23, "niqe": 10.66, "piqe": 56.53},
    "blur": {"brisque": 62.76, "niqe": 7.63, "piqe": 83.92},
}


@pytest.fixture(scope="module")
def astronaut(shared_dir: Path) -> torch.Tensor:
    """(1, 3, 512, 512) in [0, 1]: scikit-image's copy, else the shared PNG."""
    try:
        import skimage.data

        arr = skimage.data.astronaut()
    except Exception:  # pragma: no cover - skimage without its bundled data
        import numpy as np
        from PIL import Image

        arr = np.asarray(Image.open(shared_dir / "iqa" / "bliinds2" / "astronaut.png"))
    return torch.from_numpy(arr[..., :3].copy()).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def nr(iqa_dir: Path) -> NoReferenceMetrics:
    return NoReferenceMetrics(("brisque", "niqe", "piqe"), param_dir=iqa_dir)


def _variants(x: torch.Tensor) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    noise = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    box = torch.ones(3, 1, 7, 7) / 49
    blur = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), box, groups=3)
    return {"clean": x, "noise": noise, "blur": blur}


def test_sanity_values(nr: NoReferenceMetrics, astronaut: torch.Tensor):
    variants = _variants(astronaut)
    batch = torch.cat(list(variants.values()))
    scores = nr(batch)
    assert set(scores) == {"brisque", "niqe", "piqe"}
    for name, s in scores.items():
        assert s.shape == (3,)
        assert s.dtype == torch.float32
        for i, variant in enumerate(variants):
            expected = SANITY[variant][name]
            # clean: 1 %; noise/blur: 3 % (noise draw and blur padding are not specified)
            tol = 0.01 if variant == "clean" else 0.03
            assert s[i].item() == pytest.approx(expected, rel=tol), (name, variant)
        assert s[0] < s[1]  # lower is better
        assert s[0] < s[2]
    assert nr.higher_is_better == {"brisque": False, "niqe": False, "piqe": False}


def test_grey_input_and_3d_input(nr: NoReferenceMetrics, astronaut: torch.Tensor):
    crop = astronaut[..., :128, :128]
    grey = crop.mean(dim=1, keepdim=True)
    out = nr(grey)
    torch.testing.assert_close(out["piqe"], nr(grey.expand(-1, 3, -1, -1))["piqe"])
    assert nr(crop[0])["brisque"].shape == (1,)


def test_small_images_for_niqe(iqa_dir: Path):
    small = torch.rand(2, 3, 64, 64)
    with pytest.raises(ValueError, match="NIQE needs images of at least 96x96"):
        NoReferenceMetrics(("niqe",), param_dir=iqa_dir)(small)
    out = NoReferenceMetrics(("niqe",), param_dir=iqa_dir, small_images="nan")(small)
    assert torch.isnan(out["niqe"]).all()


def test_missing_file_names_file_and_metric(tmp_path: Path):
    (tmp_path / "niqe_modelparameters.mat").write_bytes(b"")
    NoReferenceMetrics(("niqe", "piqe"), param_dir=tmp_path)  # piqe needs no file
    with pytest.raises(FileNotFoundError, match="'brisque' needs 'brisque_svm_weights.pth'"):
        NoReferenceMetrics(("brisque",), param_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="ILNIQE_templateModel.mat"):
        NoReferenceMetrics(("ilniqe",), param_dir=tmp_path)


def test_param_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(IQA_DIR_ENV, raising=False)
    assert resolve_param_dir(None) is None  # pyiqa's own download
    monkeypatch.setenv(IQA_DIR_ENV, str(tmp_path))
    assert resolve_param_dir(None) == tmp_path
    assert NoReferenceMetrics(("piqe",)).param_dir == tmp_path
    with pytest.raises(FileNotFoundError, match="brisque_svm_weights.pth"):
        NoReferenceMetrics(("brisque",))
    monkeypatch.setenv(IQA_DIR_ENV, str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="RPAF_IQA_DIR"):
        resolve_param_dir(None)


def test_offline_without_files_errors_or_skips(offline_pyiqa: Path):
    """Offline, nothing cached: 'error' names the file and the fix; 'skip' drops and says so."""
    with pytest.raises(RuntimeError, match="brisque_svm_weights.pth.*RPAF_IQA_DIR"):
        NoReferenceMetrics(("brisque", "piqe"))
    nr = NoReferenceMetrics(("brisque", "niqe", "piqe"), unavailable="skip")
    assert nr.names == ("piqe",)  # needs no parameter file
    assert set(nr.unavailable) == {"brisque", "niqe"}
    assert "niqe_modelparameters.mat" in nr.unavailable["niqe"]
    text = nr.describe()
    assert "unavailable, not scored: BRISQUE (brisque_svm_weights.pth)" in text
    assert text.startswith("PIQE (pyiqa, lower is better; no parameter files needed)")
    assert set(nr(torch.rand(1, 3, 96, 96))) == {"piqe"}
    assert not list(offline_pyiqa.glob("*.pth"))  # no partial download left behind


def test_skip_keeps_metrics_whose_files_exist(tmp_path: Path, iqa_dir: Path):
    (tmp_path / "brisque_svm_weights.pth").symlink_to(iqa_dir / "brisque_svm_weights.pth")
    nr = NoReferenceMetrics(("brisque", "niqe"), param_dir=tmp_path, unavailable="skip")
    assert nr.names == ("brisque",)
    assert "niqe_modelparameters.mat" in nr.unavailable["niqe"]
    with pytest.raises(ValueError, match="unavailable must be 'error' or 'skip'"):
        NoReferenceMetrics(("piqe",), unavailable="ignore")


def test_unknown_metric():
    with pytest.raises(ValueError, match="unknown no-reference metric"):
        NoReferenceMetrics(("musiq",))


@pytest.mark.slow
def test_ilniqe_sanity_value(iqa_dir: Path, astronaut: torch.Tensor):
    """One 512x512 image: ~35 s on 2 CPU cores (pyiqa resizes every input to 524 px)."""
    out = NoReferenceMetrics(("ilniqe",), param_dir=iqa_dir)(astronaut)
    assert out["ilniqe"].item() == pytest.approx(SANITY["clean"]["ilniqe"], rel=0.01)
