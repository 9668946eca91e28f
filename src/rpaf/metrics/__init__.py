"""Evaluation metrics: full-reference, no-reference (pyiqa), BLIINDS-II and structural.

* :func:`psnr`, :func:`ssim`, :class:`MetricConvention` — torchmetrics with an explicit data
  range, border crop and RGB / BT.601-Y colour space (:mod:`rpaf.metrics.full_reference`).
* :class:`NoReferenceMetrics` — BRISQUE, NIQE, PIQE, ILNIQE via pyiqa, offline parameter
  directory support (:mod:`rpaf.metrics.no_reference`).
* :class:`BLIINDS2`, :func:`bliinds2_score` — numpy port of BLIINDS-II
  (:mod:`rpaf.metrics.bliinds2`).
* :func:`edge_psnr_ssim`, :class:`CannySettings` — structural evaluation of paper Table 11
  (:mod:`rpaf.metrics.structural`).
* :class:`MetricSuite` — all of the above per batch (:mod:`rpaf.metrics.suite`).
* :func:`edge_mask`, :func:`gaussian_blur` — the GT's edge band / flat regions and the band
  split of the flat-region scores and of the ``flat_fine`` loss term (:mod:`rpaf.metrics.regions`).

pyiqa is imported only when a no-reference metric is first used.
"""

from rpaf.metrics.bliinds2 import BLIINDS2, BLIINDS2Model, bliinds2_features, bliinds2_score
from rpaf.metrics.full_reference import MetricConvention, psnr, rgb_to_y_bt601, ssim
from rpaf.metrics.no_reference import NoReferenceMetrics
from rpaf.metrics.regions import edge_mask, gaussian_blur
from rpaf.metrics.structural import CannySettings, canny_edges, edge_psnr_ssim
from rpaf.metrics.suite import MetricSuite

__all__ = [
    "BLIINDS2",
    "BLIINDS2Model",
    "CannySettings",
    "MetricConvention",
    "MetricSuite",
    "NoReferenceMetrics",
    "bliinds2_features",
    "bliinds2_score",
    "canny_edges",
    "edge_mask",
    "edge_psnr_ssim",
    "gaussian_blur",
    "psnr",
    "rgb_to_y_bt601",
    "ssim",
]
