"""Lightning callbacks of rpaf.

* :class:`GELRCallback`: per-sample GELR variables and the Algorithm-2 update
  (``conf/gelr/*.yaml``).
* :class:`ImagePanelLogger`: input | output | target panels for any logger
  (``conf/callbacks/default.yaml``).
"""

from rpaf.callbacks.gelr import GELRCallback
from rpaf.callbacks.images import ImagePanelLogger

__all__ = ["GELRCallback", "ImagePanelLogger"]
