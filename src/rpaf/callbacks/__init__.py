"""Lightning callbacks of rpaf.

* :class:`GELRCallback`: per-sample GELR variables and the Algorithm-2 update
  (``conf/gelr/*.yaml``).
* :class:`EMAWeights`: exponential moving average of the weights (``callbacks=ema``).
* :class:`ImagePanelLogger`: input | output | target panels for any logger
  (``conf/callbacks/default.yaml``).
"""

from rpaf.callbacks.ema import EMAWeights
from rpaf.callbacks.gelr import GELRCallback
from rpaf.callbacks.images import ImagePanelLogger

__all__ = ["EMAWeights", "GELRCallback", "ImagePanelLogger"]
