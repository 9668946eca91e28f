"""``rpaf-app`` end to end: config composition, smoother loading, clear failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rpaf.apps.cli import main
from rpaf.apps.common import AppError, conf_dir, load_app_config, load_smoother
from rpaf.data.imageio import read_image, write_image

# A stand-in smoother given as a YAML file (a 3x3 box filter), independent of the baselines.
BOX_YAML = """\
_target_: torch.nn.AvgPool2d
kernel_size: 3
stride: 1
padding: 1
count_include_pad: false
"""


@pytest.fixture
def image(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    return write_image(tmp_path / "in.png", rng.random((24, 28, 3)).astype(np.float32))


@pytest.fixture
def box(tmp_path: Path) -> Path:
    path = tmp_path / "box.yaml"
    path.write_text(BOX_YAML)
    return path


def test_detail_k0_through_the_cli_returns_the_input(image, box, tmp_path):
    out = tmp_path / "out"
    assert main(["detail", str(image), "-o", str(out), "--method", str(box), "--k", "0"]) == 0
    np.testing.assert_array_equal(read_image(out / "box" / "in_detail.png"), read_image(image))
    smooth = read_image(out / "box" / "in_smooth.png")
    assert smooth.shape == (24, 28, 3)
    assert not np.array_equal(smooth, read_image(image))


def test_jpeg_through_the_cli_writes_results(image, box, tmp_path, capsys):
    out = tmp_path / "jpeg"
    assert main(["jpeg", str(image), "-o", str(out), "--method", str(box),
                 "--set", "quality=20", "figure=false"]) == 0
    record = json.loads((out / "jpeg_results.json").read_text())
    assert record["quality"] == 20
    assert [r["method"] for r in record["results"]] == ["jpeg", "box"]
    assert "| box |" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "empty"), (b"definitely not a PNG", "cannot read"), (None, "no such image file")],
)
def test_unreadable_input_fails_clearly(tmp_path, box, capsys, content, match):
    bad = tmp_path / "bad.png"
    if content is not None:
        bad.write_bytes(content)
    assert main(["spectrum", str(bad), "-o", str(tmp_path / "o"), "--method", str(box)]) == 2
    err = capsys.readouterr().err
    assert "bad.png" in err
    assert match in err


def test_config_and_smoother_errors_exit_2(image, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["detail", str(image), "-o", out]) == 2
    assert "no smoother given" in capsys.readouterr().err
    assert main(["detail", str(image), "-o", out, "--method", "no_such_filter"]) == 2
    assert "unknown method 'no_such_filter'" in capsys.readouterr().err
    assert main(["detail", str(image), "-o", out, "--method", "x.yaml", "--set", "kk=1"]) == 2
    assert "kk" in capsys.readouterr().err
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    assert main(["profile", str(image), "-o", out, "--ckpt", str(broken)]) == 2
    assert "broken.ckpt" in capsys.readouterr().err
    assert main(["nosuchapp", str(image), "-o", out]) == 2


def test_app_configs_compose_and_inherit_the_defaults():
    for name in ("detail", "stylize", "jpeg", "profile", "spectrum", "compare"):
        cfg = load_app_config(name)
        assert {"methods", "ckpts", "device", "dpi", "wandb"} <= set(cfg)
    assert load_app_config("detail", ["k=5"]).k == 5
    assert load_app_config("jpeg").quality == 10  # the paper's setting (appendix C.3)
    with pytest.raises(AppError, match="unknown application"):
        load_app_config("sharpen")


def test_every_configured_method_builds():
    names = sorted(p.stem for p in (conf_dir() / "method").glob("*.yaml"))
    if not names:
        pytest.skip("no conf/method/*.yaml yet")
    for name in names:
        s = load_smoother(name)
        assert callable(s.fn)
        assert s.name


@pytest.mark.slow
def test_checkpoint_smoother_runs_the_network(tmp_path, image):
    """A tiny RPAFNet saved as an rpaf-train checkpoint is loaded and applied by the CLI."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from rpaf.builders import build_net_from_dict

    with initialize_config_dir(config_dir=str(conf_dir() / "model"), version_base="1.3"):
        node = compose("rpafnet_lite", overrides=["levels=2"])
    model_cfg = OmegaConf.to_container(node, resolve=True)
    net = build_net_from_dict(model_cfg)
    ckpt = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "hyper_parameters": {"config": {"model": model_cfg}}}, ckpt)
    out = tmp_path / "out"
    assert main(["profile", str(image), "-o", str(out), "--ckpt", str(ckpt), "--device", "cpu",
                 "--row", "5", "--tile", "16", "--set", "overlap=4"]) == 0
    rows = (out / "RPAFNet_tiny" / "in_profile.csv").read_text().splitlines()
    assert len(rows) == 1 + 28


def test_written_pngs_go_to_wandb_only_when_a_run_is_active(monkeypatch, image, box, tmp_path):
    import wandb

    logged: list[dict] = []
    monkeypatch.setattr(wandb, "log", lambda data, *a, **k: logged.append(data))
    monkeypatch.setattr(wandb, "run", None)
    assert main(["detail", str(image), "-o", str(tmp_path / "a"), "--method", str(box)]) == 0
    assert logged == []
    monkeypatch.setattr(wandb, "run", object())  # an active run
    assert main(["detail", str(image), "-o", str(tmp_path / "b"), "--method", str(box),
                 "--set", "figure=false"]) == 0
    assert len(logged) == 1
    keys = set(logged[0])
    assert keys == {"detail/box/in_detail", "detail/box/in_smooth", "detail/box/in_layer"}
    assert all(isinstance(v, wandb.Image) for v in logged[0].values())
