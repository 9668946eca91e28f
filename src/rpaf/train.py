"""``rpaf-train``: train RPAFNet with GELR (Hydra app; ``python -m rpaf.train``).

Examples::

    rpaf-train                                   # lite model on built-in synthetic data
    rpaf-train experiment=cpu_mini               # ~25 minutes on 2 CPU cores
    rpaf-train experiment=paper data.root=/data/SPS trainer=gpu
    rpaf-train -m sweep=alpha_beta               # a paper ablation as a multirun
    rpaf-train ckpt_path=logs/train/runs/.../checkpoints/last.ckpt   # resume exactly
    rpaf-train init_weights=path/to/last.ckpt data.root=/my/data   # fine-tune from its weights
    rpaf-train experiment=cpu_mini_natural && rpaf-train experiment=cpu_mini_natural_ft  # 2 stages

Every run writes ``metrics.json`` (final metrics, seed, resolved config, overrides, git SHA, wall
time, device) into its run folder; the paper tables are built from these files only.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from rpaf.builders import (
    build_callbacks,
    build_datamodule,
    build_gelr,
    build_lit_module,
    build_loggers,
    build_metric_suite,
    build_net,
    build_trainer,
)
from rpaf.config_checks import check_config
from rpaf.config_dir import CONFIG_DIR
from rpaf.utils.runinfo import atomic_write_json, git_sha, run_metadata

log = logging.getLogger(__name__)


def _overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, torch.Tensor) and v.numel() == 1 or isinstance(v, (int, float)):
            out[k] = float(v)
    return out


def _finish_wandb() -> None:
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    except ImportError:  # pragma: no cover - wandb is a dependency
        pass


def run_training(cfg: DictConfig) -> dict[str, Any]:
    """Train (and test/evaluate) as configured; always writes ``metrics.json``.

    Args:
        cfg: The composed config (``conf/train.yaml``).

    Returns:
        The ``metrics.json`` content.
    """
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.get("seed") is not None:
        L.seed_everything(int(cfg.seed), workers=True)
    record: dict[str, Any] = {
        "task_name": cfg.task_name,
        "status": "running",
        "seed": cfg.get("seed"),
        "overrides": _overrides(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    start = time.perf_counter()
    start_sha = git_sha()  # the code this run loads; the checkout may move while it runs
    trainer = None
    try:
        check_config(cfg)
        # Built before training so that a missing IQA parameter file stops the run at start-up,
        # not after the training (metrics.unavailable=skip drops it instead, recorded here).
        suite = build_metric_suite(cfg) if cfg.get("evaluate") else None
        if suite is not None and suite.no_reference.unavailable:
            record["metrics_unavailable"] = dict(suite.no_reference.unavailable)
        datamodule = build_datamodule(cfg)
        net = build_net(cfg)
        init_state = None
        if cfg.get("init_weights"):
            from rpaf.checkpoints import load_init_weights

            load_init_weights(net, cfg.init_weights)  # checks the architecture, also on resume
            if cfg.get("init_weights_mix") is not None:
                init_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            log.info("network weights initialised from %s", cfg.init_weights)
        lambda1 = float(OmegaConf.select(cfg, "loss.lambda1", default=0.0) or 0.0)
        gelr = build_gelr(cfg, lambda1)
        lit = build_lit_module(cfg, net, gelr)
        callbacks = build_callbacks(cfg)
        loggers = build_loggers(cfg)
        trainer = build_trainer(cfg, callbacks, loggers)
        for logger in loggers:
            logger.log_hyperparams(record["config"])
        record["num_parameters"] = sum(p.numel() for p in net.parameters())
        if cfg.get("train"):
            trainer.fit(lit, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"),
                        weights_only=True)
        # Filled in place: a later stage that fails (e.g. the evaluation) keeps what came before.
        metrics = record["metrics"] = _scalar_metrics(trainer.callback_metrics)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        record["best_checkpoint"] = best or None
        if init_state is not None:
            record["mixed_checkpoint"] = str(_mix_with_init(cfg, lit, init_state, trainer))
            best = ""  # test and evaluate the mixed network (the weights now in lit.net)
        if cfg.get("test"):
            ckpt = (best or None) if cfg.get("train") else cfg.get("ckpt_path")
            trainer.test(lit, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
            metrics.update(_scalar_metrics(trainer.callback_metrics))
        if cfg.get("evaluate"):
            metrics.update(_evaluate(cfg, lit, datamodule, out_dir / "eval", trainer, suite))
        record["status"] = "ok"
    except BaseException as err:
        record["status"] = "failed"
        record["error"] = f"{type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc()
        raise
    finally:
        record["wall_seconds"] = time.perf_counter() - start
        device = trainer.strategy.root_device if trainer is not None else "cpu"
        record.update(run_metadata(device, sha=start_sha))
        if trainer is None or trainer.is_global_zero:
            atomic_write_json(out_dir / "metrics.json", record)
        _finish_wandb()
    return record


def _mix_with_init(cfg: DictConfig, lit: Any, init_state: dict[str, torch.Tensor],
                   trainer: Any) -> Path:
    """Replace ``lit.net``'s weights by ``(1 - a) * init + a * trained``; save them.

    ``a`` is ``cfg.init_weights_mix``; the trained weights are those the run ends with (the
    last epoch's, as in ``last.ckpt``, which keeps the unmixed state for resuming). The mixed
    network goes to ``checkpoints/mixed.ckpt`` (weights only, loadable by ``rpaf-eval``).
    """
    from rpaf.checkpoints import interpolate_states, weights_checkpoint
    from rpaf.utils.runinfo import atomic_write

    alpha = float(cfg.init_weights_mix)
    trained = lit.net.state_dict()
    mixed = interpolate_states({k: v.to(trained[k].device) for k, v in init_state.items()},
                               trained, alpha)
    lit.net.load_state_dict(mixed)
    path = Path(cfg.paths.output_dir) / "checkpoints" / "mixed.ckpt"
    if trainer.is_global_zero:
        ckpt = weights_checkpoint(mixed, dict(lit.hparams),
                                  interpolation={"a": str(cfg.init_weights), "b": "this run",
                                                 "alpha": alpha})
        atomic_write(path, lambda fh: torch.save(ckpt, fh))
    log.info("weights mixed with init_weights (alpha=%g): %s", alpha, path)
    return path


def _evaluate(
    cfg: DictConfig, lit: Any, datamodule: Any, out_dir: Path, trainer: Any, suite: Any
) -> dict[str, float]:
    """Full evaluation (metric suite, per-image CSV, smoothed images) on the test split."""
    from rpaf.evaluation import Smoother, evaluate

    if not trainer.is_global_zero:
        return {}
    datamodule.setup("test")
    loader = datamodule.test_dataloader()
    smoother = Smoother(lit.net, name=str(cfg.model.get("name", "RPAFNet")))
    summary = evaluate(
        smoother,
        loader,
        suite,
        out_dir,
        dataset_name=str(cfg.data.get("name", cfg.data._target_.rsplit(".", 1)[-1])),
        # Not lit.device: Lightning moves the module back to the CPU when fit/test end, so
        # the evaluation would silently run on the CPU of a GPU machine.
        device=trainer.strategy.root_device,
        save_images=int(cfg.get("save_images", 0)),
        total=len(loader),
    )
    for logger in trainer.loggers:
        logger.log_metrics({f"eval/{k}": v for k, v in summary["metrics"].items()})
    return {f"eval/{k}": v for k, v in summary["metrics"].items()}


def _print_summary(cfg: DictConfig, record: dict[str, Any]) -> None:
    """Tell the user where the run's files are and show the results table."""
    from rich.console import Console

    console = Console(soft_wrap=True)
    out = Path(cfg.paths.output_dir)
    console.rule(f"[bold]{cfg.task_name}: {record['status']}")
    console.print(f"run folder: {out}")
    console.print(f"metrics:    {out / 'metrics.json'}")
    if record.get("best_checkpoint"):
        console.print(f"checkpoint: {record['best_checkpoint']}")
    table = out / "eval" / "results.md"
    if table.is_file():
        console.print(f"images:     {out / 'eval' / 'images'}\n")
        print(table.read_text())


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point. Returns ``cfg.optimized_metric`` (for sweepers) when set."""
    record = run_training(cfg)
    _print_summary(cfg, record)
    key = cfg.get("optimized_metric")
    return record["metrics"].get(key) if key else None


if __name__ == "__main__":
    main()
