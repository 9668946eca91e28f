"""Benchmarks: ``python -m rpaf.bench {model,gelr}`` (results under ``experiments/bench/``)."""
