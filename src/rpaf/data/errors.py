"""The one exception type raised for bad datasets and image files, and a checked number."""

from __future__ import annotations

__all__ = ["DatasetError", "check_number"]


def check_number(value: object, key: str, lo: float, hi: float, meaning: str) -> float:
    """``value`` as a float if it is a number in [lo, hi], else a ValueError naming ``key``,
    the allowed range and ``meaning`` (what the setting does)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{key}={value!r}: give a number in [{lo:g}, {hi:g}] ({meaning})"
                         ) from None
    if not lo <= v <= hi:
        raise ValueError(f"{key}={v:g}: need {lo:g} <= {key} <= {hi:g} ({meaning})")
    return v


class DatasetError(ValueError):
    """A dataset folder or image file cannot be used as asked.

    The message always names the path (or file names) at fault and says what to do.
    """
