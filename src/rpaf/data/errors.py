"""The one exception type raised for bad datasets and image files."""

from __future__ import annotations

__all__ = ["DatasetError"]


class DatasetError(ValueError):
    """A dataset folder or image file cannot be used as asked.

    The message always names the path (or file names) at fault and says what to do.
    """
