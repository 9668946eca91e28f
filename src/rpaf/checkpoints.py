"""Load trained networks from Lightning checkpoints, safely.

Checkpoints are opened with ``torch.load(weights_only=True)``: an untrusted file cannot execute
code. rpaf checkpoints hold only tensors and plain containers (the resolved run config is stored
as plain dicts by :class:`rpaf.lit.LitRPAF`), so this always works for them.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, truncated, unsafe or not an rpaf checkpoint."""


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint dict with ``weights_only=True``.

    Raises:
        CheckpointError: naming the file, when it is missing, empty, truncated/corrupt, or holds
            objects that ``weights_only`` loading refuses.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: pass the path of a .ckpt file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): the write was interrupted")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"checkpoint {path} contains objects that are not allowed with weights_only=True "
            f"(refused for safety; only load it with weights_only=False if you trust its source): "
            f"{err}"
        ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {err}); "
            f"use another checkpoint (e.g. last.ckpt or an earlier epoch)"
        ) from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"checkpoint {path} has no 'state_dict': not a Lightning checkpoint")
    return ckpt


#: RPAFNet config keys added after networks had been trained, with the value that rebuilds a
#: network written before the key existed: ``drl_fusion`` (those networks fused [p, DRL(p, e)]),
#: ``encoder_norm`` (no encoder normalisation), ``refine_kernel``/``refine_eps`` (no output
#: filter). Filling them in makes old and new checkpoints of one architecture compare equal.
RPAFNET_KEYS_ADDED_LATER: dict[str, Any] = {
    "drl_fusion": "replace",
    "encoder_norm": "none",
    "refine_kernel": 0,
    "refine_eps": 1.0e-3,
}


def model_config(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> dict[str, Any]:
    """The ``model`` config (with ``_target_``) stored by :class:`rpaf.lit.LitRPAF`."""
    try:
        cfg = ckpt["hyper_parameters"]["config"]["model"]
    except (KeyError, TypeError) as err:
        raise CheckpointError(
            f"checkpoint {path} has no hyper_parameters.config.model: it was not written by "
            f"rpaf-train, so the network cannot be rebuilt from it"
        ) from err
    cfg = dict(cfg)
    if str(cfg.get("_target_", "")).endswith("RPAFNet"):
        for key, value in RPAFNET_KEYS_ADDED_LATER.items():
            cfg.setdefault(key, value)
    return cfg


def net_state(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> dict[str, Any]:
    """The network's weights (``net.*`` of :class:`rpaf.lit.LitRPAF`), prefix removed.

    Raises:
        CheckpointError: naming the file, when the checkpoint holds no ``net.*`` weights.
    """
    prefix = "net."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    if not state:
        raise CheckpointError(f"checkpoint {path} has no 'net.*' weights")
    return state


#: Model keys that change inference only (no parameters), so they may differ from the stored
#: config when a trained network is loaded (:func:`load_network`'s ``overrides``).
INFERENCE_MODEL_KEYS: tuple[str, ...] = ("refine_kernel", "refine_eps", "infer_chunk")


def load_network(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    overrides: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Rebuild the trained network of an rpaf checkpoint, in eval mode.

    Args:
        path: A ``.ckpt`` written by ``rpaf-train``.
        map_location: Device for the weights.
        overrides: Model keys to change from the stored config, among
            :data:`INFERENCE_MODEL_KEYS` (e.g. ``{"refine_kernel": 9}`` adds the self-guided
            output filter to a network trained without it).

    Returns:
        The network (``net`` of :class:`rpaf.lit.LitRPAF`) with its trained weights.

    Raises:
        CheckpointError: For an unreadable checkpoint, a key outside
            :data:`INFERENCE_MODEL_KEYS`, or weights that do not match the config.
    """
    from rpaf.builders import build_net_from_dict

    ckpt = load_checkpoint(path, map_location)
    config = dict(model_config(ckpt, path))
    for key, value in (overrides or {}).items():
        if key not in INFERENCE_MODEL_KEYS:
            raise CheckpointError(
                f"model override {key!r} for {path} is not allowed: only the inference keys "
                f"{list(INFERENCE_MODEL_KEYS)} may differ from the trained network's config")
        config[key] = value
    net = build_net_from_dict(config)
    state = net_state(ckpt, path)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not match its model config: {err}") from err
    return net.to(map_location).eval()


def load_init_weights(net: nn.Module, path: str | Path) -> nn.Module:
    """Copy the trained network weights of an rpaf checkpoint into ``net`` (fine-tuning).

    Only the weights move: the optimiser, learning-rate schedule, GELR per-sample state and the
    loop position start afresh (``ckpt_path`` resumes all of them instead). The checkpoint's
    network must have the same architecture as ``net``.

    Args:
        net: The freshly built network of the run (``cfg.model``).
        path: A ``.ckpt`` written by ``rpaf-train``.

    Returns:
        ``net``, with the checkpoint's weights.

    Raises:
        CheckpointError: naming the file, when it cannot be read, has no network weights, or its
            network does not match ``net`` (the mismatching parameter names are listed).
    """
    state = net_state(load_checkpoint(path, "cpu"), path)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected),
                           ("with another shape", shapes)):
            if keys:
                more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
                parts.append(f"{what}: {', '.join(keys[:5])}{more}")
        raise CheckpointError(
            f"init_weights={path}: its network does not match this run's model config "
            f"({'; '.join(parts)}); use the same model overrides as the run that wrote it"
        )
    net.load_state_dict(state)
    return net


def interpolate_states(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor],
                       alpha: float) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * a + alpha * b`` for float tensors, ``b``'s value for the others.

    Weight-space ensembling of a network ``a`` and its fine-tune ``b`` (robust fine-tuning by
    weight interpolation, Wortsman et al., CVPR 2022; not in the paper). Integer buffers (e.g.
    BatchNorm's batch counter) are taken from ``b``. The result is on ``a``'s devices/dtypes.

    Raises:
        CheckpointError: when ``alpha`` lies outside [0, 1] (extrapolation is refused) or the two
            states do not hold the same keys and shapes.
    """
    if not 0.0 <= alpha <= 1.0:
        raise CheckpointError(f"interpolation weight alpha={alpha!r} must lie in [0, 1]")
    if set(a) != set(b):
        diff = sorted(set(a) ^ set(b))
        raise CheckpointError(f"the two networks differ in their parameters: {diff[:5]}")
    out = {}
    for key, va in a.items():
        vb = b[key]
        if va.shape != vb.shape:
            raise CheckpointError(
                f"parameter {key} has shape {tuple(va.shape)} in A and {tuple(vb.shape)} in B")
        vb = vb.to(device=va.device, dtype=va.dtype)
        out[key] = torch.lerp(va, vb, alpha) if va.is_floating_point() else vb.clone()
    return out


def weights_checkpoint(state: Mapping[str, torch.Tensor], hyper_parameters: Any,
                       **info: Any) -> dict[str, Any]:
    """A weights-only checkpoint dict that :func:`load_network` (``rpaf-eval``) reads.

    Args:
        state: The network's state dict (without the ``net.`` prefix).
        hyper_parameters: The ``hyper_parameters`` of the run that built the network (its
            stored config rebuilds the architecture).
        **info: Extra top-level entries (e.g. ``interpolation={...}``: how it was made).

    No optimiser, schedule or loop state: such a checkpoint cannot be resumed.
    """
    return {"state_dict": {f"net.{k}": v.detach().cpu() for k, v in state.items()},
            "hyper_parameters": hyper_parameters, **info}
