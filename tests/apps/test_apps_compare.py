"""Comparison grids with zoomed insets (paper Figs. 4, 20)."""

from __future__ import annotations

import pytest
import torch
from kornia.filters import gaussian_blur2d

from rpaf.apps.common import AppError, InputImage, read_inputs
from rpaf.apps.compare import inset_box, run
from rpaf.data.imageio import write_image
from rpaf.evaluation import Smoother


def _img(seed: int) -> torch.Tensor:
    return torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(seed))


def _smoothers() -> list[Smoother]:
    return [Smoother(lambda x: x, name="identity"),
            Smoother(lambda x: gaussian_blur2d(x, (5, 5), (1.0, 1.0)), name="blur")]


def test_inset_box_in_pixels_and_invalid_boxes():
    assert inset_box((100, 200), [0.1, 0.2, 0.25, 0.5]) == (10, 40, 25, 100)
    with pytest.raises(AppError, match="inside"):
        inset_box((100, 200), [0.9, 0.0, 0.5, 0.5])
    with pytest.raises(AppError, match="fractions"):
        inset_box((100, 200), [0.1, 0.1, 0.1])


def test_grid_and_outputs_are_written_with_scores_against_targets(tmp_path):
    images = [InputImage("a", None, _img(0)), InputImage("b", None, _img(1))]
    gt_paths = []
    for im in images:
        gt_paths.append(write_image(tmp_path / "gt" / f"{im.name}.png", im.image[0]))
    result = run({"targets": [str(p) for p in gt_paths], "dpi": 40}, _smoothers(), images,
                 tmp_path / "out")
    out = result["outputs"]
    assert out["grid"].is_file()
    assert read_inputs([out["blur/a"]])[0].image.shape == (1, 3, 24, 32)
    # The identity output equals its (8-bit) target: PSNR far above the blur's.
    scores = result["scores"]["a"]
    assert scores["identity"]["psnr"] > 40 > scores["blur"]["psnr"]


def test_wrong_number_of_targets_or_mixed_sizes_fail(tmp_path):
    images = [InputImage("a", None, _img(0))]
    with pytest.raises(AppError, match="target"):
        run({"targets": ["x.png", "y.png"]}, _smoothers(), images, tmp_path)
    mixed = images + [InputImage("c", None, torch.rand(1, 3, 16, 16))]
    with pytest.raises(AppError, match="different sizes"):
        run({"inset": None}, _smoothers(), mixed, tmp_path)
