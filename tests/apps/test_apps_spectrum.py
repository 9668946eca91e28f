"""Fourier spectra of outputs (paper Fig. 19)."""

from __future__ import annotations

import math

import pytest
import torch

from rpaf.apps.common import AppError, InputImage, read_inputs
from rpaf.apps.spectrum import log_magnitude, run, spectrum_image


def test_constant_image_is_a_single_dc_peak():
    img = torch.full((1, 3, 16, 20), 0.5)
    spec = log_magnitude(img)
    assert spec.shape == (1, 1, 16, 20)
    peak = spec[0, 0, 8, 10]
    assert float(peak) == pytest.approx(math.log1p(0.5 * 16 * 20), rel=1e-5)
    rest = spec.clone()
    rest[0, 0, 8, 10] = 0
    assert float(rest.abs().max()) < 1e-4
    # Removing the mean removes the peak.
    assert float(log_magnitude(img, remove_mean=True).abs().max()) < 1e-4


def test_a_vertical_grating_gives_two_symmetric_peaks():
    h, w, period = 16, 32, 4
    x = torch.arange(w, dtype=torch.float32)
    grating = (0.5 + 0.25 * torch.cos(2 * math.pi * x / period)).expand(1, 3, h, w).contiguous()
    spec = log_magnitude(grating, remove_mean=True)[0, 0]
    top2 = torch.topk(spec.flatten(), 2).indices
    coords = sorted((int(i) // w, int(i) % w) for i in top2)
    assert coords == [(h // 2, w // 2 - w // period), (h // 2, w // 2 + w // period)]


def test_display_image_is_normalised_and_bad_options_fail():
    spec = log_magnitude(torch.rand(2, 3, 8, 8))
    shown = spectrum_image(spec)
    assert torch.allclose(shown.amax(dim=(-2, -1)), torch.ones(2, 1))
    with pytest.raises(AppError, match="window"):
        log_magnitude(torch.rand(1, 3, 8, 8), window="kaiser")
    assert log_magnitude(torch.rand(1, 3, 8, 8), window="hann", channel=1).shape == (1, 1, 8, 8)


def test_run_writes_spectra_of_the_image_size(tmp_path):
    from rpaf.evaluation import Smoother

    img = InputImage("flat", None, torch.full((1, 3, 12, 18), 0.25))
    result = run({"dpi": 40}, [Smoother(lambda x: x, name="id")], [img], tmp_path)
    out = result["outputs"]
    spec_png = read_inputs([out["id/flat_spectrum"]])[0].image
    assert spec_png.shape == (1, 3, 12, 18)
    # Constant image: one white pixel at the centre, everything else black.
    assert float(spec_png[0, 0, 6, 9]) == 1.0
    assert float(spec_png.sum()) == pytest.approx(3.0)
    assert out["input/flat_spectrum"].is_file()
    assert out["figure/flat"].is_file()
