"""End to end: train -> checkpoint -> exact resume -> eval -> smooth, on tiny synthetic data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_overrides import TINY_TRAIN

from rpaf.checkpoints import load_checkpoint
from rpaf.train import run_training

TINY = list(TINY_TRAIN)


def _train(compose, out: Path, *extra: str) -> dict:
    cfg = compose("train", [*TINY, *extra], out)
    return run_training(cfg)


@pytest.mark.slow
def test_resume_equals_uninterrupted(compose, tmp_path: Path) -> None:
    full = _train(compose, tmp_path / "full", "trainer.max_epochs=2")
    half = _train(compose, tmp_path / "half", "trainer.max_epochs=1")
    assert half["status"] == "ok"
    last = tmp_path / "half" / "checkpoints" / "last.ckpt"
    resumed = _train(compose, tmp_path / "resumed", "trainer.max_epochs=2", f"ckpt_path={last}")
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.ckpt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert a["epoch"] == b["epoch"] == 1
    assert a["global_step"] == b["global_step"]
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    # The GELR per-sample state rides in the checkpoint and resumes exactly too.
    gelr_keys = [k for k in a["callbacks"] if "GELR" in k]
    assert gelr_keys, f"no GELR callback state in checkpoint: {list(a['callbacks'])}"
    sa, sb = a["callbacks"][gelr_keys[0]], b["callbacks"][gelr_keys[0]]
    _assert_nested_close(sa, sb)
    assert full["metrics"]["val/psnr"] == pytest.approx(resumed["metrics"]["val/psnr"], abs=1e-4)


def test_last_checkpoint_is_the_last_epoch_even_when_it_is_not_the_best(compose,
                                                                        tmp_path: Path) -> None:
    """last.ckpt follows every epoch; the best checkpoint only the improvements. (Lightning's own
    save_last rewrites last.ckpt only in epochs that also write a best checkpoint.)"""
    # Monitoring the epoch number with mode=min makes epoch 0 the best and every later one worse.
    record = _train(compose, tmp_path, "trainer.max_epochs=3",
                    "callbacks.model_checkpoint.monitor=epoch",
                    "callbacks.model_checkpoint.mode=min")
    assert Path(record["best_checkpoint"]).name == "epoch_000.ckpt"
    last = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 2
    assert last["global_step"] == 3 * load_checkpoint(record["best_checkpoint"])["global_step"]


def _assert_nested_close(a, b) -> None:
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _assert_nested_close(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=False):
            _assert_nested_close(x, y)


@pytest.mark.slow
def test_train_eval_smooth_end_to_end(compose, tmp_path: Path, iqa_dir: Path) -> None:
    out = tmp_path / "run"
    record = _train(compose, out, "trainer.max_epochs=1", "test=true", "evaluate=true",
                    f"metrics.param_dir={iqa_dir}")
    assert record["status"] == "ok"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["git_sha"]
    assert saved["seed"] == 0
    assert saved["config"]["model"]["_target_"] == "rpaf.models.RPAFNet"
    for key in ("test/psnr", "eval/psnr", "eval/ssim", "eval/brisque", "eval/piqe"):
        assert key in saved["metrics"], key
    assert saved["metrics"]["eval/psnr"] == pytest.approx(saved["metrics"]["test/psnr"], abs=1e-3)
    assert (out / "eval" / "per_image.csv").is_file()
    assert "psnr" in (out / "eval" / "results.md").read_text()
    ckpt = out / "checkpoints" / "last.ckpt"

    # rpaf-eval on the checkpoint
    ev = tmp_path / "eval"
    from rpaf.eval import run_eval

    cfg = compose("eval", [f"ckpt_path={ckpt}", "data=synthetic", "data.n_test=4",
                           "data.size=32", "metrics.no_reference=[]", "save_images=2"], ev)
    summary = run_eval(cfg)
    assert summary["status"] == "ok"
    assert summary["metrics"]["psnr"] > 5
    # x8 self-ensemble: same harness, another (finite, different) score
    cfg = compose("eval", [f"ckpt_path={ckpt}", "data=synthetic", "data.n_test=4",
                           "data.size=32", "metrics.no_reference=[]", "self_ensemble=8"],
                  tmp_path / "eval_x8")
    x8 = run_eval(cfg)
    assert x8["status"] == "ok"
    assert x8["metrics"]["psnr"] != pytest.approx(summary["metrics"]["psnr"], abs=1e-6)
    # the self-guided output filter added at evaluation time: another network, named as such
    cfg = compose("eval", [f"ckpt_path={ckpt}", "data=synthetic", "data.n_test=4",
                           "data.size=32", "metrics.no_reference=[]",
                           "model_overrides.refine_kernel=5"], tmp_path / "eval_refine")
    refined = run_eval(cfg)
    assert refined["status"] == "ok"
    assert refined["metrics"]["psnr"] != pytest.approx(summary["metrics"]["psnr"], abs=1e-6)
    assert "refine_kernel=5" in (tmp_path / "eval_refine" / "results.md").read_text()
    from rpaf.builders import ConfigError

    bad = compose("eval", ["method=l0", "self_ensemble=8"], tmp_path / "eval_bad")
    with pytest.raises(ConfigError, match="self_ensemble"):
        run_eval(bad)
    bad = compose("eval", ["method=l0", "model_overrides.refine_kernel=5"], tmp_path / "eval_bad2")
    with pytest.raises(ConfigError, match="model_overrides"):
        run_eval(bad)

    # rpaf-smooth: a good image, a folder, and an unreadable file -> exit status 1, rest written
    imgs = tmp_path / "in"
    imgs.mkdir()
    from rpaf.data.imageio import write_image

    write_image(imgs / "a.png", torch.rand(3, 40, 37))
    (imgs / "bad.png").write_bytes(b"not a png")
    res = subprocess.run(
        [sys.executable, "-m", "rpaf.smooth", str(ckpt), str(imgs), "-o", str(tmp_path / "o"),
         "--self-ensemble", "2", "--refine-kernel", "5"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 1, res.stderr
    assert (tmp_path / "o" / "a.png").is_file()
    assert "bad.png" in res.stderr
    from rpaf.data.imageio import read_image

    assert read_image(tmp_path / "o" / "a.png").shape == (40, 37, 3)
    res = subprocess.run(
        [sys.executable, "-m", "rpaf.smooth", str(ckpt), str(imgs / "a.png"), "-o",
         str(tmp_path / "o2"), "--refine-kernel", "4"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 2
    assert "model.refine_kernel=4" in res.stderr


def test_corrupt_checkpoint_resume_fails_clearly(compose, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00" * 100)
    res = subprocess.run(
        [sys.executable, "-m", "rpaf.smooth", str(bad), str(tmp_path), "-o", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 2
    assert "bad.ckpt" in res.stderr
    assert "corrupt" in res.stderr


@pytest.mark.slow
def test_wandb_offline_leaves_local_run_files(compose, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "wb"
    keep = [t for t in TINY if t not in ("logger=[]", "callbacks.image_panels=null")]
    cfg = compose("train", keep + [
        "logger=wandb", "trainer.max_epochs=1", "callbacks.image_panels.every_n_epochs=1"], out)
    record = run_training(cfg)
    assert record["status"] == "ok"
    runs = list((out / "wandb").glob("offline-run-*"))
    assert runs, f"no offline wandb run under {out / 'wandb'}"
    assert list(runs[0].glob("*.wandb")), "the offline run has no .wandb event file"
    import wandb

    assert wandb.run is None, "wandb.finish() was not called"
    # the image panel is also written as a PNG, whatever the logger
    assert list((out / "images").glob("val_panel_*.png"))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_mid_run_resumes_from_last_checkpoint(tmp_path: Path) -> None:
    """A training process killed with SIGKILL leaves loadable checkpoints and resumes from them."""
    import os
    import signal
    import time

    run_dir = tmp_path / "killed"
    common = [sys.executable, "-m", "rpaf.train", "experiment=smoke", "logger=[]",
              "callbacks.progress_bar=null", "callbacks.image_panels=null", "test=false",
              "evaluate=false", "data.n_train=8", "data.size=32", f"paths.log_dir={tmp_path}"]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.Popen([*common, "trainer.max_epochs=50", f"hydra.run.dir={run_dir}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            if last.is_file() and load_checkpoint(last)["epoch"] >= 1:
                break
            time.sleep(0.5)
        assert proc.poll() is None, "training ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    ckpt = load_checkpoint(last)  # never half-written: Lightning writes to a temp file + rename
    epoch = ckpt["epoch"]
    resumed_dir = tmp_path / "resumed"
    res = subprocess.run([*common, f"trainer.max_epochs={epoch + 2}", f"ckpt_path={last}",
                          f"hydra.run.dir={resumed_dir}"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    after = load_checkpoint(resumed_dir / "checkpoints" / "last.ckpt")
    assert after["epoch"] == epoch + 1
    assert after["global_step"] > ckpt["global_step"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_training_evaluates_on_the_gpu(compose, tmp_path: Path) -> None:
    """trainer=gpu: training, the GELR callback and the post-training evaluation stay on CUDA.

    Lightning moves the module back to the CPU when fit/test end; the evaluation must still
    run (and say it ran) on the training device.
    """
    keep = [o for o in TINY if o not in ("test=false", "evaluate=false")]
    cfg = compose("train", [*keep, "trainer=gpu", "metrics.no_reference=[]",
                            "metrics.bliinds2=false"], tmp_path)
    record = run_training(cfg)
    assert record["status"] == "ok", record.get("error")
    assert record["device"].startswith("cuda"), record["device"]
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["device"].startswith("cuda"), summary["device"]
    assert summary["metrics"]["psnr"] > 0


def test_onecycle_schedule_spans_the_whole_run(compose, tmp_path: Path) -> None:
    """scheduler=onecycle: total_steps comes from the trainer, the run ends at the final lr."""
    record = _train(compose, tmp_path, "scheduler=onecycle", "trainer.max_epochs=2")
    assert record["status"] == "ok", record.get("error")
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    sched = ckpt["lr_schedulers"][0]
    assert sched["total_steps"] == ckpt["global_step"] == 4  # 8 pairs / batch 4 x 2 epochs
    # One scheduler step per optimiser step over exactly the planned number of steps
    # (OneCycleLR raises when stepped past total_steps).
    assert sched["last_epoch"] == ckpt["global_step"]
    assert sched["base_lrs"] == [pytest.approx(3e-3 / 25)]


def test_failed_evaluation_keeps_the_training_metrics(compose, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose evaluation fails still records what training measured (status failed)."""
    import rpaf.train as train_mod

    def broken(*args, **kwargs):
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(train_mod, "_evaluate", broken)
    overrides = [o for o in TINY if o != "evaluate=false"] + ["metrics.no_reference=[piqe]"]
    cfg = compose("train", overrides, tmp_path)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        run_training(cfg)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "failed"
    assert "evaluation broke" in record["error"]
    assert "val/psnr" in record["metrics"]


def test_run_records_the_sha_it_started_with(compose, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """metrics.json names the commit the run loaded, even if HEAD moves while it runs."""
    import rpaf.train as train_mod
    import rpaf.utils.runinfo as runinfo

    shas = iter(["a" * 40, "b" * 40, "b" * 40])
    monkeypatch.setattr(train_mod, "git_sha", lambda: next(shas))
    monkeypatch.setattr(runinfo, "git_sha", lambda: "b" * 40)
    record = _train(compose, tmp_path, "trainer.max_epochs=1")
    assert record["status"] == "ok"
    assert json.loads((tmp_path / "metrics.json").read_text())["git_sha"] == "a" * 40


def test_main_job_runs_offline_without_iqa_files(compose, tmp_path: Path,
                                                 offline_pyiqa: Path) -> None:
    """The README's main job (experiment=quickstart) on a fresh machine without internet.

    No ``$RPAF_IQA_DIR``, nothing in pyiqa's cache, no network: BRISQUE and NIQE cannot be
    obtained, so they are reported as unavailable; training, PSNR/SSIM, PIQE, images and the
    results table are all still produced.
    """
    out = tmp_path / "run"
    cfg = compose("train", [
        "experiment=quickstart", "logger=[]", "callbacks.progress_bar=null",
        "callbacks.image_panels=null", "trainer.enable_model_summary=false",
        "data.n_train=4", "data.n_val=2", "data.n_test=2", "trainer.max_epochs=1",
        "save_images=1",
    ], out)
    assert cfg.metrics.param_dir is None
    record = run_training(cfg)
    assert record["status"] == "ok"
    assert set(record["metrics_unavailable"]) == {"brisque", "niqe"}
    for key in ("eval/psnr", "eval/ssim", "eval/piqe", "test/psnr"):
        assert key in record["metrics"], key
    assert "eval/brisque" not in record["metrics"]
    table = (out / "eval" / "results.md").read_text()
    assert "unavailable, not scored: BRISQUE (brisque_svm_weights.pth), NIQE" in table
    assert len(list((out / "eval" / "images").glob("*.png"))) == 1
    # A table run (metrics.unavailable=error, the default) stops before training instead.
    strict = compose("train", [*TINY, "evaluate=true", "metrics.no_reference=[brisque]"],
                     tmp_path / "strict")
    from rpaf.builders import ConfigError

    expected = "(?s)'metrics'.*brisque_svm_weights.pth.*unavailable=skip"
    with pytest.raises(ConfigError, match=expected):
        run_training(strict)
    assert "val/psnr" not in json.loads((tmp_path / "strict" / "metrics.json").read_text()).get(
        "metrics", {})


def test_no_gelr_without_callback_trains(compose, tmp_path: Path) -> None:
    """The documented "without GELR" command (``loss=no_gelr ~gelr``) drops the callback and
    trains, and the checkpoint carries no GELR state."""
    cfg = compose("train", [*TINY, "loss=no_gelr", "~gelr"], tmp_path)
    assert "gelr" not in cfg
    assert cfg.loss.lambda1 == 0.0
    out = run_training(cfg)
    assert out["status"] == "ok"
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert not [k for k in ckpt["callbacks"] if "GELR" in k]


@pytest.mark.slow
def test_init_weights_fine_tunes_from_a_checkpoint(compose, tmp_path: Path) -> None:
    """init_weights starts a new run (fresh loop, optimiser, GELR state) from trained weights."""
    first = _train(compose, tmp_path / "first", "trainer.max_epochs=1", "test=true")
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    # Without training, the test score is the checkpoint's own: the weights were copied.
    loaded = _train(compose, tmp_path / "loaded", "train=false", "test=true",
                    f"init_weights={last}")
    fresh = _train(compose, tmp_path / "fresh", "train=false", "test=true")
    assert loaded["metrics"]["test/psnr"] == pytest.approx(first["metrics"]["test/psnr"], abs=1e-5)
    assert abs(fresh["metrics"]["test/psnr"] - first["metrics"]["test/psnr"]) > 1e-3
    # Fine-tuning counts its own epochs and steps from zero (ckpt_path would continue them).
    tuned = _train(compose, tmp_path / "tuned", "trainer.max_epochs=1", f"init_weights={last}")
    assert tuned["status"] == "ok"
    a, b = load_checkpoint(last), load_checkpoint(tmp_path / "tuned" / "checkpoints" / "last.ckpt")
    assert b["epoch"] == a["epoch"] == 0
    assert b["global_step"] == a["global_step"]
    assert any(not torch.equal(a["state_dict"][k], v) for k, v in b["state_dict"].items())


def test_init_weights_mix_tests_and_saves_the_interpolated_network(compose,
                                                                  tmp_path: Path) -> None:
    """init_weights_mix=a: mixed.ckpt = (1 - a) * init + a * last.ckpt, and the test scores it."""
    from rpaf.checkpoints import load_network, net_state

    _train(compose, tmp_path / "first", "trainer.max_epochs=1")
    init = tmp_path / "first" / "checkpoints" / "last.ckpt"
    out = tmp_path / "tuned"
    record = _train(compose, out, "trainer.max_epochs=1", f"init_weights={init}",
                    "init_weights_mix=0.25", "test=true", "loss.lambda1=0")
    assert record["status"] == "ok"
    mixed_path = out / "checkpoints" / "mixed.ckpt"
    assert record["mixed_checkpoint"] == str(mixed_path)
    a = net_state(load_checkpoint(init))
    b = net_state(load_checkpoint(out / "checkpoints" / "last.ckpt"))
    mixed = net_state(load_checkpoint(mixed_path))
    assert set(mixed) == set(a)
    moved = 0
    for key, va in a.items():
        if va.is_floating_point():
            torch.testing.assert_close(mixed[key], 0.75 * va + 0.25 * b[key], rtol=1e-5,
                                       atol=1e-6, msg=key)
            moved += int(not torch.equal(va, b[key]))
        else:
            assert torch.equal(mixed[key], b[key]), key
    assert moved > 0, "the fine-tune changed no weight: the check would pass for any mix"
    # The test metric is the mixed network's: rpaf-eval-style loading reproduces it exactly.
    net = load_network(mixed_path)
    cfg = compose("train", [*TINY, "trainer.max_epochs=1", "train=false", "test=true",
                            f"init_weights={mixed_path}"], tmp_path / "check")
    check = run_training(cfg)
    assert check["metrics"]["test/psnr"] == pytest.approx(record["metrics"]["test/psnr"],
                                                          abs=1e-5)
    assert sum(p.numel() for p in net.parameters()) == record["num_parameters"]


def test_resumed_fine_tune_mixes_with_the_same_start(compose, tmp_path: Path) -> None:
    """A fine-tune resumed with ckpt_path (init_weights still naming its start) continues the run
    and mixes its final weights with that start, not with the resumed weights."""
    from rpaf.checkpoints import net_state

    _train(compose, tmp_path / "first", "trainer.max_epochs=1")
    init = tmp_path / "first" / "checkpoints" / "last.ckpt"
    mix = [f"init_weights={init}", "init_weights_mix=0.5", "loss.lambda1=0"]
    _train(compose, tmp_path / "half", "trainer.max_epochs=1", *mix)
    half_last = tmp_path / "half" / "checkpoints" / "last.ckpt"
    out = tmp_path / "resumed"
    record = _train(compose, out, "trainer.max_epochs=2", f"ckpt_path={half_last}", *mix)
    assert record["status"] == "ok"
    last = load_checkpoint(out / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 1  # continued, not restarted
    a, b = net_state(load_checkpoint(init)), net_state(last)
    mixed = net_state(load_checkpoint(out / "checkpoints" / "mixed.ckpt"))
    for key, va in a.items():
        if va.is_floating_point():
            torch.testing.assert_close(mixed[key], 0.5 * (va + b[key]), rtol=1e-5, atol=1e-6,
                                       msg=key)
