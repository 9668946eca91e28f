"""Tests of rpaf.callbacks.GELRCallback with a 1-conv LightningModule and tiny data."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, Dataset

from rpaf.callbacks import GELRCallback
from rpaf.gelr import ops
from rpaf.gelr.state import GELRVariables
from rpaf.gelr.update import gelr_network_step

CONF = Path(__file__).resolve().parents[2] / "conf"
SIZE = 16


class PairSet(Dataset):
    """``n`` fixed random pairs with the rpaf sample-dict keys."""

    def __init__(self, n: int, size: int = SIZE, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 3, size, size, generator=gen)
        self.g = (self.x + 0.2 * torch.rand(n, 3, size, size, generator=gen)).clamp(0, 1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"input": self.g[i], "target": self.x[i], "index": i, "name": f"s{i:03d}"}


class PairData(LightningDataModule):
    """Unshuffled tiny data module with ``geometry_is_fixed`` and ``num_train_samples``."""

    def __init__(self, n: int = 5, batch_size: int = 2, geometry_is_fixed: bool = True) -> None:
        super().__init__()
        self.n, self.batch_size = n, batch_size
        self.geometry_is_fixed = geometry_is_fixed
        self.num_train_samples: int | None = None

    def setup(self, stage: str | None = None) -> None:
        self.train_set = PairSet(self.n)
        self.num_train_samples = len(self.train_set)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=False)


class TinyLit(LightningModule):
    """A 1-conv smoother trained on MSE + a small eq.-13-like term that uses the variables."""

    def __init__(self, record: bool = True) -> None:
        super().__init__()
        self.net = nn.Conv2d(3, 3, 3, padding=1)
        self.record = record
        self.visits: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        return self.net(g)

    def training_step(self, batch: dict, batch_idx: int) -> dict:
        g, x = batch["input"], batch["target"]
        u = self.net(g)
        cb = GELRCallback.find(self.trainer)
        v = cb.variables(batch, u=u.detach())
        gu = ops.grad(u)
        l1 = ((gu - v.d + v.eta_d) ** 2).mean() + ((gu - ops.grad(x) - v.t + v.eta_t) ** 2).mean()
        loss = ((u - x) ** 2).mean() + 0.1 * l1
        if self.record:
            self.visits.append((batch["index"].clone(), u.detach().clone(), g.clone(), x.clone()))
        return {"loss": loss, "u": u.detach()}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _trainer(tmp_path: Path, cb: GELRCallback, epochs: int = 2, **kw) -> Trainer:
    return Trainer(
        accelerator="cpu", devices=1, max_epochs=epochs, callbacks=[cb, *kw.pop("extra", [])],
        logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=kw.pop("enable_checkpointing", False),
        default_root_dir=tmp_path, log_every_n_steps=1, num_sanity_val_steps=0, **kw,
    )


def _replay(visits, cb: GELRCallback) -> dict[int, GELRVariables]:
    """Algorithm 2 steps 3-6 applied by hand, sample by sample, in visiting order."""
    out: dict[int, GELRVariables] = {}
    for idx, u, g, x in visits:
        for j, i in enumerate(idx.tolist()):
            prev = out.get(i, GELRVariables.zeros_like(u[j : j + 1]))
            out[i] = gelr_network_step(u[j : j + 1], g[j : j + 1], x[j : j + 1], prev,
                                       **cb.step_kwargs())
    return out


def test_callback_updates_exactly_the_visited_samples(tmp_path):
    from rpaf.data import SyntheticDataModule

    torch.set_num_threads(1)
    seed_everything(0)
    dm = SyntheticDataModule(n_train=6, n_val=2, n_test=2, size=SIZE, cache=True, batch_size=4)
    cb = GELRCallback(theta=0.2, energy_every_n_steps=1, backend="auto")
    model = TinyLit()
    trainer = _trainer(tmp_path, cb, epochs=2)
    trainer.fit(model, datamodule=dm)

    assert cb.state is not None
    assert cb.state.num_samples == 6
    assert cb.state.visited.all()
    expected = _replay(model.visits, cb)
    assert sorted(expected) == list(range(6))
    for i, want in expected.items():
        got = cb.state.read([i])
        for name in GELRVariables.NAMES:
            # batched vs per-sample float32 eigh differ by ~1e-6; a wrong sample differs by ~0.1
            torch.testing.assert_close(getattr(got, name), getattr(want, name),
                                       atol=2e-5, rtol=1e-4)
    # eq. 49: T is the residual of the last visit
    idx, u, g, _ = model.visits[-1]
    torch.testing.assert_close(cb.state.read(idx).T, g - u)
    for key in ("gelr/primal_d", "gelr/primal_t", "gelr/energy", "gelr/seconds"):
        assert key in trainer.callback_metrics, key
        assert torch.isfinite(trainer.callback_metrics[key])
    assert float(trainer.callback_metrics["gelr/seconds"]) > 0


def test_refuses_random_geometry_but_per_step_accepts_it(tmp_path):
    from rpaf.data import SyntheticDataModule

    dm = SyntheticDataModule(n_train=4, n_val=2, n_test=2, size=SIZE, augment=True,
                             batch_size=2)
    with pytest.raises(ValueError, match="geometry_is_fixed=False"):
        _trainer(tmp_path, GELRCallback(), epochs=1).fit(TinyLit(), datamodule=dm)

    cb = GELRCallback(mode="per_step", inner_iters=2, theta=0.2)
    trainer = _trainer(tmp_path, cb, epochs=1)
    trainer.fit(TinyLit(), datamodule=dm)
    assert cb.state is None
    assert cb.state_dict()["state"] is None
    assert "gelr/primal_t" in trainer.callback_metrics


def test_per_step_runs_inner_iterations_from_zero():
    data = PairSet(2)
    batch = {"input": data.g, "target": data.x, "index": torch.arange(2)}
    u = 0.5 * (data.g + data.x)
    cb = GELRCallback(mode="per_step", inner_iters=3, theta=0.2)
    got = cb.variables(batch, u=u)
    want = GELRVariables.zeros_like(u)
    for _ in range(3):
        want = gelr_network_step(u, data.g, data.x, want, **cb.step_kwargs())
    for name in GELRVariables.NAMES:
        torch.testing.assert_close(getattr(got, name), getattr(want, name))
    assert cb.state is None


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    """fit 2 epochs == fit 1 epoch, checkpoint, new Trainer + callback, resume 1 more epoch."""
    torch.set_num_threads(1)

    def run(root: Path, epochs: int, ckpt: str | None = None):
        seed_everything(0)
        cb = GELRCallback(theta=0.2, backend="cpu", dtype="float16", energy_every_n_steps=0)
        mc = ModelCheckpoint(dirpath=root, filename="epoch_{epoch:03d}", save_top_k=-1,
                             auto_insert_metric_name=False)
        model = TinyLit(record=False)
        trainer = _trainer(root, cb, epochs=epochs, extra=[mc], enable_checkpointing=True)
        trainer.fit(model, datamodule=PairData(), ckpt_path=ckpt)
        return cb, model

    full_cb, full_model = run(tmp_path / "a", epochs=2)
    run(tmp_path / "b", epochs=1)
    ckpt = tmp_path / "b" / "epoch_000.ckpt"
    saved = torch.load(ckpt, weights_only=True)["callbacks"]["GELRCallback"]["state"]
    assert saved["visited"].all()
    res_cb, res_model = run(tmp_path / "c", epochs=2, ckpt=str(ckpt))
    for f in full_cb.state.shapes:
        a, b = full_cb.state.storage.export(f), res_cb.state.storage.export(f)
        assert torch.equal(a.view(torch.int16), b.view(torch.int16)), f
    for p, q in zip(full_model.parameters(), res_model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_disk_backend_checkpoint_through_trainer(tmp_path):
    cb = GELRCallback(theta=0.2, backend="disk", disk_dir=str(tmp_path / "state"),
                      representation="compact", dtype="float16", energy_every_n_steps=0)
    trainer = _trainer(tmp_path, cb, epochs=1)
    trainer.fit(TinyLit(record=False), datamodule=PairData())
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    snaps = list((tmp_path / "state" / "snapshots").glob("gelr-state-*.npys"))
    assert len(snaps) == 1
    assert (tmp_path / "state" / "rank0").is_dir()
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=True)
    new = GELRCallback(theta=0.2, backend="memory", representation="compact", dtype="float16")
    new.load_state_dict(ckpt["callbacks"][new.state_key])
    for f in cb.state.shapes:
        assert torch.equal(cb.state.storage.export(f).view(torch.int16),
                           new.state.storage.export(f).view(torch.int16))


def test_auto_backend_choice_is_logged(tmp_path, caplog):
    cb = GELRCallback(theta=0.2, backend="auto", memory_budget_gb=1e-9,
                      disk_dir=str(tmp_path / "s"), energy_every_n_steps=0)
    with caplog.at_level(logging.INFO, logger="rpaf.callbacks.gelr"):
        _trainer(tmp_path, cb, epochs=1).fit(TinyLit(record=False), datamodule=PairData())
    assert "backend=auto chose 'disk'" in caplog.text
    assert cb.state.backend == "disk"


def test_clear_errors():
    data = PairSet(2)
    batch = {"input": data.g, "target": data.x, "index": torch.arange(2)}
    cb = GELRCallback(num_samples=2)
    with pytest.raises(KeyError, match="'u': u.detach"):
        cb.on_train_batch_end(None, None, {"loss": torch.tensor(1.0)}, batch, 0)
    with pytest.raises(KeyError, match="no 'index'"):
        cb.variables({"input": data.g})
    with pytest.raises(ValueError, match="representation=compact needs gelr.tnn=exact"):
        GELRCallback(representation="compact", tnn="hu")
    with pytest.raises(ValueError, match="gelr.mode"):
        GELRCallback(mode="sometimes")


@pytest.mark.parametrize(
    ("name", "checks"),
    [
        ("default", {"mode": "stateful", "representation": "full", "dtype": "float32"}),
        ("compact_fp16", {"representation": "compact", "dtype": "float16"}),
        ("disk", {"backend": "disk"}),
        ("per_step", {"mode": "per_step"}),
    ],
)
def test_hydra_configs_build_the_callback(name, checks):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(CONF / "gelr"), version_base="1.3"):
        cfg = compose(config_name=name)
    cb = instantiate(cfg)
    assert isinstance(cb, GELRCallback)
    # paper values (section 4): alpha 0.4, beta 0.6, rho1 = rho2 = 1
    assert (cb.alpha, cb.beta, cb.rho1, cb.rho2) == (0.4, 0.6, 1.0, 1.0)
    for key, value in checks.items():
        assert getattr(cb, key) == value
