"""Build objects from Hydra configs. Every ``hydra.utils.instantiate`` call of rpaf lives here.

Errors raised while building name the config group and key at fault (e.g. an unknown keyword
given with ``++model.foo=1``) instead of surfacing a bare ``TypeError`` from deep inside Hydra.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch import Callback, LightningDataModule, Trainer
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config value is missing, unknown or out of range; the message names the key and the fix."""


def build(node: Any, key: str, **kwargs: Any) -> Any:
    """Instantiate one ``_target_`` node, naming ``key`` in any error."""
    if node is None:
        raise ConfigError(f"config key '{key}' is empty: choose a config for it (e.g. {key}=...)")
    if isinstance(node, (DictConfig, Mapping)) and "_target_" not in node:
        raise ConfigError(
            f"config key '{key}' has no _target_: it must name the class to build "
            f"(see conf/{key.split('.')[0]}/)"
        )
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        raise ConfigError(f"could not build config key '{key}': {err}") from err


def build_datamodule(cfg: DictConfig) -> LightningDataModule:
    """The DataModule of ``cfg.data``.

    Built with ``_convert_="all"``: list/dict values (``data.size=[h,w]``,
    ``data.train_psnr_range=[20,40]``) arrive as plain Python containers, so the hyperparameters
    a DataModule saves into a checkpoint load with ``torch.load(weights_only=True)``.
    """
    return build(cfg.get("data"), "data", _convert_="all")


def build_net(cfg: DictConfig) -> Any:
    """The network of ``cfg.model``."""
    return build(cfg.get("model"), "model")


def build_net_from_dict(model_cfg: Mapping[str, Any]) -> Any:
    """Rebuild a network from the plain ``model`` config stored in a checkpoint."""
    return build(OmegaConf.create(dict(model_cfg)), "model")


def build_gelr(cfg: DictConfig, lambda1: float) -> Any | None:
    """The GELR callback of ``cfg.gelr``; ``None`` when absent or when ``loss.lambda1 == 0``."""
    node = cfg.get("gelr")
    if node is None:
        return None
    if lambda1 == 0:
        log.info("loss.lambda1 = 0: eq. 13 is off, so the GELR callback is not attached")
        return None
    return build(node, "gelr")


def build_lit_module(cfg: DictConfig, net: Any, gelr: Any | None) -> Any:
    """The :class:`rpaf.lit.LitRPAF` that wraps ``net``, the loss, optimiser and scheduler."""
    from rpaf.lit import LitRPAF
    from rpaf.metrics.full_reference import MetricConvention

    loss = build(cfg.get("loss"), "loss")
    optimizer = build(cfg.get("optim"), "optim")
    sched_cfg = cfg.get("scheduler")
    scheduler, interval = None, "epoch"
    if sched_cfg and sched_cfg.get("scheduler") is not None:
        scheduler = build(sched_cfg.scheduler, "scheduler.scheduler")
        interval = sched_cfg.get("interval", "epoch")
    conv_cfg = OmegaConf.select(cfg, "metrics.convention", default=None)
    convention = build(conv_cfg, "metrics.convention") if conv_cfg else MetricConvention()
    return LitRPAF(
        net=net,
        loss=loss,
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval=interval,
        gelr=gelr,
        convention=convention,
        config=OmegaConf.to_container(cfg, resolve=True),
        geometric_augment=cfg.get("geometric_augment", 1),
        augment_seed=int(cfg.get("seed") or 0),
    )


def _named_nodes(group: Any, key: str) -> list[Any]:
    """Instantiate a dict of named ``_target_`` nodes (callbacks, loggers); null entries are off."""
    if not group:
        return []
    if not isinstance(group, (DictConfig, Mapping)):
        raise ConfigError(f"config key '{key}' must be a mapping of named nodes, got {group!r}")
    return [build(node, f"{key}.{name}") for name, node in group.items() if node is not None]


def build_callbacks(cfg: DictConfig) -> list[Callback]:
    """The utility callbacks of ``cfg.callbacks``."""
    return _named_nodes(cfg.get("callbacks"), "callbacks")


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """The experiment loggers of ``cfg.logger`` (wandb, csv, tensorboard)."""
    return _named_nodes(cfg.get("logger"), "logger")


def build_trainer(cfg: DictConfig, callbacks: list[Callback], loggers: list[Logger]) -> Trainer:
    """The Lightning Trainer of ``cfg.trainer``.

    Without a logger, a ``LearningRateMonitor`` (which needs one) is dropped with a log line.
    """
    if not loggers:
        from lightning.pytorch.callbacks import LearningRateMonitor

        kept = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
        if len(kept) != len(callbacks):
            log.info("no logger configured: the LearningRateMonitor callback is not attached")
        callbacks = kept
    return build(cfg.get("trainer"), "trainer", callbacks=callbacks, logger=loggers or False)


def build_method(node: Any, key: str = "method") -> Any:
    """A classical smoothing method (``conf/method/*.yaml``)."""
    return build(node, key)


def build_metric_suite(cfg: DictConfig) -> Any:
    """The evaluation :class:`rpaf.metrics.suite.MetricSuite` of ``cfg.metrics``."""
    return build(cfg.get("metrics"), "metrics")
