"""Small shared utilities: run metadata, atomic file writes."""

from rpaf.utils.runinfo import atomic_write_json, atomic_write_text, git_sha, run_metadata

__all__ = ["atomic_write_json", "atomic_write_text", "git_sha", "run_metadata"]
