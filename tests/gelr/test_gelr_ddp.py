"""2-process CPU (gloo) DDP test of the GELR state: rank-local updates, merge, checkpoint, resume.

Lightning's ``ddp_spawn`` runs two CPU ranks. The data set has 7 samples, so the
``DistributedSampler`` pads one duplicate (seen by both ranks in the same epoch) and, with
shuffling, samples move between ranks from one epoch to the next: a rank can only use the
right variables if the merge of the previous epoch worked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, Dataset

from rpaf.callbacks.gelr import GELRCallback
from rpaf.gelr import ops
from rpaf.gelr.state import GELRVariables
from rpaf.gelr.update import gelr_network_step

N, SIZE = 7, 12


class _Pairs(Dataset):
    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.x = torch.rand(N, 3, SIZE, SIZE, generator=gen)
        self.g = (self.x + 0.2 * torch.rand(N, 3, SIZE, SIZE, generator=gen)).clamp(0, 1)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> dict:
        return {"input": self.g[i], "target": self.x[i], "index": i, "name": str(i)}


class _Data(LightningDataModule):
    geometry_is_fixed = True

    def setup(self, stage: str | None = None) -> None:
        self.train_set = _Pairs()
        self.num_train_samples = N

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=2, shuffle=True)


class _Lit(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Conv2d(3, 3, 3, padding=1)
        self.visits: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def training_step(self, batch: dict, batch_idx: int) -> dict:
        g, x = batch["input"], batch["target"]
        u = self.net(g)
        v = GELRCallback.find(self.trainer).variables(batch)
        gu = ops.grad(u)
        loss = ((u - x) ** 2).mean() + 0.1 * ((gu - v.d + v.eta_d) ** 2).mean()
        self.visits.append((self.current_epoch, batch["index"].clone(), u.detach().clone(),
                            g.clone(), x.clone()))
        return {"loss": loss, "u": u.detach()}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


class _Dump(Callback):
    """Writes each rank's replica (and what it saw) to ``root/<tag>_rank<k>.pt``."""

    def __init__(self, root: str, tag: str, when: str) -> None:
        self.root, self.tag, self.when = root, tag, when

    def _dump(self, trainer: Trainer, pl_module: LightningModule) -> None:
        st = GELRCallback.find(trainer).state
        out = {f: st.storage.export(f).clone() for f in st.shapes}
        out["visited"] = st.visited.clone()
        out["visits"] = getattr(pl_module, "visits", [])
        torch.save(out, Path(self.root) / f"{self.tag}_rank{trainer.global_rank}.pt")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        torch.set_num_threads(1)
        if self.when == "start":
            self._dump(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.when == "end":
            self._dump(trainer, pl_module)


def _fit(root: Path, tag: str, epochs: int, when: str, ckpt: str | None = None) -> None:
    cb = GELRCallback(theta=0.25, backend="cpu", energy_every_n_steps=0)
    trainer = Trainer(
        accelerator="cpu", devices=2, strategy="ddp_spawn", max_epochs=epochs,
        callbacks=[cb, _Dump(str(root), tag, when),
                   ModelCheckpoint(dirpath=root / tag, save_last=True, save_top_k=0)],
        logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=root, num_sanity_val_steps=0,
    )
    trainer.fit(_Lit(), datamodule=_Data(), ckpt_path=ckpt)


def _replay(visits_per_rank: list[list], epochs: int, kw: dict) -> dict[int, GELRVariables]:
    """What the merged state must be: per epoch, each sample updated once from the previous
    epoch's merged value, with the lowest rank's output when both ranks saw it."""
    state: dict[int, GELRVariables] = {}
    for epoch in range(epochs):
        chosen: dict[int, tuple] = {}
        for rank in reversed(range(len(visits_per_rank))):  # lower ranks overwrite higher ones
            for ep, idx, u, g, x in visits_per_rank[rank]:
                if ep != epoch:
                    continue
                for j, i in enumerate(idx.tolist()):
                    chosen[i] = (u[j : j + 1], g[j : j + 1], x[j : j + 1])
        new = {}
        for i, (u, g, x) in chosen.items():
            prev = state.get(i, GELRVariables.zeros_like(u))
            new[i] = gelr_network_step(u, g, x, prev, **kw)
        state.update(new)
    return state


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_ddp_two_ranks_merge_checkpoint_and_resume(tmp_path):
    _fit(tmp_path, "train", epochs=2, when="end")
    ranks = [torch.load(tmp_path / f"train_rank{r}.pt", weights_only=False) for r in range(2)]
    fields = [f for f in ranks[0] if f not in ("visited", "visits")]

    # per epoch each rank saw 4 of the 7 samples, one of them (the sampler's padding) on both
    # ranks, and samples moved between ranks from epoch 0 to epoch 1
    seen = [[{i for ep, idx, *_ in rk["visits"] if ep == e for i in idx.tolist()}
             for e in range(2)] for rk in ranks]
    for e in range(2):
        assert len(seen[0][e]) == len(seen[1][e]) == 4
        assert len(seen[0][e] | seen[1][e]) == N
        assert len(seen[0][e] & seen[1][e]) == 1
    assert seen[0][0] != seen[0][1]
    # after the merge both replicas are identical and complete
    for f in [*fields, "visited"]:
        assert torch.equal(ranks[0][f], ranks[1][f]), f
    assert bool(ranks[0]["visited"].all())

    # and equal to Algorithm 2 replayed by hand (the padding duplicate: lowest rank wins)
    kw = GELRCallback(theta=0.25).step_kwargs()
    want = _replay([rk["visits"] for rk in ranks], 2, kw)
    assert sorted(want) == list(range(N))
    got_full = {f: ranks[0][f] for f in fields}
    for i, v in want.items():
        for name in GELRVariables.NAMES:
            torch.testing.assert_close(got_full[name][i], getattr(v, name)[0],
                                       atol=1e-6, rtol=1e-5)

    # the checkpoint (written by rank 0) holds the full merged state
    ckpt = tmp_path / "train" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=True)["callbacks"]["GELRCallback"]["state"]
    for f in fields:
        assert torch.equal(saved["data"][f], ranks[0][f]), f

    # resume on two ranks: both start from the complete checkpointed state
    _fit(tmp_path, "resume", epochs=3, when="start", ckpt=str(ckpt))
    for r in range(2):
        start = torch.load(tmp_path / f"resume_rank{r}.pt", weights_only=False)
        for f in [*fields, "visited"]:
            want_f = saved["visited"] if f == "visited" else saved["data"][f]
            assert torch.equal(start[f], want_f), (r, f)
