"""Strip outputs, execution counts and run metadata from notebooks (keep git diffs clean).

Usage::

    python tools/strip_notebooks.py                   # strip notebooks/*.ipynb in place
    python tools/strip_notebooks.py --check           # exit 1 and list notebooks with outputs
    python tools/strip_notebooks.py a.ipynb b.ipynb   # only these files
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

#: Cell metadata keys written by Jupyter/nbclient when running (not authored content).
RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
#: Notebook metadata keys that depend on the machine that ran it.
NOTEBOOK_RUN_METADATA = ("widgets", "varInspector")

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def strip(nb: nbformat.NotebookNode) -> bool:
    """Remove outputs and run metadata in place; returns True when something changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.get("outputs"):
                cell.outputs = []
                changed = True
            if cell.get("execution_count") is not None:
                cell.execution_count = None
                changed = True
        for key in RUN_METADATA:
            if key in cell.get("metadata", {}):
                del cell.metadata[key]
                changed = True
    for key in NOTEBOOK_RUN_METADATA:
        if key in nb.metadata:
            del nb.metadata[key]
            changed = True
    return changed


def is_stripped(nb: nbformat.NotebookNode) -> bool:
    """Whether ``nb`` has no outputs, execution counts or run metadata."""
    return not strip(nbformat.from_dict(nbformat.reads(nbformat.writes(nb), as_version=4)))


def main(argv: list[str] | None = None) -> int:
    """Strip (or with ``--check`` only verify) notebooks; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/)")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if unstripped")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(DEFAULT_DIR.glob("*.ipynb"))
    dirty = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if strip(nb):
            dirty.append(path)
            if not args.check:
                nbformat.write(nb, path)
    verb = "has outputs" if args.check else "stripped"
    for path in dirty:
        print(f"{path}: {verb}")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
