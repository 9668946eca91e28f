"""``rpaf-eval``: evaluate a trained checkpoint or a classical method (Hydra app).

Examples::

    rpaf-eval ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt
    rpaf-eval ckpt_path=... data=nks data.root=/data/NKS metrics=full
    rpaf-eval method=rtv data=synthetic metrics=fast
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from rpaf.builders import (
    ConfigError,
    build_datamodule,
    build_loggers,
    build_method,
    build_metric_suite,
)
from rpaf.config_dir import CONFIG_DIR
from rpaf.utils.runinfo import atomic_write_json, git_sha, run_metadata


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_smoother(cfg: DictConfig, device: torch.device) -> Any:
    """A :class:`rpaf.evaluation.Smoother` for ``cfg.ckpt_path`` or ``cfg.method``."""
    from rpaf.checkpoints import load_network
    from rpaf.evaluation import Smoother

    ckpt, method = cfg.get("ckpt_path"), cfg.get("method")
    overrides = {k: v for k, v in (cfg.get("model_overrides") or {}).items() if v is not None}
    if (ckpt is None) == (method is None):
        raise ConfigError(
            "rpaf-eval needs exactly one of ckpt_path=<file.ckpt> or method=<name> "
            f"(got ckpt_path={ckpt!r}, method={'set' if method is not None else None})"
        )
    if ckpt is not None:
        net = load_network(ckpt, map_location=device, overrides=overrides)
        n = int(cfg.get("self_ensemble", 1) or 1)
        from rpaf.models import SELF_ENSEMBLE_SIZES

        if n not in SELF_ENSEMBLE_SIZES:
            raise ConfigError(f"self_ensemble={n} is not one of {SELF_ENSEMBLE_SIZES}")
        extras = [f"x{n} self-ensemble"] if n > 1 else []
        extras += [f"{k}={v}" for k, v in overrides.items()]
        name = f"RPAFNet ({', '.join([Path(ckpt).name, *extras])})"
        return Smoother(net, name=name, tile=cfg.get("tile"),
                        overlap=int(cfg.get("overlap", 64)), self_ensemble=n)
    if int(cfg.get("self_ensemble", 1) or 1) != 1:
        raise ConfigError("self_ensemble applies to networks (ckpt_path=...), not to method=...")
    if overrides:
        raise ConfigError("model_overrides applies to networks (ckpt_path=...), not to method=...")
    fn = build_method(method)
    return Smoother(fn, name=str(getattr(fn, "name", type(fn).__name__)))


def run_eval(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate and write ``metrics.json`` + the evaluation files into the run folder."""
    from rpaf.evaluation import evaluate

    out_dir = Path(cfg.paths.output_dir)
    if cfg.get("seed") is not None:
        L.seed_everything(int(cfg.seed))
    device = resolve_device(str(cfg.get("device", "auto")))
    record: dict[str, Any] = {
        "task_name": cfg.task_name,
        "status": "running",
        "seed": cfg.get("seed"),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    start = time.perf_counter()
    start_sha = git_sha()  # the code this run loads; the checkout may move while it runs
    try:
        from hydra.core.hydra_config import HydraConfig

        record["overrides"] = list(HydraConfig.get().overrides.task)
    except ValueError:
        record["overrides"] = []
    try:
        smoother = build_smoother(cfg, device)
        datamodule = build_datamodule(cfg)
        split = cfg.get("split", "test")
        if split not in ("test", "val"):
            raise ConfigError(f"split={split!r} is not valid: use 'test' or 'val'")
        datamodule.setup("test" if split == "test" else "validate")
        loader = datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()
        suite = build_metric_suite(cfg)
        dataset = str(cfg.data.get("name", cfg.data._target_.rsplit(".", 1)[-1]))
        summary = evaluate(
            smoother, loader, suite, out_dir, dataset_name=dataset, device=device,
            save_images=int(cfg.get("save_images", 0)), total=len(loader),
        )
        record["metrics"] = summary["metrics"]
        record["summary"] = {k: v for k, v in summary.items() if k != "metrics"}
        record["status"] = "ok"
        for logger in build_loggers(cfg):
            logger.log_metrics({f"eval/{k}": v for k, v in summary["metrics"].items()})
            if hasattr(logger, "log_table"):
                rows = [[summary["method"], dataset, *summary["metrics"].values()]]
                logger.log_table("eval/summary", columns=["method", "dataset",
                                 *summary["metrics"].keys()], data=rows)
    except BaseException as err:
        record["status"] = "failed"
        record["error"] = f"{type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc()
        raise
    finally:
        record["wall_seconds"] = time.perf_counter() - start
        record.update(run_metadata(device, sha=start_sha))
        atomic_write_json(out_dir / "metrics.json", record)
        try:
            import wandb

            if wandb.run is not None:
                wandb.finish()
        except ImportError:  # pragma: no cover
            pass
    return record


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    run_eval(cfg)


if __name__ == "__main__":
    main()
