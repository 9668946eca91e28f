"""Stylisation: quantised smoothed colours darkened along edges (paper appendix C.2)."""

from __future__ import annotations

import pytest
import torch

from rpaf.apps.common import InputImage, read_inputs
from rpaf.apps.stylize import canny_edges, dog_edges, quantize_lightness, run, stylize
from rpaf.evaluation import Smoother


def _step(size: int = 32) -> torch.Tensor:
    """Dark left half, bright right half (a vertical step edge at column size // 2)."""
    img = torch.full((1, 3, size, size), 0.2)
    img[..., size // 2 :] = 0.8
    return img


def test_constant_image_has_no_edges_and_stays_flat():
    u = torch.full((1, 3, 16, 16), 0.4)
    out, e = stylize(u, levels=4, edges="dog")
    assert float(e.abs().max()) == 0.0
    assert float(out.std(dim=(-2, -1)).max()) < 1e-5


def test_dog_marks_the_dark_side_of_a_step():
    u = _step()
    e = dog_edges(u, sigma=1.0)
    col = e[0, 0].mean(dim=0)  # mean edge strength per column
    assert float(col[15]) > 0.5  # just left of the step: the dark side
    assert float(col[:10].max()) == 0.0
    assert float(col[20:].max()) == 0.0


def test_canny_finds_the_step():
    e = canny_edges(_step())
    cols = torch.nonzero(e[0, 0].sum(dim=0)).flatten().tolist()
    assert cols
    assert all(14 <= c <= 17 for c in cols)


def test_no_quantisation_and_no_edges_returns_u():
    u = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out, _ = stylize(u, levels=0, edges="none")
    assert torch.equal(out, u)


def test_quantisation_reduces_distinct_lightness_values():
    from kornia.color import rgb_to_lab

    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 4, 64).contiguous()
    q = quantize_lightness(ramp, levels=4, sharpness=50.0)
    lum = rgb_to_lab(q)[0, 0, 0]
    # Hard-ish bands: lightness clusters around 4 band centres 12.5, 37.5, 62.5, 87.5.
    centres = torch.tensor([12.5, 37.5, 62.5, 87.5])
    dist = (lum[:, None] - centres[None]).abs().min(dim=1).values
    assert float(dist.median()) < 1.0


def test_bad_options_raise():
    with pytest.raises(ValueError, match="edges="):
        stylize(_step(), edges="sobel")
    with pytest.raises(ValueError, match="edge_strength"):
        stylize(_step(), edge_strength=2.0)


def test_run_writes_outputs_of_the_input_size(tmp_path):
    img = InputImage("step", None, _step(24)[..., :20].contiguous())
    result = run({"dpi": 40, "edges": "canny"}, [Smoother(lambda x: x, name="id")], [img],
                 tmp_path)
    for key in ("id/step_stylized", "id/step_edges"):
        assert read_inputs([result["outputs"][key]])[0].image.shape == (1, 3, 24, 20)
    assert result["outputs"]["id/step_figure"].is_file()
