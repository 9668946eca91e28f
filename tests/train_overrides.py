"""Overrides shared by the tests that train: the smallest run (seconds on one CPU thread).

Importable from any test (``pythonpath = ["tests"]`` in ``pyproject.toml``).
"""

from __future__ import annotations

#: ``experiment=smoke`` on 8 training images of 32 px, no loggers, progress bar or image panels,
#: deterministic, without the test and evaluation after training.
TINY_TRAIN: tuple[str, ...] = (
    "experiment=smoke",
    "logger=[]",
    "callbacks.progress_bar=null",
    "callbacks.image_panels=null",
    "trainer.enable_model_summary=false",
    "trainer.deterministic=true",
    "data.n_train=8",
    "data.size=32",
    "test=false",
    "evaluate=false",
)
