"""1-D intensity profiles (paper Fig. 5)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_grayscale

from rpaf.apps.common import AppError, InputImage
from rpaf.apps.profile import line_profile, make_line, run
from rpaf.evaluation import Smoother


def _image(size: tuple[int, int] = (20, 30)) -> torch.Tensor:
    return torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(3))


def test_row_and_column_profiles_equal_the_image_values():
    img = _image()
    pos, vals = line_profile(img, make_line((20, 30), row=7), channel=0)
    np.testing.assert_array_equal(vals, img[0, 0, 7].double().numpy())
    np.testing.assert_array_equal(pos, np.arange(30.0))
    _, vals = line_profile(img, make_line((20, 30), col=-1), channel=2)
    np.testing.assert_array_equal(vals, img[0, 2, :, 29].double().numpy())
    _, vals = line_profile(img, make_line((20, 30), row=4))
    np.testing.assert_allclose(vals, rgb_to_grayscale(img)[0, 0, 4].double().numpy())


def test_segment_along_a_row_matches_the_row_and_diagonal_has_its_length():
    img = _image()
    _, vals = line_profile(img, make_line((20, 30), segment=[5, 2, 5, 12]), channel=1)
    np.testing.assert_allclose(vals, img[0, 1, 5, 2:13].double().numpy(), atol=1e-12)
    pos, vals = line_profile(img, make_line((20, 30), segment=[0, 0, 12, 16]), channel=1)
    assert pos[-1] == pytest.approx(20.0)
    assert vals[0] == pytest.approx(float(img[0, 1, 0, 0]))
    assert vals[-1] == pytest.approx(float(img[0, 1, 12, 16]))


def test_default_line_is_the_middle_row_and_bad_lines_fail():
    assert make_line((20, 30)).start == (10, 0)
    with pytest.raises(AppError, match="only one"):
        make_line((20, 30), row=1, col=2)
    with pytest.raises(AppError, match="outside"):
        make_line((20, 30), row=20)
    with pytest.raises(AppError, match="outside"):
        make_line((20, 30), segment=[0, 0, 25, 5])
    with pytest.raises(AppError, match="channel"):
        line_profile(_image(), make_line((20, 30)), channel="alpha")


def test_run_writes_the_plot_and_csv_of_the_profile(tmp_path):
    img = InputImage("noise", None, _image())
    smoother = Smoother(lambda x: x.mean(dim=-1, keepdim=True).expand_as(x), name="rowmean")
    result = run({"row": 3, "channel": 0, "dpi": 40}, [smoother], [img], tmp_path)
    assert result["outputs"]["rowmean/noise_profile"].is_file()
    with open(tmp_path / "rowmean" / "noise_profile.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30
    np.testing.assert_allclose([float(r["input"]) for r in rows], img.image[0, 0, 3].numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose([float(r["smoothed"]) for r in rows],
                               np.full(30, float(img.image[0, 0, 3].mean())), rtol=1e-5)
