r"""GELR callback: the per-sample ADMM half of Algorithm 2 (paper section 3.3).

Training with GELR alternates, for every visit of a sample, (a) one optimiser step of the
network on ``lambda1 * L1 + lambda2 * L2`` (eq. 15), where ``L1`` (eq. 13) needs that sample's
variables ``d, t, eta_d, eta_t, T``, and (b) the update of those variables from the new output
(Algorithm 2, steps 3-6; :func:`rpaf.gelr.update.gelr_network_step`). This callback owns the
variables and does (b).

Contract with the LightningModule (:class:`rpaf.lit.LitRPAF`)::

    def training_step(self, batch, batch_idx):
        u = self.net(batch["input"])
        variables = self.gelr.variables(batch)          # GELRVariables, on u's device
        loss = self.loss(u, batch["input"], batch["target"], variables)["loss"]
        return {"loss": loss, "u": u.detach()}

and the callback's ``on_train_batch_end`` updates the variables of ``batch["index"]`` with
``outputs["u"]``, ``batch["input"]`` (g) and ``batch["target"]`` (x).

Note:
    Between two visits of the same sample the network changed (optimiser steps on all the
    other samples), so this is not textbook ADMM: the u-step is a single stochastic gradient
    step on a loss shared by the whole data set, and the per-sample variables lag one epoch
    behind the network. The paper's convergence argument (appendix A.4) does not cover it.
    The output used for the update is the one computed in ``training_step`` (before the
    optimiser step); ``recompute_output=True`` re-runs the network after the step instead
    (Algorithm 2's ``u^{k+1}`` exactly, at the price of an extra forward pass).

Modes:
    ``stateful`` (default, the paper): the variables persist between visits in a
    :class:`rpaf.gelr.state.GELRState` (memory / cpu / disk, full or compact, float32 or
    float16). Needs every sample to have the same geometry on every visit: the callback refuses
    a DataModule with ``geometry_is_fixed = False`` (random crops/flips), because forward
    differences do not commute with flips and the truncated nuclear norm couples the whole
    matrix (gelr-math §7).

    ``per_step`` (memory-free): nothing is stored. At each visit the variables start from zero
    with ``T = g - u`` and ``inner_iters`` d/t/eta iterations are run with the *current* output
    held fixed. Costs ``inner_iters`` TNN proxes per step before the loss (instead of one after
    it), needs no memory and tolerates random crops/flips, but the multipliers never accumulate
    across epochs, so the constraint ``grad u = d``, ``grad u - grad x = t`` is enforced only
    as far as ``inner_iters`` frozen-u iterations go, and the data term of eq. 13 vanishes
    (``g - u - T = 0``). It is a different (weaker) regulariser than the paper's, for data sets
    whose state would not fit anywhere.

Distributed training:
    Every rank keeps a full replica of the state, updates only the samples of its own
    batches, and the replicas are merged (:meth:`rpaf.gelr.state.GELRState.sync`) at the end of
    every training epoch and before every checkpoint. A checkpoint therefore holds the complete
    state, and on resume every rank loads it. With ``DistributedSampler`` padding, a sample
    seen on two ranks in one epoch keeps the lowest rank's update.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks.callback import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_warn
from torch import Tensor
from typing_extensions import override

from rpaf.gelr import ops
from rpaf.gelr.state import (
    BACKENDS,
    DTYPES,
    REPRESENTATIONS,
    GELRState,
    GELRVariables,
    choose_backend,
    state_nbytes,
)
from rpaf.gelr.update import (
    D_THRESHOLDS,
    TNN_MODES,
    d_threshold_value,
    gelr_energy,
    gelr_network_step,
)

__all__ = ["MODES", "GELRCallback"]

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("stateful", "per_step")


class GELRCallback(Callback):
    r"""Keeps and updates the per-sample GELR variables of Algorithm 2.

    Args:
        alpha: Weight of ``||grad u||_1`` (paper: 0.4).
        beta: Weight of the truncated nuclear norm of ``grad u - grad x`` (paper: 0.6).
        rho1: Penalty of ``grad u = d`` (paper: 1).
        rho2: Penalty of ``grad u - grad x = t`` (paper: 1).
        theta: Truncation rate, ``r = floor(theta * min(H, W))`` (the paper does not give it;
            see :data:`rpaf.gelr.ops.DEFAULT_THETA`).
        boundary: ``"periodic"`` or ``"neumann"``; must equal the loss's.
        d_threshold: ``"corrected"`` (``alpha/rho1``, gelr-math §1) or ``"paper"`` (eq. 44).
        tnn: t-update: ``"exact"`` (closed-form truncated prox), ``"hu"`` (Hu et al. step) or
            ``"paper"`` (eq. 45 as printed; diverges).
        prox_method: ``"gram"`` (eigh of the Gram matrix, fast) or ``"svd"`` (reference).
        backend: ``"auto"``, ``"memory"`` (training device), ``"cpu"`` or ``"disk"``.
        representation: ``"full"`` (9C planes per sample) or ``"compact"`` (5C planes, one
            extra prox per visit; not with ``tnn="hu"``/``"paper"``).
        dtype: Storage dtype, ``"float32"`` or ``"float16"``; arithmetic is float32.
        mode: ``"stateful"`` (the paper) or ``"per_step"`` (memory-free, see module docs).
        inner_iters: d/t/eta iterations per visit in ``per_step`` mode.
        memory_budget_gb: Cap for an in-memory state when ``backend="auto"``.
        device_fraction: Fraction of free device memory ``auto`` may use.
        ram_fraction: Fraction of available RAM ``auto`` may use.
        disk_dir: Directory of the disk backend (default ``<trainer.default_root_dir>/gelr_state``);
            per-rank working files go to ``rank<k>/``, durable snapshots to ``snapshots/``.
        keep_snapshots: Disk snapshots kept (``None``: all). Resuming from a checkpoint whose
            snapshot was pruned fails with a clear error.
        num_samples: Number of training samples; default ``datamodule.num_train_samples`` or
            the length of the training dataset.
        recompute_output: Re-run the network (no grad) after the optimiser step and update with
            that output instead of the one returned by ``training_step``.
        energy_every_n_steps: Log ``gelr/energy`` every this many steps (``0``: never). It costs
            one ``svdvals`` per matrix.
        log_stats: Log ``gelr/primal_d``, ``gelr/primal_t`` and ``gelr/seconds`` every step.
        sync_chunk_mb: Chunk size of the DDP merge (MiB per rank).
    """

    def __init__(
        self,
        alpha: float = 0.4,
        beta: float = 0.6,
        rho1: float = 1.0,
        rho2: float = 1.0,
        theta: float = ops.DEFAULT_THETA,
        boundary: str = "periodic",
        d_threshold: str = "corrected",
        tnn: str = "exact",
        prox_method: str = "gram",
        backend: str = "auto",
        representation: str = "full",
        dtype: str = "float32",
        mode: str = "stateful",
        inner_iters: int = 1,
        memory_budget_gb: float | None = None,
        device_fraction: float = 0.5,
        ram_fraction: float = 0.5,
        disk_dir: str | None = None,
        keep_snapshots: int | None = 2,
        num_samples: int | None = None,
        recompute_output: bool = False,
        energy_every_n_steps: int = 50,
        log_stats: bool = True,
        sync_chunk_mb: float = 256.0,
    ) -> None:
        super().__init__()
        _check("mode", mode, MODES)
        _check("backend", backend, ("auto", *BACKENDS))
        _check("representation", representation, REPRESENTATIONS)
        _check("dtype", dtype, tuple(DTYPES))
        _check("d_threshold", d_threshold, D_THRESHOLDS)
        _check("tnn", tnn, TNN_MODES)
        _check("prox_method", prox_method, ops.PROX_METHODS)
        _check("boundary", boundary, ops.BOUNDARIES)
        if representation == "compact" and tnn != "exact":
            raise ValueError(
                f"gelr.representation=compact needs gelr.tnn=exact (got {tnn!r}): the compact "
                "record rebuilds t as the exact prox of W, but the Hu/paper steps depend on the "
                "previous t. Use representation=full."
            )
        if int(inner_iters) < 1:
            raise ValueError(f"gelr.inner_iters={inner_iters} must be >= 1")
        if min(rho1, rho2) <= 0 or min(alpha, beta) < 0:
            raise ValueError(
                f"gelr: need rho1, rho2 > 0 and alpha, beta >= 0 (got alpha={alpha}, "
                f"beta={beta}, rho1={rho1}, rho2={rho2})"
            )
        self.alpha, self.beta, self.rho1, self.rho2 = alpha, beta, rho1, rho2
        self.theta = float(theta)
        self.boundary = boundary
        self.d_threshold = d_threshold
        self.tnn = tnn
        self.prox_method = prox_method
        self.backend = backend
        self.representation = representation
        self.dtype = dtype
        self.mode = mode
        self.inner_iters = int(inner_iters)
        self.memory_budget_gb = memory_budget_gb
        self.device_fraction = device_fraction
        self.ram_fraction = ram_fraction
        self.disk_dir = disk_dir
        self.keep_snapshots = keep_snapshots
        self.num_samples = num_samples
        self.recompute_output = recompute_output
        self.energy_every_n_steps = int(energy_every_n_steps)
        self.log_stats = log_stats
        self.sync_chunk_mb = sync_chunk_mb

        self.state: GELRState | None = None
        self._device: torch.device = torch.device("cpu")
        self._rank, self._world = 0, 1
        self._root_dir: Path | None = None
        self._pl_module: pl.LightningModule | None = None
        self._cache: tuple[Tensor, GELRVariables] | None = None
        self._per_step_stats: dict[str, Tensor] = {}
        self._warned_no_u = False
        #: Seconds spent in the last update (read + step + write), for logging and benchmarks.
        self.last_seconds: float = 0.0

    # ------------------------------------------------------------------ public helpers
    @staticmethod
    def find(trainer: pl.Trainer) -> GELRCallback | None:
        """The trainer's GELR callback, or None."""
        for cb in trainer.callbacks:  # type: ignore[attr-defined]
            if isinstance(cb, GELRCallback):
                return cb
        return None

    @property
    @override
    def state_key(self) -> str:
        return "GELRCallback"

    @property
    def tau_d(self) -> float:
        """Threshold of the d-update (``alpha/rho1``, or ``1/rho1`` with d_threshold=paper)."""
        return d_threshold_value(self.alpha, self.rho1, self.d_threshold)

    @property
    def tau_t(self) -> float:
        """Threshold of the t-update ``beta/rho2``."""
        return self.beta / self.rho2

    def step_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`rpaf.gelr.update.gelr_network_step` for this config."""
        return {
            "alpha": self.alpha, "beta": self.beta, "rho1": self.rho1, "rho2": self.rho2,
            "theta": self.theta, "boundary": self.boundary, "d_threshold": self.d_threshold,
            "tnn": self.tnn, "prox_method": self.prox_method,
        }

    def variables(self, batch: dict[str, Any], u: Tensor | None = None) -> GELRVariables:
        """ADMM variables of a batch for the loss of eq. 13.

        Args:
            batch: Collated sample dict with ``input`` (B, C, H, W), ``target`` and ``index``
                (B,).
            u: The current output ``(B, C, H, W)``; needed in ``per_step`` mode (if omitted
                there, the network is run once more without gradients), ignored otherwise.

        Returns:
            :class:`GELRVariables` on the device of ``batch["input"]``, in its floating dtype
            (float32 at least). In ``stateful`` mode never-visited samples get zeros (the
            paper's initialisation).
        """
        g = _get(batch, "input")
        dtype = torch.promote_types(g.dtype, torch.float32)
        if self.mode == "per_step":
            return self._per_step_variables(batch, u)
        index = _index(batch)
        state = self._ensure_state(g)
        v = state.read(index, device=g.device, dtype=dtype)
        self._cache = (index, v)
        return v

    # ------------------------------------------------------------------ hooks
    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self._pl_module = pl_module
        self._rank, self._world = int(trainer.global_rank), int(trainer.world_size)
        self._device = trainer.strategy.root_device
        self._root_dir = Path(trainer.default_root_dir)
        if self.mode == "per_step":
            rank_zero_info("GELR: mode=per_step (no per-sample state is kept)")
            return
        dm = getattr(trainer, "datamodule", None)
        fixed = getattr(dm, "geometry_is_fixed", None)
        if fixed is False:
            raise ValueError(
                f"GELR (gelr.mode=stateful) keeps per-sample variables, but the DataModule "
                f"{type(dm).__name__} has geometry_is_fixed=False (random crops/flips change "
                "a sample's geometry between visits, so the stored d, t, eta no longer line up "
                "with it). Turn the random augmentations off in the data config (use "
                "geometric_augment=8 instead: flips/transposes undone on the output), or use "
                "gelr=per_step (memory-free, no stored state)."
            )
        if fixed is None:
            rank_zero_warn(
                "GELR: the DataModule does not declare `geometry_is_fixed`; the per-sample "
                "state assumes every sample has the same geometry (no random crops/flips) on "
                "every visit."
            )
        if self.num_samples is None and dm is not None:
            n = getattr(dm, "num_train_samples", None)
            if n is not None:
                self.num_samples = int(n)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.mode == "stateful" and self.num_samples is None:
            dl = trainer.train_dataloader
            dataset = getattr(dl, "dataset", None)
            try:
                self.num_samples = len(dataset)  # type: ignore[arg-type]
            except TypeError as err:
                raise ValueError(
                    "GELR: cannot tell the number of training samples: the DataModule has no "
                    "`num_train_samples` and the train dataloader's dataset has no len(). Set "
                    "gelr.num_samples."
                ) from err

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.mode == "per_step":
            self._log(pl_module, self._per_step_stats, trainer, batch)
            return
        start = time.perf_counter()
        if not isinstance(outputs, dict) or "u" not in outputs:
            raise KeyError(
                "GELRCallback: training_step must return a dict with the detached output, "
                "e.g. {'loss': loss, 'u': u.detach()} (got "
                f"{type(outputs).__name__}{sorted(outputs) if isinstance(outputs, dict) else ''})"
            )
        g, x = _get(batch, "input"), _get(batch, "target")
        if self.recompute_output:
            with torch.no_grad():
                u = pl_module(g)
        else:
            u = outputs["u"]
        stats: dict[str, Any] = {}
        self.update(batch, u.detach(), stats=stats)
        self.last_seconds = time.perf_counter() - start
        stats["seconds"] = torch.tensor(self.last_seconds)
        n = self.energy_every_n_steps
        if n > 0 and trainer.global_step % n == 0:
            e = gelr_energy(u, x, alpha=self.alpha, beta=self.beta, theta=self.theta,
                            boundary=self.boundary)
            stats["energy"] = e.mean() / float(u[0].numel())
        self._log(pl_module, stats, trainer, batch)

    def update(
        self, batch: dict[str, Any], u: Tensor, *, stats: dict[str, Any] | None = None
    ) -> GELRVariables:
        """Run Algorithm 2, steps 3-6, for the batch's samples and store the result.

        Args:
            batch: Collated sample dict (``input``, ``target``, ``index``).
            u: Detached output ``(B, C, H, W)`` for ``batch["input"]``.
            stats: Optional dict receiving ``primal_d`` and ``primal_t``.

        Returns:
            The new variables (also written to the state).
        """
        g, x = _get(batch, "input"), _get(batch, "target")
        index = _index(batch)
        state = self._ensure_state(g)
        cached = self._cache
        self._cache = None
        if cached is not None and torch.equal(cached[0], index):
            old = cached[1]
        else:
            old = state.read(index, device=u.device, dtype=torch.promote_types(u.dtype,
                                                                               torch.float32))
        new = gelr_network_step(u, g, x, old, stats=stats, **self.step_kwargs())
        state.write(index, new)
        return new

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.state is not None:
            self.state.sync(chunk_mb=self.sync_chunk_mb)

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.state is not None:
            self.state.storage.flush()

    @override
    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "config": self._config()}
        if self.state is None:
            out["state"] = None
            return out
        # All ranks call state_dict() when a checkpoint is saved: merge the replicas first.
        self.state.sync(chunk_mb=self.sync_chunk_mb)
        out["state"] = self.state.state_dict()
        return out

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("state")
        if saved is None:
            return
        if self.mode == "per_step":
            rank_zero_warn("GELR: the checkpoint holds a per-sample state but gelr.mode=per_step; "
                           "ignoring it.")
            return
        old_cfg = state_dict.get("config", {})
        changed = {k: (old_cfg[k], v) for k, v in self._config().items()
                   if k in old_cfg and old_cfg[k] != v}
        if changed:
            rank_zero_warn(f"GELR: resuming with changed settings {changed} (saved, now)")
        if self.num_samples is not None and int(saved["num_samples"]) != int(self.num_samples):
            raise ValueError(
                f"GELR: the checkpoint's state has {saved['num_samples']} samples but the "
                f"training set has {self.num_samples}: resume on the same data set."
            )
        self.num_samples = int(saved["num_samples"])
        c, h, w = (int(s) for s in saved["sample_shape"])
        state = self._allocate((c, h, w))
        state.load_state_dict(saved)

    # ------------------------------------------------------------------ internals
    def _config(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha, "beta": self.beta, "rho1": self.rho1, "rho2": self.rho2,
            "theta": self.theta, "boundary": self.boundary, "d_threshold": self.d_threshold,
            "tnn": self.tnn, "representation": self.representation, "dtype": self.dtype,
        }

    def _ensure_state(self, g: Tensor) -> GELRState:
        _, c, h, w = g.shape
        if self.state is None:
            return self._allocate((int(c), int(h), int(w)))
        if self.state.sample_shape != (c, h, w):
            raise ValueError(
                f"GELR: a batch has image shape {(c, h, w)} but the state was allocated for "
                f"{self.state.sample_shape}. All training samples must have the same fixed "
                "size (crop/resize them deterministically in the data config)."
            )
        return self.state

    def _allocate(self, sample_shape: tuple[int, int, int]) -> GELRState:
        if self.num_samples is None:
            raise ValueError(
                "GELR: the number of training samples is unknown (no datamodule."
                "num_train_samples); set gelr.num_samples."
            )
        nbytes = state_nbytes(self.num_samples, sample_shape, self.representation, self.dtype)
        device = self._device
        if self.backend == "auto":
            backend, reason = choose_backend(
                nbytes, device, memory_budget_gb=self.memory_budget_gb,
                device_fraction=self.device_fraction, ram_fraction=self.ram_fraction,
            )
            log.info("GELR[rank %d]: backend=auto chose %r: %s", self._rank, backend, reason)
            rank_zero_info(f"GELR: backend=auto chose {backend!r}: {reason}")
        else:
            backend = self.backend
        base = (
            Path(self.disk_dir) if self.disk_dir else (self._root_dir or Path(".")) / "gelr_state"
        )
        r = ops.truncation_rank(sample_shape[1], sample_shape[2], self.theta)
        if self.state is not None:
            self.state.close()
        self.state = GELRState(
            self.num_samples,
            sample_shape,
            representation=self.representation,
            dtype=self.dtype,
            backend=backend,
            device=device if backend == "memory" else None,
            directory=base / f"rank{self._rank}" if backend == "disk" else None,
            snapshot_dir=base / "snapshots",
            keep_snapshots=self.keep_snapshots,
            tau_d=self.tau_d,
            tau_t=self.tau_t,
            rank=r,
            prox_method=self.prox_method,
            is_writer=self._rank == 0,
        )
        rank_zero_info(self.state.describe())
        return self.state

    def _per_step_variables(self, batch: dict[str, Any], u: Tensor | None) -> GELRVariables:
        g, x = _get(batch, "input"), _get(batch, "target")
        if u is None:
            if self._pl_module is None:
                raise ValueError("GELR per_step mode: pass the current output, "
                                 "cb.variables(batch, u=u.detach())")
            if not self._warned_no_u:
                rank_zero_warn("GELR per_step: variables(batch) without `u` re-runs the network; "
                               "call cb.variables(batch, u=u.detach()) to avoid it.")
                self._warned_no_u = True
            with torch.no_grad():
                u = self._pl_module(g)
        start = time.perf_counter()
        u = u.detach()
        v = GELRVariables.zeros_like(u.to(torch.promote_types(u.dtype, torch.float32)))
        stats: dict[str, Any] = {}
        for _ in range(self.inner_iters):
            v = gelr_network_step(u, g, x, v, stats=stats, **self.step_kwargs())
        stats["seconds"] = torch.tensor(time.perf_counter() - start)
        self.last_seconds = float(stats["seconds"])
        self._per_step_stats = stats
        return v

    def _log(
        self, pl_module: pl.LightningModule, stats: dict[str, Any], trainer: pl.Trainer,
        batch: dict[str, Any],
    ) -> None:
        if not self.log_stats or not stats:
            return
        bs = int(_get(batch, "input").shape[0])
        for key, val in stats.items():
            pl_module.log(f"gelr/{key}", val.detach().float().cpu() if isinstance(val, Tensor)
                          else float(val), on_step=True, on_epoch=False, batch_size=bs)


def _check(key: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"gelr.{key}={value!r} is not valid: use one of {allowed}")


def _get(batch: Any, key: str) -> Tensor:
    if not isinstance(batch, dict) or key not in batch:
        raise KeyError(
            f"GELRCallback: the batch has no {key!r} (keys: "
            f"{sorted(batch) if isinstance(batch, dict) else type(batch).__name__}); the GELR "
            "state needs sample dicts with input, target and index"
        )
    return batch[key]


def _index(batch: Any) -> Tensor:
    idx = _get(batch, "index")
    return torch.as_tensor(idx).detach().to("cpu", torch.int64).reshape(-1)
