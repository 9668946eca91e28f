"""Exponential moving average (EMA) of the network weights during training (not in the paper).

Restoration frameworks commonly evaluate an EMA of the weights instead of the last iterate
(e.g. BasicSR's ``ema_decay``). Lightning provides the mechanics
(:class:`lightning.pytorch.callbacks.EMAWeightAveraging`: the average is updated after every
optimiser step, swapped in for validation, copied into the network when training ends and
written as the checkpoint's ``state_dict``, with the raw weights under ``current_model_state``
so that a resumed run continues both). :class:`EMAWeights` adds what rpaf needs on top:

* a **test or evaluation after training** (``rpaf-train`` runs ``trainer.test(ckpt_path=best)``)
  scores the averaged weights. Lightning's callback, still holding its average from ``fit``,
  would otherwise load ``current_model_state`` into the module and test the raw weights;
* the decay is validated with a message naming the key.

Turn it on with ``callbacks=ema`` (``conf/callbacks/ema.yaml``; ``callbacks.ema.decay=0.995`` for
short fine-tunes). ``rpaf-eval``, ``rpaf-smooth`` and ``init_weights=`` read ``state_dict``, i.e.
the averaged network.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn


class EMAWeights(EMAWeightAveraging):
    """EMA of all weights and buffers: ``avg = decay * avg + (1 - decay) * w`` after each step.

    Args:
        decay: Weight of the old average per update, in ``[0, 1)``. Its window is about
            ``1 / (1 - decay)`` updates: 0.999 spans ~1000 optimiser steps; shorter runs need a
            smaller decay (the average starts at the initial weights, which keep a weight of
            ``decay ** steps`` at the end).
        update_every_n_steps: Update the average every n optimiser steps.
        update_starting_at_step: First optimiser step (0-based) that updates it (None: the
            first).
        device: Where the average lives (None: beside the model; ``"cpu"`` saves GPU memory).
    """

    def __init__(
        self,
        decay: float = 0.999,
        update_every_n_steps: int = 1,
        update_starting_at_step: int | None = None,
        device: str | None = None,
    ) -> None:
        if not 0.0 <= float(decay) < 1.0:
            raise ValueError(
                f"callbacks.ema.decay={decay!r} is not valid: use a value in [0, 1), e.g. 0.999 "
                "(about 1000 steps) or 0.995 (about 200)")
        if int(update_every_n_steps) < 1:
            raise ValueError(
                f"callbacks.ema.update_every_n_steps={update_every_n_steps!r} is not valid: use "
                "an integer >= 1")
        super().__init__(device=device, decay=float(decay),
                         update_every_n_steps=int(update_every_n_steps),
                         update_starting_at_step=update_starting_at_step)
        self.decay = float(decay)

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Resume both weight sets when fitting; otherwise keep ``state_dict`` (the average)."""
        if trainer.state.fn != TrainerFn.FITTING:
            return
        super().on_load_checkpoint(trainer, pl_module, checkpoint)
