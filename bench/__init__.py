"""fleetkey's benchmark suite: ``make bench`` (``python -m bench.run``).

Not part of the test run: pytest only collects ``tests/``. See docs/performance.md.
"""
