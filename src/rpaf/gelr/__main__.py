"""``python -m rpaf.gelr INPUT GT -o OUT [...]``: the standalone GELR solver (rpaf.gelr.solver)."""

from rpaf.gelr.solver import main

if __name__ == "__main__":
    raise SystemExit(main())
