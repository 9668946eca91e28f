"""Data: synthetic texture-over-structure pairs, dataset readers and LightningDataModules.

Public names: :class:`DatasetError`, :class:`PairedFolderDataset`, the DataModules
(:class:`SyntheticDataModule`, :class:`SPSDataModule`, :class:`NKSDataModule`,
:class:`ECSDataModule`, :class:`RTVDataModule`, :class:`PairedFolderDataModule`),
:func:`make_pair`, :func:`read_image`, :func:`write_image`.

Names are imported on first use (PEP 562), so ``rpaf.data.imageio`` and the ``rpaf-make-data``
script start without importing Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "DatasetError": "errors",
    "PairedFolderDataset": "folders",
    "make_pair": "synthetic",
    "SyntheticPairDataset": "synthetic",
    "read_image": "imageio",
    "write_image": "imageio",
    **{name: "datamodules" for name in (
        "ECSDataModule", "NKSDataModule", "PairedFolderDataModule", "RTVDataModule",
        "SPSDataModule", "SyntheticDataModule",
    )},
}
__all__ = [
    "DatasetError",
    "ECSDataModule",
    "NKSDataModule",
    "PairedFolderDataModule",
    "PairedFolderDataset",
    "RTVDataModule",
    "SPSDataModule",
    "SyntheticDataModule",
    "SyntheticPairDataset",
    "make_pair",
    "read_image",
    "write_image",
]

if TYPE_CHECKING:  # pragma: no cover
    from rpaf.data.datamodules import (
        ECSDataModule,
        NKSDataModule,
        PairedFolderDataModule,
        RTVDataModule,
        SPSDataModule,
        SyntheticDataModule,
    )
    from rpaf.data.errors import DatasetError
    from rpaf.data.folders import PairedFolderDataset
    from rpaf.data.imageio import read_image, write_image
    from rpaf.data.synthetic import SyntheticPairDataset, make_pair


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'rpaf.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rpaf.data.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
