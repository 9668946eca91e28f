"""Shared plumbing of the ``rpaf-app`` applications.

* :func:`load_app_config`: the defaults of one application (``conf/app/<name>.yaml``, composed
  with Hydra) plus ``key=value`` overrides;
* :func:`load_smoother`: a :class:`rpaf.evaluation.Smoother` for a classical method
  (``conf/method/<name>.yaml`` or a YAML file) or an ``rpaf-train`` checkpoint;
* :func:`read_inputs`: images as (1, 3, H, W) tensors, failing with the file name when one
  cannot be read;
* :func:`save_png`, :func:`save_figure`: PNG output (images and matplotlib figures);
* :func:`log_to_wandb`: send written PNGs to wandb when a run is active (no-op otherwise).

Figures are built as ``matplotlib.figure.Figure`` objects without pyplot, so they render with
the Agg canvas on headless machines, never open windows and leave pyplot's global state alone
(in a notebook, ``display(fig)`` shows them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from rpaf.evaluation import Smoother

__all__ = [
    "APP_NAMES",
    "AppError",
    "InputImage",
    "available_methods",
    "conf_dir",
    "load_app_config",
    "load_smoother",
    "load_smoothers",
    "log_to_wandb",
    "read_inputs",
    "resolve_device",
    "save_figure",
    "save_png",
    "slug",
    "smooth",
    "smoothed_outputs",
    "wandb_active",
]

#: The applications of ``rpaf-app`` (one module each in :mod:`rpaf.apps`).
APP_NAMES: tuple[str, ...] = ("detail", "stylize", "jpeg", "profile", "spectrum", "compare")


class AppError(ValueError):
    """An application cannot run as asked; the message names the file, key or value and the fix."""


@dataclass
class InputImage:
    """One input image of an application.

    Attributes:
        name: Unique short name used in output file names (the file stem, de-duplicated).
        path: The file it was read from (``None`` for in-memory images).
        image: (1, 3, H, W) float32 tensor in [0, 1].
    """

    name: str
    path: Path | None
    image: Tensor

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the image."""
        return int(self.image.shape[-2]), int(self.image.shape[-1])


# --------------------------------------------------------------------------------------- config
def conf_dir() -> Path:
    """The project's ``conf/`` folder (:data:`rpaf.config_dir.CONFIG_DIR`; ``$RPAF_CONFIG_DIR``).

    Raises:
        AppError: When the folder does not exist (e.g. a non-editable install).
    """
    try:
        from rpaf.config_dir import CONFIG_DIR
    except ImportError as err:
        raise AppError(str(err)) from err
    return Path(CONFIG_DIR)


def load_app_config(name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``conf/app/<name>.yaml`` (which inherits ``conf/app/default.yaml``) with overrides.

    Args:
        name: One of :data:`APP_NAMES`.
        overrides: Hydra override strings, e.g. ``["k=5", "methods=[rtv,l0]"]``.

    Returns:
        The composed config (struct mode: unknown keys are errors).

    Raises:
        AppError: Unknown application, or an override that does not match the config.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if name not in APP_NAMES:
        raise AppError(f"unknown application {name!r}: choose one of {', '.join(APP_NAMES)}")
    app_dir = conf_dir() / "app"
    if not (app_dir / f"{name}.yaml").is_file():
        raise AppError(f"{app_dir / (name + '.yaml')} is missing: restore it from the repository")
    try:
        with initialize_config_dir(config_dir=str(app_dir), version_base="1.3"):
            cfg = compose(config_name=name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise AppError(
            f"bad override for application {name!r} ({' '.join(overrides)}): {err}. "
            f"See {app_dir / (name + '.yaml')} for the valid keys"
        ) from err
    return cfg


def available_methods() -> list[str]:
    """Names of the classical methods configured in ``conf/method/``."""
    try:
        folder = conf_dir() / "method"
    except AppError:
        return []
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def resolve_device(name: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; anything else is passed to ``torch.device``."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise AppError(f"device={name!r} is not valid: use auto, cpu, cuda or cuda:N") from err


# ------------------------------------------------------------------------------------ smoothers
def _method_node(method: str | Mapping[str, Any] | DictConfig) -> DictConfig:
    """The ``_target_`` node of a method name, YAML file or mapping."""
    if isinstance(method, (Mapping, DictConfig)):
        return OmegaConf.create(dict(method)) if isinstance(method, Mapping) else method
    path = Path(method)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise AppError(f"method config {path} does not exist")
        return OmegaConf.load(path)  # type: ignore[return-value]
    folder = conf_dir() / "method"
    file = folder / f"{method}.yaml"
    if not file.is_file():
        known = ", ".join(available_methods()) or "none configured yet"
        raise AppError(
            f"unknown method {method!r}: no {file}. Known methods: {known}; or pass a YAML file "
            f"with a _target_ (e.g. --method my_filter.yaml)"
        )
    node = OmegaConf.load(file)
    if isinstance(node, DictConfig) and "defaults" in node:
        # Variants inherit (`defaults: [tv]`): compose them with Hydra to resolve the list.
        from hydra import compose, initialize_config_dir

        with initialize_config_dir(config_dir=str(folder), version_base="1.3"):
            node = compose(config_name=method)
    return node  # type: ignore[return-value]


def load_smoother(
    method: str | Mapping[str, Any] | DictConfig | None = None,
    ckpt: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
    tile: int | None = None,
    overlap: int = 64,
) -> Smoother:
    """A smoother from exactly one of a classical method or a checkpoint.

    Args:
        method: A name from ``conf/method/`` (e.g. ``"rtv"``), a path to a YAML file with a
            ``_target_``, or such a node as a mapping. The built object must be callable on
            (B, 3, H, W) tensors.
        ckpt: A ``.ckpt`` written by ``rpaf-train`` (loaded with ``weights_only=True``).
        device: Where a network runs (``"auto"``, ``"cpu"``, ``"cuda"``...).
        tile: Tile size for tiled network inference on large images (``None``: whole image).
        overlap: Tile overlap in pixels.

    Returns:
        A :class:`rpaf.evaluation.Smoother` mapping (B, 3, H, W) -> (B, 3, H, W) in [0, 1].

    Raises:
        AppError: Neither or both given, unknown method, or a checkpoint that cannot be used.
    """
    from rpaf.builders import ConfigError, build_method
    from rpaf.evaluation import Smoother

    if (method is None) == (ckpt is None):
        raise AppError("give exactly one of a method (--method NAME) or a checkpoint (--ckpt PATH)")
    dev = resolve_device(device)
    if ckpt is not None:
        from rpaf.checkpoints import CheckpointError, load_network

        try:
            net = load_network(ckpt, map_location=dev)
        except CheckpointError as err:
            raise AppError(str(err)) from err
        return Smoother(net, name=f"RPAFNet ({Path(ckpt).stem})", tile=tile, overlap=overlap)
    node = _method_node(method)  # type: ignore[arg-type]
    try:
        fn = build_method(node, key=f"method ({method if isinstance(method, str) else 'node'})")
    except ConfigError as err:
        raise AppError(str(err)) from err
    if not callable(fn):
        raise AppError(f"method {method!r} built a {type(fn).__name__}, which is not callable")
    if isinstance(fn, torch.nn.Module):
        fn = fn.to(dev).eval()
    name = getattr(fn, "name", None)
    if not isinstance(name, str):
        name = Path(method).stem if isinstance(method, str) else type(fn).__name__
    return Smoother(fn, name=name)


def load_smoothers(
    methods: Iterable[str] = (),
    ckpts: Iterable[str | Path] = (),
    *,
    device: str | torch.device = "cpu",
    tile: int | None = None,
    overlap: int = 64,
) -> list[Smoother]:
    """Smoothers for every method name and checkpoint, in that order (at least one needed).

    Raises:
        AppError: When nothing is given, or one of them cannot be built.
    """
    out = [load_smoother(m, device=device, tile=tile, overlap=overlap) for m in methods or ()]
    out += [load_smoother(ckpt=c, device=device, tile=tile, overlap=overlap) for c in ckpts or ()]
    if not out:
        known = ", ".join(available_methods()) or "see conf/method/"
        raise AppError(
            f"no smoother given: pass --method NAME (known: {known}) or --ckpt PATH "
            f"(a checkpoint written by rpaf-train)"
        )
    return out


def smooth(smoother: Smoother, image: Tensor) -> Tensor:
    """Run ``smoother`` on (B, 3, H, W) ``image`` on the smoother's device; result on ``image``'s.

    Raises:
        AppError: For methods that need the ground truth (they cannot smooth a new image).
    """
    if smoother.needs_target:
        raise AppError(
            f"method {smoother.name!r} needs the ground-truth image (needs_target=True, e.g. the "
            f"standalone GELR solver), so it cannot be used by the applications; choose another"
        )
    fn = smoother.fn
    dev = image.device
    if isinstance(fn, torch.nn.Module):
        p = next(iter(fn.parameters()), None)
        if p is not None:
            dev = p.device
    return smoother(image.to(dev)).to(image.device, torch.float32)


# ------------------------------------------------------------------------------------ inputs
def read_inputs(paths: Sequence[str | Path]) -> list[InputImage]:
    """Read every image file as a (1, 3, H, W) float32 tensor in [0, 1].

    Names are the file stems, made unique (``a``, ``a_2``...) when two files share one.

    Raises:
        AppError: Naming the first file that is missing, empty, truncated or not an image.
    """
    from rpaf.data.errors import DatasetError
    from rpaf.data.imageio import read_image, to_tensor

    if not paths:
        raise AppError("no input images given")
    out: list[InputImage] = []
    seen: set[str] = set()
    for item in paths:
        path = Path(item)
        if path.is_dir():
            raise AppError(f"{path} is a folder: pass image files (e.g. {path}/*.png)")
        try:
            arr = read_image(path)
        except DatasetError as err:
            raise AppError(f"cannot read input image: {err}") from err
        name, n = slug(path.stem), 2
        base = name
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        out.append(InputImage(name=name, path=path, image=to_tensor(arr)[None]))
    return out


def as_batch(image: Tensor | Any) -> Tensor:
    """A (H, W, 3) array, (3, H, W) or (1, 3, H, W) tensor as (1, 3, H, W) float32."""
    t = image if isinstance(image, Tensor) else torch.as_tensor(image).permute(2, 0, 1)
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] != 3:
        raise AppError(f"expected an RGB image (1, 3, H, W), got shape {tuple(t.shape)}")
    return t.float()


# ------------------------------------------------------------------------------------ outputs
def slug(text: str) -> str:
    """A file-name-safe version of ``text`` (method and image names in output paths)."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return s or "x"


def save_png(path: str | Path, image: Tensor) -> Path:
    """Write a (3, H, W), (1, 3, H, W) or (1, H, W) tensor in [0, 1] as an 8-bit PNG (clipped)."""
    from rpaf.data.imageio import write_image

    t = image.detach().float().cpu()
    if t.ndim == 4:
        t = t[0]
    if t.ndim == 3 and t.shape[0] == 1:
        t = t[0]
    return write_image(Path(path), t.numpy() if t.ndim == 2 else t.clamp(0, 1))


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save a matplotlib figure as PNG (Agg canvas; works without a display)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def wandb_active() -> bool:
    """Whether a wandb run is active in this process."""
    try:
        import wandb
    except ImportError:  # pragma: no cover - wandb is a dependency
        return False
    return wandb.run is not None


def log_to_wandb(images: Mapping[str, str | Path], prefix: str = "app") -> bool:
    """Log PNG files as ``wandb.Image`` under ``{prefix}/{key}`` when a wandb run is active.

    Args:
        images: Key -> PNG path.
        prefix: Key prefix (the application name).

    Returns:
        True when something was logged, False when no run is active.
    """
    if not images or not wandb_active():
        return False
    import wandb

    wandb.log({f"{prefix}/{k}": wandb.Image(str(v)) for k, v in images.items()})
    return True


def smoothed_outputs(
    smoothers: Sequence[Smoother], images: Sequence[InputImage]
) -> dict[str, dict[str, Tensor]]:
    """``{smoother name: {image name: u (1, 3, H, W)}}`` for every pair."""
    return {s.name: {im.name: smooth(s, im.image) for im in images} for s in smoothers}
