"""Benchmarks for objbackup's targets: AWS calls per event and per clean, bundle size, import time.

Run them with `make bench`, or one at a time with `.venv/bin/python -m bench.api_calls` and
`.venv/bin/python -m bench.bundle`; each prints a table, takes `--json`, and exits 1 when a target
is missed. `docs/BENCHMARKS.md` records the figures and explains them.
"""
