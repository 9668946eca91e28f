"""Smoothing applications of the paper's appendix C, as functions and as ``rpaf-app``.

One module per application, each with pure tensor functions and a ``run(cfg, smoothers, images,
out_dir)`` that writes PNGs (and logs them to wandb when a run is active):

* :mod:`rpaf.apps.detail`: detail enhancement ``g + k (g - u)`` (Figs. 15-16);
* :mod:`rpaf.apps.stylize`: abstraction from quantised smoothed colours and edges (Fig. 17);
* :mod:`rpaf.apps.jpeg`: JPEG q=10 artefact removal with PSNR/SSIM (Fig. 18, Table 7);
* :mod:`rpaf.apps.profile`: 1-D input/smoothed intensity profiles (Fig. 5);
* :mod:`rpaf.apps.spectrum`: FFT log-magnitude spectra against gridding (Fig. 19);
* :mod:`rpaf.apps.compare`: labelled comparison grids with zoomed insets (Figs. 4, 20).

:mod:`rpaf.apps.common` loads smoothers (``conf/method/<name>.yaml`` or a checkpoint), reads
inputs and writes outputs; :mod:`rpaf.apps.cli` is the ``rpaf-app`` command.
"""

from rpaf.apps.common import (
    APP_NAMES,
    AppError,
    InputImage,
    load_app_config,
    load_smoother,
    load_smoothers,
    read_inputs,
)

__all__ = [
    "APP_NAMES",
    "AppError",
    "InputImage",
    "load_app_config",
    "load_smoother",
    "load_smoothers",
    "read_inputs",
]
