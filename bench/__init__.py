"""Benchmarks (not timed tests): ``python -m bench.run`` runs them side by side in one run,
prints a table and writes ``bench/RESULTS.md``."""
