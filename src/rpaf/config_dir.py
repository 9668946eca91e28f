"""Where the Hydra configs live: the repository's ``conf/`` (rpaf is used from a clone).

Set ``RPAF_CONFIG_DIR`` to use another config tree (e.g. a copy of ``conf/`` with your own groups).
Importing this module also registers rpaf's OmegaConf resolvers (:mod:`rpaf.config_resolvers`),
which the configs use: every entry point that composes them imports ``CONFIG_DIR`` from here.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR = str(
    Path(os.environ.get("RPAF_CONFIG_DIR", Path(__file__).resolve().parents[2] / "conf")).resolve()
)

if not Path(CONFIG_DIR, "train.yaml").is_file():  # pragma: no cover - only on broken installs
    raise ImportError(
        f"rpaf's Hydra configs were not found at {CONFIG_DIR}: install rpaf from a clone with "
        f"`pip install -e .` (or `make install`), or set RPAF_CONFIG_DIR to a folder with "
        f"train.yaml"
    )

from rpaf.config_resolvers import register_resolvers  # noqa: E402 - after the check above

register_resolvers()
