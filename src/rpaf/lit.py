"""LightningModule that trains RPAFNet with the GELR loss (paper section 3.3, Algorithm 2).

The network output ``u = f(g)`` (eq. 2) is trained with the total loss
``lambda1 * L1 + lambda2 * L2`` (eq. 15). ``L1`` (eq. 13) needs the per-sample ADMM variables
(d, t, eta_d, eta_t, T), which live in :class:`rpaf.callbacks.GELRCallback`; the callback updates
them after every optimiser step (Algorithm 2, steps 3-6) from the detached output returned here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from rpaf.metrics.full_reference import MetricConvention, psnr, ssim
from rpaf.models.self_ensemble import SELF_ENSEMBLE_SIZES, transformed_forward

OptimizerFactory = Callable[..., torch.optim.Optimizer]


class LitRPAF(LightningModule):
    """Train / validate / test an image-smoothing network with the GELR loss.

    Args:
        net: The smoothing network, ``(B, 3, H, W) -> (B, 3, H, W)``
            (e.g. :class:`rpaf.models.RPAFNet`).
        loss: A :class:`rpaf.gelr.loss.GELRLoss` (eq. 15); called as ``loss(u, g, x, variables)``.
        optimizer: Partial optimiser constructor taking the parameters (Adam, lr 1e-3 in the paper).
        scheduler: Optional partial LR-scheduler constructor taking the optimiser.
        scheduler_interval: ``"epoch"`` or ``"step"``.
        gelr: The GELR callback holding the per-sample state; ``None`` trains without eq. 13
            (the paper's ``lambda1 = 0`` baseline, Table 3).
        convention: How PSNR/SSIM are computed (data range, border crop, colour); printed
            with results.
        config: The resolved run config (plain containers only), saved in the checkpoint so that
            ``rpaf-smooth`` and ``rpaf-eval`` can rebuild the network.
        geometric_augment: Training-time geometric augmentation (not in the paper): each step
            draws one of the first ``n`` of the 8 flips/transposes
            (:func:`rpaf.models.self_ensemble.transformed_forward`), applies it to the input and
            undoes it on the output. The loss and the GELR per-sample state therefore see every
            sample in its own geometry, which a DataModule's random flips would break. The draw
            depends only on ``augment_seed`` and the global step, so a resumed run repeats it.
            1 (default) is off; 2, 4 or 8.
        augment_seed: Seed of the per-step draw (the run's seed).
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
        gelr: Any | None = None,
        convention: MetricConvention | None = None,
        config: dict[str, Any] | None = None,
        geometric_augment: int = 1,
        augment_seed: int = 0,
    ) -> None:
        super().__init__()
        # Only plain containers go into the checkpoint: it must load with weights_only=True.
        self.save_hyperparameters(
            ignore=["net", "loss", "optimizer", "scheduler", "gelr", "convention"], logger=False
        )
        self.net = net
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(
                f"scheduler.interval={scheduler_interval!r} is not valid: use 'epoch' or 'step'"
            )
        self.scheduler_interval = scheduler_interval
        self.gelr = gelr
        self.convention = convention or MetricConvention()
        if geometric_augment not in SELF_ENSEMBLE_SIZES:
            raise ValueError(
                f"geometric_augment={geometric_augment!r} is not valid: use one of "
                f"{SELF_ENSEMBLE_SIZES} (1 = off)"
            )
        self.geometric_augment = int(geometric_augment)
        self.augment_seed = int(augment_seed)

    # ------------------------------------------------------------------ hooks
    def configure_callbacks(self) -> list[Any]:
        """Attach the GELR callback, so its state rides in every checkpoint (``state_key``)."""
        return [self.gelr] if self.gelr is not None else []

    def forward(self, x: Tensor) -> Tensor:
        """Smooth a batch: ``u = f(g)`` (eq. 2). Shapes (B, 3, H, W) -> (B, 3, H, W)."""
        return self.net(x)

    def augment_index(self, step: int) -> int:
        """The transform number drawn for global step ``step`` (0 = identity when off)."""
        if self.geometric_augment == 1:
            return 0
        gen = torch.Generator().manual_seed(self.augment_seed * 1_000_003 + int(step))
        return int(torch.randint(self.geometric_augment, (1,), generator=gen))

    def _uses_gelr(self) -> bool:
        return self.gelr is not None and float(getattr(self.loss, "lambda1", 0.0)) > 0.0

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        """One optimiser step on eq. 15; returns the detached output for the GELR callback."""
        g, x = batch["input"], batch["target"]
        u = transformed_forward(self.net, g, self.augment_index(self.global_step))
        variables = self.gelr.variables(batch, u=u.detach()) if self._uses_gelr() else None
        terms = self.loss(u, g, x, variables)
        bs = g.shape[0]
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=bs)
        self.log("train/l1", terms["l1"], batch_size=bs)
        self.log("train/l2", terms["l2"], batch_size=bs)
        for extra in ("mae", "grad", "neg_psnr", "flat_fine"):  # beyond eq. 15 (loss.*_weight > 0)
            if extra in terms:
                self.log(f"train/{extra}", terms[extra], batch_size=bs)
        return {"loss": terms["loss"], "u": u.detach()}

    def _shared_eval(self, batch: dict[str, Any], stage: str) -> dict[str, Tensor]:
        g = batch["input"]
        u = self.net(g).clamp(0.0, 1.0)
        out: dict[str, Tensor] = {"u": u}
        if "target" in batch:
            x = batch["target"]
            bs = g.shape[0]
            c = self.convention
            p = psnr(u, x, data_range=c.data_range, crop_border=c.crop_border, color=c.color)
            s = ssim(u, x, data_range=c.data_range, crop_border=c.crop_border, color=c.color)
            self.log(f"{stage}/psnr", p.mean(), prog_bar=True, batch_size=bs, sync_dist=True)
            self.log(f"{stage}/ssim", s.mean(), prog_bar=stage != "val", batch_size=bs,
                     sync_dist=True)
            out.update(psnr=p, ssim=s)
        return out

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        """PSNR/SSIM on the validation split (``val/psnr`` selects the best checkpoint)."""
        return self._shared_eval(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        """PSNR/SSIM on the test split (``test/*``)."""
        return self._shared_eval(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Smoothed outputs, clamped to [0, 1]."""
        return self.net(batch["input"]).clamp(0.0, 1.0)

    def configure_optimizers(self) -> Any:
        """Adam (paper: lr 1e-3) plus an optional scheduler from the config."""
        optimizer = self.optimizer_factory(params=self.net.parameters())
        if self.scheduler_factory is None:
            return optimizer
        kwargs: dict[str, Any] = {}
        keywords = getattr(self.scheduler_factory, "keywords", {})
        if "total_steps" in keywords and keywords["total_steps"] is None:
            # OneCycleLR & co.: schedule over the whole run as Lightning counts it.
            kwargs["total_steps"] = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer=optimizer, **kwargs)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval},
        }

    # ------------------------------------------------- exact resume: RNG state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the python/numpy/torch RNG states (as plain types: weights_only-safe)."""
        np_state = np.random.get_state()
        rng: dict[str, Any] = {
            "python": random.getstate(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint["rpaf_rng"] = rng

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the RNG states so that a resumed run continues as if never stopped."""
        rng = checkpoint.get("rpaf_rng")
        if rng is None:
            return
        random.setstate(_as_tuple(rng["python"]))
        kind, keys, *rest = rng["numpy"]
        np.random.set_state((kind, keys.numpy(), *rest))
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])


def _as_tuple(state: Any) -> Any:
    """``random.setstate`` needs tuples; a checkpoint round trip may turn them into lists."""
    if isinstance(state, list):
        return tuple(_as_tuple(s) for s in state)
    return state
