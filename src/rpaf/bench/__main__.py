"""``python -m rpaf.bench {model,gelr} [options]``: run a benchmark (``-h`` for each)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: subcommand -> (module whose ``main(argv)`` runs it, one-line help)
COMMANDS = {
    "model": ("rpaf.bench.model", "RPAFNet: parameters, FLOPs, latency, peak memory (Table 10)"),
    "gelr": ("rpaf.bench.gelr", "GELR state update / solver throughput"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the subcommand's ``main(argv)``; the module is imported only when used."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m rpaf.bench",
        description="rpaf benchmarks; results go to experiments/bench/.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        parser.print_help()
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    result = module.main(argv[1:])
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
