"""Tests of the per-sample GELR state (rpaf.gelr.state): layout, backends, exact save/restore."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from rpaf.gelr import state as state_mod
from rpaf.gelr.state import (
    GELRState,
    GELRVariables,
    choose_backend,
    decode,
    encode,
    field_shapes,
    state_nbytes,
)

SRC = Path(__file__).resolve().parents[2] / "src"
MiB, GiB = 2**20, 2**30
COMPACT = {"tau_d": 0.4, "tau_t": 0.6, "rank": 1}


def _random_vars(b: int, shape=(3, 8, 6), seed: int = 0) -> GELRVariables:
    gen = torch.Generator().manual_seed(seed)
    c, h, w = shape
    v = GELRVariables.zeros(b, c, h, w)
    return GELRVariables(**{n: torch.randn(getattr(v, n).shape, generator=gen)
                            for n in GELRVariables.NAMES})


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view({2: torch.int16, 4: torch.int32, 1: torch.uint8}[t.element_size()])


def _make(backend: str, tmp: Path, **kw) -> GELRState:
    extra = dict(COMPACT) if kw.get("representation") == "compact" else {}
    return GELRState(5, (3, 8, 6), backend=backend, directory=tmp / backend, **extra, **kw)


def test_sizes_match_gelr_math_section_7():
    """27 MiB (full float32), 13.5 MiB (full float16), 7.5 MiB (compact float16) per 3x512^2."""
    assert state_nbytes(1, (3, 512, 512), "full", "float32") == 27 * MiB
    assert state_nbytes(1, (3, 512, 512), "full", "float16") == 13.5 * MiB
    assert state_nbytes(1, (3, 512, 512), "compact", "float16") == 7.5 * MiB
    assert field_shapes("compact", (3, 4, 5)) == {
        "T": (3, 4, 5), "v_d": (3, 2, 4, 5), "w_t": (3, 2, 4, 5)
    }


def test_encode_decode_full_is_identity_and_compact_rebuilds_d():
    v = _random_vars(2)
    back = decode(encode(v, "full"), "full")
    assert all(torch.equal(getattr(v, n), getattr(back, n)) for n in GELRVariables.NAMES)
    comp = encode(v, "compact")
    assert set(comp) == {"T", "v_d", "w_t"}
    dec = decode(comp, "compact", **COMPACT)
    # d = shrink(v_d), eta_d = v_d - d: the pair is re-split, the sum is preserved
    torch.testing.assert_close(dec.d + dec.eta_d, v.d + v.eta_d)
    assert float(dec.eta_d.abs().max()) <= 0.4 + 1e-6
    torch.testing.assert_close(dec.t + dec.eta_t, v.t + v.eta_t)


@pytest.mark.parametrize("backend", ["memory", "cpu", "disk"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_write_read_is_exact_in_storage_dtype(tmp_path, backend, dtype):
    st = _make(backend, tmp_path, dtype=dtype)
    v = _random_vars(3, seed=1)
    st.write([4, 0, 2], v)
    got = st.read([0, 2, 4, 1])
    cast = torch.float16 if dtype == "float16" else torch.float32
    for n in GELRVariables.NAMES:
        want = getattr(v, n).to(cast).float()
        assert torch.equal(getattr(got, n)[:3], want[[1, 2, 0]])
        assert float(getattr(got, n)[3].abs().max()) == 0.0  # never visited: zeros
    assert st.visited.tolist() == [True, False, True, False, True]
    assert st.num_visited == 3


def test_duplicate_indices_keep_last_and_bad_input_is_refused(tmp_path):
    st = _make("memory", tmp_path)
    v = _random_vars(3, seed=2)
    st.write([1, 3, 1], v)
    torch.testing.assert_close(st.read([1]).T[0], v.T[2])
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        st.read([5])
    with pytest.raises(ValueError, match="fixed geometry"):
        st.write([0], _random_vars(1, shape=(3, 8, 8)))
    with pytest.raises(ValueError, match="gelr.backend"):
        GELRState(2, (1, 4, 4), backend="gpu")
    with pytest.raises(ValueError, match="needs tau_d"):
        GELRState(2, (1, 4, 4), representation="compact")


def test_choose_backend_rule():
    dev = torch.device("cuda", 0)
    assert choose_backend(GiB, dev, free_device_bytes=4 * GiB, free_ram_bytes=8 * GiB)[0] == (
        "memory"
    )
    assert choose_backend(3 * GiB, dev, free_device_bytes=4 * GiB, free_ram_bytes=8 * GiB)[0] == (
        "cpu"
    )
    assert choose_backend(5 * GiB, dev, free_device_bytes=4 * GiB, free_ram_bytes=8 * GiB)[0] == (
        "disk"
    )
    # the budget caps both in-memory choices
    b, reason = choose_backend(GiB, dev, memory_budget_gb=0.5, free_device_bytes=4 * GiB,
                               free_ram_bytes=8 * GiB)
    assert b == "disk"
    assert "budget" in reason
    # on a CPU run "memory" is host RAM
    assert choose_backend(GiB, "cpu", free_ram_bytes=8 * GiB)[0] == "memory"
    assert choose_backend(GiB, "cpu", free_ram_bytes=GiB)[0] == "disk"


@pytest.mark.parametrize(
    ("backend", "kw"),
    [("memory", {}), ("cpu", {"dtype": "float16", "representation": "compact"}),
     ("disk", {"dtype": "float16"})],
)
def test_state_dict_round_trip_in_process(tmp_path, backend, kw):
    st = _make(backend, tmp_path / "a", **kw)
    st.write([3, 1], _random_vars(2, seed=3))
    path = tmp_path / "ckpt.pt"
    torch.save(st.state_dict(), path)
    st.write([0], _random_vars(1, seed=4))  # later changes must not leak into the checkpoint
    new = _make(backend, tmp_path / "b", **kw)
    new.load_state_dict(torch.load(path, weights_only=True))
    assert new.visited.tolist() == [False, True, False, True, False]
    for f in new.shapes:
        old_f = st.storage.export(f).clone()
        old_f[0] = 0
        assert torch.equal(_bits(new.storage.export(f)), _bits(old_f))


def test_load_refuses_mismatched_state(tmp_path):
    st = _make("memory", tmp_path)
    sd = st.state_dict()
    other = _make("memory", tmp_path, dtype="float16")
    with pytest.raises(ValueError, match="dtype"):
        other.load_state_dict(sd)
    disk = _make("disk", tmp_path)
    sd = disk.state_dict()
    Path(sd["file"]).unlink()
    with pytest.raises(ValueError, match="does not exist"):
        _make("disk", tmp_path / "c").load_state_dict(sd)


def test_snapshot_is_atomic_and_pruned(tmp_path, monkeypatch, caplog):
    st = _make("disk", tmp_path, keep_snapshots=2)
    st.write([0], _random_vars(1, seed=5))
    first = st.write_snapshot(tmp_path / "disk" / "gelr-state-a.npys")
    good = first.read_bytes()

    calls = {"n": 0}
    real = state_mod._write_npy_stream

    def crash_after_first(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("simulated crash while writing")
        return real(*args, **kwargs)

    monkeypatch.setattr(state_mod, "_write_npy_stream", crash_after_first)
    st.write([1], _random_vars(1, seed=6))
    with pytest.raises(OSError, match="simulated crash"):
        st.write_snapshot(first)
    monkeypatch.undo()
    assert first.read_bytes() == good  # the old snapshot is untouched
    assert not list(first.parent.glob("*.tmp-*"))  # no partial file left behind

    with caplog.at_level(logging.INFO, logger="rpaf.gelr.state"):
        for _ in range(3):
            st.state_dict()
    assert "snapshot written" in caplog.text
    assert len(list((tmp_path / "disk").glob("gelr-state-*.npys"))) == 2


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import torch
    from rpaf.gelr.state import GELRState, GELRVariables

    phase, root = sys.argv[1], Path(sys.argv[2])
    CONFIGS = {
        "memory": dict(backend="memory"),
        "cpu16c": dict(backend="cpu", dtype="float16", representation="compact",
                       tau_d=0.4, tau_t=0.6, rank=2),
        "disk32": dict(backend="disk"),
        "disk16c": dict(backend="disk", dtype="float16", representation="compact",
                        tau_d=0.4, tau_t=0.6, rank=2),
    }

    def make(name, work):
        return GELRState(9, (3, 20, 16), directory=root / work / name, **CONFIGS[name])

    def dump(st):
        out = {f: st.storage.export(f).clone() for f in st.shapes}
        out["visited"] = st.visited.clone()
        return out

    gen = torch.Generator().manual_seed(0)
    if phase == "save":
        states = {}
        for name in CONFIGS:
            st = make(name, "work_save")
            for _ in range(3):
                idx = torch.randperm(9, generator=gen)[:4]
                v = GELRVariables.zeros(4, 3, 20, 16)
                v = GELRVariables(**{n: torch.randn(getattr(v, n).shape, generator=gen)
                                     for n in GELRVariables.NAMES})
                st.write(idx, v)
            torch.save({"callbacks": {"GELRCallback": {"state": st.state_dict()}}},
                       root / f"{name}.ckpt")
            torch.save(dump(st), root / f"{name}.expected.pt")
            states[name] = st
        # keep training after the checkpoint, then die without any cleanup
        for name, st in states.items():
            st.write(torch.arange(9), GELRVariables(
                **{n: torch.full_like(getattr(GELRVariables.zeros(9, 3, 20, 16), n), 7.0)
                   for n in GELRVariables.NAMES}))
            st.storage.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        for name in CONFIGS:
            st = make(name, "work_load")
            ckpt = torch.load(root / f"{name}.ckpt", weights_only=True)
            st.load_state_dict(ckpt["callbacks"]["GELRCallback"]["state"])
            torch.save(dump(st), root / f"{name}.got.pt")
    """
)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="uses SIGKILL")
def test_resume_after_kill_is_bit_identical_for_every_backend(tmp_path):
    """save -> SIGKILL -> new process -> load gives the checkpointed bits, for every backend."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    saved = subprocess.run([sys.executable, str(script), "save", str(tmp_path)], env=env,
                           capture_output=True, text=True, timeout=120)
    assert saved.returncode == -9, saved.stderr  # it really was killed
    loaded = subprocess.run([sys.executable, str(script), "load", str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    for name in ("memory", "cpu16c", "disk32", "disk16c"):
        want = torch.load(tmp_path / f"{name}.expected.pt", weights_only=True)
        got = torch.load(tmp_path / f"{name}.got.pt", weights_only=True)
        assert set(want) == set(got)
        assert int(want["visited"].sum()) > 0
        for key in want:
            assert want[key].dtype == got[key].dtype, (name, key)
            assert torch.equal(_bits(want[key]), _bits(got[key])), (name, key)
    # the disk checkpoints point at durable snapshot files, not at the (dirty) working files
    sd = torch.load(tmp_path / "disk32.ckpt", weights_only=True)["callbacks"]["GELRCallback"]
    assert sd["state"]["storage"] == "file"
    assert Path(sd["state"]["file"]).is_file()
