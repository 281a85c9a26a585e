"""Benchmarks: scripts `bench_*.py` that time functions and write benchmarks/results/*.json.

Run one: ``python -m tools.bench.bench_projection``; run all: ``python -m tools.bench``.
Benchmarks are never tests: they print figures; tests never assert on wall-clock time.
"""
