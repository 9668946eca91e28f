"""Image panels (input | output | GT | texture layer) for any logger, and as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torchvision.utils import make_grid

try:  # Lightning >= 2.2 ships `override` through typing_extensions
    from typing_extensions import override
except ImportError:  # pragma: no cover
    def override(f):  # type: ignore[no-redef]
        return f


def panel(g: Tensor, u: Tensor, x: Tensor | None, num_images: int = 4) -> Tensor:
    """A (3, H', W') grid: one row per image: input | output | GT | texture layer g - u.

    The texture layer is shown shifted to mid-grey (``0.5 + g - u``) so negative values are visible.
    """
    n = min(num_images, g.shape[0])
    cols = [g[:n], u[:n]]
    if x is not None:
        cols.append(x[:n])
    cols.append((0.5 + g[:n] - u[:n]).clamp(0, 1))
    tiles = torch.stack(cols, dim=1).flatten(0, 1).float().clamp(0, 1).cpu()
    return make_grid(tiles, nrow=len(cols), padding=2, pad_value=1.0)


def log_image(trainer: Trainer, key: str, image: Tensor, step: int) -> None:
    """Send one (3, H, W) image to every attached logger that takes images."""
    for logger in trainer.loggers:
        name = type(logger).__name__
        if name == "WandbLogger":
            logger.log_image(key=key, images=[image.permute(1, 2, 0).numpy()], step=step)
        elif name == "TensorBoardLogger":
            logger.experiment.add_image(key, image, global_step=step)


class ImagePanelLogger(Callback):
    """Log input | output | GT | texture-layer panels during training and validation.

    Panels go to every logger that accepts images (wandb, TensorBoard) and, always, to
    ``<run>/images/`` as PNG files, so CSV-only or logger-free runs still have them.

    Args:
        every_n_epochs: Log the first validation batch every N epochs (0 disables).
        every_n_train_steps: Log the current training batch every N optimiser steps (0 disables).
        num_images: Rows per panel.
    """

    def __init__(self, every_n_epochs: int = 1, every_n_train_steps: int = 0, num_images: int = 4):
        super().__init__()
        self.every_n_epochs = every_n_epochs
        self.every_n_train_steps = every_n_train_steps
        self.num_images = num_images

    def _emit(self, trainer: Trainer, key: str, image: Tensor) -> None:
        log_image(trainer, key, image, trainer.global_step)
        if trainer.is_global_zero and trainer.default_root_dir:
            from rpaf.data.imageio import write_image

            tag = key.replace("/", "_")
            name = f"{tag}_{trainer.global_step:07d}.png"
            path = Path(trainer.default_root_dir) / "images" / name
            write_image(path, image)

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        n = self.every_n_train_steps
        if not n or trainer.global_step % n or not isinstance(outputs, dict) or "u" not in outputs:
            return
        self._emit(trainer, "train/panel",
                   panel(batch["input"], outputs["u"], batch.get("target"), self.num_images))

    @override
    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        n = self.every_n_epochs
        if not n or batch_idx != 0 or trainer.sanity_checking or trainer.current_epoch % n:
            return
        if not isinstance(outputs, dict) or "u" not in outputs:
            return
        self._emit(trainer, "val/panel",
                   panel(batch["input"], outputs["u"], batch.get("target"), self.num_images))
